//! The bridge plugin configuration the built-in path understands, read from the delegate
//! configuration, and the rule deciding between the built-in path and executing the delegate:
//! built-in only for `type` bridge + ipam `host-local` without `execDelegate`, IPv4, one range
//! set, and none of the bridge features we do not implement (VLANs, MAC or IP requests, ...).

use serde_json::{Map, Value};

use crate::error::CniError;
use crate::ipam::{self, ConfError, IpamConf};
use crate::result::Dns;

/// The bridge options (reference plugin names in comments) plus the parsed IPAM configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConf {
    /// The network name (`name`): IPAM store directory, iptables chain and comment.
    pub name: String,
    /// `bridge`, default `cni0`.
    pub bridge: String,
    /// `isGateway` (true as well when `isDefaultGateway`).
    pub is_gateway: bool,
    /// `isDefaultGateway`.
    pub is_default_gateway: bool,
    /// `forceAddress`.
    pub force_address: bool,
    /// `ipMasq`.
    pub ip_masq: bool,
    /// `mtu` (0 = kernel default).
    pub mtu: u32,
    /// `hairpinMode`.
    pub hairpin: bool,
    /// `promiscMode`.
    pub promisc: bool,
    /// `dns`, reported as is.
    pub dns: Dns,
    pub ipam: IpamConf,
}

/// Bridge options that make us execute the real plugin.
const UNSUPPORTED_KEYS: [&str; 8] = [
    "vlan",
    "vlanTrunk",
    "preserveDefaultVlan",
    "macspoofchk",
    "mac",
    "args",
    "disableContainerInterface",
    "portIsolation",
];

/// CNI_ARGS keys that make us execute the real plugin (requested IP or MAC).
const UNSUPPORTED_ARGS: [&str; 2] = ["IP", "MAC"];

/// The built-in configuration when the delegate can be handled in-process, None when the
/// delegate binary must be executed, an error (code 7) when the configuration is invalid.
pub fn builtin_conf(
    delegate: &Map<String, Value>,
    exec_forced: bool,
    cni_args: &[(String, String)],
) -> Result<Option<BridgeConf>, CniError> {
    let str_of =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    if exec_forced || str_of(delegate, "type").as_deref() != Some("bridge") {
        return Ok(None);
    }
    let Some(ipam_obj) = delegate.get("ipam").and_then(Value::as_object) else {
        return Ok(None);
    };
    if str_of(ipam_obj, "type").as_deref() != Some("host-local") {
        return Ok(None);
    }
    let used = |v: Option<&Value>| {
        v.is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)) && v != &Value::from(0))
    };
    if UNSUPPORTED_KEYS.iter().any(|k| used(delegate.get(*k))) {
        return Ok(None);
    }
    if let Some(rc) = delegate.get("runtimeConfig").and_then(Value::as_object) {
        if ["mac", "ips"].iter().any(|k| used(rc.get(*k))) {
            return Ok(None);
        }
    }
    if cni_args
        .iter()
        .any(|(k, _)| UNSUPPORTED_ARGS.contains(&k.as_str()))
    {
        return Ok(None);
    }
    let name = str_of(delegate, "name").unwrap_or_default();
    let ipam = match ipam::parse_conf(&name, ipam_obj) {
        Ok(c) if c.range_sets.len() == 1 => c,
        Ok(_) | Err(ConfError::Unsupported(_)) => return Ok(None),
        Err(ConfError::Invalid(why)) => {
            return Err(CniError::config(format!(
                "invalid ipam configuration: {why}"
            )))
        }
    };
    let flag = |k: &str| -> Result<bool, CniError> {
        match delegate.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(CniError::config(format!(
                "delegate {k:?} must be true or false"
            ))),
        }
    };
    let mtu = match delegate.get("mtu") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| CniError::config(format!("delegate \"mtu\" {v} is not a valid MTU")))?,
    };
    let bridge = match delegate.get("bridge") {
        None | Some(Value::Null) => "cni0".to_string(),
        Some(Value::String(s)) if s.is_empty() => "cni0".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(CniError::config("delegate \"bridge\" must be a string")),
    };
    let dns = match delegate.get("dns") {
        None | Some(Value::Null) => Dns::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| CniError::config(format!("delegate \"dns\": {e}")))?,
    };
    let is_default_gateway = flag("isDefaultGateway")?;
    Ok(Some(BridgeConf {
        name,
        bridge,
        is_gateway: flag("isGateway")? || is_default_gateway,
        is_default_gateway,
        force_address: flag("forceAddress")?,
        ip_masq: flag("ipMasq")?,
        mtu,
        hairpin: flag("hairpinMode")?,
        promisc: flag("promiscMode")?,
        dns,
        ipam,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf(v: Value) -> Result<Option<BridgeConf>, CniError> {
        builtin_conf(v.as_object().unwrap(), false, &[])
    }

    fn base() -> Value {
        json!({"name":"cbr0","type":"bridge","ipMasq":false,"isGateway":true,"mtu":1472,
               "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}]}})
    }

    #[test]
    fn flannel_default_delegate_is_builtin() {
        let c = conf(base()).unwrap().unwrap();
        assert_eq!(c.name, "cbr0");
        assert_eq!(c.bridge, "cni0");
        assert!(c.is_gateway && !c.is_default_gateway && !c.ip_masq && !c.hairpin);
        assert_eq!(c.mtu, 1472);
        assert_eq!(c.ipam.network, "cbr0");
        let mut v = base();
        v["isDefaultGateway"] = json!(true);
        v["isGateway"] = json!(false);
        v["bridge"] = json!("br9");
        v["dns"] = json!({"nameservers":["10.96.0.10"]});
        let c = conf(v).unwrap().unwrap();
        assert!(c.is_gateway && c.is_default_gateway);
        assert_eq!(c.bridge, "br9");
        assert_eq!(c.dns.nameservers, vec!["10.96.0.10".to_string()]);
    }

    #[test]
    fn other_cases_execute_the_delegate() {
        assert_eq!(
            builtin_conf(base().as_object().unwrap(), true, &[]).unwrap(),
            None
        );
        let args = [("IP".to_string(), "10.1.17.9".to_string())];
        assert_eq!(
            builtin_conf(base().as_object().unwrap(), false, &args).unwrap(),
            None
        );
        let tweaks: [(&str, Value); 5] = [
            ("/type", json!("ptp")),
            ("/ipam/type", json!("dhcp")),
            ("/vlan", json!(100)),
            ("/ipam/ranges", json!([[{"subnet":"fd00::/64"}]])),
            ("/runtimeConfig", json!({"mac":"00:11:22:33:44:55"})),
        ];
        for (ptr, val) in tweaks {
            let mut v = base();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                &mut v
            } else {
                v.pointer_mut(parent).unwrap()
            };
            target[key] = val;
            assert_eq!(conf(v).unwrap(), None, "{ptr}");
        }
        let mut v = base();
        v["vlan"] = json!(0);
        assert!(conf(v).unwrap().is_some());
    }

    #[test]
    fn invalid_values_are_code_7() {
        for (key, val) in [
            ("mtu", json!("big")),
            ("hairpinMode", json!("yes")),
            ("bridge", json!(1)),
        ] {
            let mut v = base();
            v[key] = val;
            let e = conf(v).unwrap_err();
            assert_eq!(e.code, 7);
            assert!(e.msg.contains(key), "{}", e.msg);
        }
        let mut v = base();
        v["ipam"]["ranges"] = json!([[{"subnet":"10.1.17.1/24"}]]);
        assert_eq!(conf(v).unwrap_err().code, 7);
    }
}
