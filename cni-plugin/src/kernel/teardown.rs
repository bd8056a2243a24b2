//! DEL in the kernel: the pod interface goes (and its veth peer with it), reporting the
//! addresses it had so the caller can release them.

use ipnet::Ipv4Net;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::RouteNetlinkMessage as Rtm;

use super::can_exist;
use super::msg::{ack, addr_answer, dump_ipv4_addrs, get_link, io_err, ipv4_of, link_answer, Fail};
use crate::dataplane::KernelError;
use crate::netlink::{self, Socket};

/// DEL: deletes the pod interface (the host end goes with it); its IPv4 addresses before
/// deletion, or None when it is not there.
pub(crate) fn del_pod_iface(
    pod: &mut Socket,
    ns: &str,
    ifname: &str,
) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
    if !can_exist(ifname) {
        return Ok(None);
    }
    let mut answers = pod
        .batch(vec![get_link(ifname), dump_ipv4_addrs()])
        .map_err(|e| io_err(format!("get link {ifname} in {ns}"), e))?
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
