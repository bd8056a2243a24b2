//! The two edges of the built-in path as traits, so that its logic runs against fakes in unit
//! tests: [`Dataplane`] (implemented by `kernel::Kernel` and by `kernel::LazyKernel`, which
//! opens netlink only when a kernel operation is really needed) and [`Masquerade`]
//! (implemented by [`Iptables`]), with the plain values and errors the dataplane speaks in.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use flannel_iptables::{Iptables, TableRules};
use ipnet::Ipv4Net;

use thiserror::Error;

/// Why a kernel operation failed.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The interface name already exists in the pod namespace.
    #[error("interface {ifname} already exists in {netns}")]
    AlreadyExists { ifname: String, netns: String },
    /// The netns path cannot be opened.
    #[error("cannot open network namespace {netns}: {source}")]
    Netns { netns: String, source: io::Error },
    /// CHECK found something missing or different.
    #[error("{0}")]
    Check(String),
    /// The kernel refused a request (the errno, as an `io::Error`), or the socket or a file
    /// operation failed.
    #[error("{op}: {source}")]
    Failed { op: String, source: io::Error },
    /// The kernel's state does not allow the operation (e.g. a link of another type where the
    /// bridge should be), or its answer lacks what the operation needs.
    #[error("{op}: {reason}")]
    Op { op: String, reason: String },
}

impl KernelError {
    /// The errno behind the error, when the kernel or the system refused something.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Failed { source, .. } | KernelError::Netns { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }
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

/// The kernel operations the built-in path needs.
pub trait Dataplane {
    /// Read-only preparation for the calls on `netns` and `bridge` that follow (opening
    /// netlink, looking the bridge up): best effort, errors surface in those calls.
    fn prepare(&self, _netns: &Path, _bridge: &BridgeConfig) {}
    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError>;
    /// The bridge as it is now, once `ensure_bridge` has set it up (its MAC may change when a
    /// port is added).
    fn refresh_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        self.ensure_bridge(cfg)
    }
    fn enable_ip_forward(&self) -> Result<(), KernelError>;
    fn add_veth(
        &self,
        netns: &Path,
        ifname: &str,
        bridge: &LinkInfo,
        mtu: u32,
        hairpin: bool,
    ) -> Result<(LinkInfo, LinkInfo), KernelError>;
    fn configure_pod(&self, netns: &Path, iface: &PodIface) -> Result<(), KernelError>;
    fn del_pod_iface(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError>;
    fn check_pod(&self, netns: &Path, iface: &PodIface, bridge: &str) -> Result<(), KernelError>;
}

/// Installing and removing the ipMasq rules; failures keep the applier's error.
pub trait Masquerade {
    fn ensure(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error>;
    fn remove(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error>;
}

impl Masquerade for Iptables {
    fn ensure(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error> {
        flannel_iptables::ensure(self, rules).map(|_| ())
    }
    fn remove(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error> {
        flannel_iptables::remove(self, rules)
    }
}
