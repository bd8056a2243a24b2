//! The veth pair: host end `veth<8 hex>` created in the host namespace and attached to the
//! bridge, pod end created directly in the pod namespace; hairpin, both ends up. On failure
//! nothing is left.

use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage as Rtm;

use super::msg::{
    ack, ack_answer, get_link, io_err, link_answer, link_by_name, link_info, op_err, set_up, Fail,
};
use super::setns::Netns;
use super::{PodConn, HOST_NS};
use crate::dataplane::{KernelError, LinkInfo};
use crate::netlink::{self, Socket};

/// How many random host-end names `add_veth` tries before giving up.
const VETH_NAME_TRIES: usize = 10;

pub(crate) fn add_veth(
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
                Err(de) => Err(de.op(format!("{e}; then cleanup: delete veth {host_name}"))),
            }
        }
    }
}

/// RTM_NEWLINK for the pair: host end `host_name` up, master `bridge_index`; peer `ifname`
/// created directly in `ns` (down: the kernel cannot open a veth end before its peer exists,
/// ENOTCONN). MTU on both when non-zero; txqueuelen 0 on both (as the bridge plugin's netlink
/// library sets it).
pub(crate) fn veth_message(
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
        .map_err(|e| io_err(format!("set up veth {host_name}"), e))?
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
        .map_err(|e| io_err(format!("set {ifname} up in {ns}"), e))?
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

#[cfg(test)]
mod tests {
    use std::fs::File;

    use netlink_packet_route::link::LinkFlags;

    use super::*;

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
