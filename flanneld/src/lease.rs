//! Leases as upstream flannel stores them in etcd: the key `<prefix>/subnets/A.B.C.D-len[&v6-len]`
//! and the value `LeaseAttrs`, encoded byte-for-byte as upstream's Go encoder writes it. Pure.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::config::BackendType;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LeaseError {
    #[error("lease key {key:?}: expected <prefix>/subnets/A.B.C.D-LEN[&IPV6-LEN]")]
    Key { key: String },
    #[error("lease {key:?}: value is not a valid lease: {reason}")]
    Value { key: String, reason: String },
}

/// The value of a lease key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseAttrs {
    #[serde(rename = "PublicIP")]
    pub public_ip: Ipv4Addr,
    #[serde(rename = "PublicIPv6", default)]
    pub public_ipv6: Option<Ipv6Addr>,
    /// Absent for udp and alloc, as upstream writes them.
    #[serde(
        rename = "BackendType",
        default = "udp",
        with = "backend_type_field",
        skip_serializing_if = "omits_backend_type"
    )]
    pub backend_type: BackendType,
    #[serde(
        rename = "BackendData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_data: Option<Box<RawValue>>,
    #[serde(
        rename = "BackendV6Data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_v6_data: Option<Box<RawValue>>,
}

fn udp() -> BackendType {
    BackendType::Udp
}

fn omits_backend_type(t: &BackendType) -> bool {
    t.lease_name().is_empty()
}

/// `BackendType` as the string upstream stores.
mod backend_type_field {
    use super::BackendType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &BackendType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.lease_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BackendType, D::Error> {
        let name = Option::<String>::deserialize(d)?;
        Ok(BackendType::from_lease(name.as_deref().unwrap_or("")))
    }
}

impl PartialEq for LeaseAttrs {
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

impl LeaseAttrs {
    /// Compact JSON exactly as upstream writes it.
    pub fn to_json(&self) -> String {
        // Serializing plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(key: &str, value: &[u8]) -> Result<LeaseAttrs, LeaseError> {
        let mut attrs: LeaseAttrs =
            serde_json::from_slice(value).map_err(|e| LeaseError::Value {
                key: key.to_string(),
                reason: e.to_string(),
            })?;
        // `"BackendData":null` is the same as absent.
        if attrs
            .backend_data
            .as_ref()
            .is_some_and(|d| d.get() == "null")
        {
            attrs.backend_data = None;
        }
        if attrs
            .backend_v6_data
            .as_ref()
            .is_some_and(|d| d.get() == "null")
        {
            attrs.backend_v6_data = None;
        }
        Ok(attrs)
    }

    /// The vxlan part of BackendData (`{"VNI":1,"VtepMAC":"..."}`), if present and well-formed.
    pub fn vxlan_data(&self) -> Option<VxlanLeaseData> {
        serde_json::from_str(self.backend_data.as_ref()?.get()).ok()
    }
}

/// BackendData of a vxlan lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanLeaseData {
    #[serde(rename = "VNI")]
    pub vni: u32,
    #[serde(rename = "VtepMAC")]
    pub vtep_mac: String,
}

impl VxlanLeaseData {
    pub fn to_raw(&self) -> Box<RawValue> {
        let text = serde_json::to_string(self).unwrap_or_default();
        RawValue::from_string(text).unwrap_or_else(|_| empty_raw())
    }
}

fn empty_raw() -> Box<RawValue> {
    // "{}" is valid JSON.
    RawValue::from_string("{}".to_string()).expect("static JSON")
}

/// A lease: one node's subnet and its attributes, plus the etcd bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub subnet: Ipv4Net,
    pub ipv6_subnet: Option<Ipv6Net>,
    pub attrs: LeaseAttrs,
    /// etcd lease ID the key is attached to; 0 = no TTL (an operator's reservation);
    /// [`NO_ETCD_LEASE`] in kube mode.
    pub etcd_lease: i64,
    /// When it expires, when known.
    pub expires: Option<SystemTime>,
}

#[cfg(test)]
impl Lease {
    /// A lease for unit tests: `subnet` leased by `public_ip` with `backend_type`, no backend
    /// data, etcd lease 0, no expiry known.
    pub(crate) fn for_test(subnet: &str, public_ip: &str, backend_type: &str) -> Lease {
        Lease {
            subnet: subnet.parse().expect("test subnet"),
            ipv6_subnet: None,
            attrs: LeaseAttrs {
                public_ip: public_ip.parse().expect("test public IP"),
                public_ipv6: None,
                backend_type: BackendType::from_lease(backend_type),
                backend_data: None,
                backend_v6_data: None,
            },
            etcd_lease: 0,
            expires: None,
        }
    }
}

/// `Lease::etcd_lease` of a lease that is a Node object (kube mode): no etcd key, no TTL.
pub const NO_ETCD_LEASE: i64 = -1;

impl Lease {
    /// An operator's reservation: an etcd key without a TTL.
    pub fn is_reservation(&self) -> bool {
        self.etcd_lease == 0
    }

    /// Whether an etcd lease (a TTL) holds the key, whose expiry can be looked up.
    pub fn has_etcd_ttl(&self) -> bool {
        self.etcd_lease > 0
    }
}

/// `<prefix>/subnets/`
pub fn subnets_prefix(prefix: &str) -> String {
    format!("{}/subnets/", prefix.trim_end_matches('/'))
}

/// The key of a lease: `<prefix>/subnets/10.244.1.0-24` (`&fd00::-64` appended for dual stack).
pub fn lease_key(prefix: &str, subnet: Ipv4Net, ipv6: Option<Ipv6Net>) -> String {
    let mut key = format!(
        "{}{}-{}",
        subnets_prefix(prefix),
        subnet.network(),
        subnet.prefix_len()
    );
    if let Some(v6) = ipv6 {
        key.push_str(&format!("&{}-{}", v6.network(), v6.prefix_len()));
    }
    key
}

/// Parse a lease key under `prefix`.
pub fn parse_lease_key(prefix: &str, key: &str) -> Result<(Ipv4Net, Option<Ipv6Net>), LeaseError> {
    let bad = || LeaseError::Key {
        key: key.to_string(),
    };
    let rest = key.strip_prefix(&subnets_prefix(prefix)).ok_or_else(bad)?;
    let (v4, v6) = match rest.split_once('&') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let subnet = parse_dash_net::<Ipv4Addr>(v4, 32)
        .and_then(|(ip, len)| Ipv4Net::new(ip, len).ok())
        .filter(|n| n.network() == n.addr())
        .ok_or_else(bad)?;
    let ipv6 = match v6 {
        None => None,
        Some(s) => Some(
            parse_dash_net::<Ipv6Addr>(s, 128)
                .and_then(|(ip, len)| Ipv6Net::new(ip, len).ok())
                .filter(|n| n.network() == n.addr())
                .ok_or_else(bad)?,
        ),
    };
    Ok((subnet, ipv6))
}

fn parse_dash_net<T: std::str::FromStr>(s: &str, max: u8) -> Option<(T, u8)> {
    let (ip, len) = s.rsplit_once('-')?;
    let len: u8 = len.parse().ok()?;
    (len <= max).then_some(())?;
    Some((ip.parse().ok()?, len))
}

/// Parse a whole key/value pair into a lease.
pub fn parse_lease(
    prefix: &str,
    key: &str,
    value: &[u8],
    etcd_lease: i64,
) -> Result<Lease, LeaseError> {
    let (subnet, ipv6_subnet) = parse_lease_key(prefix, key)?;
    let attrs = LeaseAttrs::from_json(key, value)?;
    Ok(Lease {
        subnet,
        ipv6_subnet,
        attrs,
        etcd_lease,
        expires: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/coreos.com/network";

    #[test]
    fn keys_round_trip() {
        let net: Ipv4Net = "10.244.1.0/24".parse().unwrap();
        let k = lease_key(P, net, None);
        assert_eq!(k, "/coreos.com/network/subnets/10.244.1.0-24");
        assert_eq!(parse_lease_key(P, &k).unwrap(), (net, None));
        let v6: Ipv6Net = "fd00:1:2::/64".parse().unwrap();
        let k = lease_key(P, net, Some(v6));
        assert_eq!(k, "/coreos.com/network/subnets/10.244.1.0-24&fd00:1:2::-64");
        assert_eq!(parse_lease_key(P, &k).unwrap(), (net, Some(v6)));
    }

    #[test]
    fn bad_keys_are_errors() {
        for k in [
            "/coreos.com/network/subnets/10.244.1.0",
            "/coreos.com/network/subnets/10.244.1.5-24",
            "/coreos.com/network/subnets/10.244.1.0-33",
            "/coreos.com/network/subnets/garbage",
            "/other/subnets/10.244.1.0-24",
            "/coreos.com/network/subnets/10.244.1.0-24&zz-64",
        ] {
            assert!(parse_lease_key(P, k).is_err(), "{k}");
        }
    }

    #[test]
    fn values_are_byte_identical_to_upstream() {
        let vx = LeaseAttrs {
            public_ip: "198.18.0.3".parse().unwrap(),
            public_ipv6: None,
            backend_type: BackendType::Vxlan,
            backend_data: Some(
                VxlanLeaseData {
                    vni: 1,
                    vtep_mac: "c6:d2:32:6f:8f:44".into(),
                }
                .to_raw(),
            ),
            backend_v6_data: None,
        };
        assert_eq!(
            vx.to_json(),
            r#"{"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#
        );
        let hg = LeaseAttrs {
            public_ip: "198.18.0.3".parse().unwrap(),
            public_ipv6: None,
            backend_type: BackendType::HostGw,
            backend_data: None,
            backend_v6_data: None,
        };
        assert_eq!(
            hg.to_json(),
            r#"{"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"host-gw"}"#
        );
        for t in [BackendType::Udp, BackendType::Alloc] {
            let attrs = LeaseAttrs {
                backend_type: t,
                ..hg.clone()
            };
            assert_eq!(
                attrs.to_json(),
                r#"{"PublicIP":"198.18.0.3","PublicIPv6":null}"#
            );
        }
    }

    #[test]
    fn backend_types_read_from_leases() {
        let parse = |v: &str| {
            parse_lease(
                P,
                "/coreos.com/network/subnets/10.244.9.0-24",
                v.as_bytes(),
                0,
            )
            .unwrap()
            .attrs
        };
        for (value, ty) in [
            (r#"{"PublicIP":"198.18.0.9"}"#, BackendType::Udp),
            (
                r#"{"PublicIP":"198.18.0.9","BackendType":""}"#,
                BackendType::Udp,
            ),
            (
                r#"{"PublicIP":"198.18.0.9","BackendType":null}"#,
                BackendType::Udp,
            ),
            (
                r#"{"PublicIP":"198.18.0.9","BackendType":"host-gw"}"#,
                BackendType::HostGw,
            ),
            (
                r#"{"PublicIP":"198.18.0.9","BackendType":"wireguard"}"#,
                BackendType::Other("wireguard".into()),
            ),
        ] {
            assert_eq!(parse(value).backend_type, ty, "{value}");
        }
        // Another implementation's type is written back as it was.
        assert_eq!(
            parse(r#"{"PublicIP":"198.18.0.9","PublicIPv6":null,"BackendType":"wireguard"}"#)
                .to_json(),
            r#"{"PublicIP":"198.18.0.9","PublicIPv6":null,"BackendType":"wireguard"}"#
        );
    }

    #[test]
    fn parses_upstream_values_and_rejects_garbage() {
        let v = br#"{"PublicIP":"198.18.0.9","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#;
        let l = parse_lease(P, "/coreos.com/network/subnets/10.244.9.0-24", v, 7).unwrap();
        assert_eq!(l.attrs.public_ip, "198.18.0.9".parse::<Ipv4Addr>().unwrap());
        assert_eq!(l.attrs.vxlan_data().unwrap().vtep_mac, "c6:d2:32:6f:8f:44");
        assert_eq!(std::str::from_utf8(v).unwrap(), l.attrs.to_json());
        let e = parse_lease(P, "/coreos.com/network/subnets/10.244.9.0-24", b"{oops", 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10.244.9.0-24") && e.contains("not a valid lease"),
            "{e}"
        );
        assert!(parse_lease(
            P,
            "/coreos.com/network/subnets/10.244.9.0-24",
            br#"{"PublicIP":"nope"}"#,
            0
        )
        .is_err());
    }
}
