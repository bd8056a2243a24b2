//! The node IPAM controller (upstream's range allocator): every node without a pod CIDR gets the
//! next free subnet of the cluster CIDR as `spec.podCIDR`/`spec.podCIDRs`; a deleted node's
//! subnet is free again. It reconciles: after every change of the node cache, the used set is
//! what the nodes hold plus the patches sent but not yet seen in the cache, so a restart (which
//! re-lists) or a missed event never hands a subnet out twice. One controller task serialises
//! all allocations, so concurrently created nodes cannot race.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::Client;
use serde_json::json;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cidrset::{CidrSet, CidrSetError};

/// A node's pod CIDRs as the cache holds them (IPv4 ones; others are not ours to manage).
fn node_cidrs(n: &Node) -> Vec<Ipv4Net> {
    let spec = n.spec.as_ref();
    let mut all: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if all.is_empty() {
        all.extend(spec.and_then(|s| s.pod_cidr.clone()));
    }
    all.iter().filter_map(|c| c.parse().ok()).collect()
}

fn has_cidr(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .is_some_and(|c| !c.is_empty())
}

/// What one pass decides: the assignments to send, from the nodes and the pending patches.
/// Pure; `pending` is pruned of what the cache now shows.
pub fn plan(
    cluster: &CidrSet,
    nodes: &[Arc<Node>],
    pending: &mut BTreeMap<String, Ipv4Net>,
) -> (Vec<(String, Ipv4Net)>, Vec<String>) {
    let mut set = cluster.clone();
    let mut warnings = vec![];
    let names: std::collections::BTreeSet<&str> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    // A pending patch is done once the node shows a CIDR, and moot once the node is gone.
    pending.retain(|name, _| {
        names.contains(name.as_str())
            && !nodes
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some(name.as_str()) && has_cidr(n))
    });
    for n in nodes {
        for c in node_cidrs(n) {
            if let Err(e) = set.occupy(c) {
                if set.cluster().contains(&c.network()) {
                    warnings.push(format!(
                        "node {:?}: {e}",
                        n.metadata.name.as_deref().unwrap_or("")
                    ));
                }
            }
        }
    }
    for c in pending.values() {
        let _ = set.occupy(*c);
    }
    let mut todo: Vec<&Arc<Node>> = nodes
        .iter()
        .filter(|n| !has_cidr(n) && n.metadata.deletion_timestamp.is_none())
        .filter(|n| !pending.contains_key(n.metadata.name.as_deref().unwrap_or("")))
        .collect();
    // Oldest first, then by name: a stable order across passes and restarts.
    todo.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    let mut out = vec![];
    for n in todo {
        let name = n.metadata.name.clone().unwrap_or_default();
        match set.allocate_next() {
            Ok(c) => out.push((name, c)),
            Err(CidrSetError::Full) => {
                warnings.push(format!("node {name:?}: {}", CidrSetError::Full));
                break;
            }
            Err(e) => warnings.push(format!("node {name:?}: {e}")),
        }
    }
    (out, warnings)
}

/// The patch upstream's allocator sends to the node.
pub fn cidr_patch(c: Ipv4Net) -> serde_json::Value {
    json!({"spec": {"podCIDR": c.to_string(), "podCIDRs": [c.to_string()]}})
}

/// Runs the controller until its watch ends (never, normally).
pub async fn run(client: Client, set: CidrSet) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client);
    let changed = Arc::new(Notify::new());
    let signal = changed.clone();
    let store: Store<Node> = flannel_kubeclient::follow(
        &tokio::runtime::Handle::current(),
        nodes.clone(),
        move |ev| match ev {
            Ok(_) => signal.notify_one(),
            Err(e) => warn!("node watch: {e}; retrying"),
        },
    );
    store.wait_until_ready().await?;
    info!(nodes = store.len(), "node cache synced");
    let mut pending: BTreeMap<String, Ipv4Net> = BTreeMap::new();
    let mut last_warnings: Vec<String> = vec![];
    loop {
        let (todo, warnings) = plan(&set, &store.state(), &mut pending);
        if warnings != last_warnings {
            for w in &warnings {
                warn!("{w}");
            }
            last_warnings = warnings;
        }
        let mut failed = false;
        for (name, cidr) in todo {
            match nodes
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Strategic(cidr_patch(cidr)),
                )
                .await
            {
                Ok(_) => {
                    info!(node = %name, %cidr, "set node podCIDR");
                    pending.insert(name, cidr);
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    warn!(node = %name, %cidr, "setting the podCIDR failed: {e}; retrying");
                    failed = true;
                }
            }
        }
        if failed {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Also re-plan now and then, so pending patches whose events were missed are settled.
        let _ = tokio::time::timeout(Duration::from_secs(30), changed.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>, created: i64) -> Arc<Node> {
        let mut v = json!({"metadata": {"name": name,
            "creationTimestamp": kube_lite_api::meta::rfc3339(created)}, "spec": {}});
        if let Some(c) = cidr {
            v["spec"] = json!({"podCIDR": c, "podCIDRs": [c]});
        }
        Arc::new(serde_json::from_value(v).expect("a Node literal"))
    }

    fn set() -> CidrSet {
        CidrSet::new("10.244.0.0/16".parse().expect("cidr"), 24).expect("set")
    }

    #[test]
    fn assigns_free_subnets_oldest_first_and_never_twice() {
        let nodes = vec![
            node("b", None, 20),
            node("a", Some("10.244.0.0/24"), 10),
            node("c", None, 15),
        ];
        let mut pending = BTreeMap::new();
        let (todo, w) = plan(&set(), &nodes, &mut pending);
        assert!(w.is_empty(), "{w:?}");
        let got: Vec<(String, String)> = todo
            .iter()
            .map(|(n, c)| (n.clone(), c.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("c".into(), "10.244.1.0/24".into()),
                ("b".into(), "10.244.2.0/24".into())
            ]
        );
        // Sent but not yet in the cache: neither re-sent nor given to another node.
        pending.extend(todo);
        let mut more = nodes.clone();
        more.push(node("d", None, 30));
        let (todo, _) = plan(&set(), &more, &mut pending);
        assert_eq!(todo.len(), 1);
        assert_eq!(todo[0].1.to_string(), "10.244.3.0/24");
    }

    #[test]
    fn a_deleted_nodes_subnet_is_free_again_and_pending_settles() {
        let mut pending =
            BTreeMap::from([("gone".to_string(), "10.244.5.0/24".parse().expect("c"))]);
        let nodes = vec![node("x", None, 1)];
        let (todo, _) = plan(&set(), &nodes, &mut pending);
        assert!(
            pending.is_empty(),
            "the pending patch of a deleted node is dropped"
        );
        assert_eq!(todo[0].1.to_string(), "10.244.0.0/24");
    }

    #[test]
    fn nodes_outside_the_cluster_cidr_are_left_alone() {
        let nodes = vec![node("x", Some("192.168.0.0/24"), 1), node("y", None, 2)];
        let (todo, w) = plan(&set(), &nodes, &mut BTreeMap::new());
        assert!(w.is_empty());
        assert_eq!(todo.len(), 1);
    }
}
