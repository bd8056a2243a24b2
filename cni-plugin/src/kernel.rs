//! Kernel adapter of the CNI plugin: the pod bridge, the veth pair (host end created directly in
//! the host namespace, pod end directly in the pod namespace), addresses and routes inside the
//! pod namespace. Everything else in the plugin is pure and never touches the kernel.
//!
//! Synchronous facade: each call drives netlink on a private current-thread tokio runtime.
//! Netlink sockets for a pod namespace are opened from a short-lived thread that `setns`-es
//! into it; the socket stays bound to that namespace.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KernelError {
    /// The interface name already exists in the pod namespace.
    #[error("interface {ifname} already exists in {netns}")]
    AlreadyExists { ifname: String, netns: String },
    /// The netns path cannot be opened.
    #[error("cannot open network namespace {netns}: {source}")]
    Netns { netns: String, source: std::io::Error },
    /// CHECK found something missing or different.
    #[error("{0}")]
    Check(String),
    #[error("{op}: {reason}")]
    Op { op: String, reason: String },
}

/// The bridge to create or reuse in the host namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    /// 0 = leave default.
    pub mtu: u32,
    pub promisc: bool,
    /// Gateway address to ensure on the bridge (isGateway), e.g. 10.1.17.1/24.
    pub gateway: Option<Ipv4Net>,
    /// Replace another address of the same family on the bridge (bridge plugin's forceAddress).
    pub force_address: bool,
}

/// A link as the CNI result reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    /// Lower-case colon-separated MAC.
    pub mac: String,
}

/// A route in the pod: destination and optional gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRoute {
    pub dst: Ipv4Net,
    pub gw: Option<Ipv4Addr>,
}

/// What the pod interface should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIface {
    pub name: String,
    pub addrs: Vec<Ipv4Net>,
    pub routes: Vec<PodRoute>,
}

pub struct Kernel {
    _private: (),
}

impl Kernel {
    /// Connects to netlink in the current (host) namespace.
    pub fn new() -> Result<Kernel, KernelError> {
        Err(unimplemented_op("Kernel::new"))
    }

    /// Create the bridge if missing (type bridge, mtu, promisc, up), ensure the gateway address.
    pub fn ensure_bridge(&self, _cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        Err(unimplemented_op("ensure_bridge"))
    }

    /// net.ipv4.ip_forward=1 in the current namespace (bridge plugin does this for isGateway).
    pub fn enable_ip_forward(&self) -> Result<(), KernelError> {
        Err(unimplemented_op("enable_ip_forward"))
    }

    /// Create the veth pair: pod end `ifname` directly in the pod namespace, host end named
    /// `veth<8 hex>` directly in the host namespace, both with `mtu` (0 = default); host end
    /// attached to the bridge, hairpin set as asked, both up. Returns (host end, pod end).
    /// `AlreadyExists` when `ifname` exists in the pod namespace. On failure nothing is left.
    pub fn add_veth(
        &self,
        _netns: &Path,
        _ifname: &str,
        _bridge: &LinkInfo,
        _mtu: u32,
        _hairpin: bool,
    ) -> Result<(LinkInfo, LinkInfo), KernelError> {
        Err(unimplemented_op("add_veth"))
    }

    /// Put the addresses and routes on the pod interface (link up).
    pub fn configure_pod(&self, _netns: &Path, _iface: &PodIface) -> Result<(), KernelError> {
        Err(unimplemented_op("configure_pod"))
    }

    /// Delete the pod interface (the host end goes with it). Ok(None) when the namespace or
    /// the interface is already gone; otherwise its IPv4 addresses before deletion.
    pub fn del_pod_iface(
        &self,
        _netns: &Path,
        _ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
        Err(unimplemented_op("del_pod_iface"))
    }

    /// CHECK: the pod interface exists with these addresses and routes, and its host peer is
    /// attached to `bridge`. `Check` error naming what is missing.
    pub fn check_pod(
        &self,
        _netns: &Path,
        _iface: &PodIface,
        _bridge: &str,
    ) -> Result<(), KernelError> {
        Err(unimplemented_op("check_pod"))
    }
}

fn unimplemented_op(op: &str) -> KernelError {
    KernelError::Op {
        op: op.into(),
        reason: "not implemented yet".into(),
    }
}
