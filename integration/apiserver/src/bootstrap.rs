//! What kube-apiserver itself keeps in every cluster: the namespaces
//! `default`, `kube-system`, `kube-public`, `kube-node-lease`; the priority
//! classes `system-node-critical` and `system-cluster-critical`; the
//! `kubernetes` Service in `default` at the first ClusterIP of the range,
//! with Endpoints and an EndpointSlice pointing at this server (upstream's
//! endpoint reconciler). Reconciled at startup and every 10 s.

use crate::auth::UserInfo;
use crate::query::WriteOptions;
use crate::registry::Registry;
use kube_lite_api::{resources, ApiError};
use serde_json::{json, Value};
use std::net::IpAddr;

fn system_user() -> UserInfo {
    UserInfo {
        name: "system:apiserver".into(),
        uid: String::new(),
        groups: vec!["system:masters".into()],
    }
}

async fn ensure(
    reg: &Registry,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let Some(res) = resources::find(group, version, plural) else {
        return Ok(());
    };
    let name = kube_lite_api::meta::name(&obj).to_string();
    match reg.get(res, ns, &name).await {
        Ok(_) => return Ok(()),
        Err(e) if e.code == 404 => {}
        Err(e) => return Err(e),
    }
    match reg
        .create(res, ns, obj, &WriteOptions::default(), &system_user())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates or refreshes the bootstrap objects.
pub async fn reconcile(reg: &Registry, advertise: IpAddr, port: u16) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            reg,
            "",
            "v1",
            "namespaces",
            None,
            json!({"metadata": {"name": ns}}),
        )
        .await?;
    }
    for (name, value, desc) in [
        ("system-node-critical", 2_000_001_000i64, "Used for system critical pods that must not be moved from their current node."),
        ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ] {
        ensure(reg, "scheduling.k8s.io", "v1", "priorityclasses", None, json!({
            "metadata": {"name": name},
            "value": value,
            "globalDefault": false,
            "description": desc,
            "preemptionPolicy": "PreemptLowerPriority",
        }))
        .await?;
    }
    let ip = reg
        .services
        .first_ip()
        .map(|i| i.to_string())
        .unwrap_or_default();
    ensure(reg, "", "v1", "services", Some("default"), json!({
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}], "sessionAffinity": "None"},
    }))
    .await?;
    let want_subsets = json!([{"addresses": [{"ip": advertise.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]);
    let eps = json!({
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": want_subsets,
    });
    ensure(reg, "", "v1", "endpoints", Some("default"), eps).await?;
    if let Some(res) = resources::find("", "v1", "endpoints") {
        let cur = reg.get(res, Some("default"), "kubernetes").await?;
        if cur.get("subsets") != Some(&want_subsets) {
            let mut new = cur.clone();
            new["subsets"] = want_subsets.clone();
            reg.update(
                res,
                Some("default"),
                "kubernetes",
                None,
                new,
                &WriteOptions::default(),
            )
            .await?;
        }
    }
    if resources::find("discovery.k8s.io", "v1", "endpointslices").is_some() {
        let want = json!([{"addresses": [advertise.to_string()], "conditions": {"ready": true}}]);
        ensure(reg, "discovery.k8s.io", "v1", "endpointslices", Some("default"), json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": want,
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }))
        .await?;
        if let Some(res) = resources::find("discovery.k8s.io", "v1", "endpointslices") {
            let cur = reg.get(res, Some("default"), "kubernetes").await?;
            if cur.get("endpoints") != Some(&want) {
                let mut new = cur.clone();
                new["endpoints"] = want;
                reg.update(
                    res,
                    Some("default"),
                    "kubernetes",
                    None,
                    new,
                    &WriteOptions::default(),
                )
                .await?;
            }
        }
    }
    Ok(())
}
