//! CNI spec versions: [`CniVersion`] (the versions we speak, ordered), which each command
//! needs, the VERSION output, and picking the version to speak with a delegate that supports
//! fewer versions than we do.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::env::Command;
use crate::error::{CniError, DECODING_FAILURE, INCOMPATIBLE_VERSION};
use crate::gojson;

/// A CNI spec version this plugin speaks; ordered oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

/// Why a `cniVersion` text is not a [`CniVersion`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    /// Not three dot-separated numbers.
    #[error("{0:?} is not a version")]
    NotAVersion(String),
    /// A version, but not one we speak.
    #[error("version {0:?} is not supported")]
    Unsupported(String),
}

impl CniVersion {
    /// Every version we accept, oldest first.
    pub const ALL: [CniVersion; 5] = [
        CniVersion::V0_3_0,
        CniVersion::V0_3_1,
        CniVersion::V0_4_0,
        CniVersion::V1_0_0,
        CniVersion::V1_1_0,
    ];
    /// The newest supported version.
    pub const NEWEST: CniVersion = CniVersion::V1_1_0;

    /// The version as the spec writes it (`"1.0.0"`).
    pub fn as_str(self) -> &'static str {
        match self {
            CniVersion::V0_3_0 => "0.3.0",
            CniVersion::V0_3_1 => "0.3.1",
            CniVersion::V0_4_0 => "0.4.0",
            CniVersion::V1_0_0 => "1.0.0",
            CniVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Whether results of this version carry `"version"` on each `ips[]` entry (0.3.x, 0.4.0).
    pub fn ips_carry_version(self) -> bool {
        self < CniVersion::V1_0_0
    }

    /// The oldest version that allows `command`: CHECK came with 0.4.0, STATUS and GC with
    /// 1.1.0.
    pub fn minimum_for(command: Command) -> CniVersion {
        match command {
            Command::Check => CniVersion::V0_4_0,
            Command::Status | Command::Gc => CniVersion::V1_1_0,
            _ => CniVersion::V0_3_0,
        }
    }
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CniVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(v) = CniVersion::ALL.into_iter().find(|v| v.as_str() == s) {
            return Ok(v);
        }
        if triple(s).is_some() {
            Err(VersionError::Unsupported(s.to_string()))
        } else {
            Err(VersionError::NotAVersion(s.to_string()))
        }
    }
}

/// `"1.0.0"` -> (1, 0, 0); None when not three dot-separated numbers.
fn triple(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

fn supported_list() -> String {
    CniVersion::ALL.map(CniVersion::as_str).join(" ")
}

/// Checks the request's `cniVersion` for the command: supported (code 1 otherwise; code 6 when
/// it is not a version at all), and new enough for the command (code 1).
pub fn check_request(command: Command, v: &str) -> Result<CniVersion, CniError> {
    let version = match v.parse::<CniVersion>() {
        Ok(version) => version,
        Err(VersionError::NotAVersion(_)) if !v.is_empty() => {
            return Err(CniError::new(
                DECODING_FAILURE,
                "invalid cniVersion",
                format!("{v:?} is not a version"),
            ))
        }
        Err(_) => {
            let shown = if v.is_empty() {
                "0.1.0 (none given)"
            } else {
                v
            };
            return Err(CniError::new(
                INCOMPATIBLE_VERSION,
                "incompatible CNI versions",
                format!(
                    "config is {shown:?}, plugin supports [{}]",
                    supported_list()
                ),
            ));
        }
    };
    let min = CniVersion::minimum_for(command);
    if version >= min {
        Ok(version)
    } else {
        Err(CniError::new(
            INCOMPATIBLE_VERSION,
            format!("config version does not allow {command}"),
            format!("{command} needs cniVersion >= {min}, config is {v}"),
        ))
    }
}

/// The VERSION output for a request naming `requested` (or none).
pub fn version_output(requested: Option<&str>) -> String {
    let v = requested
        .filter(|v| !v.is_empty())
        .unwrap_or(CniVersion::NEWEST.as_str());
    let value = serde_json::json!({
        "cniVersion": v,
        "supportedVersions": CniVersion::ALL.map(CniVersion::as_str),
    });
    gojson::compact(&value)
}

/// The version to speak with a delegate that supports `theirs`: `wanted` when they support it,
/// otherwise the newest version both sides support that is older than `wanted` and not older
/// than `min`. None when there is no such version.
pub fn negotiate(wanted: CniVersion, theirs: &[String], min: CniVersion) -> Option<CniVersion> {
    let supports = |v: CniVersion| theirs.iter().any(|t| t == v.as_str());
    if supports(wanted) {
        return Some(wanted);
    }
    CniVersion::ALL
        .into_iter()
        .rev()
        .filter(|v| *v <= wanted && *v >= min)
        .find(|v| supports(*v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_and_minimums() {
        for v in CniVersion::ALL {
            assert_eq!(check_request(Command::Add, v.as_str()), Ok(v));
            assert!(check_request(Command::Del, v.as_str()).is_ok());
        }
        let e = check_request(Command::Add, "0.2.0").unwrap_err();
        assert_eq!(e.code, 1);
        assert!(e.details.contains("0.3.0 0.3.1 0.4.0 1.0.0 1.1.0"));
        assert_eq!(check_request(Command::Add, "").unwrap_err().code, 1);
        assert_eq!(check_request(Command::Add, "x.y").unwrap_err().code, 6);
        assert_eq!(check_request(Command::Check, "0.3.1").unwrap_err().code, 1);
        assert!(check_request(Command::Check, "0.4.0").is_ok());
        assert_eq!(check_request(Command::Status, "1.0.0").unwrap_err().code, 1);
        assert_eq!(check_request(Command::Gc, "1.0.0").unwrap_err().code, 1);
        assert!(check_request(Command::Gc, "1.1.0").is_ok());
        assert!(check_request(Command::Status, "1.1.0").is_ok());
    }

    #[test]
    fn version_output_format() {
        assert_eq!(
            version_output(None),
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
        assert!(version_output(Some("0.4.0")).starts_with(r#"{"cniVersion":"0.4.0","#));
    }

    #[test]
    fn parsing_ordering_and_display() {
        for v in CniVersion::ALL {
            assert_eq!(v.as_str().parse::<CniVersion>(), Ok(v));
            assert_eq!(v.to_string(), v.as_str());
        }
        assert!(CniVersion::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            "0.10.0".parse::<CniVersion>(),
            Err(VersionError::Unsupported("0.10.0".into()))
        );
        for bad in ["1.0", "1.0.0.0", "", "x.y.z"] {
            assert_eq!(
                bad.parse::<CniVersion>(),
                Err(VersionError::NotAVersion(bad.into()))
            );
        }
        assert!(CniVersion::V0_4_0.ips_carry_version());
        assert!(!CniVersion::V1_0_0.ips_carry_version());
    }

    #[test]
    fn negotiation() {
        use CniVersion::*;
        let old: Vec<String> = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(negotiate(V1_1_0, &old, V0_3_0), Some(V1_0_0));
        assert_eq!(negotiate(V0_3_1, &old, V0_3_0), Some(V0_3_1));
        assert_eq!(negotiate(V1_1_0, &old, V1_1_0), None);
        let tiny = vec!["0.4.0".to_string()];
        assert_eq!(negotiate(V0_3_1, &tiny, V0_3_0), None);
    }
}
