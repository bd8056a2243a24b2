//! Kernel adapter of the CNI plugin: the pod bridge, the veth pair (host end created directly in
//! the host namespace, pod end directly in the pod namespace), addresses and routes inside the
//! pod namespace. Everything else in the plugin is pure and never touches the kernel.
//!
//! Plain blocking rtnetlink (see `netlink`): one socket in the namespace `Kernel::new` ran in
//! (the node namespace) and one in the pod namespace, kept for the calls that follow on the same
//! namespace (ADD's `add_veth` then `configure_pod`). Requests that do not need each other's
//! answers go to the kernel in one batch.
//!
//! This module owns the [`Kernel`] (its sockets and what `prepare` found) and its
//! [`Dataplane`] implementation; the work is in the submodules: `bridge` (the bridge and its
//! gateway address), `veth` (the pair), `pod` (addresses and routes in the pod), `check`
//! (CHECK), `teardown` (DEL), `setns` (sockets in a pod namespace), `msg` (request messages,
//! answers and errors).

mod bridge;
mod check;
mod msg;
mod pod;
mod setns;
mod teardown;
mod veth;

use std::cell::{OnceCell, RefCell};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{InfoKind, LinkMessage};

use crate::dataplane::{BridgeConfig, Dataplane, KernelError, LinkInfo, PodIface};
use crate::netlink::Socket;
use flannel_net::decode;
use msg::{io_err, link_by_name, link_info, op_err};
use setns::{socket_in, Netns};

/// The kernel dataplane: rtnetlink sockets in the node and the pod namespace.
pub struct Kernel {
    /// rtnetlink in the namespace `Kernel::new` ran in (the node namespace).
    host: RefCell<Socket>,
    /// The socket of the last pod namespace used, kept for the next call on it.
    pod: RefCell<Option<PodConn>>,
    /// The bridge as `prepare` found it, for the `ensure_bridge` that follows.
    bridge_seen: RefCell<Option<BridgeSeen>>,
    /// Settings `prepare` found already as wanted, for the calls that follow.
    settled: RefCell<Settled>,
}

/// What `prepare` found needs no change.
#[derive(Default)]
struct Settled {
    /// (bridge name, ifindex) whose accept_ra is 0.
    accept_ra_off: Option<(String, u32)>,
    /// net.ipv4.ip_forward is 1.
    ip_forward_on: bool,
}

/// A bridge lookup done ahead: the link (None: missing) and, when asked for, the IPv4
/// addresses of the namespace.
struct BridgeSeen {
    name: String,
    with_addrs: bool,
    link: Option<LinkMessage>,
    addrs: Vec<AddressMessage>,
}

/// A netlink socket inside a pod namespace.
pub(crate) struct PodConn {
    /// The path it was opened for.
    path: PathBuf,
    pub(crate) ns: Netns,
    pub(crate) sock: Socket,
    /// The pod end `add_veth` created here: (name, ifindex).
    pub(crate) iface: Option<(String, u32)>,
}

/// Where the host namespace's objects are, for error messages.
pub(crate) const HOST_NS: &str = "host namespace";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

impl Kernel {
    /// Connects to netlink in the current (host) namespace.
    pub fn new() -> Result<Kernel, KernelError> {
        let host =
            Socket::new().map_err(|e| io_err("open rtnetlink socket in host namespace", e))?;
        Ok(Kernel {
            host: RefCell::new(host),
            pod: RefCell::new(None),
            bridge_seen: RefCell::new(None),
            settled: RefCell::new(Settled::default()),
        })
    }

    /// The socket in the namespace at `netns`: the kept one when it is for the same path,
    /// otherwise a new one (which replaces it).
    fn pod_conn(
        &self,
        netns: &Path,
    ) -> Result<std::cell::RefMut<'_, Option<PodConn>>, KernelError> {
        let mut pod = self.pod.borrow_mut();
        if pod.as_ref().is_some_and(|p| p.path == netns) {
            return Ok(pod);
        }
        *pod = None;
        let ns = Netns::open(netns)?;
        let sock = socket_in(&ns)?;
        *pod = Some(PodConn {
            path: netns.to_path_buf(),
            ns,
            sock,
            iface: None,
        });
        Ok(pod)
    }
}

impl Dataplane for Kernel {
    /// Opens the pod namespace socket, looks the bridge up and reads the sysctls ADD sets,
    /// ahead of the calls on `netns` and `bridge` (no change anywhere); errors are left for
    /// those calls to report. The next `ensure_bridge` of that bridge starts from what was found
    /// (and looks again when it has to create the bridge); settings found as wanted are not
    /// read again.
    fn prepare(&self, netns: &Path, bridge: &BridgeConfig) {
        let _ = self.pod_conn(netns);
        let mut settled = Settled {
            ip_forward_on: reads(IP_FORWARD, b"1"),
            ..Settled::default()
        };
        let name = bridge.name.as_str();
        let with_addrs = bridge.gateway.is_some();
        let seen = bridge::bridge_state(&mut self.host.borrow_mut(), name, with_addrs).ok();
        if let Some(m) = seen.as_ref().and_then(|(link, _)| link.as_ref()) {
            if bridge::accept_ra_path(name).is_some_and(|p| reads(&p, b"0")) {
                settled.accept_ra_off = Some((name.to_string(), m.header.index));
            }
        }
        *self.bridge_seen.borrow_mut() = seen.map(|(link, addrs)| BridgeSeen {
            name: name.to_string(),
            with_addrs,
            link,
            addrs,
        });
        *self.settled.borrow_mut() = settled;
    }

    /// Create the bridge if missing (type bridge, mtu, promisc, up), ensure the gateway address.
    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        let seen = self
            .bridge_seen
            .borrow_mut()
            .take()
            .filter(|b| b.name == cfg.name && b.with_addrs == cfg.gateway.is_some())
            .map(|b| (b.link, b.addrs));
        let info = bridge::ensure_bridge(&mut self.host.borrow_mut(), cfg, seen)?;
        // Like the bridge plugin: we own the routes of this interface (best effort; the file is
        // missing when IPv6 is disabled).
        let off = self.settled.borrow_mut().accept_ra_off.take();
        if off.is_none_or(|(name, index)| name != cfg.name || index != info.index) {
            bridge::disable_accept_ra(&cfg.name);
        }
        Ok(info)
    }

    /// The bridge as it is now (its MAC may change when a port is added), after `ensure_bridge`
    /// set it up: one read; the full `ensure_bridge` when it is no longer there as a bridge.
    fn refresh_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        let found = link_by_name(&mut self.host.borrow_mut(), &cfg.name, HOST_NS)?;
        match found {
            Some(m) if decode::link_kind(&m) == Some(&InfoKind::Bridge) => {
                Ok(link_info(&m, &cfg.name))
            }
            _ => self.ensure_bridge(cfg),
        }
    }

    /// net.ipv4.ip_forward=1 in the current namespace (bridge plugin does this for isGateway).
    fn enable_ip_forward(&self) -> Result<(), KernelError> {
        // Only write when needed: writing resets per-device forwarding settings.
        if std::mem::take(&mut self.settled.borrow_mut().ip_forward_on) || reads(IP_FORWARD, b"1") {
            return Ok(());
        }
        std::fs::write(IP_FORWARD, b"1").map_err(|e| io_err(format!("write 1 to {IP_FORWARD}"), e))
    }

    /// Create the veth pair: pod end `ifname` directly in the pod namespace, host end named
    /// `veth<8 hex>` directly in the host namespace, both with `mtu` (0 = default); host end
    /// attached to the bridge, hairpin set as asked, both up. Returns (host end, pod end).
    /// `AlreadyExists` when `ifname` exists in the pod namespace. On failure nothing is left.
    fn add_veth(
        &self,
        netns: &Path,
        ifname: &str,
        bridge: &LinkInfo,
        mtu: u32,
        hairpin: bool,
    ) -> Result<(LinkInfo, LinkInfo), KernelError> {
        if bridge.index == 0 {
            return Err(op_err(
                format!("add veth {ifname} to bridge {}", bridge.name),
                "bridge index is 0",
            ));
        }
        let mut pod = self.pod_conn(netns)?;
        let pc = pod.as_mut().ok_or_else(no_pod_conn)?;
        pc.iface = None;
        let (host_end, pod_end) = veth::add_veth(
            &mut self.host.borrow_mut(),
            pc,
            ifname,
            bridge,
            mtu,
            hairpin,
        )?;
        pc.iface = Some((ifname.to_string(), pod_end.index));
        Ok((host_end, pod_end))
    }

    /// Put the addresses and routes on the pod interface (link up).
    fn configure_pod(&self, netns: &Path, iface: &PodIface) -> Result<(), KernelError> {
        let mut pod = self.pod_conn(netns)?;
        let pc = pod.as_mut().ok_or_else(no_pod_conn)?;
        pod::configure_pod(pc, iface)
    }

    /// Delete the pod interface (the host end goes with it). Ok(None) when the namespace or
    /// the interface is already gone; otherwise its IPv4 addresses before deletion.
    fn del_pod_iface(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
        let mut pod = match self.pod_conn(netns) {
            Ok(p) => p,
            Err(KernelError::Netns { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let pc = pod.as_mut().ok_or_else(no_pod_conn)?;
        let res = teardown::del_pod_iface(&mut pc.sock, &pc.ns.path, ifname);
        if pc.iface.as_ref().is_some_and(|(n, _)| n == ifname) {
            pc.iface = None;
        }
        res
    }

    /// CHECK: the pod interface exists with these addresses and routes, and its host peer is
    /// attached to `bridge`. `Check` error naming what is missing.
    fn check_pod(&self, netns: &Path, iface: &PodIface, bridge: &str) -> Result<(), KernelError> {
        let mut pod = self.pod_conn(netns)?;
        let pc = pod.as_mut().ok_or_else(no_pod_conn)?;
        check::check_pod(
            &mut self.host.borrow_mut(),
            &mut pc.sock,
            &pc.ns.path,
            iface,
            bridge,
        )
    }
}

fn no_pod_conn() -> KernelError {
    op_err("pod namespace socket", "not open")
}

/// A [`Kernel`] created on first use (DEL without a netns never needs one).
#[derive(Default)]
pub struct LazyKernel {
    /// The kernel, or the errno (if any) and text of why it could not be created.
    kernel: OnceCell<Result<Kernel, (Option<i32>, String)>>,
}

impl LazyKernel {
    fn get(&self) -> Result<&Kernel, KernelError> {
        self.kernel
            .get_or_init(|| {
                Kernel::new().map_err(|e| {
                    let errno = e.errno();
                    (errno, e.to_string())
                })
            })
            .as_ref()
            .map_err(|(errno, text)| {
                let source = match errno {
                    Some(n) => io::Error::from_raw_os_error(*n),
                    None => io::Error::other(text.clone()),
                };
                KernelError::Failed {
                    op: "connect to netlink".into(),
                    source,
                }
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

/// A small (proc) file in one read.
pub(crate) fn read_small(path: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut buf = [0u8; 64];
    let n = f.read(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Whether the (proc) file at `path` holds `want`, surrounding whitespace aside.
pub(crate) fn reads(path: &str, want: &[u8]) -> bool {
    read_small(path).is_ok_and(|v| v.trim_ascii() == want)
}

/// Whether a link can be named `name`: IFNAMSIZ is 16 including the NUL, so a longer (or
/// empty) name cannot exist and is never looked up.
pub(crate) fn can_exist(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15
}
