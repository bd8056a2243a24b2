//! Inside the pod namespace: the pod interface's addresses, `lo` and the interface up, then
//! its routes, in one batch.

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage as Rtm;

use super::msg::{
    ack_answer, address_message, io_err, link_by_name, op_err, route_desc, route_message, set_up,
    Fail,
};
use super::PodConn;
use crate::dataplane::{KernelError, PodIface};
use crate::netlink;

pub(crate) fn configure_pod(pc: &mut PodConn, iface: &PodIface) -> Result<(), KernelError> {
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
        .map_err(|e| io_err(format!("configure {name} in {ns}"), e))?
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
