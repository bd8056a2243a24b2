//! Reading flanneld's subnet file (`/run/flannel/subnet.env`): `FLANNEL_NETWORK` (comma-separated
//! list accepted), `FLANNEL_SUBNET` (the gateway form `10.1.17.1/24`, used as the network
//! `10.1.17.0/24`), the IPv6 pair, `FLANNEL_MTU` and `FLANNEL_IPMASQ`.

use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};
use thiserror::Error;

use crate::error::{CniError, DECODING_FAILURE, IO_FAILURE, TRY_AGAIN_LATER};

/// The subnet file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetEnv {
    /// `FLANNEL_NETWORK` entries, as networks.
    pub networks: Vec<Ipv4Net>,
    /// `FLANNEL_SUBNET` as a network (`10.1.17.0/24`).
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

impl From<SubnetEnvError> for CniError {
    fn from(e: SubnetEnvError) -> Self {
        let code = match &e {
            SubnetEnvError::NotFound { .. } => TRY_AGAIN_LATER,
            SubnetEnvError::Io { .. } => IO_FAILURE,
            SubnetEnvError::Missing { .. } | SubnetEnvError::Invalid { .. } => DECODING_FAILURE,
        };
        CniError::new(code, "cannot use the flannel subnet file", e.to_string())
    }
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

/// Parses the file's text; `path` is only used in errors.
pub fn parse(text: &str, path: &Path) -> Result<SubnetEnv, SubnetEnvError> {
    let mut networks = Vec::new();
    let mut ip6_networks = Vec::new();
    let (mut subnet, mut ip6_subnet, mut mtu, mut ipmasq) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
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
