//! kube-rs 5 (k8s-openapi, Kubernetes 1.37) against `kube-lite apiserver`: optimistic
//! concurrency (409 on a stale update, AlreadyExists), server-side apply (creating when absent,
//! then updating, keeping another manager's fields), list paging, watch events and the
//! runtime watcher, and concurrent ClusterIP/NodePort allocation (200 Services in parallel get
//! 200 distinct addresses; deleting releases; taken or out-of-range requests are refused).
//! All tests share one lab and API server; each uses its own Kubernetes namespace.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use common::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }))
    .expect("a valid ConfigMap literal")
}

/// The Status of a failed call, or a test failure naming what was expected.
fn status_of<T: std::fmt::Debug>(
    c: &Cluster,
    what: &str,
    r: kube::Result<T>,
) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => c.fail(&format!(
            "{what}: expected an API error Status, got {other:?}"
        )),
    }
}

#[tokio::test]
async fn stale_update_is_a_conflict() {
    let c = Cluster::shared();
    let client = c.client().await;
    let ns = c.create_namespace(&client, "t-conflict").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let created = api
        .create(&PostParams::default(), &cm("x", &[("k", "1")]))
        .await
        .unwrap_or_else(|e| c.fail(&format!("create: {e}")));
    let rv0 = created.resource_version().unwrap_or_default();
    check!(
        c,
        rv0.parse::<i64>().is_ok_and(|r| r > 0),
        "resourceVersion of a new object: {rv0:?}"
    );
    check!(
        c,
        created.uid().is_some() && created.creation_timestamp().is_some(),
        "uid/creationTimestamp missing: {:?}",
        created.metadata
    );

    let mut first = created.clone();
    first.data = Some([("k".to_string(), "2".to_string())].into());
    let updated = api
        .replace("x", &PostParams::default(), &first)
        .await
        .unwrap_or_else(|e| c.fail(&format!("update with the current resourceVersion: {e}")));
    let rv1 = updated.resource_version().unwrap_or_default();
    check!(
        c,
        rv1 != rv0,
        "resourceVersion did not change on update ({rv0})"
    );
    check_eq!(c, updated.uid(), created.uid(), "uid across an update");
    check_eq!(
        c,
        updated.creation_timestamp(),
        created.creation_timestamp(),
        "creationTimestamp across an update"
    );

    let mut stale = created.clone();
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let s = status_of(
        &c,
        "update with a stale resourceVersion",
        api.replace("x", &PostParams::default(), &stale).await,
    );
    check_eq!(c, s.code, 409, "code of a stale update: {s:?}");
    check_eq!(
        c,
        s.reason.as_str(),
        "Conflict",
        "reason of a stale update: {s:?}"
    );
    check_eq!(
        c,
        s.message.as_str(),
        "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again",
        "message of a stale update"
    );
    let now = api
        .get("x")
        .await
        .unwrap_or_else(|e| c.fail(&format!("get: {e}")));
    check_eq!(
        c,
        now.data.clone().unwrap_or_default().get("k").cloned(),
        Some("2".to_string()),
        "data after a refused stale update"
    );
    check_eq!(
        c,
        now.resource_version(),
        Some(rv1.clone()),
        "resourceVersion after a refused stale update"
    );

    let s = status_of(
        &c,
        "create of an existing name",
        api.create(&PostParams::default(), &cm("x", &[])).await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (409, "AlreadyExists"),
        "create of an existing name: {s:?}"
    );
    check_eq!(
        c,
        s.message.as_str(),
        "configmaps \"x\" already exists",
        "AlreadyExists message"
    );

    let s = status_of(&c, "get of a missing object", api.get("nope").await);
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (404, "NotFound"),
        "get of a missing object: {s:?}"
    );
    check_eq!(
        c,
        s.message.as_str(),
        "configmaps \"nope\" not found",
        "NotFound message"
    );
    check!(
        c,
        api.get_opt("nope").await.is_ok_and(|o| o.is_none()),
        "get_opt of a missing object is not Ok(None)"
    );

    // An update without resourceVersion is unconditional.
    let mut blind = now.clone();
    blind.metadata.resource_version = None;
    blind.data = Some([("k".to_string(), "4".to_string())].into());
    api.replace("x", &PostParams::default(), &blind)
        .await
        .unwrap_or_else(|e| c.fail(&format!("update without resourceVersion: {e}")));
    // Delete returns a Status for configmaps, and the object is gone.
    let del = api
        .delete("x", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| c.fail(&format!("delete: {e}")));
    check!(
        c,
        del.is_right(),
        "delete of a configmap returned the object, not a Status: {del:?}"
    );
    check!(
        c,
        api.get_opt("x").await.is_ok_and(|o| o.is_none()),
        "configmap still there after delete"
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_updates() {
    let c = Cluster::shared();
    let client = c.client().await;
    let ns = c.create_namespace(&client, "t-ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let pp = PatchParams::apply("test-manager").force();
    let applied = api
        .patch("a", &pp, &Patch::Apply(&cm("a", &[("one", "1")])))
        .await
        .unwrap_or_else(|e| c.fail(&format!("apply of an absent object: {e}")));
    check_eq!(
        c,
        applied.data.clone().unwrap_or_default().get("one").cloned(),
        Some("1".to_string()),
        "created by apply"
    );
    check!(c, applied.uid().is_some(), "applied object has no uid");

    // Another writer adds a key with a merge patch.
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"theirs": "x"}})),
    )
    .await
    .unwrap_or_else(|e| c.fail(&format!("merge patch by another writer: {e}")));

    let again = api
        .patch("a", &pp, &Patch::Apply(&cm("a", &[("one", "2")])))
        .await
        .unwrap_or_else(|e| c.fail(&format!("apply of an existing object: {e}")));
    let data = again.data.clone().unwrap_or_default();
    check_eq!(
        c,
        data.get("one").cloned(),
        Some("2".to_string()),
        "updated by apply"
    );
    check_eq!(
        c,
        data.get("theirs").cloned(),
        Some("x".to_string()),
        "another writer's key after apply"
    );
    check_eq!(c, again.uid(), applied.uid(), "uid across applies");
    let managers: BTreeSet<String> = again
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    check!(
        c,
        managers.contains("test-manager"),
        "managedFields lack the applying manager: {managers:?}"
    );
}

#[tokio::test]
async fn list_pages_and_watch_events() {
    let c = Cluster::shared();
    let client = c.client().await;
    let ns = c.create_namespace(&client, "t-list").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &cm(&format!("c{i}"), &[("i", &i.to_string())]),
        )
        .await
        .unwrap_or_else(|e| c.fail(&format!("create c{i}: {e}")));
    }
    // Paging with limit/continue sees every object once.
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = api
            .list(&lp)
            .await
            .unwrap_or_else(|e| c.fail(&format!("list page: {e}")));
        pages += 1;
        check!(
            c,
            page.metadata.resource_version.is_some(),
            "a list has no metadata.resourceVersion"
        );
        seen.extend(page.items.iter().map(|o| o.name_any()));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) if pages < 10 => lp = ListParams::default().limit(2).continue_token(&token),
            _ => break,
        }
    }
    check_eq!(
        c,
        seen,
        vec!["c0", "c1", "c2", "c3", "c4"],
        "objects over all pages ({pages} pages)"
    );
    check!(c, pages >= 3, "limit=2 over 5 objects gave {pages} page(s)");

    // A watch from the list's resourceVersion sees later changes in order.
    let list = api
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| c.fail(&format!("list: {e}")));
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .unwrap_or_else(|e| c.fail(&format!("watch: {e}")))
        .boxed();
    api.create(&PostParams::default(), &cm("w", &[("k", "1")]))
        .await
        .unwrap_or_else(|e| c.fail(&format!("create w: {e}")));
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap_or_else(|e| c.fail(&format!("patch w: {e}")));
    api.delete("w", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| c.fail(&format!("delete w: {e}")));
    let mut kinds = Vec::new();
    let mut last_rv = 0i64;
    while kinds.len() < 3 {
        let ev = match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
            Ok(Ok(Some(ev))) => ev,
            other => c.fail(&format!(
                "watch ended or stalled after {kinds:?}: {other:?}"
            )),
        };
        let (kind, obj) = match ev {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => c.fail(&format!("watch ERROR event: {e:?}")),
        };
        check_eq!(c, obj.name_any(), "w", "object of a {kind} event");
        let r: i64 = obj
            .resource_version()
            .unwrap_or_default()
            .parse()
            .unwrap_or(-1);
        check!(
            c,
            r > last_rv,
            "resourceVersions of watch events not increasing: {r} after {last_rv}"
        );
        last_rv = r;
        kinds.push(kind);
    }
    check_eq!(
        c,
        kinds,
        vec!["ADDED", "MODIFIED", "DELETED"],
        "watch event types"
    );

    // The runtime watcher (list, then watch) fills a reflector store.
    let (reader, writer) = reflector::store::<ConfigMap>();
    let rf = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(async move {
        let mut rf = std::pin::pin!(rf);
        while rf.next().await.is_some() {}
    });
    if tokio::time::timeout(Duration::from_secs(15), reader.wait_until_ready())
        .await
        .is_err()
    {
        c.fail("the reflector store never became ready");
    }
    api.create(&PostParams::default(), &cm("late", &[]))
        .await
        .unwrap_or_else(|e| c.fail(&format!("create late: {e}")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reader.state().iter().all(|o| o.name_any() != "late") {
        if tokio::time::Instant::now() > deadline {
            c.fail(&format!(
                "the reflector never saw 'late'; it has {:?}",
                reader
                    .state()
                    .iter()
                    .map(|o| o.name_any())
                    .collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check_eq!(c, reader.len(), 6, "objects in the reflector store");
    task.abort();
}

fn svc(name: &str, spec: serde_json::Value) -> Service {
    let mut spec = spec;
    if spec.get("ports").is_none() {
        spec["ports"] = json!([{"port": 80}]);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a valid Service literal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cluster_ip_and_node_port_allocation() {
    let c = Cluster::shared();
    let client = c.client().await;
    let ns = c.create_namespace(&client, "t-alloc").await;
    let api: Api<Service> = Api::namespaced(client, &ns);
    let range: ipnet_lite::Net = ipnet_lite::Net::new(Ipv4Addr::new(10, 96, 0, 0), 12);

    // 200 ClusterIP Services at once.
    let created: Vec<Service> = futures::stream::iter(0..200)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &svc(&format!("s{i}"), json!({"selector": {"app": "x"}})),
                )
                .await
            }
        })
        .buffer_unordered(50)
        .try_collect()
        .await
        .unwrap_or_else(|e| c.fail(&format!("creating 200 Services in parallel: {e}")));
    let ips: Vec<String> = created
        .iter()
        .filter_map(|s| s.spec.as_ref()?.cluster_ip.clone())
        .collect();
    check_eq!(c, ips.len(), 200, "Services with a clusterIP");
    let distinct: BTreeSet<&String> = ips.iter().collect();
    check_eq!(
        c,
        distinct.len(),
        200,
        "distinct clusterIPs among 200 Services"
    );
    for ip in &ips {
        let addr: Ipv4Addr = ip
            .parse()
            .unwrap_or_else(|_| c.fail(&format!("clusterIP {ip:?} is not IPv4")));
        check!(
            c,
            range.contains(addr),
            "clusterIP {ip} outside 10.96.0.0/12"
        );
        check!(
            c,
            addr != Ipv4Addr::new(10, 96, 0, 1),
            "clusterIP 10.96.0.1 (the kubernetes Service's) handed out again"
        );
        check!(
            c,
            addr != range.network() && addr != range.broadcast(),
            "clusterIP {ip} is the network or broadcast address"
        );
    }
    // The list agrees with what the creates returned.
    let listed: BTreeSet<String> = api
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| c.fail(&format!("list: {e}")))
        .items
        .iter()
        .filter_map(|s| s.spec.as_ref()?.cluster_ip.clone())
        .collect();
    check_eq!(
        c,
        listed,
        ips.iter().cloned().collect::<BTreeSet<_>>(),
        "clusterIPs listed vs created"
    );
    check_eq!(
        c,
        created
            .iter()
            .filter_map(|s| s.spec.as_ref()?.cluster_ips.clone())
            .filter(|v| v.len() == 1)
            .count(),
        200,
        "spec.clusterIPs set (single-stack)"
    );

    // 50 NodePort Services at once: distinct ports in range.
    let nodeports: Vec<Service> = futures::stream::iter(0..50)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &svc(
                        &format!("np{i}"),
                        json!({"type": "NodePort", "selector": {"app": "x"}}),
                    ),
                )
                .await
            }
        })
        .buffer_unordered(25)
        .try_collect()
        .await
        .unwrap_or_else(|e| c.fail(&format!("creating 50 NodePort Services in parallel: {e}")));
    let ports: Vec<i32> = nodeports
        .iter()
        .filter_map(|s| s.spec.as_ref()?.ports.as_ref()?.first()?.node_port)
        .collect();
    check_eq!(c, ports.len(), 50, "NodePort Services with a nodePort");
    check_eq!(
        c,
        ports.iter().collect::<BTreeSet<_>>().len(),
        50,
        "distinct nodePorts among 50 Services"
    );
    check!(
        c,
        ports.iter().all(|p| (30000..=32767).contains(p)),
        "nodePorts outside 30000-32767: {ports:?}"
    );

    // Requests: a taken IP, an IP outside the range, a taken nodePort.
    let taken = ips[0].clone();
    let s = status_of(
        &c,
        "clusterIP already taken",
        api.create(
            &PostParams::default(),
            &svc("dup-ip", json!({"clusterIP": taken})),
        )
        .await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "a taken clusterIP: {s:?}"
    );
    check!(
        c,
        s.message.contains("already allocated"),
        "message for a taken clusterIP: {}",
        s.message
    );
    let s = status_of(
        &c,
        "clusterIP outside the range",
        api.create(
            &PostParams::default(),
            &svc("out-ip", json!({"clusterIP": "10.0.0.5"})),
        )
        .await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "a clusterIP outside the range: {s:?}"
    );
    let fields: Vec<String> = s
        .details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
        .unwrap_or_default();
    check!(
        c,
        fields.iter().any(|f| f.starts_with("spec.clusterIP")),
        "causes of an out-of-range clusterIP name no spec.clusterIP(s) field: {s:?}"
    );
    let s = status_of(
        &c,
        "nodePort already taken",
        api.create(
            &PostParams::default(),
            &svc(
                "dup-port",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": ports[0]}]}),
            ),
        )
        .await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "a taken nodePort: {s:?}"
    );
    check!(
        c,
        s.message.contains("already allocated"),
        "message for a taken nodePort: {}",
        s.message
    );
    let s = status_of(
        &c,
        "nodePort outside the range",
        api.create(
            &PostParams::default(),
            &svc(
                "out-port",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 1234}]}),
            ),
        )
        .await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "a nodePort outside the range: {s:?}"
    );
    // None of the refused Services exists.
    for n in ["dup-ip", "out-ip", "dup-port", "out-port"] {
        check!(
            c,
            api.get_opt(n).await.is_ok_and(|o| o.is_none()),
            "refused Service {n} exists"
        );
    }
    // Headless: no allocation.
    let headless = api
        .create(
            &PostParams::default(),
            &svc(
                "headless",
                json!({"clusterIP": "None", "selector": {"app": "x"}}),
            ),
        )
        .await
        .unwrap_or_else(|e| c.fail(&format!("headless Service: {e}")));
    check_eq!(
        c,
        headless.spec.as_ref().and_then(|s| s.cluster_ip.clone()),
        Some("None".to_string()),
        "clusterIP of a headless Service"
    );
    // A requested free IP is honoured.
    let free = "10.100.200.7";
    let got = api
        .create(
            &PostParams::default(),
            &svc("want-ip", json!({"clusterIP": free})),
        )
        .await
        .unwrap_or_else(|e| c.fail(&format!("a requested free clusterIP {free}: {e}")));
    check_eq!(
        c,
        got.spec.as_ref().and_then(|s| s.cluster_ip.clone()),
        Some(free.to_string()),
        "requested clusterIP"
    );
    // clusterIP is immutable.
    let s = status_of(
        &c,
        "changing clusterIP",
        api.patch(
            "want-ip",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"clusterIP": "10.100.200.8", "clusterIPs": ["10.100.200.8"]}}),
            ),
        )
        .await,
    );
    check_eq!(
        c,
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "changing a Service's clusterIP: {s:?}"
    );

    // Deleting releases: the first 20 addresses and ports can be requested again.
    // (`created` is in completion order, so delete by its names.)
    for s in &created[..20] {
        let n = s.name_any();
        api.delete(&n, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| c.fail(&format!("delete {n}: {e}")));
    }
    let np_names: Vec<String> = nodeports.iter().map(|s| s.name_any()).collect();
    for n in &np_names[..10] {
        api.delete(n, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| c.fail(&format!("delete {n}: {e}")));
    }
    let reused: Vec<Service> = futures::stream::iter(0..20)
        .map(|i| {
            let api = api.clone();
            let ip = created[i]
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.clone())
                .unwrap_or_default();
            let name = created[i].name_any();
            async move {
                (
                    name.clone(),
                    ip.clone(),
                    api.create(
                        &PostParams::default(),
                        &svc(&format!("again-{name}"), json!({"clusterIP": ip})),
                    )
                    .await,
                )
            }
        })
        .buffer_unordered(20)
        .map(|(name, ip, r)| r.map_err(|e| format!("re-requesting {ip} of deleted {name}: {e}")))
        .try_collect()
        .await
        .unwrap_or_else(|e| c.fail(&e));
    check_eq!(c, reused.len(), 20, "re-requested addresses honoured");
    for (k, np) in nodeports.iter().take(10).enumerate() {
        let port = np
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref()?.first()?.node_port)
            .unwrap_or_default();
        if let Err(e) = api
            .create(
                &PostParams::default(),
                &svc(
                    &format!("np-again-{k}"),
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
                ),
            )
            .await
        {
            c.fail(&format!(
                "re-requesting nodePort {port} of deleted {}: {e}",
                np.name_any()
            ));
        }
    }
}

/// A tiny IPv4 prefix (the test's own, to keep dev-dependencies to the workspace's).
mod ipnet_lite {
    use std::net::Ipv4Addr;

    pub struct Net {
        base: u32,
        mask: u32,
    }

    impl Net {
        pub fn new(addr: Ipv4Addr, len: u32) -> Net {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Net {
                base: u32::from(addr) & mask,
                mask,
            }
        }
        pub fn contains(&self, a: Ipv4Addr) -> bool {
            u32::from(a) & self.mask == self.base
        }
        pub fn network(&self) -> Ipv4Addr {
            Ipv4Addr::from(self.base)
        }
        pub fn broadcast(&self) -> Ipv4Addr {
            Ipv4Addr::from(self.base | !self.mask)
        }
    }
}
