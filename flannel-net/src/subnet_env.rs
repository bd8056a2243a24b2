//! The subnet file (`/run/flannel/subnet.env`): flanneld renders it once it holds a lease, the
//! CNI plugin parses it on every ADD. One type, one renderer, one parser:
//!
//! ```text
//! FLANNEL_NETWORK=10.244.0.0/16
//! FLANNEL_SUBNET=10.244.1.1/24
//! FLANNEL_IPV6_NETWORK=fd00::/48        (dual stack only)
//! FLANNEL_IPV6_SUBNET=fd00:0:0:5::1/64  (dual stack only)
//! FLANNEL_MTU=1450
//! FLANNEL_IPMASQ=true
//! ```
//!
//! Subnets are written in their gateway form (first host) and read back as networks;
//! `FLANNEL_NETWORK` may be a comma-separated list.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};
use thiserror::Error;

/// The subnet file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetEnv {
    /// `FLANNEL_NETWORK` entries, as networks.
    pub networks: Vec<Ipv4Net>,
    /// `FLANNEL_SUBNET` as a network (`10.1.17.0/24`; written `10.1.17.1/24`).
    pub subnet: Option<Ipv4Net>,
    pub ip6_networks: Vec<Ipv6Net>,
    pub ip6_subnet: Option<Ipv6Net>,
    pub mtu: u32,
    /// Whether flanneld masquerades (then the bridge must not).
    pub ipmasq: bool,
}

#[derive(Debug, Error)]
pub enum SubnetEnvError {
    #[error("{path}: no such file; flanneld is probably not running on this node (it writes this file once it has a subnet lease)")]
    NotFound { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is missing {}", .keys.join(", "))]
    Missing {
        path: PathBuf,
        keys: Vec<&'static str>,
    },
    #[error("{path}: invalid {key}={value:?}: {why}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        why: String,
    },
}

/// The first host of an IPv4 subnet in CIDR form (`10.244.1.0/24` -> `10.244.1.1/24`).
pub fn first_host(subnet: Ipv4Net) -> String {
    let ip = Ipv4Addr::from(u32::from(subnet.network()).wrapping_add(1));
    format!("{ip}/{}", subnet.prefix_len())
}

/// The first host of an IPv6 subnet in CIDR form (`fd00:0:0:5::/64` -> `fd00:0:0:5::1/64`).
pub fn first_host6(subnet: Ipv6Net) -> String {
    let ip = Ipv6Addr::from(u128::from(subnet.network()).wrapping_add(1));
    format!("{ip}/{}", subnet.prefix_len())
}

/// The file's text, in upstream flanneld's order; empty lists and absent subnets are left out.
pub fn render(env: &SubnetEnv) -> String {
    let mut s = String::new();
    let mut line = |key: &str, value: String| {
        s.push_str(key);
        s.push('=');
        s.push_str(&value);
        s.push('\n');
    };
    if !env.networks.is_empty() {
        line("FLANNEL_NETWORK", join(&env.networks));
    }
    if let Some(sub) = env.subnet {
        line("FLANNEL_SUBNET", first_host(sub));
    }
    if !env.ip6_networks.is_empty() {
        line("FLANNEL_IPV6_NETWORK", join(&env.ip6_networks));
    }
    if let Some(sub6) = env.ip6_subnet {
        line("FLANNEL_IPV6_SUBNET", first_host6(sub6));
    }
    line("FLANNEL_MTU", env.mtu.to_string());
    line("FLANNEL_IPMASQ", env.ipmasq.to_string());
    s
}

fn join<T: std::fmt::Display>(nets: &[T]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads and parses the subnet file.
pub fn load(path: &Path) -> Result<SubnetEnv, SubnetEnvError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SubnetEnvError::NotFound { path: path.into() }
        } else {
            SubnetEnvError::Io {
                path: path.into(),
                source,
            }
        }
    })?;
    parse(&text, path)
}

/// The `KEY=value` lines of the text, trimmed; lines without `=` are ignored.
fn entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// Parses the file's text; `path` is only used in errors. Every key must be there (IPv4 or
/// IPv6 network and subnet, MTU, ipmasq); unknown keys are ignored.
pub fn parse(text: &str, path: &Path) -> Result<SubnetEnv, SubnetEnvError> {
    let mut networks = Vec::new();
    let mut ip6_networks = Vec::new();
    let (mut subnet, mut ip6_subnet, mut mtu, mut ipmasq) = (None, None, None, None);
    for (key, value) in entries(text) {
        let invalid = |why: String| SubnetEnvError::Invalid {
            path: path.into(),
            key: key.into(),
            value: value.into(),
            why,
        };
        match key {
            "FLANNEL_NETWORK" => networks = list(value, Ipv4Net::trunc).map_err(invalid)?,
            "FLANNEL_IPV6_NETWORK" => {
                ip6_networks = list(value, Ipv6Net::trunc).map_err(invalid)?
            }
            "FLANNEL_SUBNET" => subnet = Some(cidr::<Ipv4Net>(value).map_err(invalid)?.trunc()),
            "FLANNEL_IPV6_SUBNET" => {
                ip6_subnet = Some(cidr::<Ipv6Net>(value).map_err(invalid)?.trunc())
            }
            "FLANNEL_MTU" => mtu = Some(value.parse::<u32>().map_err(|e| invalid(e.to_string()))?),
            // Upstream: anything but "true" is false.
            "FLANNEL_IPMASQ" => ipmasq = Some(value == "true"),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    if networks.is_empty() && ip6_networks.is_empty() {
        keys.push("FLANNEL_NETWORK");
    }
    if subnet.is_none() && ip6_subnet.is_none() {
        keys.push("FLANNEL_SUBNET");
    }
    if mtu.is_none() {
        keys.push("FLANNEL_MTU");
    }
    if ipmasq.is_none() {
        keys.push("FLANNEL_IPMASQ");
    }
    match (mtu, ipmasq) {
        (Some(mtu), Some(ipmasq)) if keys.is_empty() => Ok(SubnetEnv {
            networks,
            subnet,
            ip6_networks,
            ip6_subnet,
            mtu,
            ipmasq,
        }),
        _ => Err(SubnetEnvError::Missing {
            path: path.into(),
            keys,
        }),
    }
}

/// The IPv4 subnet (network form) a possibly incomplete or damaged file names, if any: what
/// flanneld asks to keep when it restarts.
pub fn previous_subnet(text: &str) -> Option<Ipv4Net> {
    entries(text)
        .filter(|(k, _)| *k == "FLANNEL_SUBNET")
        .find_map(|(_, v)| v.parse::<Ipv4Net>().ok())
        .map(|n| n.trunc())
}

fn cidr<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| format!("{s:?}: {e}"))
}

/// A comma-separated list of networks, each cut to its network address by `trunc`.
fn list<T: std::str::FromStr>(value: &str, trunc: fn(&T) -> T) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| cidr::<T>(s).map(|n| trunc(&n)))
        .collect()
}

#[cfg(test)]
mod tests;
