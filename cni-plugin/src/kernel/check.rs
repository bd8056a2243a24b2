//! CHECK in the kernel: compares the pod interface, its addresses and routes, and its host
//! end's bridge with what the previous result says.

use netlink_packet_route::link::{InfoKind, LinkFlags};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rtm};

use super::msg::{
    addr_answer, dump_ipv4_addrs, get_link, get_link_by_index, io_err, ipv4_of, link_answer,
    link_by_name, route_desc, Fail,
};
use super::{can_exist, HOST_NS};
use crate::dataplane::{KernelError, PodIface};
use crate::netlink::{self, Socket};
use flannel_net::decode::{self, Route};

/// CHECK: the pod interface is a veth, up, with the addresses and routes asked for, and its
/// host end is attached to `bridge`; a `Check` error names what is missing.
pub(crate) fn check_pod(
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
    if decode::link_kind(&m) != Some(&InfoKind::Veth) {
        return Err(check(format!("interface {name} in {ns} is not a veth")));
    }
    if !m.header.flags.contains(LinkFlags::Up) {
        return Err(check(format!("interface {name} in {ns} is down")));
    }

    let addrs = addr_answer(
        pod.request(dump_ipv4_addrs().0, netlink::DUMP)
            .map_err(|e| io_err(format!("list IPv4 addresses of link #{index} in {ns}"), e))?,
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
            .any(|r| r.oif == index && r.dst == dst && r.gateway == want.gw)
        {
            return Err(check(format!(
                "route {} missing on {name} in {ns}",
                route_desc(want)
            )));
        }
    }

    // The host end: the pod end's IFLA_LINK is its index in the host namespace.
    let peer = decode::link_peer(&m).filter(|i| *i != 0).ok_or_else(|| {
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
        .map_err(|e| io_err(format!("get link #{peer} in {HOST_NS}"), e))?
        .into_iter();
    let host_end = link_answer(answers.next(), || format!("get link #{peer} in {HOST_NS}"))?;
    let br = if bridge_ok {
        link_answer(answers.next(), || format!("get link {bridge} in {HOST_NS}"))
    } else {
        Ok(None)
    };
    let host_end = host_end
        .filter(|h| {
            decode::link_kind(h) == Some(&InfoKind::Veth) && decode::link_peer(h) == Some(index)
        })
        .ok_or_else(|| {
            check(format!(
                "host end of {name} in {ns} (ifindex {peer}) missing in the host namespace"
            ))
        })?;
    let host_name = decode::link_name(&host_end).unwrap_or_default();
    let br = br?.ok_or_else(|| check(format!("bridge {bridge} missing in the host namespace")))?;
    if decode::link_master(&host_end) != Some(br.header.index) {
        return Err(check(format!(
            "host end {host_name} of {name} in {ns} is not attached to bridge {bridge}"
        )));
    }
    Ok(())
}

/// The IPv4 main-table routes of the namespace with one output device.
fn ipv4_routes(s: &mut Socket, ns: &str) -> Result<Vec<Route>, KernelError> {
    let what = || format!("list IPv4 routes in {ns}");
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    let a = s
        .request(Rtm::GetRoute(msg), netlink::DUMP)
        .map_err(|e| io_err(what(), e))?
        .map_err(|errno| Fail::Errno(errno).op(what()))?;
    Ok(a.iter()
        .filter_map(|m| match m {
            Rtm::NewRoute(r) => decode::ipv4_route(r),
            _ => None,
        })
        .collect())
}
