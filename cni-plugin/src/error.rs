//! The CNI error every operation returns: a numeric code from the CNI spec (or 100+ for our own
//! failures), a short message and details, printed as one JSON object on stdout.

use thiserror::Error;

use crate::gojson;

/// Incompatible CNI version.
pub const INCOMPATIBLE_VERSION: u32 = 1;
/// Unsupported field in the network configuration.
pub const UNSUPPORTED_FIELD: u32 = 2;
/// Container unknown or does not exist.
pub const UNKNOWN_CONTAINER: u32 = 3;
/// Invalid or missing necessary environment variables.
pub const INVALID_ENV: u32 = 4;
/// I/O failure.
pub const IO_FAILURE: u32 = 5;
/// Failed to decode content.
pub const DECODING_FAILURE: u32 = 6;
/// Invalid network config.
pub const INVALID_NETWORK_CONFIG: u32 = 7;
/// Try again later.
pub const TRY_AGAIN_LATER: u32 = 11;
/// STATUS: the plugin is not available (cannot serve ADD now).
pub const NOT_AVAILABLE: u32 = 50;
/// Plugin specific: a netlink / kernel operation failed.
pub const KERNEL_FAILURE: u32 = 100;
/// Plugin specific: IP address allocation failed (range exhausted, duplicate allocation).
pub const IPAM_FAILURE: u32 = 101;
/// Plugin specific: installing or removing the ipMasq iptables rules failed.
pub const IPTABLES_FAILURE: u32 = 102;
/// Plugin specific: the delegate plugin could not be found, run or understood.
pub const DELEGATE_FAILURE: u32 = 103;

/// A CNI error: `{"cniVersion":..,"code":..,"msg":..,"details":..}` on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{msg}{}", if .details.is_empty() { String::new() } else { format!(": {}", .details) })]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// Code 5 for a failed file operation, naming the path.
    pub fn io(what: impl Into<String>, err: &std::io::Error) -> Self {
        CniError::new(IO_FAILURE, what, err.to_string())
    }

    /// Code 7 (invalid network config).
    pub fn config(msg: impl Into<String>) -> Self {
        CniError::new(INVALID_NETWORK_CONFIG, msg, "")
    }

    /// The JSON printed on stdout, compact, with `cni_version` as the `cniVersion`.
    pub fn to_json(&self, cni_version: &str) -> String {
        let value = serde_json::json!({
            "cniVersion": cni_version,
            "code": self.code,
            "msg": self.msg,
            "details": self.details,
        });
        // Field order matters to readers of the raw text: keep the spec's order.
        let mut out = String::from("{");
        for (i, key) in ["cniVersion", "code", "msg", "details"].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&gojson::compact(&serde_json::Value::String((*key).into())));
            out.push(':');
            out.push_str(&gojson::compact(&value[*key]));
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_spec_format() {
        let e = CniError::new(INVALID_ENV, "missing CNI_NETNS", "a \"b\" <c>");
        assert_eq!(
            e.to_json("1.0.0"),
            r#"{"cniVersion":"1.0.0","code":4,"msg":"missing CNI_NETNS","details":"a \"b\" \u003cc\u003e"}"#
        );
        assert_eq!(e.to_string(), "missing CNI_NETNS: a \"b\" <c>");
        assert_eq!(CniError::config("x").to_string(), "x");
    }
}
