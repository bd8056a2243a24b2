//! Thin adapter over rtnetlink: flanneld's only code that talks to the
//! kernel's routing tables and links. Pure logic (what should exist) lives
//! elsewhere; this module only lists and applies.
//!
//! Every method sends exactly one request (or one dump) per kernel object and
//! awaits its reply; list methods are single dumps filtered here. Nothing in
//! this module unwraps a kernel reply: malformed or unexpected replies are
//! skipped (lists) or reported as [`NetlinkError`].

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use flannel_net::decode;
use flannel_net::mac::mac_from_slice;
use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVxlan, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkUnspec, LinkVxlan, RouteMessageBuilder};

// The plain types live in the pure core; re-exported for code that names them from here.
pub use crate::kernel::{format_mac, parse_mac, Fdb, Link, Mac, Neighbour, Route};

/// Linux's default VXLAN UDP port, used when `VxlanSpec::port` is 0.
pub const VXLAN_DEFAULT_PORT: u16 = 8472;

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;
const NUD_PERMANENT: u16 = 0x80;

/// The vxlan device flanneld wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    /// Source address of the tunnel; 0.0.0.0 = not set.
    pub local: Ipv4Addr,
    /// Underlay device; 0 = not set.
    pub underlay_index: u32,
    /// UDP destination port; 0 = kernel default 8472.
    pub port: u16,
    pub learning: bool,
    pub gbp: bool,
    /// 0 = leave the MTU the kernel chose.
    pub mtu: u32,
    /// None: keep the existing MAC, or a random locally administered one on
    /// creation.
    pub mac: Option<Mac>,
}

/// A failed netlink operation, with the object and device it was about.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open rtnetlink socket: {0}")]
    Connect(#[source] std::io::Error),
    #[error("Netlink::connect must be called inside a tokio runtime")]
    NoRuntime,
    /// The kernel (or the netlink connection) refused or failed the request.
    #[error("{op} {object}: {}", describe(.error))]
    Kernel {
        op: &'static str,
        object: String,
        error: rtnetlink::Error,
    },
    /// The kernel's reply did not have the expected shape.
    #[error("{op} {object}: {reason}")]
    Unexpected {
        op: &'static str,
        object: String,
        reason: String,
    },
}

impl NetlinkError {
    fn kernel(op: &'static str, object: impl Into<String>, error: rtnetlink::Error) -> Self {
        NetlinkError::Kernel {
            op,
            object: object.into(),
            error,
        }
    }

    /// The positive errno the kernel answered with, if this is a kernel error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { error, .. } => errno_of(error),
            _ => None,
        }
    }
}

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

/// Connection to the kernel's routing netlink in the current network
/// namespace. Cheap to clone (all clones share one socket).
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Open the rtnetlink socket and spawn its connection task on the current
    /// tokio runtime. The task ends when the last clone is dropped.
    pub fn connect() -> Result<Netlink, NetlinkError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (conn, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
        rt.spawn(conn);
        Ok(Netlink { handle })
    }

    // ---------------------------------------------------------------- links

    /// All links with their IPv4 addresses (one link dump, one address dump).
    pub async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list", "links", e))?;
        let mut addrs = self.ipv4_addrs_by_index().await?;
        Ok(msgs
            .iter()
            .map(|m| link_from_msg(m, addrs.remove(&m.header.index).unwrap_or_default()))
            .collect())
    }

    /// The link named `name`, None when there is none.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        match self.link_msg_by_name(name).await? {
            None => Ok(None),
            Some(m) => {
                let addrs = self.ipv4_addrs_of(m.header.index).await?;
                Ok(Some(link_from_msg(&m, addrs)))
            }
        }
    }

    async fn link_msg_by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        // IFNAMSIZ is 16 including the NUL: a longer name cannot exist.
        if name.is_empty() || name.len() > 15 {
            return Ok(None);
        }
        let replies = self.handle.link().get().match_name(name).execute();
        first_link(replies, || format!("link {name}")).await
    }

    async fn link_by_index(&self, index: u32) -> Result<Option<Link>, NetlinkError> {
        let replies = self.handle.link().get().match_index(index).execute();
        match first_link(replies, || format!("link #{index}")).await? {
            None => Ok(None),
            Some(m) => {
                let addrs = self.ipv4_addrs_of(index).await?;
                Ok(Some(link_from_msg(&m, addrs)))
            }
        }
    }

    async fn ipv4_addr_msgs(&self) -> Result<Vec<AddressMessage>, NetlinkError> {
        let mut req = self.handle.address().get();
        req.message_mut().header.family = AddressFamily::Inet;
        req.execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list", "IPv4 addresses", e))
    }

    async fn ipv4_addrs_by_index(&self) -> Result<HashMap<u32, Vec<Ipv4Net>>, NetlinkError> {
        let mut map: HashMap<u32, Vec<Ipv4Net>> = HashMap::new();
        for m in self.ipv4_addr_msgs().await? {
            if let Some(net) = decode::ipv4_addr(&m) {
                map.entry(m.header.index).or_default().push(net);
            }
        }
        Ok(map)
    }

    async fn ipv4_addrs_of(&self, index: u32) -> Result<Vec<Ipv4Net>, NetlinkError> {
        Ok(self
            .ipv4_addr_msgs()
            .await?
            .iter()
            .filter(|m| m.header.index == index)
            .filter_map(decode::ipv4_addr)
            .collect())
    }

    /// Stop the kernel from giving a link an IPv6 link-local address (and so from sending
    /// router solicitations and MLD reports through it). Set before the link first goes up.
    pub async fn disable_ipv6_addr_gen(&self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkUnspec::new_with_index(index).build();
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        self.set_link(format!("IPv6 addrgenmode none on link #{index}"), msg)
            .await
    }

    /// Set a link's MTU and bring it up.
    pub async fn set_mtu_up(&self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.set_link(
            format!("mtu {mtu} + up on link #{index}"),
            LinkUnspec::new_with_index(index).mtu(mtu).up().build(),
        )
        .await
    }

    async fn set_link(&self, what: String, msg: LinkMessage) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel("set", what, e))
    }

    // --------------------------------------------------------------- routes

    /// Oif of the IPv4 default route in the main table (the one with the
    /// lowest metric; for a multipath default route, its first next hop).
    pub async fn default_route_ifindex(&self) -> Result<Option<u32>, NetlinkError> {
        let mut best: Option<(u32, u32)> = None; // (metric, oif)
        for m in self.route_msgs().await? {
            let h = &m.header;
            if h.address_family != AddressFamily::Inet
                || h.destination_prefix_length != 0
                || h.kind != RouteType::Unicast
                || decode::route_table(&m) != u32::from(RouteHeader::RT_TABLE_MAIN)
            {
                continue;
            }
            let mut oif = 0;
            let mut metric = 0;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Oif(i) => oif = *i,
                    RouteAttribute::Priority(p) => metric = *p,
                    RouteAttribute::MultiPath(hops) if oif == 0 => {
                        if let Some(h) = hops.iter().find(|h| h.interface_index != 0) {
                            oif = h.interface_index;
                        }
                    }
                    _ => {}
                }
            }
            if oif != 0 && best.is_none_or(|(bm, _)| metric < bm) {
                best = Some((metric, oif));
            }
        }
        Ok(best.map(|(_, oif)| oif))
    }

    /// Oif the kernel would use to reach `dst` (like `ip route get DST`);
    /// None when the kernel has no route to it.
    pub async fn route_get(&self, dst: Ipv4Addr) -> Result<Option<u32>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 32;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        let mut replies = self.handle.route().get(msg).execute();
        let mut oif = None;
        loop {
            match replies.try_next().await {
                Ok(Some(m)) => {
                    if oif.is_none() {
                        oif = m.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Oif(i) => Some(*i),
                            _ => None,
                        });
                    }
                }
                Ok(None) => break,
                Err(e)
                    if matches!(
                        errno_of(&e),
                        Some(ENETUNREACH | EHOSTUNREACH | ESRCH | ENOENT)
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(NetlinkError::kernel("get", format!("route to {dst}"), e)),
            }
        }
        Ok(oif)
    }

    async fn route_msgs(&self) -> Result<Vec<RouteMessage>, NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        self.handle
            .route()
            .get(msg)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list", "IPv4 routes", e))
    }

    /// IPv4 unicast routes of the main table with a single oif (multipath
    /// routes are skipped), with their onlink flag.
    pub async fn routes(&self) -> Result<Vec<Route>, NetlinkError> {
        Ok(self
            .route_msgs()
            .await?
            .iter()
            .filter_map(decode::ipv4_route)
            .collect())
    }

    /// `ip route replace DST [via GW] dev OIF [onlink]` in the main table,
    /// proto boot, scope universe (link when there is no gateway).
    pub async fn replace_route(&self, r: &Route) -> Result<(), NetlinkError> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(r.dst.addr(), r.dst.prefix_len())
            .protocol(RouteProtocol::Boot)
            .kind(RouteType::Unicast)
            .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
            .output_interface(r.oif);
        b = match r.gateway {
            Some(gw) => b.gateway(gw).scope(RouteScope::Universe),
            None => b.scope(RouteScope::Link),
        };
        if r.onlink {
            b = b.onlink();
        }
        self.add_or_replace_route(b.build(), || route_desc(r)).await
    }

    /// Send one route message with NLM_F_REPLACE.
    async fn add_or_replace_route(
        &self,
        msg: RouteMessage,
        what: impl FnOnce() -> String,
    ) -> Result<(), NetlinkError> {
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel("replace", what(), e))
    }

    /// `ip route replace blackhole DST metric METRIC` in the main table: drops traffic to
    /// addresses of `dst` that no more specific or lower-metric route (the pod bridge) claims.
    pub async fn replace_blackhole(&self, dst: Ipv4Net, metric: u32) -> Result<(), NetlinkError> {
        let b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .protocol(RouteProtocol::Boot)
            .kind(RouteType::BlackHole)
            .scope(RouteScope::Universe)
            .table_id(u32::from(RouteHeader::RT_TABLE_MAIN))
            .priority(metric);
        self.add_or_replace_route(b.build(), || format!("blackhole route {dst}"))
            .await
    }

    /// `ip route del DST [via GW] dev OIF` in the main table; a route (or
    /// device) that does not exist is not an error.
    pub async fn del_route(&self, r: &Route) -> Result<(), NetlinkError> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(r.dst.addr(), r.dst.prefix_len())
            .protocol(RouteProtocol::Unspec)
            .kind(RouteType::Unspec)
            .scope(RouteScope::NoWhere)
            .table_id(u32::from(RouteHeader::RT_TABLE_MAIN));
        if r.oif != 0 {
            b = b.output_interface(r.oif);
        }
        if let Some(gw) = r.gateway {
            b = b.gateway(gw);
        }
        match self.handle.route().del(b.build()).execute().await {
            Err(e) if matches!(errno_of(&e), Some(ENOENT | ESRCH | ENODEV)) => Ok(()),
            res => res.map_err(|e| NetlinkError::kernel("delete", route_desc(r), e)),
        }
    }

    // ----------------------------------------------------------- neighbours

    /// IPv4 PERMANENT neighbours on device `ifindex` (one dump).
    pub async fn neighbours(&self, ifindex: u32) -> Result<Vec<Neighbour>, NetlinkError> {
        let mut req = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet);
        // Let the kernel filter by device (honoured in non-strict mode too).
        req.message_mut()
            .attributes
            .push(NeighbourAttribute::IfIndex(ifindex));
        let msgs: Vec<NeighbourMessage> = req.execute().try_collect().await.map_err(|e| {
            NetlinkError::kernel("list", format!("IPv4 neighbours of link #{ifindex}"), e)
        })?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.ifindex == ifindex)
            .filter_map(neighbour_from_msg)
            .collect())
    }

    /// `ip neigh replace IP lladdr MAC dev IFINDEX nud permanent`.
    pub async fn replace_neighbour(&self, n: &Neighbour) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(n.ifindex, IpAddr::V4(n.ip))
            .link_layer_address(&n.mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel("replace", neighbour_desc(n), e))
    }

    /// `ip neigh del IP dev IFINDEX`; a missing entry is not an error.
    pub async fn del_neighbour(&self, n: &Neighbour) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = n.ifindex;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                n.ip,
            )));
        match self.handle.neighbours().del(msg).execute().await {
            Err(e) if matches!(errno_of(&e), Some(ENOENT | ENODEV)) => Ok(()),
            res => res.map_err(|e| NetlinkError::kernel("delete", neighbour_desc(n), e)),
        }
    }

    // ------------------------------------------------------------------ fdb

    /// Bridge fdb entries of device `ifindex` that have an IPv4 destination,
    /// without the all-zero-MAC default entries (one AF_BRIDGE dump).
    pub async fn fdb(&self, ifindex: u32) -> Result<Vec<Fdb>, NetlinkError> {
        let msgs: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list", format!("fdb of link #{ifindex}"), e))?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.ifindex == ifindex)
            .filter_map(fdb_from_msg)
            .collect())
    }

    /// `bridge fdb replace MAC dev IFINDEX dst IP self permanent`.
    pub async fn replace_fdb(&self, f: &Fdb) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add_bridge(f.ifindex, &f.mac)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .destination(IpAddr::V4(f.dst))
            .replace()
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel("replace", fdb_desc(f), e))
    }

    /// `bridge fdb del MAC dev IFINDEX dst IP self`; a missing entry is not an
    /// error.
    pub async fn del_fdb(&self, f: &Fdb) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = f.ifindex;
        msg.header.flags = NeighbourFlags::Own;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(f.mac.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                f.dst,
            )));
        match self.handle.neighbours().del(msg).execute().await {
            Err(e) if matches!(errno_of(&e), Some(ENOENT | ENODEV)) => Ok(()),
            res => res.map_err(|e| NetlinkError::kernel("delete", fdb_desc(f), e)),
        }
    }

    // ---------------------------------------------------- devices, addresses

    /// Create the vxlan device, or reuse an existing one with the same name
    /// when compatible (same vni, local, port, underlay, learning, gbp: keep
    /// its MAC); when incompatible delete and recreate. Set MTU, set it up.
    /// Returns the link (with its MAC).
    ///
    /// When `spec.mac` is None a new device gets an explicit random locally
    /// administered MAC (so udev's MACAddressPolicy does not change it later);
    /// when it is Some and a reused device has another MAC, the MAC is set.
    pub async fn ensure_vxlan(&self, spec: &VxlanSpec) -> Result<Link, NetlinkError> {
        let object = || format!("vxlan device {} (vni {})", spec.name, spec.vni);
        let existing = self.link_msg_by_name(&spec.name).await?;
        let mut set_mac = None;
        let index = match existing {
            Some(m) => match vxlan_incompatibility(&m, spec) {
                None => {
                    tracing::debug!(dev = %spec.name, "reusing existing vxlan device");
                    if let Some(want) = spec.mac {
                        if link_mac(&m) != Some(want) {
                            set_mac = Some(want);
                        }
                    }
                    m.header.index
                }
                Some(why) => {
                    tracing::info!(
                        dev = %spec.name,
                        reason = %why,
                        "existing device is incompatible; deleting and recreating it"
                    );
                    match self.handle.link().del(m.header.index).execute().await {
                        Err(e) if errno_of(&e) != Some(ENODEV) => {
                            return Err(NetlinkError::kernel("delete incompatible", object(), e))
                        }
                        _ => {}
                    }
                    self.create_vxlan(spec).await?
                }
            },
            None => self.create_vxlan(spec).await?,
        };

        let mut b = LinkUnspec::new_with_index(index).up();
        let mut what = format!("up on vxlan device {} (#{index})", spec.name);
        if spec.mtu != 0 {
            b = b.mtu(spec.mtu);
            what = format!("mtu {} + {what}", spec.mtu);
        }
        if let Some(mac) = set_mac {
            b = b.address(mac.to_vec());
            what = format!("address {} + {what}", format_mac(&mac));
        }
        self.set_link(what, b.build()).await?;

        self.link_by_index(index)
            .await?
            .ok_or_else(|| NetlinkError::Unexpected {
                op: "get",
                object: object(),
                reason: format!("link #{index} vanished right after configuring it"),
            })
    }

    async fn create_vxlan(&self, spec: &VxlanSpec) -> Result<u32, NetlinkError> {
        let object = || format!("vxlan device {} (vni {})", spec.name, spec.vni);
        let mac = spec.mac.unwrap_or_else(random_local_mac);
        let mut b = LinkVxlan::new(&spec.name, spec.vni)
            .learning(spec.learning)
            .address(mac.to_vec());
        if spec.underlay_index != 0 {
            b = b.dev(spec.underlay_index);
        }
        if !spec.local.is_unspecified() {
            b = b.local(spec.local);
        }
        if spec.port != 0 {
            b = b.port(spec.port);
        }
        if spec.gbp {
            b = b.gbp();
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel("create", object(), e))?;
        tracing::info!(dev = %spec.name, vni = spec.vni, mac = %format_mac(&mac), "created vxlan device");
        match self.link_msg_by_name(&spec.name).await? {
            Some(m) => Ok(m.header.index),
            None => Err(NetlinkError::Unexpected {
                op: "create",
                object: object(),
                reason: "device not found right after creating it".into(),
            }),
        }
    }

    /// Make `addr` the only IPv4 address on the link (add it when missing,
    /// remove others), link up.
    pub async fn ensure_only_addr(&self, ifindex: u32, addr: Ipv4Net) -> Result<(), NetlinkError> {
        let mut present = false;
        let mut deleted = false;
        // Delete the others first: deleting a primary address after adding a
        // secondary in the same subnet would take the secondary with it.
        for m in self.ipv4_addr_msgs().await? {
            if m.header.index != ifindex {
                continue;
            }
            match decode::ipv4_addr(&m) {
                Some(net) if net == addr => present = true,
                other => {
                    let shown = other.map_or_else(|| "?".to_string(), |n| n.to_string());
                    tracing::info!(link = ifindex, addr = %shown, "removing stale address");
                    deleted = true;
                    match self.handle.address().del(m).execute().await {
                        // Already gone (e.g. a secondary removed with its primary).
                        Err(e) if matches!(errno_of(&e), Some(EADDRNOTAVAIL | ENODEV)) => {}
                        res => res.map_err(|e| {
                            NetlinkError::kernel(
                                "delete",
                                format!("address {shown} on link #{ifindex}"),
                                e,
                            )
                        })?,
                    }
                }
            }
        }
        if present && deleted {
            // Our address may have been a secondary that went away with a
            // deleted primary (net.ipv4.conf.*.promote_secondaries=0).
            present = self.ipv4_addrs_of(ifindex).await?.contains(&addr);
        }
        if !present {
            self.handle
                .address()
                .add(ifindex, IpAddr::V4(addr.addr()), addr.prefix_len())
                .execute()
                .await
                .map_err(|e| {
                    NetlinkError::kernel("add", format!("address {addr} on link #{ifindex}"), e)
                })?;
        }
        self.set_link(
            format!("up on link #{ifindex}"),
            LinkUnspec::new_with_index(ifindex).up().build(),
        )
        .await
    }
}

// ------------------------------------------------------------ conversions

fn link_mac(m: &LinkMessage) -> Option<Mac> {
    decode::link_address(m).and_then(mac_from_slice)
}

fn link_from_msg(m: &LinkMessage, addrs: Vec<Ipv4Net>) -> Link {
    let mtu = m
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0);
    Link {
        index: m.header.index,
        name: decode::link_name(m).unwrap_or_default().to_string(),
        mtu,
        mac: link_mac(m),
        up: m.header.flags.contains(LinkFlags::Up),
        kind: decode::link_kind(m).map(ToString::to_string),
        addrs,
    }
}

/// Why the existing device `m` cannot be reused for `spec`; None = reusable.
fn vxlan_incompatibility(m: &LinkMessage, spec: &VxlanSpec) -> Option<String> {
    let infos = decode::link_infos(m);
    let kind = decode::link_kind(m);
    if kind != Some(&InfoKind::Vxlan) {
        let shown = kind.map_or_else(|| "none".to_string(), |k| k.to_string());
        return Some(format!("link type is {shown}, not vxlan"));
    }
    let data: &[InfoVxlan] = infos
        .iter()
        .find_map(|i| match i {
            LinkInfo::Data(InfoData::Vxlan(d)) => Some(d.as_slice()),
            _ => None,
        })
        .unwrap_or(&[]);
    let (mut vni, mut local, mut underlay, mut port, mut learning, mut gbp) = (
        None,
        Ipv4Addr::UNSPECIFIED,
        0,
        VXLAN_DEFAULT_PORT,
        None,
        false,
    );
    for d in data {
        match d {
            InfoVxlan::Id(v) => vni = Some(*v),
            InfoVxlan::Local(a) => local = *a,
            InfoVxlan::Link(i) => underlay = *i,
            InfoVxlan::Port(p) => port = *p,
            InfoVxlan::Learning(l) => learning = Some(*l),
            InfoVxlan::Gbp => gbp = true,
            _ => {}
        }
    }
    let want_port = if spec.port == 0 {
        VXLAN_DEFAULT_PORT
    } else {
        spec.port
    };
    if vni != Some(spec.vni) {
        return Some(format!("vni {vni:?} != {}", spec.vni));
    }
    if local != spec.local {
        return Some(format!("local {local} != {}", spec.local));
    }
    if underlay != spec.underlay_index {
        return Some(format!("underlay #{underlay} != #{}", spec.underlay_index));
    }
    if port != want_port {
        return Some(format!("port {port} != {want_port}"));
    }
    if learning.unwrap_or(true) != spec.learning {
        return Some(format!("learning {learning:?} != {}", spec.learning));
    }
    if gbp != spec.gbp {
        return Some(format!("gbp {gbp} != {}", spec.gbp));
    }
    None
}

fn neighbour_from_msg(m: &NeighbourMessage) -> Option<Neighbour> {
    if m.header.family != AddressFamily::Inet || u16::from(m.header.state) & NUD_PERMANENT == 0 {
        return None;
    }
    let mut ip = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => ip = Some(*v),
            NeighbourAttribute::LinkLayerAddress(b) => mac = mac_from_slice(b),
            _ => {}
        }
    }
    Some(Neighbour {
        ifindex: m.header.ifindex,
        ip: ip?,
        mac: mac?,
    })
}

fn fdb_from_msg(m: &NeighbourMessage) -> Option<Fdb> {
    if m.header.family != AddressFamily::Bridge {
        return None;
    }
    let mut dst = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            // AF_BRIDGE messages carry NDA_DST as raw bytes.
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => dst = Some(*v),
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                dst = <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
            }
            NeighbourAttribute::LinkLayerAddress(b) => mac = mac_from_slice(b),
            _ => {}
        }
    }
    let mac = mac?;
    if mac == [0; 6] {
        return None;
    }
    Some(Fdb {
        ifindex: m.header.ifindex,
        mac,
        dst: dst?,
    })
}

// ------------------------------------------------------- error contexts

struct Dev(u32);

impl fmt::Display for Dev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dev #{}", self.0)
    }
}

fn route_desc(r: &Route) -> String {
    let mut s = format!("route {}", r.dst);
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    s.push_str(&format!(" {}", Dev(r.oif)));
    if r.onlink {
        s.push_str(" onlink");
    }
    s
}

fn neighbour_desc(n: &Neighbour) -> String {
    format!(
        "neighbour {} lladdr {} {}",
        n.ip,
        format_mac(&n.mac),
        Dev(n.ifindex)
    )
}

fn fdb_desc(f: &Fdb) -> String {
    format!(
        "fdb entry {} dst {} {} self permanent",
        format_mac(&f.mac),
        f.dst,
        Dev(f.ifindex)
    )
}

// --------------------------------------------------------------- MACs

/// A random locally administered unicast MAC.
pub fn random_local_mac() -> Mac {
    let mut m: Mac = rand::random();
    m[0] = (m[0] & 0xfe) | 0x02;
    m
}

/// The first link message of a `link get` reply (draining the rest); a missing device is `None`.
async fn first_link(
    mut replies: impl futures::Stream<Item = Result<LinkMessage, rtnetlink::Error>> + Unpin,
    what: impl Fn() -> String,
) -> Result<Option<LinkMessage>, NetlinkError> {
    let mut found = None;
    loop {
        match replies.try_next().await {
            Ok(Some(m)) => {
                if found.is_none() {
                    found = Some(m);
                }
            }
            Ok(None) => return Ok(found),
            Err(e) if errno_of(&e) == Some(ENODEV) => return Ok(None),
            Err(e) => return Err(NetlinkError::kernel("get", what(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_mac_is_local_unicast() {
        for _ in 0..100 {
            let m = random_local_mac();
            assert_eq!(m[0] & 0x01, 0, "unicast");
            assert_eq!(m[0] & 0x02, 0x02, "locally administered");
        }
        assert_ne!(random_local_mac(), random_local_mac());
    }
}
