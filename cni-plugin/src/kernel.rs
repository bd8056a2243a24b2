//! Kernel adapter of the CNI plugin: the pod bridge, the veth pair (host end created directly in
//! the host namespace, pod end directly in the pod namespace), addresses and routes inside the
//! pod namespace. Everything else in the plugin is pure and never touches the kernel.
//!
//! Plain blocking rtnetlink (see `netlink`): one socket in the namespace `Kernel::new` ran in
//! (the node namespace) and one in the pod namespace, kept for the calls that follow on the same
//! namespace (ADD's `add_veth` then `configure_pod`). A pod namespace socket is opened by
//! switching the calling thread into the pod namespace for the `socket(2)` call only, then
//! straight back (the socket stays bound to the pod namespace); nothing else runs meanwhile.
//! Requests that do not need each other's answers go to the kernel in one batch.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkExtentMask, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rtm};
use thiserror::Error;

use crate::dataplane::Dataplane;
use crate::netlink::{self, Answer, Socket};

#[derive(Debug, Error)]
pub enum KernelError {
    /// The interface name already exists in the pod namespace.
    #[error("interface {ifname} already exists in {netns}")]
    AlreadyExists { ifname: String, netns: String },
    /// The netns path cannot be opened.
    #[error("cannot open network namespace {netns}: {source}")]
    Netns {
        netns: String,
        source: std::io::Error,
    },
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
struct PodConn {
    /// The path it was opened for.
    path: PathBuf,
    ns: Netns,
    sock: Socket,
    /// The pod end `add_veth` created here: (name, ifindex).
    iface: Option<(String, u32)>,
}

/// How many random host-end names `add_veth` tries before giving up.
const VETH_NAME_TRIES: usize = 10;
/// Where the host namespace's objects are, for error messages.
const HOST_NS: &str = "host namespace";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

impl Kernel {
    /// Connects to netlink in the current (host) namespace.
    pub fn new() -> Result<Kernel, KernelError> {
        let host =
            Socket::new().map_err(|e| op_err("open rtnetlink socket in host namespace", e))?;
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
        let seen = bridge_state(&mut self.host.borrow_mut(), name, with_addrs).ok();
        if let Some(m) = seen.as_ref().and_then(|(link, _)| link.as_ref()) {
            if accept_ra_path(name).is_some_and(|p| reads(&p, b"0")) {
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
        let info = ensure_bridge(&mut self.host.borrow_mut(), cfg, seen)?;
        // Like the bridge plugin: we own the routes of this interface (best effort; the file is
        // missing when IPv6 is disabled).
        let off = self.settled.borrow_mut().accept_ra_off.take();
        if off.is_none_or(|(name, index)| name != cfg.name || index != info.index) {
            disable_accept_ra(&cfg.name);
        }
        Ok(info)
    }

    /// The bridge as it is now (its MAC may change when a port is added), after `ensure_bridge`
    /// set it up: one read; the full `ensure_bridge` when it is no longer there as a bridge.
    fn refresh_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        let found = link_by_name(&mut self.host.borrow_mut(), &cfg.name, HOST_NS)?;
        match found {
            Some(m) if link_kind(&m) == Some(InfoKind::Bridge) => Ok(link_info(&m, &cfg.name)),
            _ => self.ensure_bridge(cfg),
        }
    }

    /// net.ipv4.ip_forward=1 in the current namespace (bridge plugin does this for isGateway).
    fn enable_ip_forward(&self) -> Result<(), KernelError> {
        // Only write when needed: writing resets per-device forwarding settings.
        if std::mem::take(&mut self.settled.borrow_mut().ip_forward_on) || reads(IP_FORWARD, b"1") {
            return Ok(());
        }
        std::fs::write(IP_FORWARD, b"1").map_err(|e| op_err(format!("write 1 to {IP_FORWARD}"), e))
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
        let (host_end, pod_end) = add_veth(
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
        configure_pod(pc, iface)
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
        let res = del_pod_iface(&mut pc.sock, &pc.ns.path, ifname);
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
        check_pod(
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

/// Opens a netlink socket inside `ns`: the calling thread joins `ns` for the socket(2) call and
/// returns to its own namespace right after (a thread that cannot return is a bug we must not
/// survive: everything after would run in the pod namespace, so the process aborts).
fn socket_in(ns: &Netns) -> Result<Socket, KernelError> {
    let own = File::open("/proc/thread-self/ns/net")
        .map_err(|e| op_err("open /proc/thread-self/ns/net", e))?;
    // SAFETY: setns(2) on descriptors we hold open; only this thread's network namespace
    // changes, and it is restored below before anything else runs on this thread.
    if unsafe { libc::setns(ns.file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(KernelError::Netns {
            netns: ns.path.clone(),
            source: io::Error::last_os_error(),
        });
    }
    let sock = Socket::new();
    // SAFETY: as above, back to the namespace the thread was in.
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        eprintln!(
            "flannel: cannot return to the node network namespace after opening a socket in {}: {}",
            ns.path,
            io::Error::last_os_error()
        );
        std::process::abort();
    }
    sock.map_err(|e| op_err(format!("open rtnetlink socket in {}", ns.path), e))
}

/// An opened network namespace file.
struct Netns {
    file: File,
    path: String,
}

impl Netns {
    fn open(path: &Path) -> Result<Netns, KernelError> {
        let shown = path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| KernelError::Netns {
                netns: shown.clone(),
                source,
            })?;
        Ok(Netns { file, path: shown })
    }
}

/// A small (proc) file in one read.
fn read_small(path: &str) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut buf = [0u8; 64];
    let n = f.read(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Whether the (proc) file at `path` holds `want`, surrounding whitespace aside.
fn reads(path: &str, want: &[u8]) -> bool {
    read_small(path).is_ok_and(|v| v.trim_ascii() == want)
}

/// Whether a link can be named `name`: IFNAMSIZ is 16 including the NUL, so a longer (or
/// empty) name cannot exist and is never looked up.
fn can_exist(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15
}

// ------------------------------------------------------------------ bridge

/// The link named `name` and, when `with_addrs`, the IPv4 addresses of the namespace (one
/// batch: the addresses are filtered by the link's index afterwards). Neither for a name that
/// cannot exist.
fn bridge_state(h: &mut Socket, name: &str, with_addrs: bool) -> Result<Seen, KernelError> {
    if !can_exist(name) {
        return Ok((None, Vec::new()));
    }
    let mut reqs = vec![get_link(name)];
    if with_addrs {
        reqs.push(dump_ipv4_addrs());
    }
    let mut answers = h
        .batch(reqs)
        .map_err(|e| op_err(format!("get link {name} in {HOST_NS}"), e))?
        .into_iter();
    let link = link_answer(answers.next(), || format!("get link {name} in {HOST_NS}"))?;
    let addrs = match answers.next() {
        None => Vec::new(),
        Some(a) => addr_answer(a, || format!("list IPv4 addresses in {HOST_NS}"))?,
    };
    Ok((link, addrs))
}

/// `seen`: the bridge link and namespace addresses when already looked up.
type Seen = (Option<LinkMessage>, Vec<AddressMessage>);

fn ensure_bridge(
    h: &mut Socket,
    cfg: &BridgeConfig,
    seen: Option<Seen>,
) -> Result<LinkInfo, KernelError> {
    let name = cfg.name.as_str();
    let mut created = false;
    let with_addrs = cfg.gateway.is_some();
    let (mut found, mut addrs) = match seen {
        Some(s) => s,
        None => bridge_state(h, name, with_addrs)?,
    };
    if found.is_none() {
        let mut m = LinkMessage::default();
        set_up(&mut m);
        if cfg.promisc {
            m.header.flags |= LinkFlags::Promisc;
            m.header.change_mask |= LinkFlags::Promisc;
        }
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if cfg.mtu != 0 {
            m.attributes.push(LinkAttribute::Mtu(cfg.mtu));
        }
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match ack(h, Rtm::NewLink(m), netlink::CREATE) {
            Ok(()) => created = true,
            // Created concurrently (or taken by another kind of link): inspected below.
            Err(Fail::Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e.op(format!("create bridge {name}"))),
        }
        (found, addrs) = bridge_state(h, name, with_addrs)?;
    }
    let m = found.ok_or_else(|| {
        op_err(
            format!("create bridge {name}"),
            "link not found right after creating it",
        )
    })?;
    match link_kind(&m) {
        Some(InfoKind::Bridge) => {}
        other => {
            let kind = other.map_or_else(|| "none".to_string(), |k| k.to_string());
            return Err(op_err(
                format!("ensure bridge {name}"),
                format!("link {name} exists and is not a bridge (type {kind})"),
            ));
        }
    }
    let index = m.header.index;
    let mac = link_mac(&m);
    if !created && (cfg.promisc || !m.header.flags.contains(LinkFlags::Up)) {
        let mut b = LinkMessage::default();
        b.header.index = index;
        set_up(&mut b);
        let mut what = format!("set bridge {name} up");
        if cfg.promisc {
            b.header.flags |= LinkFlags::Promisc;
            b.header.change_mask |= LinkFlags::Promisc;
            what.push_str(" promisc on");
        }
        ack(h, Rtm::SetLink(b), netlink::CREATE).map_err(|e| e.op(what))?;
    }
    if let Some(gw) = cfg.gateway {
        let addrs = ipv4_of(addrs, index);
        if ensure_gateway(h, name, index, gw, cfg.force_address, addrs)? {
            // Like the bridge plugin: set the bridge's MAC to itself once it has its address,
            // so it no longer follows the lowest port MAC as ports come and go.
            if let Some(bytes) = mac.as_ref().filter(|b| !b.is_empty()) {
                let mut b = LinkMessage::default();
                b.header.index = index;
                b.attributes.push(LinkAttribute::Address(bytes.clone()));
                ack(h, Rtm::SetLink(b), netlink::CREATE)
                    .map_err(|e| e.op(format!("set MAC {} on bridge {name}", format_mac(bytes))))?;
            }
        }
    }
    Ok(LinkInfo {
        name: name.to_string(),
        index,
        mac: mac.as_deref().map(format_mac).unwrap_or_default(),
    })
}

/// Ensure `gw` is on the bridge, whose IPv4 addresses are `addrs`. When it is missing and the
/// bridge has other IPv4 addresses: error, or delete them when `force`. Returns whether the
/// address was added.
fn ensure_gateway(
    h: &mut Socket,
    name: &str,
    index: u32,
    gw: Ipv4Net,
    force: bool,
    addrs: Vec<(Ipv4Net, AddressMessage)>,
) -> Result<bool, KernelError> {
    if addrs.iter().any(|(net, _)| *net == gw) {
        return Ok(false);
    }
    let op = || format!("ensure address {gw} on bridge {name}");
    if !addrs.is_empty() && !force {
        let others: Vec<String> = addrs.iter().map(|(n, _)| n.to_string()).collect();
        return Err(op_err(
            op(),
            format!(
                "{name} already has IPv4 address {} different from {gw} (forceAddress is false)",
                others.join(", ")
            ),
        ));
    }
    for (net, msg) in addrs {
        match ack(h, Rtm::DelAddress(msg), netlink::ACK) {
            // Already gone with its primary.
            Err(Fail::Errno(libc::EADDRNOTAVAIL)) => {}
            res => res.map_err(|e| e.op(format!("delete address {net} from bridge {name}")))?,
        }
    }
    match ack(
        h,
        Rtm::NewAddress(address_message(index, gw)),
        netlink::CREATE,
    ) {
        Err(Fail::Errno(libc::EEXIST)) => Ok(false),
        res => res
            .map(|()| true)
            .map_err(|e| e.op(format!("add address {gw} to bridge {name}"))),
    }
}

/// `net.ipv6.conf.<bridge>.accept_ra = 0`, best effort, in the current namespace.
fn disable_accept_ra(bridge: &str) {
    let Some(path) = accept_ra_path(bridge) else {
        return;
    };
    if read_small(&path).is_ok_and(|cur| cur.trim_ascii() != b"0") {
        let _ = std::fs::write(&path, b"0");
    }
}

fn accept_ra_path(bridge: &str) -> Option<String> {
    if bridge.is_empty() || bridge.contains('/') || bridge == "." || bridge == ".." {
        return None;
    }
    Some(format!("/proc/sys/net/ipv6/conf/{bridge}/accept_ra"))
}

// -------------------------------------------------------------------- veth

fn add_veth(
    host: &mut Socket,
    pc: &mut PodConn,
    ifname: &str,
    bridge: &LinkInfo,
    mtu: u32,
    hairpin: bool,
) -> Result<(LinkInfo, LinkInfo), KernelError> {
    let ns = &pc.ns;
    let already = || KernelError::AlreadyExists {
        ifname: ifname.to_string(),
        netns: ns.path.clone(),
    };
    // The kernel refuses the pair (EEXIST) when either name is taken: ours in the pod means
    // the interface already exists, otherwise the random host name was taken and another is
    // tried. A name that cannot exist is refused up front, like a lookup would find nothing.
    let mut host_name = String::new();
    for attempt in 1..=VETH_NAME_TRIES {
        host_name = format!("veth{:08x}", random_u32());
        let msg = veth_message(&host_name, ifname, ns, bridge.index, mtu);
        match ack(host, Rtm::NewLink(msg), netlink::CREATE) {
            Ok(()) => break,
            Err(Fail::Errno(libc::EEXIST)) => {
                if link_by_name(&mut pc.sock, ifname, &ns.path)?.is_some() {
                    return Err(already());
                }
                if attempt == VETH_NAME_TRIES {
                    return Err(Fail::Errno(libc::EEXIST).op(format!(
                        "create veth pair {host_name} / {ifname} in {} ({VETH_NAME_TRIES} random names tried)",
                        ns.path
                    )));
                }
            }
            Err(e) => {
                return Err(e.op(format!(
                    "create veth pair {host_name} (master {}) / {ifname} in {}",
                    bridge.name, ns.path
                )))
            }
        }
    }

    match finish_veth(host, &mut pc.sock, &ns.path, &host_name, ifname, hairpin) {
        Ok(pair) => Ok(pair),
        Err(e) => {
            // Deleting the host end deletes the pod end too.
            let mut del = LinkMessage::default();
            del.attributes
                .push(LinkAttribute::IfName(host_name.clone()));
            match ack(host, Rtm::DelLink(del), netlink::ACK) {
                Ok(()) | Err(Fail::Errno(libc::ENODEV)) => Err(e),
                Err(de) => Err(op_err(
                    format!("{e}; then cleanup: delete veth {host_name}"),
                    de,
                )),
            }
        }
    }
}

/// RTM_NEWLINK for the pair: host end `host_name` up, master `bridge_index`; peer `ifname`
/// created directly in `ns` (down: the kernel cannot open a veth end before its peer exists,
/// ENOTCONN). MTU on both when non-zero; txqueuelen 0 on both (as the bridge plugin's netlink
/// library sets it).
fn veth_message(
    host_name: &str,
    ifname: &str,
    ns: &Netns,
    bridge_index: u32,
    mtu: u32,
) -> LinkMessage {
    let mut peer = LinkMessage::default();
    peer.attributes
        .push(LinkAttribute::IfName(ifname.to_string()));
    peer.attributes.push(LinkAttribute::TxQueueLen(0));
    peer.attributes
        .push(LinkAttribute::NetNsFd(ns.file.as_raw_fd()));
    let mut m = LinkMessage::default();
    set_up(&mut m);
    m.attributes
        .push(LinkAttribute::IfName(host_name.to_string()));
    m.attributes.push(LinkAttribute::TxQueueLen(0));
    m.attributes.push(LinkAttribute::Controller(bridge_index));
    if mtu != 0 {
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        NlLinkInfo::Kind(InfoKind::Veth),
        NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    m
}

/// Hairpin on the host end and read it back (one batch on the host socket); pod end up and
/// read back (one batch on the pod socket).
fn finish_veth(
    host: &mut Socket,
    pod: &mut Socket,
    ns: &str,
    host_name: &str,
    ifname: &str,
    hairpin: bool,
) -> Result<(LinkInfo, LinkInfo), KernelError> {
    let mut reqs = Vec::with_capacity(2);
    if hairpin {
        let mut m = LinkMessage::default();
        m.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::PortKind(InfoPortKind::Bridge),
            NlLinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        reqs.push((Rtm::NewLink(m), netlink::ACK));
    }
    reqs.push(get_link(host_name));
    let mut answers = host
        .batch(reqs)
        .map_err(|e| op_err(format!("set up veth {host_name}"), e))?
        .into_iter();
    if hairpin {
        ack_answer(answers.next())
            .map_err(|e| e.op(format!("set hairpin on for bridge port {host_name}")))?;
    }
    let host_end = link_answer(answers.next(), || {
        format!("get link {host_name} in {HOST_NS}")
    })?
    .ok_or_else(|| {
        op_err(
            format!("get veth {host_name}"),
            "not found right after creating it",
        )
    })?;

    // Pod end up, then read it back: handled in order.
    let mut up = LinkMessage::default();
    set_up(&mut up);
    up.attributes
        .push(LinkAttribute::IfName(ifname.to_string()));
    let mut answers = pod
        .batch(vec![(Rtm::SetLink(up), netlink::CREATE), get_link(ifname)])
        .map_err(|e| op_err(format!("set {ifname} up in {ns}"), e))?
        .into_iter();
    ack_answer(answers.next()).map_err(|e| e.op(format!("set {ifname} up in {ns}")))?;
    let pod_end = link_answer(answers.next(), || format!("get link {ifname} in {ns}"))?
        .ok_or_else(|| {
            op_err(
                format!("get veth {ifname} in {ns}"),
                "not found right after creating it",
            )
        })?;
    Ok((link_info(&host_end, host_name), link_info(&pod_end, ifname)))
}

// --------------------------------------------------------------------- pod

fn configure_pod(pc: &mut PodConn, iface: &PodIface) -> Result<(), KernelError> {
    let name = iface.name.as_str();
    let ns = pc.ns.path.as_str();
    let index = match &pc.iface {
        Some((n, i)) if n == name => *i,
        _ => {
            link_by_name(&mut pc.sock, name, ns)?
                .ok_or_else(|| op_err(format!("configure {name} in {ns}"), "interface not found"))?
                .header
                .index
        }
    };

    // One batch, handled in order: the addresses, lo and the interface up, then the routes
    // (their gateways are reachable through the addresses just added).
    let mut reqs = Vec::with_capacity(iface.addrs.len() + 2 + iface.routes.len());
    for a in &iface.addrs {
        reqs.push((Rtm::NewAddress(address_message(index, *a)), netlink::CREATE));
    }
    let mut lo = LinkMessage::default();
    set_up(&mut lo);
    lo.attributes.push(LinkAttribute::IfName("lo".into()));
    reqs.push((Rtm::SetLink(lo), netlink::CREATE));
    let mut up = LinkMessage::default();
    up.header.index = index;
    set_up(&mut up);
    reqs.push((Rtm::SetLink(up), netlink::CREATE));
    for r in &iface.routes {
        reqs.push((Rtm::NewRoute(route_message(index, r)), netlink::CREATE));
    }
    let mut answers = pc
        .sock
        .batch(reqs)
        .map_err(|e| op_err(format!("configure {name} in {ns}"), e))?
        .into_iter();
    for a in &iface.addrs {
        match ack_answer(answers.next()) {
            Ok(()) | Err(Fail::Errno(libc::EEXIST)) => {}
            Err(e) => return Err(e.op(format!("add address {a} to {name} in {ns}"))),
        }
    }
    ack_answer(answers.next()).map_err(|e| e.op(format!("set lo up in {ns}")))?;
    ack_answer(answers.next()).map_err(|e| e.op(format!("set {name} up in {ns}")))?;
    for r in &iface.routes {
        ack_answer(answers.next())
            .map_err(|e| e.op(format!("add route {} dev {name} in {ns}", route_desc(r))))?;
    }
    Ok(())
}

fn del_pod_iface(
    pod: &mut Socket,
    ns: &str,
    ifname: &str,
) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
    if !can_exist(ifname) {
        return Ok(None);
    }
    let mut answers = pod
        .batch(vec![get_link(ifname), dump_ipv4_addrs()])
        .map_err(|e| op_err(format!("get link {ifname} in {ns}"), e))?
        .into_iter();
    let Some(m) = link_answer(answers.next(), || format!("get link {ifname} in {ns}"))? else {
        return Ok(None);
    };
    let index = m.header.index;
    let all = addr_answer(answers.next().unwrap_or(Err(libc::EIO)), || {
        format!("list IPv4 addresses of link #{index} in {ns}")
    })?;
    let addrs: Vec<Ipv4Net> = ipv4_of(all, index)
        .into_iter()
        .map(|(net, _)| net)
        .collect();
    let mut del = LinkMessage::default();
    del.header.index = index;
    match ack(pod, Rtm::DelLink(del), netlink::ACK) {
        Ok(()) | Err(Fail::Errno(libc::ENODEV)) => {}
        Err(e) => return Err(e.op(format!("delete {ifname} in {ns}"))),
    }
    Ok(Some(addrs))
}

fn check_pod(
    host: &mut Socket,
    pod: &mut Socket,
    ns: &str,
    iface: &PodIface,
    bridge: &str,
) -> Result<(), KernelError> {
    let name = iface.name.as_str();
    let check = KernelError::Check;
    let m = link_by_name(pod, name, ns)?
        .ok_or_else(|| check(format!("interface {name} missing in {ns}")))?;
    let index = m.header.index;
    if link_kind(&m) != Some(InfoKind::Veth) {
        return Err(check(format!("interface {name} in {ns} is not a veth")));
    }
    if !m.header.flags.contains(LinkFlags::Up) {
        return Err(check(format!("interface {name} in {ns} is down")));
    }

    let addrs = addr_answer(
        pod.request(dump_ipv4_addrs().0, netlink::DUMP)
            .map_err(|e| op_err(format!("list IPv4 addresses of link #{index} in {ns}"), e))?,
        || format!("list IPv4 addresses of link #{index} in {ns}"),
    )?;
    let addrs = ipv4_of(addrs, index);
    for want in &iface.addrs {
        if !addrs.iter().any(|(net, _)| net == want) {
            return Err(check(format!("address {want} missing on {name} in {ns}")));
        }
    }
    let routes = ipv4_routes(pod, ns)?;
    for want in &iface.routes {
        let dst = want.dst.trunc();
        if !routes
            .iter()
            .any(|r| r.oif == index && r.dst == dst && r.gw == want.gw)
        {
            return Err(check(format!(
                "route {} missing on {name} in {ns}",
                route_desc(want)
            )));
        }
    }

    // The host end: the pod end's IFLA_LINK is its index in the host namespace.
    let peer = link_peer(&m).filter(|i| *i != 0).ok_or_else(|| {
        check(format!(
            "interface {name} in {ns} has no veth peer in the host namespace"
        ))
    })?;
    let mut reqs = vec![get_link_by_index(peer)];
    let bridge_ok = can_exist(bridge);
    if bridge_ok {
        reqs.push(get_link(bridge));
    }
    let mut answers = host
        .batch(reqs)
        .map_err(|e| op_err(format!("get link #{peer} in {HOST_NS}"), e))?
        .into_iter();
    let host_end = link_answer(answers.next(), || format!("get link #{peer} in {HOST_NS}"))?;
    let br = if bridge_ok {
        link_answer(answers.next(), || format!("get link {bridge} in {HOST_NS}"))
    } else {
        Ok(None)
    };
    let host_end = host_end
        .filter(|h| link_kind(h) == Some(InfoKind::Veth) && link_peer(h) == Some(index))
        .ok_or_else(|| {
            check(format!(
                "host end of {name} in {ns} (ifindex {peer}) missing in the host namespace"
            ))
        })?;
    let host_name = link_name(&host_end).unwrap_or_default();
    let br = br?.ok_or_else(|| check(format!("bridge {bridge} missing in the host namespace")))?;
    if link_master(&host_end) != Some(br.header.index) {
        return Err(check(format!(
            "host end {host_name} of {name} in {ns} is not attached to bridge {bridge}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- requests

/// Why a request failed: the kernel's errno, or the socket itself.
#[derive(Debug)]
enum Fail {
    Errno(i32),
    Io(io::Error),
}

impl Fail {
    fn op(self, op: impl Into<String>) -> KernelError {
        op_err(op, self)
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Errno(e) => io::Error::from_raw_os_error(*e).fmt(f),
            Fail::Io(e) => e.fmt(f),
        }
    }
}

/// One acknowledged request.
fn ack(s: &mut Socket, msg: Rtm, flags: u16) -> Result<(), Fail> {
    match s.request(msg, flags) {
        Ok(a) => ack_answer(Some(a)),
        Err(e) => Err(Fail::Io(e)),
    }
}

fn ack_answer(a: Option<Answer>) -> Result<(), Fail> {
    match a {
        Some(Ok(_)) => Ok(()),
        Some(Err(errno)) => Err(Fail::Errno(errno)),
        None => Err(Fail::Errno(libc::EIO)),
    }
}

/// RTM_GETLINK of one link by name (statistics skipped).
fn get_link(name: &str) -> (Rtm, u16) {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    (Rtm::GetLink(m), netlink::GET)
}

fn get_link_by_index(index: u32) -> (Rtm, u16) {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    (Rtm::GetLink(m), netlink::GET)
}

/// RTM_GETADDR dump of the namespace's IPv4 addresses.
fn dump_ipv4_addrs() -> (Rtm, u16) {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    (Rtm::GetAddress(m), netlink::DUMP)
}

/// The link of a get answer; None when there is none (ENODEV).
fn link_answer(
    a: Option<Answer>,
    what: impl Fn() -> String,
) -> Result<Option<LinkMessage>, KernelError> {
    match a {
        Some(Ok(msgs)) => Ok(msgs.into_iter().find_map(|m| match m {
            Rtm::NewLink(l) => Some(l),
            _ => None,
        })),
        Some(Err(libc::ENODEV)) => Ok(None),
        Some(Err(errno)) => Err(Fail::Errno(errno).op(what())),
        None => Err(Fail::Errno(libc::EIO).op(what())),
    }
}

fn addr_answer(a: Answer, what: impl Fn() -> String) -> Result<Vec<AddressMessage>, KernelError> {
    match a {
        Ok(msgs) => Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                Rtm::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect()),
        Err(errno) => Err(Fail::Errno(errno).op(what())),
    }
}

/// The link named `name`, None when there is none.
fn link_by_name(s: &mut Socket, name: &str, ns: &str) -> Result<Option<LinkMessage>, KernelError> {
    if !can_exist(name) {
        return Ok(None);
    }
    let what = || format!("get link {name} in {ns}");
    let (msg, flags) = get_link(name);
    let a = s.request(msg, flags).map_err(|e| op_err(what(), e))?;
    link_answer(Some(a), what)
}

/// The IPv4 addresses of link `index` among `msgs`.
fn ipv4_of(msgs: Vec<AddressMessage>, index: u32) -> Vec<(Ipv4Net, AddressMessage)> {
    msgs.into_iter()
        .filter(|m| m.header.index == index)
        .filter_map(|m| addr_from_msg(&m).map(|n| (n, m)))
        .collect()
}

/// RTM_NEWADDR of `a` on link `index` (with IFA_LOCAL and, below /31, IFA_BROADCAST).
fn address_message(index: u32, a: Ipv4Net) -> AddressMessage {
    let (ip, prefix_len) = (a.addr(), a.prefix_len());
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.index = index;
    m.header.prefix_len = prefix_len;
    if !ip.is_multicast() {
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        if prefix_len < 31 {
            let brd = Ipv4Addr::from(u32::MAX >> u32::from(prefix_len) | u32::from(ip));
            m.attributes.push(AddressAttribute::Broadcast(brd));
        }
    }
    m
}

/// RTM_NEWROUTE in the main table, protocol boot, out of link `index`, via the gateway (scope
/// universe) or on-link (scope link).
fn route_message(index: u32, r: &PodRoute) -> RouteMessage {
    let dst = r.dst.trunc();
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.kind = RouteType::Unicast;
    m.header.destination_prefix_length = dst.prefix_len();
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(dst.addr())));
    m.attributes.push(RouteAttribute::Oif(index));
    match r.gw {
        Some(gw) => {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
            m.header.scope = RouteScope::Universe;
        }
        None => m.header.scope = RouteScope::Link,
    }
    m
}

fn set_up(m: &mut LinkMessage) {
    m.header.flags |= LinkFlags::Up;
    m.header.change_mask |= LinkFlags::Up;
}

/// A random u32 from the kernel (getrandom(2)).
fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: writes at most b.len() - got bytes into b[got..].
        let rc = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if rc > 0 {
            got += rc as usize;
        } else if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // Cannot happen for 4 bytes once the pool is initialised; fall back to the clock.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
                .unwrap_or(0);
            return t ^ std::process::id().rotate_left(16);
        }
    }
    u32::from_ne_bytes(b)
}

/// An IPv4 unicast route of the main table with a single output device.
struct Route {
    dst: Ipv4Net,
    gw: Option<Ipv4Addr>,
    oif: u32,
}

fn ipv4_routes(s: &mut Socket, ns: &str) -> Result<Vec<Route>, KernelError> {
    let what = || format!("list IPv4 routes in {ns}");
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    let a = s
        .request(Rtm::GetRoute(msg), netlink::DUMP)
        .map_err(|e| op_err(what(), e))?
        .map_err(|errno| Fail::Errno(errno).op(what()))?;
    Ok(a.iter()
        .filter_map(|m| match m {
            Rtm::NewRoute(r) => route_from_msg(r),
            _ => None,
        })
        .collect())
}

// ------------------------------------------------------------- conversions

fn link_kind(m: &LinkMessage) -> Option<InfoKind> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            NlLinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    })
}

fn link_name(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_mac(m: &LinkMessage) -> Option<Vec<u8>> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) => Some(b.clone()),
        _ => None,
    })
}

/// IFLA_LINK: for a veth, its peer's ifindex (in the peer's namespace).
fn link_peer(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Link(i) => Some(*i),
        _ => None,
    })
}

fn link_master(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

fn link_info(m: &LinkMessage, fallback_name: &str) -> LinkInfo {
    LinkInfo {
        name: link_name(m).unwrap_or_else(|| fallback_name.to_string()),
        index: m.header.index,
        mac: link_mac(m).as_deref().map(format_mac).unwrap_or_default(),
    }
}

fn addr_from_msg(m: &AddressMessage) -> Option<Ipv4Net> {
    if m.header.family != AddressFamily::Inet {
        return None;
    }
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(IpAddr::V4(v)) => local = Some(*v),
            AddressAttribute::Address(IpAddr::V4(v)) => address = Some(*v),
            _ => {}
        }
    }
    Ipv4Net::new(local.or(address)?, m.header.prefix_len).ok()
}

fn route_from_msg(m: &RouteMessage) -> Option<Route> {
    let h = &m.header;
    let table = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(h.table));
    if h.address_family != AddressFamily::Inet
        || h.kind != RouteType::Unicast
        || h.flags.contains(RouteFlags::Cloned)
        || table != u32::from(RouteHeader::RT_TABLE_MAIN)
    {
        return None;
    }
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut gw = None;
    let mut oif = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
            RouteAttribute::Oif(i) => oif = *i,
            _ => {}
        }
    }
    Some(Route {
        dst: Ipv4Net::new(dst, h.destination_prefix_length).ok()?,
        gw,
        oif,
    })
}

fn route_desc(r: &PodRoute) -> String {
    match r.gw {
        Some(gw) => format!("{} via {gw}", r.dst.trunc()),
        None => r.dst.trunc().to_string(),
    }
}

/// "c6:d2:32:6f:8f:44" (lower case).
fn format_mac(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, byte) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

// ------------------------------------------------------------------ errors

fn op_err(op: impl Into<String>, reason: impl std::fmt::Display) -> KernelError {
    KernelError::Op {
        op: op.into(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_format() {
        assert_eq!(
            format_mac(&[0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x04]),
            "c6:d2:32:6f:8f:04"
        );
        assert_eq!(format_mac(&[]), "");
    }

    #[test]
    fn route_description() {
        let r = PodRoute {
            dst: "10.1.0.5/16".parse().expect("valid net"),
            gw: Some(Ipv4Addr::new(10, 1, 17, 1)),
        };
        assert_eq!(route_desc(&r), "10.1.0.0/16 via 10.1.17.1");
        let r = PodRoute {
            dst: "192.168.5.0/24".parse().expect("valid net"),
            gw: None,
        };
        assert_eq!(route_desc(&r), "192.168.5.0/24");
    }

    #[test]
    fn veth_message_shape() {
        let ns = Netns {
            file: match File::open("/dev/null") {
                Ok(f) => f,
                Err(e) => panic!("open /dev/null: {e}"),
            },
            path: "/run/netns/x".into(),
        };
        let m = veth_message("veth01234567", "eth0", &ns, 7, 1450);
        assert!(m.header.flags.contains(LinkFlags::Up));
        assert!(m.attributes.contains(&LinkAttribute::Controller(7)));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1450)));
        let peer = m
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                    NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) => Some(p.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .expect("peer message");
        assert!(!peer.header.flags.contains(LinkFlags::Up));
        assert!(peer
            .attributes
            .contains(&LinkAttribute::NetNsFd(ns.file.as_raw_fd())));
        assert!(peer
            .attributes
            .contains(&LinkAttribute::IfName("eth0".into())));
        assert!(peer.attributes.contains(&LinkAttribute::Mtu(1450)));
    }
}
