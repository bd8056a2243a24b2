//! The two edges of the built-in path as traits, so that its logic runs against fakes in unit
//! tests: [`Dataplane`] (implemented by [`Kernel`] and by [`LazyKernel`], which opens netlink
//! only when a kernel operation is really needed) and [`Masquerade`] (implemented by
//! [`Iptables`]).

use std::cell::OnceCell;
use std::path::Path;

use flannel_iptables::{Iptables, TableRules};
use ipnet::Ipv4Net;

use crate::kernel::{BridgeConfig, Kernel, KernelError, LinkInfo, PodIface};

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

/// A [`Kernel`] created on first use (DEL without a netns never needs one).
#[derive(Default)]
pub struct LazyKernel {
    kernel: OnceCell<Result<Kernel, String>>,
}

impl LazyKernel {
    fn get(&self) -> Result<&Kernel, KernelError> {
        self.kernel
            .get_or_init(|| Kernel::new().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| KernelError::Op {
                op: "connect to netlink".into(),
                reason: reason.clone(),
            })
    }
}

impl Dataplane for LazyKernel {
    fn prepare(&self, netns: &Path, bridge: &BridgeConfig) {
        if let Ok(k) = self.get() {
            k.prepare(netns, bridge);
        }
    }
    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        self.get()?.ensure_bridge(cfg)
    }
    fn refresh_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        self.get()?.refresh_bridge(cfg)
    }
    fn enable_ip_forward(&self) -> Result<(), KernelError> {
        self.get()?.enable_ip_forward()
    }
    fn add_veth(
        &self,
        netns: &Path,
        ifname: &str,
        bridge: &LinkInfo,
        mtu: u32,
        hairpin: bool,
    ) -> Result<(LinkInfo, LinkInfo), KernelError> {
        self.get()?.add_veth(netns, ifname, bridge, mtu, hairpin)
    }
    fn configure_pod(&self, netns: &Path, iface: &PodIface) -> Result<(), KernelError> {
        self.get()?.configure_pod(netns, iface)
    }
    fn del_pod_iface(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
        self.get()?.del_pod_iface(netns, ifname)
    }
    fn check_pod(&self, netns: &Path, iface: &PodIface, bridge: &str) -> Result<(), KernelError> {
        self.get()?.check_pod(netns, iface, bridge)
    }
}

/// Installing and removing the ipMasq rules.
pub trait Masquerade {
    fn ensure(&self, rules: &TableRules) -> Result<(), String>;
    fn remove(&self, rules: &TableRules) -> Result<(), String>;
}

impl Masquerade for Iptables {
    fn ensure(&self, rules: &TableRules) -> Result<(), String> {
        flannel_iptables::ensure(self, rules)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn remove(&self, rules: &TableRules) -> Result<(), String> {
        flannel_iptables::remove(self, rules).map_err(|e| e.to_string())
    }
}
