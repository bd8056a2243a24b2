//! rtnetlink requests and answers of the kernel adapter: the request messages (links,
//! addresses, routes), reading their answers, and the errors they turn into.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rtm};

use super::can_exist;
use crate::dataplane::{KernelError, LinkInfo, PodRoute};
use crate::netlink::{self, Answer, Socket};
use flannel_net::{decode, format_mac};

/// Why a request failed: the kernel's errno, or the socket itself.
#[derive(Debug)]
pub(crate) enum Fail {
    Errno(i32),
    Io(io::Error),
}

impl Fail {
    /// The error of operation `op` that failed this way.
    pub(crate) fn op(self, op: impl Into<String>) -> KernelError {
        let source = match self {
            Fail::Errno(errno) => io::Error::from_raw_os_error(errno),
            Fail::Io(e) => e,
        };
        io_err(op, source)
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
pub(crate) fn ack(s: &mut Socket, msg: Rtm, flags: u16) -> Result<(), Fail> {
    match s.request(msg, flags) {
        Ok(a) => ack_answer(Some(a)),
        Err(e) => Err(Fail::Io(e)),
    }
}

pub(crate) fn ack_answer(a: Option<Answer>) -> Result<(), Fail> {
    match a {
        Some(Ok(_)) => Ok(()),
        Some(Err(errno)) => Err(Fail::Errno(errno)),
        None => Err(Fail::Errno(libc::EIO)),
    }
}

/// RTM_GETLINK of one link by name (statistics skipped).
pub(crate) fn get_link(name: &str) -> (Rtm, u16) {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    (Rtm::GetLink(m), netlink::GET)
}

pub(crate) fn get_link_by_index(index: u32) -> (Rtm, u16) {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    (Rtm::GetLink(m), netlink::GET)
}

/// RTM_GETADDR dump of the namespace's IPv4 addresses.
pub(crate) fn dump_ipv4_addrs() -> (Rtm, u16) {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    (Rtm::GetAddress(m), netlink::DUMP)
}

/// The link of a get answer; None when there is none (ENODEV).
pub(crate) fn link_answer(
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

pub(crate) fn addr_answer(
    a: Answer,
    what: impl Fn() -> String,
) -> Result<Vec<AddressMessage>, KernelError> {
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
pub(crate) fn link_by_name(
    s: &mut Socket,
    name: &str,
    ns: &str,
) -> Result<Option<LinkMessage>, KernelError> {
    if !can_exist(name) {
        return Ok(None);
    }
    let what = || format!("get link {name} in {ns}");
    let (msg, flags) = get_link(name);
    let a = s.request(msg, flags).map_err(|e| io_err(what(), e))?;
    link_answer(Some(a), what)
}

/// The IPv4 addresses of link `index` among `msgs`.
pub(crate) fn ipv4_of(msgs: Vec<AddressMessage>, index: u32) -> Vec<(Ipv4Net, AddressMessage)> {
    msgs.into_iter()
        .filter(|m| m.header.index == index)
        .filter_map(|m| decode::ipv4_addr(&m).map(|n| (n, m)))
        .collect()
}

/// RTM_NEWADDR of `a` on link `index` (with IFA_LOCAL and, below /31, IFA_BROADCAST).
pub(crate) fn address_message(index: u32, a: Ipv4Net) -> AddressMessage {
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
pub(crate) fn route_message(index: u32, r: &PodRoute) -> RouteMessage {
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

pub(crate) fn set_up(m: &mut LinkMessage) {
    m.header.flags |= LinkFlags::Up;
    m.header.change_mask |= LinkFlags::Up;
}

/// The link as the CNI result reports it (`fallback_name` when it carries no name).
pub(crate) fn link_info(m: &LinkMessage, fallback_name: &str) -> LinkInfo {
    LinkInfo {
        name: decode::link_name(m).unwrap_or(fallback_name).to_string(),
        index: m.header.index,
        mac: decode::link_address(m).map(format_mac).unwrap_or_default(),
    }
}

/// A pod route as `ip route` shows it, for messages.
pub(crate) fn route_desc(r: &PodRoute) -> String {
    match r.gw {
        Some(gw) => format!("{} via {gw}", r.dst.trunc()),
        None => r.dst.trunc().to_string(),
    }
}

/// An operation that failed for a reason of ours (not an errno).
pub(crate) fn op_err(op: impl Into<String>, reason: impl std::fmt::Display) -> KernelError {
    KernelError::Op {
        op: op.into(),
        reason: reason.to_string(),
    }
}

/// An operation the kernel, the socket or a file refused.
pub(crate) fn io_err(op: impl Into<String>, source: io::Error) -> KernelError {
    KernelError::Failed {
        op: op.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

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
}
