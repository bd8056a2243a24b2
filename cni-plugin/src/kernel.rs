//! Kernel adapter of the CNI plugin: the pod bridge, the veth pair (host end created directly in
//! the host namespace, pod end directly in the pod namespace), addresses and routes inside the
//! pod namespace. Everything else in the plugin is pure and never touches the kernel.
//!
//! Synchronous facade: each call drives netlink on a private current-thread tokio runtime.
//! Netlink sockets for a pod namespace are opened from a short-lived thread that `setns`-es
//! into it; the socket stays bound to that namespace.

use std::fmt::Write as _;
use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use futures::future::{self, Either};
use futures::TryStreamExt;
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
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use thiserror::Error;

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
    rt: tokio::runtime::Runtime,
    /// rtnetlink in the namespace `Kernel::new` ran in (the node namespace); its connection
    /// task runs on `rt`.
    host: Handle,
}

/// How many random host-end names `add_veth` tries before giving up.
const VETH_NAME_TRIES: usize = 10;
/// Where the host namespace's objects are, for error messages.
const HOST_NS: &str = "host namespace";

impl Kernel {
    /// Connects to netlink in the current (host) namespace.
    pub fn new() -> Result<Kernel, KernelError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| op_err("Kernel::new: build tokio runtime", e))?;
        let host = {
            let _guard = rt.enter();
            let (conn, handle, _unsolicited) = rtnetlink::new_connection()
                .map_err(|e| op_err("open rtnetlink socket in host namespace", e))?;
            rt.spawn(conn);
            handle
        };
        Ok(Kernel { rt, host })
    }

    /// Create the bridge if missing (type bridge, mtu, promisc, up), ensure the gateway address.
    pub fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        let info = self.rt.block_on(ensure_bridge(&self.host, cfg))?;
        // Like the bridge plugin: we own the routes of this interface (best effort; the file is
        // missing when IPv6 is disabled).
        disable_accept_ra(&cfg.name);
        Ok(info)
    }

    /// net.ipv4.ip_forward=1 in the current namespace (bridge plugin does this for isGateway).
    pub fn enable_ip_forward(&self) -> Result<(), KernelError> {
        const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
        // Only write when needed: writing resets per-device forwarding settings.
        if let Ok(cur) = std::fs::read_to_string(PATH) {
            if cur.trim() == "1" {
                return Ok(());
            }
        }
        std::fs::write(PATH, b"1").map_err(|e| op_err(format!("write 1 to {PATH}"), e))
    }

    /// Create the veth pair: pod end `ifname` directly in the pod namespace, host end named
    /// `veth<8 hex>` directly in the host namespace, both with `mtu` (0 = default); host end
    /// attached to the bridge, hairpin set as asked, both up. Returns (host end, pod end).
    /// `AlreadyExists` when `ifname` exists in the pod namespace. On failure nothing is left.
    pub fn add_veth(
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
        let ns = Netns::open(netns)?;
        let (conn, pod) = self.connect_in(&ns)?;
        let work = add_veth(&self.host, &pod, &ns, ifname, bridge, mtu, hairpin);
        self.block_on_with(conn, &ns, work)
    }

    /// Put the addresses and routes on the pod interface (link up).
    pub fn configure_pod(&self, netns: &Path, iface: &PodIface) -> Result<(), KernelError> {
        let ns = Netns::open(netns)?;
        let (conn, pod) = self.connect_in(&ns)?;
        self.block_on_with(conn, &ns, configure_pod(&pod, &ns.path, iface))
    }

    /// Delete the pod interface (the host end goes with it). Ok(None) when the namespace or
    /// the interface is already gone; otherwise its IPv4 addresses before deletion.
    pub fn del_pod_iface(
        &self,
        netns: &Path,
        ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
        let ns = match Netns::open(netns) {
            Ok(ns) => ns,
            Err(KernelError::Netns { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let (conn, pod) = self.connect_in(&ns)?;
        self.block_on_with(conn, &ns, del_pod_iface(&pod, &ns.path, ifname))
    }

    /// CHECK: the pod interface exists with these addresses and routes, and its host peer is
    /// attached to `bridge`. `Check` error naming what is missing.
    pub fn check_pod(
        &self,
        netns: &Path,
        iface: &PodIface,
        bridge: &str,
    ) -> Result<(), KernelError> {
        let ns = Netns::open(netns)?;
        let (conn, pod) = self.connect_in(&ns)?;
        self.block_on_with(
            conn,
            &ns,
            check_pod(&self.host, &pod, &ns.path, iface, bridge),
        )
    }

    /// Open an rtnetlink socket inside `ns` from a short-lived thread that joins the namespace
    /// (the calling thread never changes namespace). The connection future must be polled by
    /// the caller (see `block_on_with`).
    fn connect_in(&self, ns: &Netns) -> Result<(PodConn, Handle), KernelError> {
        let fd = ns.file.as_raw_fd();
        let rt = self.rt.handle().clone();
        let joined = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("cni-netns".into())
                .spawn_scoped(s, move || -> Result<(PodConn, Handle), NsConnectError> {
                    // SAFETY: setns only changes the network namespace of this short-lived
                    // thread; `fd` stays open (borrowed from `ns`) until the scope ends.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(NsConnectError::Setns(io::Error::last_os_error()));
                    }
                    let _guard = rt.enter();
                    let (conn, handle, _unsolicited) =
                        rtnetlink::new_connection().map_err(NsConnectError::Socket)?;
                    Ok((conn, handle))
                })
                .map(|t| t.join())
        });
        match joined {
            Ok(Ok(Ok(pair))) => Ok(pair),
            Ok(Ok(Err(NsConnectError::Setns(source)))) => Err(KernelError::Netns {
                netns: ns.path.clone(),
                source,
            }),
            Ok(Ok(Err(NsConnectError::Socket(e)))) => {
                Err(op_err(format!("open rtnetlink socket in {}", ns.path), e))
            }
            Ok(Err(_)) => Err(op_err(
                format!("open rtnetlink socket in {}", ns.path),
                "namespace thread panicked",
            )),
            Err(e) => Err(op_err(format!("spawn thread to enter {}", ns.path), e)),
        }
    }

    /// Run `work` while driving the pod namespace connection `conn`; the connection (and its
    /// socket) is dropped when `work` is done.
    fn block_on_with<T>(
        &self,
        conn: PodConn,
        ns: &Netns,
        work: impl Future<Output = Result<T, KernelError>>,
    ) -> Result<T, KernelError> {
        self.rt.block_on(async {
            let work = std::pin::pin!(work);
            let conn = std::pin::pin!(conn);
            match future::select(work, conn).await {
                Either::Left((res, _)) => res,
                Either::Right(((), _)) => Err(op_err(
                    format!("netlink connection in {}", ns.path),
                    "closed unexpectedly",
                )),
            }
        })
    }
}

type PodConn = rtnetlink::proto::Connection<RouteNetlinkMessage>;

enum NsConnectError {
    Setns(io::Error),
    Socket(io::Error),
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

// ------------------------------------------------------------------ bridge

async fn ensure_bridge(h: &Handle, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
    let name = cfg.name.as_str();
    let mut created = false;
    let mut found = link_by_name(h, name, HOST_NS).await?;
    if found.is_none() {
        let mut b = LinkBridge::new(name); // up
        if cfg.mtu != 0 {
            b = b.mtu(cfg.mtu);
        }
        if cfg.promisc {
            b = b.promiscuous(true);
        }
        match h.link().add(b.build()).execute().await {
            Ok(()) => created = true,
            // Created concurrently (or taken by another kind of link): inspected below.
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(format!("create bridge {name}"), &e)),
        }
        found = link_by_name(h, name, HOST_NS).await?;
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
        let mut b = LinkUnspec::new_with_index(index).up();
        let mut what = format!("set bridge {name} up");
        if cfg.promisc {
            b = b.promiscuous(true);
            what.push_str(" promisc on");
        }
        h.link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(what, &e))?;
    }
    if let Some(gw) = cfg.gateway {
        if ensure_gateway(h, name, index, gw, cfg.force_address).await? {
            // Like the bridge plugin: set the bridge's MAC to itself once it has its address,
            // so it no longer follows the lowest port MAC as ports come and go.
            if let Some(bytes) = mac.as_ref().filter(|b| !b.is_empty()) {
                h.link()
                    .set(
                        LinkUnspec::new_with_index(index)
                            .address(bytes.clone())
                            .build(),
                    )
                    .execute()
                    .await
                    .map_err(|e| {
                        nl_err(
                            format!("set MAC {} on bridge {name}", format_mac(bytes)),
                            &e,
                        )
                    })?;
            }
        }
    }
    Ok(LinkInfo {
        name: name.to_string(),
        index,
        mac: mac.as_deref().map(format_mac).unwrap_or_default(),
    })
}

/// Ensure `gw` is on the bridge. When it is missing and the bridge has other IPv4 addresses:
/// error, or delete them when `force`. Returns whether the address was added.
async fn ensure_gateway(
    h: &Handle,
    name: &str,
    index: u32,
    gw: Ipv4Net,
    force: bool,
) -> Result<bool, KernelError> {
    let addrs = ipv4_addrs(h, index, HOST_NS).await?;
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
        match h.address().del(msg).execute().await {
            // Already gone with its primary.
            Err(e) if errno_of(&e) == Some(libc::EADDRNOTAVAIL) => {}
            res => {
                res.map_err(|e| nl_err(format!("delete address {net} from bridge {name}"), &e))?
            }
        }
    }
    match h
        .address()
        .add(index, IpAddr::V4(gw.addr()), gw.prefix_len())
        .execute()
        .await
    {
        Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(false),
        res => res
            .map(|()| true)
            .map_err(|e| nl_err(format!("add address {gw} to bridge {name}"), &e)),
    }
}

/// `net.ipv6.conf.<bridge>.accept_ra = 0`, best effort, in the current namespace.
fn disable_accept_ra(bridge: &str) {
    if bridge.is_empty() || bridge.contains('/') || bridge == "." || bridge == ".." {
        return;
    }
    let path = format!("/proc/sys/net/ipv6/conf/{bridge}/accept_ra");
    if let Ok(cur) = std::fs::read_to_string(&path) {
        if cur.trim() != "0" {
            let _ = std::fs::write(&path, b"0");
        }
    }
}

// -------------------------------------------------------------------- veth

async fn add_veth(
    host: &Handle,
    pod: &Handle,
    ns: &Netns,
    ifname: &str,
    bridge: &LinkInfo,
    mtu: u32,
    hairpin: bool,
) -> Result<(LinkInfo, LinkInfo), KernelError> {
    let already = || KernelError::AlreadyExists {
        ifname: ifname.to_string(),
        netns: ns.path.clone(),
    };
    if link_by_name(pod, ifname, &ns.path).await?.is_some() {
        return Err(already());
    }
    let mut host_name = String::new();
    for attempt in 1..=VETH_NAME_TRIES {
        host_name = format!("veth{:08x}", rand::random::<u32>());
        let msg = veth_message(&host_name, ifname, ns, bridge.index, mtu);
        match host.link().add(msg).execute().await {
            Ok(()) => break,
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {
                // Either end's name is taken: ours in the pod (raced), or the random one.
                if link_by_name(pod, ifname, &ns.path).await?.is_some() {
                    return Err(already());
                }
                if attempt == VETH_NAME_TRIES {
                    return Err(nl_err(
                        format!(
                            "create veth pair {host_name} / {ifname} in {} ({VETH_NAME_TRIES} random names tried)",
                            ns.path
                        ),
                        &e,
                    ));
                }
            }
            Err(e) => {
                return Err(nl_err(
                    format!(
                        "create veth pair {host_name} (master {}) / {ifname} in {}",
                        bridge.name, ns.path
                    ),
                    &e,
                ))
            }
        }
    }

    match finish_veth(host, pod, ns, &host_name, ifname, hairpin).await {
        Ok(pair) => Ok(pair),
        Err(e) => {
            // Deleting the host end deletes the pod end too.
            let del = LinkUnspec::new_with_name(&host_name).build();
            match host.link().del_with_message(del).execute().await {
                Ok(()) => Err(e),
                Err(de) if errno_of(&de) == Some(libc::ENODEV) => Err(e),
                Err(de) => Err(op_err(
                    format!("{e}; then cleanup: delete veth {host_name}"),
                    describe(&de),
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
    let mut peer = LinkUnspec::new_with_name(ifname)
        .txqueuelen(0)
        .setns_by_fd(ns.file.as_raw_fd());
    let mut b = LinkVeth::new(host_name, ifname)
        .up()
        .txqueuelen(0)
        .controller(bridge_index);
    if mtu != 0 {
        peer = peer.mtu(mtu);
        b = b.mtu(mtu);
    }
    b.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
        .build()
}

async fn finish_veth(
    host: &Handle,
    pod: &Handle,
    ns: &Netns,
    host_name: &str,
    ifname: &str,
    hairpin: bool,
) -> Result<(LinkInfo, LinkInfo), KernelError> {
    let set_hairpin = async {
        if !hairpin {
            return Ok(());
        }
        let msg = LinkUnspec::new_with_name(host_name)
            .set_port_kind(InfoPortKind::Bridge)
            .set_port_data(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )]))
            .build();
        host.link()
            .set_port(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("set hairpin on for bridge port {host_name}"), &e))
    };
    // Pod end up, then read it back: both on the pod socket, handled in order.
    let pod_up = pod
        .link()
        .set(LinkUnspec::new_with_name(ifname).up().build())
        .execute();
    let (hp, host_end, up, pod_end) = futures::join!(
        set_hairpin,
        link_by_name(host, host_name, HOST_NS),
        pod_up,
        link_by_name(pod, ifname, &ns.path),
    );
    hp?;
    up.map_err(|e| nl_err(format!("set {ifname} up in {}", ns.path), &e))?;
    let host_end = host_end?.ok_or_else(|| {
        op_err(
            format!("get veth {host_name}"),
            "not found right after creating it",
        )
    })?;
    let pod_end = pod_end?.ok_or_else(|| {
        op_err(
            format!("get veth {ifname} in {}", ns.path),
            "not found right after creating it",
        )
    })?;
    Ok((link_info(&host_end, host_name), link_info(&pod_end, ifname)))
}

// --------------------------------------------------------------------- pod

async fn configure_pod(pod: &Handle, ns: &str, iface: &PodIface) -> Result<(), KernelError> {
    let name = iface.name.as_str();
    let m = link_by_name(pod, name, ns)
        .await?
        .ok_or_else(|| op_err(format!("configure {name} in {ns}"), "interface not found"))?;
    let index = m.header.index;

    // Addresses first, then lo and the interface up: sent back to back, handled in order.
    let adds = iface.addrs.iter().map(|a| {
        let req = pod
            .address()
            .add(index, IpAddr::V4(a.addr()), a.prefix_len());
        async move {
            match req.execute().await {
                Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(()),
                res => res.map_err(|e| nl_err(format!("add address {a} to {name} in {ns}"), &e)),
            }
        }
    });
    let lo_up = pod
        .link()
        .set(LinkUnspec::new_with_name("lo").up().build())
        .execute();
    let if_up = pod
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute();
    let (added, lo, up) = future::join3(future::join_all(adds), lo_up, if_up).await;
    added.into_iter().collect::<Result<Vec<()>, _>>()?;
    lo.map_err(|e| nl_err(format!("set lo up in {ns}"), &e))?;
    up.map_err(|e| nl_err(format!("set {name} up in {ns}"), &e))?;

    // Then the routes (their gateways are reachable through the addresses just added).
    let routes = iface.routes.iter().map(|r| {
        let dst = r.dst.trunc();
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .output_interface(index)
            .protocol(RouteProtocol::Boot)
            .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
            .kind(RouteType::Unicast);
        b = match r.gw {
            Some(gw) => b.gateway(gw).scope(RouteScope::Universe),
            None => b.scope(RouteScope::Link),
        };
        let req = pod.route().add(b.build());
        async move {
            req.execute().await.map_err(|e| {
                nl_err(
                    format!("add route {} dev {name} in {ns}", route_desc(r)),
                    &e,
                )
            })
        }
    });
    future::join_all(routes)
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    Ok(())
}

async fn del_pod_iface(
    pod: &Handle,
    ns: &str,
    ifname: &str,
) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
    let Some(m) = link_by_name(pod, ifname, ns).await? else {
        return Ok(None);
    };
    let index = m.header.index;
    let addrs: Vec<Ipv4Net> = ipv4_addrs(pod, index, ns)
        .await?
        .into_iter()
        .map(|(net, _)| net)
        .collect();
    match pod.link().del(index).execute().await {
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => {}
        res => res.map_err(|e| nl_err(format!("delete {ifname} in {ns}"), &e))?,
    }
    Ok(Some(addrs))
}

async fn check_pod(
    host: &Handle,
    pod: &Handle,
    ns: &str,
    iface: &PodIface,
    bridge: &str,
) -> Result<(), KernelError> {
    let name = iface.name.as_str();
    let check = KernelError::Check;
    let m = link_by_name(pod, name, ns)
        .await?
        .ok_or_else(|| check(format!("interface {name} missing in {ns}")))?;
    let index = m.header.index;
    if link_kind(&m) != Some(InfoKind::Veth) {
        return Err(check(format!("interface {name} in {ns} is not a veth")));
    }
    if !m.header.flags.contains(LinkFlags::Up) {
        return Err(check(format!("interface {name} in {ns} is down")));
    }

    let (addrs, routes) = future::join(ipv4_addrs(pod, index, ns), ipv4_routes(pod, ns)).await;
    let addrs = addrs?;
    for want in &iface.addrs {
        if !addrs.iter().any(|(net, _)| net == want) {
            return Err(check(format!("address {want} missing on {name} in {ns}")));
        }
    }
    let routes = routes?;
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
    let (host_end, br) = future::join(
        link_by_index(host, peer, HOST_NS),
        link_by_name(host, bridge, HOST_NS),
    )
    .await;
    let host_end = host_end?
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

/// The link named `name`, None when there is none.
async fn link_by_name(
    h: &Handle,
    name: &str,
    ns: &str,
) -> Result<Option<LinkMessage>, KernelError> {
    // IFNAMSIZ is 16 including the NUL: a longer name cannot exist.
    if name.is_empty() || name.len() > 15 {
        return Ok(None);
    }
    let req = h.link().get().match_name(name);
    first_link(req, || format!("get link {name} in {ns}")).await
}

async fn link_by_index(
    h: &Handle,
    index: u32,
    ns: &str,
) -> Result<Option<LinkMessage>, KernelError> {
    let req = h.link().get().match_index(index);
    first_link(req, || format!("get link #{index} in {ns}")).await
}

async fn first_link(
    mut req: rtnetlink::LinkGetRequest,
    what: impl Fn() -> String,
) -> Result<Option<LinkMessage>, KernelError> {
    req.message_mut()
        .attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    let mut replies = req.execute();
    let mut found = None;
    loop {
        match replies.try_next().await {
            Ok(Some(m)) => {
                if found.is_none() {
                    found = Some(m);
                }
            }
            Ok(None) => return Ok(found),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(nl_err(what(), &e)),
        }
    }
}

/// IPv4 addresses of link `index` (one dump of the namespace's IPv4 addresses).
async fn ipv4_addrs(
    h: &Handle,
    index: u32,
    ns: &str,
) -> Result<Vec<(Ipv4Net, AddressMessage)>, KernelError> {
    let mut req = h.address().get().set_link_index_filter(index);
    req.message_mut().header.family = AddressFamily::Inet;
    let msgs: Vec<AddressMessage> = req
        .execute()
        .try_collect()
        .await
        .map_err(|e| nl_err(format!("list IPv4 addresses of link #{index} in {ns}"), &e))?;
    Ok(msgs
        .into_iter()
        .filter(|m| m.header.index == index)
        .filter_map(|m| addr_from_msg(&m).map(|n| (n, m)))
        .collect())
}

/// An IPv4 unicast route of the main table with a single output device.
struct Route {
    dst: Ipv4Net,
    gw: Option<Ipv4Addr>,
    oif: u32,
}

async fn ipv4_routes(h: &Handle, ns: &str) -> Result<Vec<Route>, KernelError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    let msgs: Vec<RouteMessage> = h
        .route()
        .get(msg)
        .execute()
        .try_collect()
        .await
        .map_err(|e| nl_err(format!("list IPv4 routes in {ns}"), &e))?;
    Ok(msgs.iter().filter_map(route_from_msg).collect())
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

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn describe(e: &rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    }
}

fn nl_err(op: impl Into<String>, e: &rtnetlink::Error) -> KernelError {
    KernelError::Op {
        op: op.into(),
        reason: describe(e),
    }
}

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
