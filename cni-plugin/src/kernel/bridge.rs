//! The pod bridge in the host namespace: create or reuse it (type bridge, mtu, promisc, up),
//! its gateway address (isGateway, forceAddress) and its IPv6 `accept_ra`.

use ipnet::Ipv4Net;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage as Rtm;

use super::msg::{
    ack, addr_answer, address_message, dump_ipv4_addrs, get_link, io_err, ipv4_of, link_answer,
    op_err, set_up, Fail,
};
use super::{can_exist, read_small, HOST_NS};
use crate::dataplane::{BridgeConfig, KernelError, LinkInfo};
use crate::netlink::{self, Socket};
use flannel_net::{decode, format_mac};

/// The link named `name` and, when `with_addrs`, the IPv4 addresses of the namespace (one
/// batch: the addresses are filtered by the link's index afterwards). Neither for a name that
/// cannot exist.
pub(crate) fn bridge_state(
    h: &mut Socket,
    name: &str,
    with_addrs: bool,
) -> Result<Seen, KernelError> {
    if !can_exist(name) {
        return Ok((None, Vec::new()));
    }
    let mut reqs = vec![get_link(name)];
    if with_addrs {
        reqs.push(dump_ipv4_addrs());
    }
    let mut answers = h
        .batch(reqs)
        .map_err(|e| io_err(format!("get link {name} in {HOST_NS}"), e))?
        .into_iter();
    let link = link_answer(answers.next(), || format!("get link {name} in {HOST_NS}"))?;
    let addrs = match answers.next() {
        None => Vec::new(),
        Some(a) => addr_answer(a, || format!("list IPv4 addresses in {HOST_NS}"))?,
    };
    Ok((link, addrs))
}

/// `seen`: the bridge link and namespace addresses when already looked up.
pub(crate) type Seen = (Option<LinkMessage>, Vec<AddressMessage>);

pub(crate) fn ensure_bridge(
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
    match decode::link_kind(&m) {
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
    let mac = decode::link_address(&m).map(<[u8]>::to_vec);
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
pub(crate) fn disable_accept_ra(bridge: &str) {
    let Some(path) = accept_ra_path(bridge) else {
        return;
    };
    if read_small(&path).is_ok_and(|cur| cur.trim_ascii() != b"0") {
        let _ = std::fs::write(&path, b"0");
    }
}

pub(crate) fn accept_ra_path(bridge: &str) -> Option<String> {
    if bridge.is_empty() || bridge.contains('/') || bridge == "." || bridge == ".." {
        return None;
    }
    Some(format!("/proc/sys/net/ipv6/conf/{bridge}/accept_ra"))
}
