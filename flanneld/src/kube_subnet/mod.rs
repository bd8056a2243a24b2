//! The Kubernetes subnet manager (`--kube-subnet-mgr`, upstream's default in its manifest): no
//! etcd of flanneld's own. Our subnet is our Node's podCIDR, our lease is a set of node
//! annotations, and every other node that a kube subnet manager annotated is a peer. Nodes are
//! followed by one kube-rs reflector (list + watch, re-list on expiry); each change recomputes
//! the peer set from the cache and hands it to the same route table the etcd mode fills, so
//! missed events and restarts converge. [`annotations`] and [`node`] are the pure parts.

pub mod annotations;
pub mod node;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::Client;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::lease::{Lease, LeaseAttrs, NO_ETCD_LEASE};
use crate::state::Shared;
use annotations::Annotations;

/// How flanneld reaches the API server and names its annotations (flags and environment).
#[derive(Debug, Clone)]
pub struct KubeOptions {
    pub api_url: Option<String>,
    pub kubeconfig: Option<std::path::PathBuf>,
    pub annotation_prefix: String,
    pub set_network_unavailable: bool,
    /// `CONT_WHEN_CACHE_NOT_READY=true`: start even if the node list did not sync in time.
    pub continue_when_cache_not_ready: bool,
}

/// How long the node cache may take to sync before startup fails (unless
/// `CONT_WHEN_CACHE_NOT_READY=true`), upstream's `nodeControllerSyncTimeout`.
const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(600);
/// Annotation patches are retried every 3 s for 30 s, as upstream's.
const PATCH_RETRY: Duration = Duration::from_secs(3);
const PATCH_BUDGET: Duration = Duration::from_secs(30);

/// `CONT_WHEN_CACHE_NOT_READY` and `EVENT_QUEUE_DEPTH` as upstream reads them. The queue depth
/// only bounds upstream's event channel; the reflector here has no queue to bound, but a bad
/// value still stops startup, as upstream's does.
pub fn env_options() -> anyhow::Result<bool> {
    if let Ok(d) = std::env::var("EVENT_QUEUE_DEPTH") {
        if !d.is_empty() {
            d.parse::<i64>().map_err(|e| {
                anyhow::anyhow!("env EVENT_QUEUE_DEPTH={d} format error: {e} (expected a number)")
            })?;
        }
    }
    Ok(std::env::var("CONT_WHEN_CACHE_NOT_READY").as_deref() == Ok("true"))
}

/// A client from `--kubeconfig-file` and/or `--kube-api-url`, else in-cluster.
pub async fn client(o: &KubeOptions) -> anyhow::Result<Client> {
    let flags = flannel_kubeclient::Flags {
        kubeconfig: "--kubeconfig-file",
        server: "--kube-api-url",
    };
    Ok(flannel_kubeclient::client(o.kubeconfig.as_deref(), o.api_url.as_deref(), flags).await?)
}

/// Our node's name: `NODE_NAME`, else the `spec.nodeName` of the pod `POD_NAMESPACE/POD_NAME`.
pub async fn node_name(client: &Client) -> anyhow::Result<String> {
    if let Ok(n) = std::env::var("NODE_NAME") {
        if !n.is_empty() {
            return Ok(n);
        }
    }
    let (pod, ns) = match (std::env::var("POD_NAME"), std::env::var("POD_NAMESPACE")) {
        (Ok(p), Ok(n)) if !p.is_empty() && !n.is_empty() => (p, n),
        _ => bail!("env variables POD_NAME and POD_NAMESPACE must be set (or NODE_NAME)"),
    };
    let p = Api::<Pod>::namespaced(client.clone(), &ns)
        .get(&pod)
        .await
        .with_context(|| format!("error retrieving pod spec for '{ns}/{pod}'"))?;
    match p.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty()) {
        Some(n) => Ok(n),
        None => bail!("node name not present in pod spec '{ns}/{pod}'"),
    }
}

/// The node cache and its change signal; built before the lease, used for the peers after.
pub struct KubeManager {
    pub nodes: Api<Node>,
    pub node_name: String,
    pub ann: Annotations,
    store: Store<Node>,
    changed: Arc<Notify>,
    set_network_unavailable: bool,
}

impl KubeManager {
    /// Starts the node reflector (a task that runs for the daemon's life) and waits for its
    /// first list.
    pub async fn start(
        client: Client,
        node_name: String,
        o: &KubeOptions,
    ) -> anyhow::Result<KubeManager> {
        let ann = Annotations::new(&o.annotation_prefix)?;
        let nodes: Api<Node> = Api::all(client);
        let changed = Arc::new(Notify::new());
        let signal = changed.clone();
        let store = flannel_kubeclient::follow(
            &tokio::runtime::Handle::current(),
            nodes.clone(),
            move |ev| match ev {
                Ok(_) => signal.notify_one(),
                Err(e) => warn!("node watch: {e}; retrying (routes are kept)"),
            },
        );
        info!("waiting for the node cache to sync");
        match tokio::time::timeout(CACHE_SYNC_TIMEOUT, store.wait_until_ready()).await {
            Ok(Ok(())) => info!(nodes = store.len(), "node cache synced"),
            _ if o.continue_when_cache_not_ready => {
                warn!("timed out waiting for the node cache to sync; continuing anyway (CONT_WHEN_CACHE_NOT_READY=true)")
            }
            _ => bail!(
                "the node list did not sync within {}s (set CONT_WHEN_CACHE_NOT_READY=true to start anyway)",
                CACHE_SYNC_TIMEOUT.as_secs()
            ),
        }
        Ok(KubeManager {
            nodes,
            node_name,
            ann,
            store,
            changed,
            set_network_unavailable: o.set_network_unavailable,
        })
    }

    fn own_node(&self) -> Option<Arc<Node>> {
        self.store
            .state()
            .into_iter()
            .find(|n| node::name(n) == self.node_name)
    }

    /// Our node from the cache, waiting (with a log line every 10 s) until it exists.
    pub async fn wait_own_node(&self) -> Arc<Node> {
        let mut waited = 0u64;
        loop {
            if let Some(n) = self.own_node() {
                return n;
            }
            if waited.is_multiple_of(10) {
                warn!(node = %self.node_name, "node {:?} does not exist yet; waiting for it", self.node_name);
            }
            waited += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Our subnet: the node's podCIDR, waited for (a clear log line every 10 s) while unset.
    pub async fn own_subnet(&self, network: Ipv4Net) -> anyhow::Result<Ipv4Net> {
        let mut waited = 0u64;
        loop {
            let n = self.wait_own_node().await;
            if let Some(s) = node::own_subnet(&n, network)? {
                return Ok(s);
            }
            if waited.is_multiple_of(10) {
                warn!(node = %self.node_name, "node {:?} pod cidr not assigned yet (spec.podCIDR is empty: is the controller-manager running with --allocate-node-cidrs?); waiting", self.node_name);
            }
            waited += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Sends a strategic-merge patch to `nodes/<ours>/status`, retried every 3 s for 30 s.
    async fn patch_status(&self, what: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            match self
                .nodes
                .patch_status(
                    &self.node_name,
                    &PatchParams::default(),
                    &Patch::Strategic(&body),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() + PATCH_RETRY <= PATCH_BUDGET => {
                    debug!(node = %self.node_name, "patching {what} failed: {e}; retrying")
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(e)).with_context(|| {
                        format!(
                            "timeout contacting kube-api, failed to patch node {:?} ({what})",
                            self.node_name
                        )
                    })
                }
            }
            tokio::time::sleep(PATCH_RETRY).await;
        }
    }

    /// Writes our lease attributes into the node's annotations when they differ.
    pub async fn publish(&self, attrs: &LeaseAttrs) -> anyhow::Result<()> {
        let n = self.wait_own_node().await;
        let changes = node::annotation_changes(&n, attrs, &self.ann);
        if changes.is_empty() {
            return Ok(());
        }
        info!(node = %self.node_name, keys = ?changes.keys().collect::<Vec<_>>(), "annotating our node");
        self.patch_status("annotations", node::annotation_patch(&changes))
            .await
    }

    /// After the lease: `NetworkUnavailable=False`, unless disabled.
    pub async fn complete(&self) -> anyhow::Result<()> {
        if !self.set_network_unavailable {
            return Ok(());
        }
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        self.patch_status(
            "NetworkUnavailable condition",
            node::network_available_patch(&now),
        )
        .await
    }

    /// The user's `node-public-ip` annotation on our node, if any.
    pub async fn node_public_ip(&self) -> anyhow::Result<Option<std::net::Ipv4Addr>> {
        Ok(node::node_public_ip(
            &*self.wait_own_node().await,
            &self.ann,
        )?)
    }

    pub async fn stored_vtep_mac(&self) -> Option<String> {
        node::stored_vtep_mac(&*self.wait_own_node().await, &self.ann)
    }

    /// Our lease in kube mode: no etcd key, no expiry.
    pub fn own_lease(subnet: Ipv4Net, attrs: LeaseAttrs) -> Lease {
        Lease {
            subnet,
            ipv6_subnet: None,
            attrs,
            etcd_lease: NO_ETCD_LEASE,
            expires: None,
        }
    }

    /// The peer set from the cache, after every change: nodes without the manager's annotation
    /// are skipped, malformed ones skipped with a warning (once per change of theirs). Our own
    /// node's annotations are re-published if someone changed them.
    pub async fn run_peers(self, shared: Arc<Shared>, attrs: LeaseAttrs) {
        let mut warned: std::collections::HashMap<String, String> = Default::default();
        loop {
            let nodes = self.store.state();
            let mut leases = Vec::with_capacity(nodes.len());
            for n in &nodes {
                let name = node::name(n);
                if name == self.node_name {
                    if !node::annotation_changes(n, &attrs, &self.ann).is_empty() {
                        if let Err(e) = self.publish(&attrs).await {
                            warn!(node = %self.node_name, "re-annotating our node: {e:#}");
                        }
                    }
                    continue;
                }
                match node::peer_lease(n, &self.ann) {
                    Ok(Some(l)) => leases.push(l),
                    Ok(None) => {}
                    Err(e) => {
                        let rv = n.metadata.resource_version.clone().unwrap_or_default();
                        if warned.get(name) != Some(&rv) {
                            warn!(peer = %name, "skipping node: {e}");
                            warned.insert(name.to_string(), rv);
                        }
                    }
                }
            }
            let count = leases.len();
            if shared.set_peers(leases) {
                info!(peers = count, "peer set from nodes applied");
            }
            self.changed.notified().await;
        }
    }
}
