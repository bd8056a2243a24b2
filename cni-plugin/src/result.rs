//! CNI results: one version-independent model, parsed from any supported version (0.3.0 ..
//! 1.1.0) and printed in any, as the reference plugins print them (`MarshalIndent` with four
//! spaces, Go field order): 0.3.x/0.4.0 put `"version":"4"|"6"` first on each `ips[]` entry.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CniError, DECODING_FAILURE};
use crate::gojson;
use crate::version::CniVersion;

/// A result, whatever its version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    #[serde(
        default,
        rename = "socketPath",
        skip_serializing_if = "String::is_empty"
    )]
    pub socket_path: String,
    #[serde(default, rename = "pciID", skip_serializing_if = "String::is_empty")]
    pub pci_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// Index into `interfaces`.
    pub interface: Option<usize>,
    /// Address with its prefix length (`10.1.17.2/24`).
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub advmss: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<i64>,
}

impl Route {
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: 0,
            advmss: 0,
            priority: 0,
            table: None,
            scope: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

fn decode_err(e: serde_json::Error) -> CniError {
    CniError::new(
        DECODING_FAILURE,
        "cannot decode a CNI result",
        e.to_string(),
    )
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Deserialize)]
struct RawResult {
    #[serde(default)]
    interfaces: Option<Vec<Interface>>,
    #[serde(default)]
    ips: Option<Vec<RawIp>>,
    #[serde(default)]
    routes: Option<Vec<Route>>,
    #[serde(default)]
    dns: Option<Dns>,
}

#[derive(Deserialize)]
struct RawIp {
    #[serde(default)]
    interface: Option<usize>,
    address: IpNet,
    #[serde(default)]
    gateway: Option<IpAddr>,
}

#[derive(Serialize)]
struct OutResult<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    interfaces: &'a [Interface],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ips: Vec<OutIp<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    routes: &'a [Route],
    dns: &'a Dns,
}

#[derive(Serialize)]
struct OutIp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<usize>,
    address: &'a IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
}

impl CniResult {
    /// Parses a result of any supported version (`version` fields are ignored).
    pub fn from_value(v: &Value) -> Result<CniResult, CniError> {
        let raw = RawResult::deserialize(v).map_err(decode_err)?;
        Ok(CniResult {
            interfaces: raw.interfaces.unwrap_or_default(),
            ips: raw
                .ips
                .unwrap_or_default()
                .into_iter()
                .map(|ip| IpConfig {
                    interface: ip.interface,
                    address: ip.address,
                    gateway: ip.gateway,
                })
                .collect(),
            routes: raw.routes.unwrap_or_default(),
            dns: raw.dns.unwrap_or_default(),
        })
    }

    /// Parses result text.
    pub fn from_slice(bytes: &[u8]) -> Result<CniResult, CniError> {
        let v: Value = serde_json::from_slice(bytes).map_err(decode_err)?;
        CniResult::from_value(&v)
    }

    fn out(&self, cni_version: CniVersion) -> OutResult<'_> {
        let with_version = cni_version.ips_carry_version();
        OutResult {
            cni_version: cni_version.as_str(),
            interfaces: &self.interfaces,
            ips: self
                .ips
                .iter()
                .map(|ip| OutIp {
                    version: with_version.then_some(match ip.address {
                        IpNet::V4(_) => "4",
                        IpNet::V6(_) => "6",
                    }),
                    interface: ip.interface,
                    address: &ip.address,
                    gateway: ip.gateway,
                })
                .collect(),
            routes: &self.routes,
            dns: &self.dns,
        }
    }

    /// A copy whose routes without a gateway name the gateway of the first address of their
    /// family: the routes the bridge plugin actually installs in the pod.
    pub fn with_route_gateways(&self) -> CniResult {
        let mut r = self.clone();
        for route in &mut r.routes {
            if route.gw.is_none() {
                route.gw = self
                    .ips
                    .iter()
                    .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
                    .find_map(|ip| ip.gateway);
            }
        }
        r
    }

    /// The result text in `cni_version`'s format, indented like the reference plugins.
    pub fn to_json(&self, cni_version: CniVersion) -> String {
        gojson::pretty(&self.out(cni_version))
    }

    /// The result as a JSON value in `cni_version`'s format (e.g. for `prevResult`).
    pub fn to_value(&self, cni_version: CniVersion) -> Value {
        serde_json::to_value(self.out(cni_version)).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests;
