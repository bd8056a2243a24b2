//! The built-in fast path: what `bridge` + `host-local` would do, in-process. ADD allocates the
//! address, ensures the bridge (gateway address when isGateway, ip_forward), creates the veth,
//! configures the pod (routes via the gateway, default route when isDefaultGateway), installs
//! the ipMasq rules, and undoes its own steps when a later one fails. DEL and CHECK mirror it.
//! The kernel and iptables are reached through the `dataplane` traits so the logic is testable.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use flannel_iptables::TableRules;
use ipnet::{IpNet, Ipv4Net};

use crate::bridge::BridgeConf;
use crate::dataplane::{BridgeConfig, KernelError, LinkInfo, PodIface, PodRoute};
pub use crate::dataplane::{Dataplane, Masquerade};
use crate::error::{CniError, IO_FAILURE, IPAM_FAILURE, IPTABLES_FAILURE, KERNEL_FAILURE};
use crate::ipam::{self, Allocation};
use crate::masq;
use crate::result::{CniResult, Interface, IpConfig, Route};

fn kernel_err(what: &str, e: KernelError) -> CniError {
    CniError::new(KERNEL_FAILURE, what, e.to_string())
}

fn masq_err(what: &str, e: flannel_iptables::Error) -> CniError {
    CniError::new(IPTABLES_FAILURE, what, e.to_string())
}

/// The routes reported in the result: ipam routes, plus 0.0.0.0/0 via the gateway for
/// isDefaultGateway unless a default route with a gateway is already there.
pub fn result_routes(conf: &BridgeConf, gateway: Ipv4Addr) -> Vec<Route> {
    let mut routes = conf.ipam.routes.clone();
    let default: IpNet = IpNet::V4(Ipv4Net::default());
    if conf.is_default_gateway && !routes.iter().any(|r| r.dst == default && r.gw.is_some()) {
        routes.push(Route::new(default, Some(IpAddr::V4(gateway))));
    }
    routes
}

/// The routes put in the pod: every IPv4 result route, via the gateway when it names none.
pub fn pod_routes(routes: &[Route], gateway: Option<Ipv4Addr>) -> Vec<PodRoute> {
    routes
        .iter()
        .filter_map(|r| match (r.dst, r.gw) {
            (IpNet::V4(dst), Some(IpAddr::V4(gw))) => Some(PodRoute { dst, gw: Some(gw) }),
            (IpNet::V4(dst), None) => Some(PodRoute { dst, gw: gateway }),
            _ => None,
        })
        .collect()
}

/// ADD. On failure everything this call created is removed again (the bridge stays, as with
/// the reference plugin).
pub fn add(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: &Path,
) -> Result<CniResult, CniError> {
    add_saving(dp, mq, conf, cid, ifname, netns, || Ok(())).map_err(AddError::into_error)
}

/// Why [`add_saving`] failed.
#[derive(Debug)]
pub enum AddError {
    /// `save` failed: nothing else was changed.
    Save(CniError),
    /// A later step failed: everything this call created was removed again.
    Add(CniError),
}

impl AddError {
    pub fn into_error(self) -> CniError {
        match self {
            AddError::Save(e) | AddError::Add(e) => e,
        }
    }
}

/// ADD preceded by `save` (writing the delegate configuration): nothing changes in the kernel
/// or in the IPAM store before `save` succeeded, and the steps keep their order: the address
/// is allocated; bridge, forwarding and veth are set up; then the pod is configured.
///
/// When the bridge's gateway does not depend on which address is allocated (one range, or no
/// gateway), the file work overlaps the kernel work: a helper thread runs `save` and then the
/// allocation while this thread opens netlink and looks the bridge up (read-only), waits for
/// `save`, and sets up the bridge, forwarding and the veth; the allocation is awaited before
/// the pod is configured. When it failed, the veth is removed again and the allocation's error
/// is reported, as it would have been had it run first.
pub fn add_saving<S>(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: &Path,
    save: S,
) -> Result<CniResult, AddError>
where
    S: FnOnce() -> Result<(), CniError> + Send,
{
    let Some(gateway) = known_gateway(conf) else {
        return add_in_order(dp, mq, conf, cid, ifname, netns, save);
    };
    let save = Mutex::new(Some(save));
    let run_save = || match save.lock().ok().and_then(|mut s| s.take()) {
        Some(f) => f(),
        None => Ok(()),
    };
    std::thread::scope(|s| {
        let (saved_tx, saved_rx) = mpsc::sync_channel::<bool>(1);
        let ipam_conf = &conf.ipam;
        let spawned = std::thread::Builder::new()
            .name("cni-files".into())
            .stack_size(FILES_STACK)
            .spawn_scoped(s, move || {
                let saved = run_save();
                let _ = saved_tx.send(saved.is_ok());
                saved.map_err(AddError::Save)?;
                ipam::allocate(ipam_conf, cid, ifname).map_err(AddError::Add)
            });
        let Ok(files) = spawned else {
            // No thread: everything on this one.
            return add_in_order(dp, mq, conf, cid, ifname, netns, run_save);
        };
        let allocated = || {
            files.join().unwrap_or_else(|_| {
                Err(AddError::Add(CniError::new(
                    IPAM_FAILURE,
                    "failed to allocate an address",
                    "the allocating thread panicked",
                )))
            })
        };

        dp.prepare(netns, &bridge_config(conf, gateway));
        if !saved_rx.recv().unwrap_or(false) {
            // The thread returns the save error (or died): nothing was changed.
            return Err(allocated().err().unwrap_or_else(|| {
                AddError::Save(CniError::new(
                    IO_FAILURE,
                    "cannot save the delegate configuration",
                    "the saving thread stopped",
                ))
            }));
        }
        let mut undo = Undo::default();
        let links = links(dp, conf, ifname, netns, gateway, &mut undo);
        let allocs = match allocated() {
            Ok(a) => a,
            Err(e) => {
                let e = rollback(dp, mq, conf, ifname, netns, &undo, &[], e.into_error());
                return Err(AddError::Add(e));
            }
        };
        let out = first_alloc(&allocs).and_then(|alloc| {
            // One range: the bridge got the gateway of the allocated address.
            if gateway_of(conf, alloc)? != gateway {
                return Err(CniError::new(
                    IPAM_FAILURE,
                    "invalid gateway",
                    format!("{} is not the gateway of {}", alloc.gateway, alloc.address),
                ));
            }
            finish(dp, mq, conf, cid, ifname, netns, alloc, links?, &mut undo)
        });
        out.map_err(|e| AddError::Add(rollback(dp, mq, conf, ifname, netns, &undo, &allocs, e)))
    })
}

/// [`add_saving`] one step after the other.
fn add_in_order(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: &Path,
    save: impl FnOnce() -> Result<(), CniError>,
) -> Result<CniResult, AddError> {
    save().map_err(AddError::Save)?;
    let allocs = ipam::allocate(&conf.ipam, cid, ifname).map_err(AddError::Add)?;
    let mut undo = Undo::default();
    let out = first_alloc(&allocs).and_then(|alloc| {
        let gateway = gateway_of(conf, alloc)?;
        let links = links(dp, conf, ifname, netns, gateway, &mut undo)?;
        finish(dp, mq, conf, cid, ifname, netns, alloc, links, &mut undo)
    });
    out.map_err(|e| AddError::Add(rollback(dp, mq, conf, ifname, netns, &undo, &allocs, e)))
}

/// Stack of the helper thread (file work only, no deep calls).
const FILES_STACK: usize = 256 * 1024;

/// The bridge gateway ADD will use, when it is known before allocating: `Some(None)` without
/// isGateway, `Some(Some(gw/prefix))` for a single range; None when it depends on the range the
/// address comes from.
fn known_gateway(conf: &BridgeConf) -> Option<Option<Ipv4Net>> {
    if !conf.is_gateway {
        return Some(None);
    }
    match conf.ipam.range_sets.as_slice() {
        [set] => match set.as_slice() {
            [r] => Ipv4Net::new(r.gateway, r.subnet.prefix_len())
                .ok()
                .map(Some),
            _ => None,
        },
        _ => None,
    }
}

/// The bridge gateway for an allocation (None without isGateway).
fn gateway_of(conf: &BridgeConf, alloc: Allocation) -> Result<Option<Ipv4Net>, CniError> {
    let gw_net = Ipv4Net::new(alloc.gateway, alloc.address.prefix_len())
        .map_err(|e| CniError::new(IPAM_FAILURE, "invalid gateway", e.to_string()))?;
    Ok(conf.is_gateway.then_some(gw_net))
}

fn first_alloc(allocs: &[Allocation]) -> Result<Allocation, CniError> {
    allocs
        .first()
        .copied()
        .ok_or_else(|| CniError::new(IPAM_FAILURE, "IPAM returned no address", ""))
}

/// Undoes what `undo` records and releases `allocs`; returns `e`.
#[allow(clippy::too_many_arguments)]
fn rollback(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    ifname: &str,
    netns: &Path,
    undo: &Undo,
    allocs: &[Allocation],
    e: CniError,
) -> CniError {
    if let Some(rules) = &undo.masq {
        if let Err(e) = mq.remove(rules) {
            eprintln!("flannel: rollback: cannot remove ipMasq rules: {e}");
        }
    }
    if undo.veth {
        if let Err(e) = dp.del_pod_iface(netns, ifname) {
            eprintln!(
                "flannel: rollback: cannot delete {ifname} in {}: {e}",
                netns.display()
            );
        }
    }
    for a in allocs {
        if let Err(e) = ipam::release_ip(
            &conf.ipam.data_dir,
            &conf.ipam.network,
            IpAddr::V4(a.address.addr()),
        ) {
            eprintln!("flannel: rollback: cannot release {}: {e}", a.address);
        }
    }
    e
}

#[derive(Default)]
struct Undo {
    veth: bool,
    masq: Option<TableRules>,
}

/// What `links` set up.
struct Links {
    bridge_cfg: BridgeConfig,
    host: LinkInfo,
    pod: LinkInfo,
}

fn bridge_config(conf: &BridgeConf, gateway: Option<Ipv4Net>) -> BridgeConfig {
    BridgeConfig {
        name: conf.bridge.clone(),
        mtu: conf.mtu,
        promisc: conf.promisc,
        gateway,
        force_address: conf.force_address,
    }
}

/// The bridge (with `gateway`), forwarding (isGateway) and the veth.
fn links(
    dp: &dyn Dataplane,
    conf: &BridgeConf,
    ifname: &str,
    netns: &Path,
    gateway: Option<Ipv4Net>,
    undo: &mut Undo,
) -> Result<Links, CniError> {
    let bridge_cfg = bridge_config(conf, gateway);
    let bridge = dp
        .ensure_bridge(&bridge_cfg)
        .map_err(|e| kernel_err(&format!("cannot set up bridge {}", conf.bridge), e))?;
    if conf.is_gateway {
        dp.enable_ip_forward()
            .map_err(|e| kernel_err("cannot enable IP forwarding", e))?;
    }
    let (host, pod) = dp
        .add_veth(netns, ifname, &bridge, conf.mtu, conf.hairpin)
        .map_err(|e| kernel_err(&format!("cannot create the veth for {ifname}"), e))?;
    undo.veth = true;
    Ok(Links {
        bridge_cfg,
        host,
        pod,
    })
}

/// The pod's address and routes, the ipMasq rules, and the result.
#[allow(clippy::too_many_arguments)]
fn finish(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: &Path,
    alloc: Allocation,
    links: Links,
    undo: &mut Undo,
) -> Result<CniResult, CniError> {
    let routes = result_routes(conf, alloc.gateway);
    let iface = PodIface {
        name: ifname.to_string(),
        addrs: vec![alloc.address],
        routes: pod_routes(&routes, Some(alloc.gateway)),
    };
    dp.configure_pod(netns, &iface)
        .map_err(|e| kernel_err(&format!("cannot configure {ifname}"), e))?;
    if conf.ip_masq {
        let rules = masq::rules(&conf.name, cid, alloc.address);
        undo.masq = Some(rules.clone());
        mq.ensure(&rules)
            .map_err(|e| masq_err("cannot set up ipMasq", e))?;
    }
    // The bridge's MAC may change when its first port is added: report it as it is now.
    let bridge = dp
        .refresh_bridge(&links.bridge_cfg)
        .map_err(|e| kernel_err(&format!("cannot read bridge {}", conf.bridge), e))?;
    let iface = |l: &LinkInfo, sandbox: &str| Interface {
        name: l.name.clone(),
        mac: l.mac.clone(),
        sandbox: sandbox.to_string(),
        ..Interface::default()
    };
    Ok(CniResult {
        interfaces: vec![
            iface(&bridge, ""),
            iface(&links.host, ""),
            iface(&links.pod, &netns.display().to_string()),
        ],
        ips: vec![IpConfig {
            interface: Some(2),
            address: IpNet::V4(alloc.address),
            gateway: Some(IpAddr::V4(alloc.gateway)),
        }],
        routes,
        dns: conf.dns.clone(),
    })
}

/// DEL: delete the pod interface (when the netns is known), remove the ipMasq rules of every
/// address the pod had, release the IPAM records. Everything already gone is fine.
pub fn del(
    dp: &dyn Dataplane,
    mq: &dyn Masquerade,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: Option<&Path>,
) -> Result<(), CniError> {
    let (dir, net) = (&conf.ipam.data_dir, &conf.ipam.network);
    let mut ips: Vec<Ipv4Addr> = ipam::find(dir, net, cid, ifname)?
        .into_iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    if let Some(ns) = netns {
        let addrs = dp
            .del_pod_iface(ns, ifname)
            .map_err(|e| kernel_err(&format!("cannot delete {ifname}"), e))?;
        ips.extend(addrs.unwrap_or_default().iter().map(Ipv4Net::addr));
    }
    ips.sort();
    ips.dedup();
    if conf.ip_masq && !ips.is_empty() {
        let mut rules = masq::rules_for_removal(&conf.name, cid, ips[0]);
        for ip in &ips[1..] {
            rules
                .jumps
                .extend(masq::rules_for_removal(&conf.name, cid, *ip).jumps);
        }
        mq.remove(&rules)
            .map_err(|e| masq_err("cannot remove ipMasq rules", e))?;
    }
    ipam::release(dir, net, cid, ifname)?;
    Ok(())
}

/// CHECK: the IPAM records exist for the addresses of `prev`, and the pod interface carries
/// them and the routes (gateway filled in as ADD did) with its peer on the bridge.
pub fn check(
    dp: &dyn Dataplane,
    conf: &BridgeConf,
    cid: &str,
    ifname: &str,
    netns: &Path,
    prev: &CniResult,
) -> Result<(), CniError> {
    let fail = |msg: String| CniError::new(KERNEL_FAILURE, "CHECK failed", msg);
    let recorded = ipam::find(&conf.ipam.data_dir, &conf.ipam.network, cid, ifname)?;
    if recorded.is_empty() {
        return Err(fail(format!(
            "no IPAM record for {cid}/{ifname} in {}",
            conf.ipam.data_dir.display()
        )));
    }
    let pod_index = prev
        .interfaces
        .iter()
        .position(|i| i.name == ifname && !i.sandbox.is_empty());
    let mut addrs = Vec::new();
    let mut gateway = None;
    for ip in &prev.ips {
        if ip.interface.is_some() && ip.interface != pod_index {
            continue;
        }
        let IpNet::V4(a) = ip.address else { continue };
        if !recorded.contains(&IpAddr::V4(a.addr())) {
            return Err(fail(format!(
                "{} is not recorded for {cid}/{ifname}",
                a.addr()
            )));
        }
        addrs.push(a);
        if let Some(IpAddr::V4(gw)) = ip.gateway {
            gateway.get_or_insert(gw);
        }
    }
    let iface = PodIface {
        name: ifname.to_string(),
        addrs,
        routes: pod_routes(&prev.routes, gateway),
    };
    dp.check_pod(netns, &iface, &conf.bridge)
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests;
