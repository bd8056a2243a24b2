//! CNI spec versions: which we support, which each command needs, the VERSION output, and
//! picking the version to speak with a delegate that supports fewer versions than we do.

use crate::env::Command;
use crate::error::{CniError, DECODING_FAILURE, INCOMPATIBLE_VERSION};
use crate::gojson;

/// Every version we accept, oldest first.
pub const SUPPORTED: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
/// The newest supported version.
pub const NEWEST: &str = "1.1.0";

/// `"1.0.0"` -> (1, 0, 0); None when not three dot-separated numbers.
pub fn parse(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

/// Whether `v` >= `min` (false when `v` does not parse).
pub fn at_least(v: &str, min: &str) -> bool {
    matches!((parse(v), parse(min)), (Some(a), Some(b)) if a >= b)
}

/// Whether the results of `v` carry `"version"` on each `ips[]` entry (0.3.x and 0.4.0).
pub fn ips_carry_version(v: &str) -> bool {
    !at_least(v, "1.0.0")
}

/// Checks the request's `cniVersion` for the command: supported, and new enough for CHECK
/// (0.4.0), STATUS and GC (1.1.0). Code 1 otherwise.
pub fn check_request(command: Command, v: &str) -> Result<(), CniError> {
    if parse(v).is_none() && !v.is_empty() {
        return Err(CniError::new(
            DECODING_FAILURE,
            "invalid cniVersion",
            format!("{v:?} is not a version"),
        ));
    }
    if !SUPPORTED.contains(&v) {
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
                SUPPORTED.join(" ")
            ),
        ));
    }
    let min = match command {
        Command::Check => "0.4.0",
        Command::Status | Command::Gc => "1.1.0",
        _ => return Ok(()),
    };
    if at_least(v, min) {
        Ok(())
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
    let v = requested.filter(|v| !v.is_empty()).unwrap_or(NEWEST);
    let value = serde_json::json!({"cniVersion": v, "supportedVersions": SUPPORTED});
    gojson::compact(&value)
}

/// The version to speak with a delegate that supports `theirs`: `wanted` when they support it,
/// otherwise the newest version both sides support that is older than `wanted` and not older
/// than `min`. None when there is no such version.
pub fn negotiate(wanted: &str, theirs: &[String], min: &str) -> Option<String> {
    if theirs.iter().any(|t| t == wanted) {
        return Some(wanted.to_string());
    }
    SUPPORTED
        .iter()
        .rev()
        .filter(|v| at_least(wanted, v) && at_least(v, min))
        .find(|v| theirs.iter().any(|t| t == *v))
        .map(|v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_and_minimums() {
        for v in SUPPORTED {
            assert!(check_request(Command::Add, v).is_ok());
            assert!(check_request(Command::Del, v).is_ok());
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
    fn ordering_and_format_rules() {
        assert!(at_least("1.0.0", "0.4.0"));
        assert!(!at_least("0.3.1", "0.4.0"));
        assert!(at_least("0.10.0", "0.4.0"));
        assert!(ips_carry_version("0.4.0"));
        assert!(!ips_carry_version("1.0.0"));
        assert_eq!(parse("1.0"), None);
        assert_eq!(parse("1.0.0.0"), None);
    }

    #[test]
    fn negotiation() {
        let old: Vec<String> = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(negotiate("1.1.0", &old, "0.3.0").as_deref(), Some("1.0.0"));
        assert_eq!(negotiate("0.3.1", &old, "0.3.0").as_deref(), Some("0.3.1"));
        assert_eq!(negotiate("1.1.0", &old, "1.1.0"), None);
        let tiny = vec!["0.4.0".to_string()];
        assert_eq!(negotiate("0.3.1", &tiny, "0.3.0"), None);
    }
}
