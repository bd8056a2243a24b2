//! Daemon startup and supervision: config from etcd, external interface, backend device, our
//! lease, subnet.env, then the long-running tasks (watch, reconcile, lease keeper, iptables,
//! status and health servers) under one supervisor: any task that ends stops flanneld with an
//! error naming it. SIGTERM/SIGINT leave devices, routes and rules in place.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use flannel_iptables as ipt;
use ipnet::Ipv4Net;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tracing::{error, info, warn};

use crate::backend::{Backend, Device, External};
use crate::config::{self, BackendConfig, NetworkConfig};
use crate::flags::Flags;
use crate::iface::{self, IfaceOpts, RouteHints};
use crate::keeper;
use crate::kube_subnet as kube;
use crate::lease::{LeaseAttrs, VxlanLeaseData};
use crate::netlink::{Netlink, VxlanSpec};
use crate::reconcile;
use crate::registry::{EtcdOptions, Registry};
use crate::server;
use crate::state::Shared;
use crate::subnet_env;
use crate::udp;
use crate::watch::{self, Watcher};

fn etcd_options(f: &Flags) -> EtcdOptions {
    EtcdOptions {
        endpoints: f.etcd_endpoints.clone(),
        prefix: f.etcd_prefix.clone(),
        keyfile: f.etcd_keyfile.clone(),
        certfile: f.etcd_certfile.clone(),
        cafile: f.etcd_cafile.clone(),
        username: f.etcd_username.clone(),
        password: f.etcd_password.clone(),
    }
}

/// Read `<prefix>/config`, retrying every second while it is missing or etcd is unreachable.
async fn network_config(registry: &mut Registry) -> anyhow::Result<NetworkConfig> {
    let key = registry.config_key();
    loop {
        match registry.get_config().await {
            Ok(Some(text)) => {
                return config::parse(&text).with_context(|| format!("invalid network config at {key}"));
            }
            Ok(None) => error!(
                "network config not found at etcd key {key}; create it, e.g.: etcdctl put {key} '{{\"Network\":\"10.244.0.0/16\",\"Backend\":{{\"Type\":\"vxlan\"}}}}' (retrying every second)"
            ),
            Err(e) => warn!("reading the network config at {key} failed: {e} (retrying every second)"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn external(nl: &Netlink, f: &Flags) -> anyhow::Result<(External, std::net::Ipv4Addr)> {
    let links = nl.links().await?;
    let hints = RouteHints {
        default_ifindex: nl.default_route_ifindex().await?,
        can_reach_ifindex: match f.iface_can_reach {
            Some(ip) => nl.route_get(ip).await?,
            None => None,
        },
    };
    let opts = IfaceOpts {
        ifaces: f.iface.clone(),
        regexes: f.iface_regex.clone(),
        can_reach: f.iface_can_reach,
    };
    let chosen = iface::select(&links, &opts, hints)?;
    let ext = External {
        dev: Device {
            index: chosen.link.index,
            name: chosen.link.name.clone(),
        },
        addrs: chosen.link.addrs.clone(),
        mtu: chosen.link.mtu,
    };
    info!(iface = %ext.dev.name, addr = %chosen.addr, mtu = ext.mtu, "using external interface");
    Ok((ext, chosen.addr))
}

/// The udp backend's TUN queues, opened at setup and handed to the data path once the lease
/// is known.
type TunQueues = Vec<Arc<tun_rs::SyncDevice>>;

/// Data-path queues (and thread pairs) of the udp backend: one per CPU, at most 4.
fn udp_queues() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

async fn setup_backend(
    nl: &Netlink,
    cfg: &NetworkConfig,
    ext: External,
    public_ip: std::net::Ipv4Addr,
    stored_mac: Option<flannel_net::Mac>,
) -> anyhow::Result<(Backend, Option<TunQueues>)> {
    Ok((
        match &cfg.backend {
            BackendConfig::Vxlan(vx) => {
                let mtu = if vx.mtu > 0 {
                    vx.mtu
                } else {
                    ext.mtu.saturating_sub(50)
                };
                let spec = VxlanSpec {
                    name: format!("flannel.{}", vx.vni),
                    vni: vx.vni,
                    local: public_ip,
                    underlay_index: ext.dev.index,
                    port: vx.port,
                    learning: vx.learning,
                    gbp: vx.gbp,
                    mtu,
                    mac: stored_mac,
                };
                let link = nl
                    .ensure_vxlan(&spec)
                    .await
                    .with_context(|| format!("creating vxlan device {}", spec.name))?;
                let mac = link
                    .mac
                    .with_context(|| format!("vxlan device {} has no MAC address", link.name))?;
                Backend::Vxlan {
                    cfg: vx.clone(),
                    dev: Device {
                        index: link.index,
                        name: link.name,
                    },
                    mac,
                    ext,
                }
            }
            BackendConfig::HostGw => {
                if !ext.addrs.iter().any(|a| a.addr() == public_ip) {
                    bail!(
                    "host-gw backend: public IP {public_ip} is not an address of interface {} (host-gw cannot work behind NAT)",
                    ext.dev.name
                );
                }
                Backend::HostGw { ext }
            }
            BackendConfig::Alloc => Backend::Alloc,
            BackendConfig::Udp { port } => {
                let queues = udp::datapath::open_tun(udp::DEVICE, udp_queues())
                    .with_context(|| format!("creating TUN device {}", udp::DEVICE))?;
                let link = nl.link_by_name(udp::DEVICE).await?.with_context(|| {
                    format!("TUN device {} not found after creating it", udp::DEVICE)
                })?;
                // flannel0 carries IPv4 only: no link-local address, so the kernel sends no
                // IPv6 through it (best effort: the kernel may have no IPv6 at all).
                if let Err(e) = nl.disable_ipv6_addr_gen(link.index).await {
                    tracing::debug!("{e}");
                }
                let mtu = ext.mtu.saturating_sub(udp::OVERHEAD);
                nl.set_mtu_up(link.index, mtu)
                    .await
                    .with_context(|| format!("setting MTU {mtu} on {}", udp::DEVICE))?;
                let backend = Backend::Udp {
                    dev: Device {
                        index: link.index,
                        name: link.name,
                    },
                    ext,
                    network: cfg.network,
                    port: *port,
                };
                return Ok((backend, Some(queues)));
            }
        },
        None,
    ))
}

fn lease_attrs(
    backend: &Backend,
    cfg: &NetworkConfig,
    public_ip: std::net::Ipv4Addr,
) -> LeaseAttrs {
    let backend_data = match (backend, &cfg.backend) {
        (Backend::Vxlan { .. }, BackendConfig::Vxlan(vx)) => backend.vtep_mac().map(|mac| {
            VxlanLeaseData {
                vni: vx.vni,
                vtep_mac: mac,
            }
            .to_raw()
        }),
        _ => None,
    };
    LeaseAttrs {
        public_ip,
        public_ipv6: None,
        backend_type: backend.backend_type(),
        backend_data,
        backend_v6_data: None,
    }
}

/// The iptables keeper: ensure our rules every `resync` seconds. It runs blocking commands, so
/// it is a loop for a blocking thread (`tokio::task::spawn_blocking`) that never returns.
fn rules_keeper(
    f: &Flags,
    network: Ipv4Net,
    subnet: Ipv4Net,
    shared: Arc<Shared>,
) -> impl FnOnce() + Send + 'static {
    let iptables = ipt::Iptables::new();
    let mut sets = Vec::new();
    if f.ip_masq {
        let fully = !f.ip_masq_fully_random_disable && iptables.random_fully_supported();
        sets.push(ipt::flannel::masq_rules(network, subnet, fully));
    }
    if f.iptables_forward_rules {
        sets.push(ipt::flannel::forward_rules(network));
    }
    let resync = Duration::from_secs(f.iptables_resync);
    move || loop {
        let mut ok = true;
        for set in &sets {
            match ipt::ensure(&iptables, set) {
                Ok(true) => info!(table = set.table.name(), "iptables rules (re)installed"),
                Ok(false) => {}
                Err(e) => {
                    ok = false;
                    warn!(
                        table = set.table.name(),
                        "installing iptables rules failed: {e}"
                    );
                }
            }
        }
        if ok {
            shared.rules_ready.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(resync);
    }
}

/// The daemon's long-running tasks, by name. None of them ends while flanneld is healthy, so
/// any end (a return, an error or a panic) is fatal: flanneld exits non-zero and the container
/// runtime restarts it.
#[derive(Default)]
pub struct Supervisor {
    set: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, &'static str>,
}

impl Supervisor {
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits for the first task to end and says which one and why. Pending forever when no task
    /// was spawned.
    pub async fn first_end(&mut self) -> anyhow::Error {
        let Some(joined) = self.set.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let (id, why) = match joined {
            Ok((id, Ok(()))) => (id, "ended unexpectedly".to_string()),
            Ok((id, Err(e))) => (id, format!("failed: {e:#}")),
            Err(e) if e.is_panic() => (e.id(), format!("panicked: {}", panic_text(e.into_panic()))),
            Err(e) => (e.id(), "was cancelled".to_string()),
        };
        let name = self.names.get(&id).copied().unwrap_or("unnamed");
        anyhow::anyhow!("task {name} {why}; exiting so flanneld is restarted")
    }

    pub fn abort_all(&mut self) {
        self.set.abort_all();
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}

/// Adapts a task that returns nothing (it is meant to run forever).
async fn forever(task: impl Future<Output = ()>) -> anyhow::Result<()> {
    task.await;
    Ok(())
}

/// Where leases come from: etcd (flanneld's own keys) or the Kubernetes API (Node objects).
enum Source {
    Etcd(Box<Registry>),
    Kube(Box<kube::KubeManager>),
}

/// `--kube-subnet-mgr`: the API client, our node's name and the node cache.
async fn kube_source(f: &Flags) -> anyhow::Result<kube::KubeManager> {
    let opts = kube::KubeOptions {
        api_url: f.kube_api_url.clone(),
        kubeconfig: f.kubeconfig_file.clone(),
        annotation_prefix: f.kube_annotation_prefix.clone(),
        set_network_unavailable: f.set_node_network_unavailable,
        continue_when_cache_not_ready: kube::env_options()?,
    };
    // Check the prefix before touching the network.
    kube::annotations::Annotations::new(&opts.annotation_prefix)?;
    let client = kube::client(&opts).await?;
    let node = kube::node_name(&client).await?;
    info!(node = %node, "kube subnet manager: this is node {node:?}");
    kube::KubeManager::start(client, node, &opts).await
}

/// The network config of kube mode: `--net-config-path`, parsed as the etcd mode's.
fn file_config(path: &std::path::Path) -> anyhow::Result<NetworkConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read net conf {}", path.display()))?;
    config::parse(&text).with_context(|| format!("invalid network config in {}", path.display()))
}

pub async fn run(f: Flags, status_socket: std::path::PathBuf) -> anyhow::Result<()> {
    let mut source = if f.kube_subnet_mgr {
        Source::Kube(Box::new(kube_source(&f).await?))
    } else {
        Source::Etcd(Box::new(Registry::connect(&etcd_options(&f)).await?))
    };
    let cfg = match &mut source {
        Source::Etcd(registry) => network_config(registry).await?,
        Source::Kube(_) => file_config(&f.net_config_path)?,
    };
    if cfg.backend_defaulted {
        warn!("network config has no Backend; using upstream's default (udp). vxlan is recommended: add \"Backend\":{{\"Type\":\"vxlan\"}}");
    }
    info!(network = %cfg.network, backend = %cfg.backend.backend_type(), "network config loaded");
    if cfg.enable_ipv6 {
        warn!("EnableIPv6 is set, but this build leases and programs IPv4 only; IPv6 settings are ignored");
    }

    let nl = Netlink::connect()?;
    let (ext, iface_addr) = external(&nl, &f).await?;
    // In kube mode the node's `node-public-ip` annotation is the user's --public-ip, and the
    // VTEP MAC of our `backend-data` annotation survives a re-created device.
    let (annotated_ip, stored_mac) = match &source {
        Source::Kube(k) => (
            k.node_public_ip().await?,
            k.stored_vtep_mac()
                .await
                .and_then(|m| flannel_net::parse_mac(&m)),
        ),
        Source::Etcd(_) => (None, None),
    };
    if let Some(ip) = annotated_ip {
        info!(%ip, "public IP from the node-public-ip annotation");
    }
    let public_ip = annotated_ip.or(f.public_ip).unwrap_or(iface_addr);
    let (backend, tun_queues) = setup_backend(&nl, &cfg, ext, public_ip, stored_mac).await?;
    let attrs = lease_attrs(&backend, &cfg, public_ip);

    let previous = std::fs::read_to_string(&f.subnet_file)
        .ok()
        .and_then(|t| subnet_env::previous_subnet(&t));
    let own = match &mut source {
        Source::Etcd(registry) => keeper::acquire(registry, &cfg, &attrs, previous).await?,
        Source::Kube(k) => {
            let subnet = k.own_subnet(cfg.network).await?;
            k.publish(&attrs).await?;
            kube::KubeManager::own_lease(subnet, attrs.clone())
        }
    };
    let subnet = own.subnet;
    info!(%subnet, %public_ip, "lease acquired");

    if let Some(dev) = backend.overlay_dev() {
        let addr = Ipv4Net::new(subnet.network(), 32)?;
        nl.ensure_only_addr(dev.index, addr)
            .await
            .with_context(|| format!("configuring {addr} on {}", dev.name))?;
    }
    if f.ip_blackhole_route {
        // Highest metric: the pod bridge's connected route wins while it exists.
        nl.replace_blackhole(subnet, u32::MAX)
            .await
            .with_context(|| format!("adding blackhole route for {subnet}"))?;
        info!(%subnet, "blackhole route for our subnet installed");
    }
    let env = subnet_env::for_lease(cfg.network, subnet, backend.mtu(), f.ip_masq);
    subnet_env::write_atomic(&f.subnet_file, &subnet_env::render(&env))
        .with_context(|| format!("writing {}", f.subnet_file.display()))?;
    info!(file = %f.subnet_file.display(), "subnet file written");

    let mtu = backend.mtu();
    let shared = Shared::new(cfg.network, backend, own);
    let rules = rules_keeper(&f, cfg.network, subnet, shared.clone());
    let (datapath_tx, mut datapath_failed) = mpsc::unbounded_channel();
    if let (Some(queues), Some(routes), BackendConfig::Udp { port }) =
        (tun_queues, shared.udp.clone(), &cfg.backend)
    {
        let bind = std::net::SocketAddrV4::new(iface_addr, *port);
        udp::datapath::start(queues, bind, mtu as usize, routes, datapath_tx)
            .context("starting the udp data path")?;
    }

    let (own_tx, own_rx) = mpsc::channel(8);
    let (expiry_tx, expiry_rx) = mpsc::unbounded_channel();
    let status = server::bind_status(&status_socket)?;
    let mut tasks = Supervisor::default();
    tasks.spawn("iptables rules", async move {
        tokio::task::spawn_blocking(rules)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    });
    tasks.spawn(
        "reconcile",
        forever(reconcile::run(
            Netlink::connect()?,
            shared.clone(),
            Duration::from_secs(f.reconcile_interval),
        )),
    );
    tasks.spawn(
        "status socket",
        forever(server::serve_status(status, nl, shared.clone())),
    );
    if f.healthz_port != 0 {
        let addr = SocketAddr::new(f.healthz_ip, f.healthz_port);
        tasks.spawn(
            "health endpoint",
            server::serve_health(addr, shared.clone()),
        );
    }
    match source {
        Source::Etcd(registry) => {
            let registry = *registry;
            tasks.spawn(
                "lease watch",
                forever(
                    Watcher {
                        registry: registry.clone(),
                        shared: shared.clone(),
                        own_tx,
                        expiry_tx,
                    }
                    .run(),
                ),
            );
            tasks.spawn(
                "lease expiry lookup",
                forever(watch::expiry_task(
                    registry.clone(),
                    shared.clone(),
                    expiry_rx,
                )),
            );
            let margin = Duration::from_secs(u64::from(f.subnet_lease_renew_margin) * 60);
            let keeper = keeper::run(registry, shared.clone(), margin, own_rx);
            tasks.spawn("lease keeper", async move { Err(keeper.await) });
        }
        Source::Kube(k) => {
            let k = *k;
            // Nothing renews or revokes a Node's podCIDR: no keeper, no expiry lookups.
            drop((own_rx, expiry_rx));
            k.complete().await?;
            tasks.spawn("node watch", forever(k.run_peers(shared.clone(), attrs)));
        }
    }

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let result = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: exiting, leaving devices, routes and rules in place"); Ok(()) }
        _ = int.recv() => { info!("SIGINT: exiting, leaving devices, routes and rules in place"); Ok(()) }
        e = tasks.first_end() => Err(e),
        Some(why) = datapath_failed.recv() => Err(anyhow::anyhow!(why)),
    };
    let _ = std::fs::remove_file(&status_socket);
    tasks.abort_all();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime")
    }

    async fn idle() -> anyhow::Result<()> {
        std::future::pending().await
    }

    fn first_end(spawn: impl FnOnce(&mut Supervisor)) -> String {
        runtime().block_on(async {
            let mut s = Supervisor::default();
            s.spawn("idle one", idle());
            spawn(&mut s);
            s.spawn("idle two", idle());
            let e = tokio::time::timeout(Duration::from_secs(10), s.first_end())
                .await
                .expect("a task ended");
            format!("{e:#}")
        })
    }

    #[test]
    fn a_task_returning_an_error_is_named() {
        let e = first_end(|s| {
            s.spawn("reconcile", async {
                Err(anyhow::anyhow!("netlink socket closed"))
            })
        });
        assert_eq!(
            e,
            "task reconcile failed: netlink socket closed; exiting so flanneld is restarted"
        );
    }

    #[test]
    fn a_panicking_task_is_named_with_its_message() {
        let e = first_end(|s| {
            s.spawn("status socket", async {
                if true {
                    panic!("index out of bounds");
                }
                Ok(())
            })
        });
        assert_eq!(
            e,
            "task status socket panicked: index out of bounds; exiting so flanneld is restarted"
        );
    }

    #[test]
    fn a_task_that_just_returns_is_fatal_too() {
        let e = first_end(|s| s.spawn("lease watch", forever(async {})));
        assert_eq!(
            e,
            "task lease watch ended unexpectedly; exiting so flanneld is restarted"
        );
    }

    #[test]
    fn no_task_ends_means_no_error() {
        runtime().block_on(async {
            let mut s = Supervisor::default();
            s.spawn("idle", idle());
            let r = tokio::time::timeout(Duration::from_millis(50), s.first_end()).await;
            assert!(r.is_err(), "an idle task must not end the daemon");
        });
    }
}
