//! The network config stored at `<prefix>/config`: parsing (field names case-insensitive, as Go's
//! decoder does), defaults and validation. Pure: no etcd, no kernel.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::{Map, Value};
use thiserror::Error;

/// The backend types this build runs.
pub const KNOWN_BACKENDS: [BackendType; 4] = [
    BackendType::Vxlan,
    BackendType::HostGw,
    BackendType::Udp,
    BackendType::Alloc,
];

/// A backend type: the network config's `Backend.Type` and a lease's `BackendType`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackendType {
    Vxlan,
    HostGw,
    Udp,
    Alloc,
    /// A type this build does not run, found in another node's lease (e.g. `wireguard`); kept
    /// verbatim so the lease reads and compares as written. Never accepted in the config.
    Other(String),
}

impl BackendType {
    /// The name in a network config (case-insensitive, as upstream); `None` for a type this
    /// build does not run, including the empty string.
    pub fn parse(name: &str) -> Option<BackendType> {
        match name.to_ascii_lowercase().as_str() {
            "vxlan" => Some(BackendType::Vxlan),
            "host-gw" => Some(BackendType::HostGw),
            "udp" => Some(BackendType::Udp),
            "alloc" => Some(BackendType::Alloc),
            _ => None,
        }
    }

    /// The `BackendType` of a lease: upstream's udp (and alloc) leases carry none, so an empty
    /// or absent one is udp.
    pub fn from_lease(name: &str) -> BackendType {
        if name.is_empty() {
            return BackendType::Udp;
        }
        BackendType::parse(name).unwrap_or_else(|| BackendType::Other(name.to_string()))
    }

    /// What a lease of this type stores as `BackendType`: nothing for udp and alloc, as
    /// upstream writes them.
    pub fn lease_name(&self) -> &str {
        match self {
            BackendType::Udp | BackendType::Alloc => "",
            other => other.as_str(),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            BackendType::Vxlan => "vxlan",
            BackendType::HostGw => "host-gw",
            BackendType::Udp => "udp",
            BackendType::Alloc => "alloc",
            BackendType::Other(name) => name,
        }
    }
}

impl std::fmt::Display for BackendType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn known_backends() -> String {
    KNOWN_BACKENDS.map(|t| t.to_string()).join(", ")
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("network config is not valid JSON: {0}")]
    Json(String),
    #[error("network config must be a JSON object")]
    NotObject,
    #[error("network config field {field}: expected {expected}, got {got}")]
    Field {
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("network config: {0}")]
    Invalid(String),
    #[error("unknown backend type {got:?} (known: {})", known_backends())]
    UnknownBackend { got: String },
}

/// vxlan backend options (`"Backend":{"Type":"vxlan",...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConfig {
    pub vni: u32,
    /// 0 = kernel default (8472).
    pub port: u16,
    pub gbp: bool,
    pub learning: bool,
    pub direct_routing: bool,
    /// 0 = external interface MTU - 50.
    pub mtu: u32,
}

impl Default for VxlanConfig {
    fn default() -> Self {
        VxlanConfig {
            vni: 1,
            port: 0,
            gbp: false,
            learning: false,
            direct_routing: false,
            mtu: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    Vxlan(VxlanConfig),
    HostGw,
    Udp { port: u16 },
    Alloc,
}

impl BackendConfig {
    pub fn backend_type(&self) -> BackendType {
        match self {
            BackendConfig::Vxlan(_) => BackendType::Vxlan,
            BackendConfig::HostGw => BackendType::HostGw,
            BackendConfig::Udp { .. } => BackendType::Udp,
            BackendConfig::Alloc => BackendType::Alloc,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    pub enable_nftables: bool,
    pub network: Ipv4Net,
    pub subnet_len: u8,
    pub subnet_min: Ipv4Addr,
    pub subnet_max: Ipv4Addr,
    pub ipv6: Option<Ipv6Config>,
    pub backend: BackendConfig,
    /// True when the config had no `Backend` and we fell back to upstream's default (udp).
    pub backend_defaulted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Config {
    pub network: Ipv6Net,
    pub subnet_len: u8,
    pub subnet_min: Ipv6Addr,
    pub subnet_max: Ipv6Addr,
}

impl NetworkConfig {
    /// Number of subnets between SubnetMin and SubnetMax inclusive.
    pub fn subnet_count(&self) -> u64 {
        let step = 1u64 << (32 - self.subnet_len);
        (u64::from(u32::from(self.subnet_max)) - u64::from(u32::from(self.subnet_min))) / step + 1
    }

    /// Whether `subnet` is a valid lease for this network (right length, between min and max).
    pub fn subnet_in_range(&self, subnet: Ipv4Net) -> bool {
        subnet.prefix_len() == self.subnet_len
            && subnet.network() >= self.subnet_min
            && subnet.network() <= self.subnet_max
    }
}

/// Case-insensitive view of a JSON object, as Go's `encoding/json` matches field names.
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0
            .get(name)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    }

    fn err(field: &str, expected: &'static str, v: &Value) -> ConfigError {
        ConfigError::Field {
            field: field.to_string(),
            expected,
            got: v.to_string(),
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Self::err(name, "true or false", v)),
        }
    }

    fn uint(&self, name: &str, max: u64) -> Result<Option<u64>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(Self::err(name, "a non-negative integer in range", v)),
            },
        }
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(Self::err(name, "a string", v)),
        }
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        match self.string(name)? {
            None | Some("") => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| ConfigError::Field {
                field: name.to_string(),
                expected,
                got: format!("{s:?}"),
            }),
        }
    }
}

/// Parse and validate the network config JSON.
pub fn parse(text: &str) -> Result<NetworkConfig, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))?;
    let obj = value.as_object().ok_or(ConfigError::NotObject)?;
    let f = Fields(obj);

    let enable_ipv4 = f.bool("EnableIPv4", true)?;
    let enable_ipv6 = f.bool("EnableIPv6", false)?;
    let enable_nftables = f.bool("EnableNFTables", false)?;
    if !enable_ipv4 {
        return Err(ConfigError::Invalid(
            "EnableIPv4=false (IPv6-only networks) is not supported yet".into(),
        ));
    }
    let network: Ipv4Net = f
        .parsed("Network", "an IPv4 CIDR such as \"10.244.0.0/16\"")?
        .ok_or_else(|| {
            ConfigError::Invalid("Network is required (e.g. \"10.244.0.0/16\")".into())
        })?;
    let network = network.trunc();
    let subnet_len = ipv4_subnet_len(network, f.uint("SubnetLen", 255)?)?;
    let step = 1u32 << (32 - subnet_len);
    let first = u32::from(network.network());
    let last_subnet = u32::from(network.broadcast()) & !(step - 1);
    let subnet_min =
        bound(&f, "SubnetMin", network, subnet_len)?.unwrap_or(Ipv4Addr::from(first + step));
    let subnet_max =
        bound(&f, "SubnetMax", network, subnet_len)?.unwrap_or(Ipv4Addr::from(last_subnet));
    if subnet_min > subnet_max {
        return Err(ConfigError::Invalid(format!(
            "SubnetMin {subnet_min} is above SubnetMax {subnet_max}"
        )));
    }

    let ipv6 = if enable_ipv6 {
        Some(parse_ipv6(&f)?)
    } else {
        None
    };

    let (backend, backend_defaulted) = match f.get("Backend") {
        None => (BackendConfig::Udp { port: 8285 }, true),
        Some(Value::Object(b)) => (parse_backend(&Fields(b))?, false),
        Some(v) => return Err(Fields::err("Backend", "an object with a Type", v)),
    };

    Ok(NetworkConfig {
        enable_ipv4,
        enable_ipv6,
        enable_nftables,
        network,
        subnet_len,
        subnet_min,
        subnet_max,
        ipv6,
        backend,
        backend_defaulted,
    })
}

fn ipv4_subnet_len(network: Ipv4Net, given: Option<u64>) -> Result<u8, ConfigError> {
    let prefix = network.prefix_len();
    match given {
        None | Some(0) => {
            if prefix > 28 {
                Err(ConfigError::Invalid(format!(
                    "Network {network} is too small, minimum /28"
                )))
            } else if prefix <= 22 {
                Ok(24)
            } else {
                Ok(prefix + 2)
            }
        }
        Some(len) if len > 30 => Err(ConfigError::Invalid(format!(
            "SubnetLen {len} is too large, maximum 30"
        ))),
        Some(len) if len < u64::from(prefix) + 2 => Err(ConfigError::Invalid(format!(
            "SubnetLen {len} with Network {network} gives fewer than 4 subnets"
        ))),
        Some(len) => Ok(len as u8),
    }
}

fn bound(
    f: &Fields,
    name: &str,
    network: Ipv4Net,
    subnet_len: u8,
) -> Result<Option<Ipv4Addr>, ConfigError> {
    let Some(ip) = f.parsed::<Ipv4Addr>(name, "an IPv4 address")? else {
        return Ok(None);
    };
    if !network.contains(&ip) {
        return Err(ConfigError::Invalid(format!(
            "{name} {ip} is not inside Network {network}"
        )));
    }
    let step = 1u32 << (32 - subnet_len);
    if u32::from(ip) % step != 0 {
        return Err(ConfigError::Invalid(format!(
            "{name} {ip} is not aligned to SubnetLen /{subnet_len}"
        )));
    }
    Ok(Some(ip))
}

fn parse_ipv6(f: &Fields) -> Result<Ipv6Config, ConfigError> {
    let network: Ipv6Net = f
        .parsed("IPv6Network", "an IPv6 CIDR such as \"fd00::/48\"")?
        .ok_or_else(|| {
            ConfigError::Invalid("IPv6Network is required when EnableIPv6 is true".into())
        })?;
    let network = network.trunc();
    let prefix = network.prefix_len();
    if prefix > 124 {
        return Err(ConfigError::Invalid(format!(
            "IPv6Network {network} is too small, minimum /124"
        )));
    }
    let subnet_len = match f.uint("IPv6SubnetLen", 255)? {
        None | Some(0) => {
            if prefix <= 62 {
                64
            } else {
                prefix + 2
            }
        }
        Some(len) if len > 126 => {
            return Err(ConfigError::Invalid(format!(
                "IPv6SubnetLen {len} is too large, maximum 126"
            )))
        }
        Some(len) if len < u64::from(prefix) + 2 => {
            return Err(ConfigError::Invalid(format!(
                "IPv6SubnetLen {len} with IPv6Network {network} gives fewer than 4 subnets"
            )))
        }
        Some(len) => len as u8,
    };
    let step = 1u128 << (128 - subnet_len);
    let first = u128::from(network.network());
    let last = u128::from(network.broadcast()) & !(step - 1);
    let min = f
        .parsed::<Ipv6Addr>("IPv6SubnetMin", "an IPv6 address")?
        .unwrap_or(Ipv6Addr::from(first + step));
    let max = f
        .parsed::<Ipv6Addr>("IPv6SubnetMax", "an IPv6 address")?
        .unwrap_or(Ipv6Addr::from(last));
    for (name, ip) in [("IPv6SubnetMin", min), ("IPv6SubnetMax", max)] {
        if !network.contains(&ip) || u128::from(ip) % step != 0 {
            return Err(ConfigError::Invalid(format!(
                "{name} {ip} must be inside {network} and aligned to /{subnet_len}"
            )));
        }
    }
    Ok(Ipv6Config {
        network,
        subnet_len,
        subnet_min: min,
        subnet_max: max,
    })
}

fn parse_backend(b: &Fields) -> Result<BackendConfig, ConfigError> {
    let name = b.string("Type")?.unwrap_or("");
    let Some(ty) = BackendType::parse(name) else {
        return Err(ConfigError::UnknownBackend {
            got: name.to_ascii_lowercase(),
        });
    };
    match ty {
        BackendType::Vxlan => {
            let d = VxlanConfig::default();
            Ok(BackendConfig::Vxlan(VxlanConfig {
                vni: b.uint("VNI", 0xff_ffff)?.map_or(d.vni, |v| v as u32),
                port: b.uint("Port", 65535)?.map_or(d.port, |v| v as u16),
                gbp: b.bool("GBP", false)?,
                learning: b.bool("Learning", false)?,
                direct_routing: b.bool("DirectRouting", false)?,
                mtu: b.uint("MTU", 65535)?.map_or(0, |v| v as u32),
            }))
        }
        BackendType::HostGw => Ok(BackendConfig::HostGw),
        BackendType::Udp => Ok(BackendConfig::Udp {
            port: b.uint("Port", 65535)?.map_or(8285, |v| v as u16),
        }),
        BackendType::Alloc => Ok(BackendConfig::Alloc),
        BackendType::Other(_) => Err(ConfigError::UnknownBackend {
            got: name.to_ascii_lowercase(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_for_a_slash_16() {
        let c = parse(r#"{"Network":"10.3.0.0/16","Backend":{"Type":"vxlan"}}"#).unwrap();
        assert_eq!(c.subnet_len, 24);
        assert_eq!(c.subnet_min, "10.3.1.0".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.subnet_max, "10.3.255.0".parse::<Ipv4Addr>().unwrap());
        assert_eq!(c.backend, BackendConfig::Vxlan(VxlanConfig::default()));
        assert_eq!(c.subnet_count(), 255);
    }

    #[test]
    fn field_names_are_case_insensitive() {
        let c = parse(r#"{"network":"10.3.0.0/16","subnetlen":26,"backend":{"type":"VXLAN","vni":4,"directrouting":true}}"#).unwrap();
        assert_eq!(c.subnet_len, 26);
        match c.backend {
            BackendConfig::Vxlan(v) => {
                assert_eq!(v.vni, 4);
                assert!(v.direct_routing);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subnet_len_default_for_small_networks() {
        assert_eq!(
            parse(r#"{"Network":"10.3.0.0/24","Backend":{"Type":"host-gw"}}"#)
                .unwrap()
                .subnet_len,
            26
        );
        assert_eq!(
            parse(r#"{"Network":"10.3.0.0/22","Backend":{"Type":"host-gw"}}"#)
                .unwrap()
                .subnet_len,
            24
        );
        assert_eq!(
            parse(r#"{"Network":"10.3.0.0/28","Backend":{"Type":"host-gw"}}"#)
                .unwrap()
                .subnet_len,
            30
        );
    }

    #[test]
    fn rejects_bad_configs_with_clear_messages() {
        let e = parse(r#"{"Network":"10.3.0.0/29"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small, minimum /28"), "{e}");
        let e = parse(r#"{"Network":"10.3.0.0/16","SubnetLen":31}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("SubnetLen 31"), "{e}");
        let e = parse(r#"{"Network":"10.3.0.0/16","SubnetLen":17}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fewer than 4 subnets"), "{e}");
        let e = parse(r#"{"Network":"10.3.0.0/16","Backend":{"Type":"carrier-pigeon"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"carrier-pigeon\"") && e.contains("vxlan, host-gw"),
            "{e}"
        );
        let e = parse("{not json").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse(r#"{"Backend":{"Type":"vxlan"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Network is required"), "{e}");
        let e = parse(r#"{"Network":"10.3.0.0/16","SubnetMin":"10.3.1.5"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not aligned"), "{e}");
        let e = parse(r#"{"Network":"10.3.0.0/16","SubnetMax":"10.4.1.0"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not inside Network"), "{e}");
        let e = parse(r#"{"Network":"banana"}"#).unwrap_err().to_string();
        assert!(e.contains("Network") && e.contains("banana"), "{e}");
        assert!(matches!(parse("[1]"), Err(ConfigError::NotObject)));
    }

    #[test]
    fn missing_backend_falls_back_to_udp_like_upstream() {
        let c = parse(r#"{"Network":"10.3.0.0/16"}"#).unwrap();
        assert_eq!(c.backend, BackendConfig::Udp { port: 8285 });
        assert!(c.backend_defaulted);
    }

    #[test]
    fn ipv6_defaults() {
        let c = parse(r#"{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#).unwrap();
        let v6 = c.ipv6.unwrap();
        assert_eq!(v6.subnet_len, 64);
        assert_eq!(v6.subnet_min, "fc00:0:0:1::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            v6.subnet_max,
            "fc00:0:0:ffff::".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn backend_types_parse_and_print_one_way() {
        for t in KNOWN_BACKENDS {
            assert_eq!(BackendType::parse(&t.to_string()), Some(t.clone()));
            assert_eq!(
                BackendType::parse(&t.to_string().to_uppercase()),
                Some(t.clone())
            );
            assert_eq!(
                BackendType::from_lease(t.lease_name()),
                match t {
                    BackendType::Alloc => BackendType::Udp,
                    _ => t.clone(),
                }
            );
        }
        assert_eq!(BackendType::parse(""), None);
        assert_eq!(BackendType::parse("wireguard"), None);
        assert_eq!(BackendType::HostGw.to_string(), "host-gw");
        assert_eq!(BackendType::Udp.lease_name(), "");
    }

    #[test]
    fn unknown_backend_type_is_a_config_error() {
        for ty in ["wireguard", "", "Extension"] {
            let e = parse(&format!(
                r#"{{"Network":"10.3.0.0/16","Backend":{{"Type":"{ty}"}}}}"#
            ))
            .unwrap_err();
            assert_eq!(
                e,
                ConfigError::UnknownBackend {
                    got: ty.to_ascii_lowercase()
                }
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "unknown backend type {:?} (known: vxlan, host-gw, udp, alloc)",
                    ty.to_ascii_lowercase()
                )
            );
        }
    }
}
