//! rtnetlink messages (netlink-packet-route) to plain values: the IPv4 address of an address
//! message, the IPv4 main-table route of a route message, and the attributes of a link message
//! both programs read. Anything not representable is `None`, never a panic.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::AddressFamily;

/// An IPv4 unicast route of the main table with a single output device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub dst: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    pub oif: u32,
    pub onlink: bool,
}

/// The IPv4 address (with prefix) of an address message: IFA_LOCAL, else IFA_ADDRESS (they
/// differ only on point-to-point links, where IFA_LOCAL is ours). None for other families.
pub fn ipv4_addr(m: &AddressMessage) -> Option<Ipv4Net> {
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

/// The route's table: RTA_TABLE when present (tables above 255), else the header's.
pub fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// The route of `m` when it is an IPv4 unicast route of the main table, not cloned, with one
/// output device: multipath routes, routes with an IPv6 next hop (RTA_VIA) and routes without
/// an output device (oif 0) are `None`.
pub fn ipv4_route(m: &RouteMessage) -> Option<Route> {
    let h = &m.header;
    if h.address_family != AddressFamily::Inet
        || h.kind != RouteType::Unicast
        || h.flags.contains(RouteFlags::Cloned)
        || route_table(m) != u32::from(RouteHeader::RT_TABLE_MAIN)
    {
        return None;
    }
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut gateway = None;
    let mut oif = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
            RouteAttribute::Oif(i) => oif = *i,
            RouteAttribute::MultiPath(_) | RouteAttribute::Via(_) => return None,
            _ => {}
        }
    }
    if oif == 0 {
        return None;
    }
    Some(Route {
        dst: Ipv4Net::new(dst, h.destination_prefix_length).ok()?,
        gateway,
        oif,
        onlink: h.flags.contains(RouteFlags::Onlink),
    })
}

/// IFLA_IFNAME.
pub fn link_name(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// IFLA_ADDRESS: the hardware address, any length.
pub fn link_address(m: &LinkMessage) -> Option<&[u8]> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) => Some(b.as_slice()),
        _ => None,
    })
}

/// The IFLA_LINKINFO entries (empty when there are none).
pub fn link_infos(m: &LinkMessage) -> &[LinkInfo] {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::LinkInfo(i) => Some(i.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
}

/// IFLA_INFO_KIND ("bridge", "veth", "vxlan", ...); None for devices without one.
pub fn link_kind(m: &LinkMessage) -> Option<&InfoKind> {
    link_infos(m).iter().find_map(|i| match i {
        LinkInfo::Kind(k) => Some(k),
        _ => None,
    })
}

/// IFLA_LINK: for a veth, its peer's ifindex (in the peer's namespace).
pub fn link_peer(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Link(i) => Some(*i),
        _ => None,
    })
}

/// IFLA_MASTER: the bridge (or other controller) the link is attached to.
pub fn link_master(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
