//! Discovery documents, computed from [`crate::resources`]: `/version`,
//! `/api` (APIVersions), `/apis` (APIGroupList), `/apis/<group>` (APIGroup),
//! `/api/v1` and `/apis/<group>/<version>` (APIResourceList), and aggregated
//! discovery (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList) for `/api` and
//! `/apis`, plus the Accept/Content-Type rules of aggregated discovery.

use crate::resources::{self, ResourceInfo, GROUPS};
use serde_json::{json, Map, Value};

/// The Kubernetes version the server claims (`/version`).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "37";
/// `gitVersion` of `/version`.
pub const GIT_VERSION: &str = "v1.37.0+kube-lite";

/// The Content-Type the server must answer aggregated discovery with:
/// client-go treats the body as aggregated only when these parameters are
/// present.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version`.
pub fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR,
        "minCompatibilityMinor": "36",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-12-02T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}

/// `/api`: APIVersions with `serverAddressByClientCIDRs` naming `server_address` (host:port).
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

fn group_version(group: &str, version: &str) -> Value {
    json!({"groupVersion": format!("{group}/{version}"), "version": version})
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let preferred = versions.first().copied().unwrap_or("v1");
    json!({
        "name": group,
        "versions": versions.iter().map(|v| group_version(group, v)).collect::<Vec<_>>(),
        "preferredVersion": group_version(group, preferred),
    })
}

/// `/apis`: APIGroupList.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|(g, v)| group_entry(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`: APIGroup; None when not served.
pub fn api_group(group: &str) -> Option<Value> {
    let (name, versions) = GROUPS.iter().find(|(g, _)| *g == group)?;
    let mut entry = group_entry(name, versions);
    if let Value::Object(m) = &mut entry {
        m.insert("kind".into(), json!("APIGroup"));
        m.insert("apiVersion".into(), json!("v1"));
    }
    Some(entry)
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| json!(s)).collect())
}

/// The resources of a group/version sorted by name, as upstream lists them.
fn sorted_resources(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    let mut list: Vec<_> = resources::in_group_version(group, version).collect();
    list.sort_by_key(|r| r.plural);
    list
}

/// `/api/v1` (group "") or `/apis/<group>/<version>`; None when not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let served = resources::group_versions(group)?;
    if !served.contains(&version) {
        return None;
    }
    let mut out = Vec::new();
    for r in sorted_resources(group, version) {
        let mut main = Map::new();
        main.insert("name".into(), json!(r.plural));
        main.insert("singularName".into(), json!(r.singular));
        main.insert("namespaced".into(), json!(r.namespaced));
        main.insert("kind".into(), json!(r.kind));
        main.insert("verbs".into(), strings(r.verbs));
        if !r.short_names.is_empty() {
            main.insert("shortNames".into(), strings(r.short_names));
        }
        if !r.categories.is_empty() {
            main.insert("categories".into(), strings(r.categories));
        }
        out.push(Value::Object(main));
        let mut subs: Vec<_> = r.subresources.to_vec();
        subs.sort_by_key(|s| s.name());
        for s in subs {
            let k = s.kind_of(r);
            let mut e = Map::new();
            e.insert("name".into(), json!(format!("{}/{}", r.plural, s.name())));
            e.insert("singularName".into(), json!(""));
            e.insert("namespaced".into(), json!(r.namespaced));
            if let Some((g, v)) = k.group_version {
                e.insert("group".into(), json!(g));
                e.insert("version".into(), json!(v));
            }
            e.insert("kind".into(), json!(k.kind));
            e.insert("verbs".into(), strings(k.verbs));
            out.push(Value::Object(e));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": out,
    }))
}

fn response_kind(gv: Option<(&str, &str)>, kind: &str) -> Value {
    let (g, v) = gv.unwrap_or(("", ""));
    json!({"group": g, "version": v, "kind": kind})
}

fn resource_discovery(r: &ResourceInfo) -> Value {
    let mut m = Map::new();
    m.insert("resource".into(), json!(r.plural));
    m.insert("responseKind".into(), response_kind(None, r.kind));
    m.insert(
        "scope".into(),
        json!(if r.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    m.insert("singularResource".into(), json!(r.singular));
    m.insert("verbs".into(), strings(r.verbs));
    if !r.short_names.is_empty() {
        m.insert("shortNames".into(), strings(r.short_names));
    }
    if !r.categories.is_empty() {
        m.insert("categories".into(), strings(r.categories));
    }
    if !r.subresources.is_empty() {
        let mut subs: Vec<_> = r.subresources.to_vec();
        subs.sort_by_key(|s| s.name());
        let subs: Vec<Value> = subs
            .into_iter()
            .map(|s| {
                let k = s.kind_of(r);
                json!({
                    "subresource": s.name(),
                    "responseKind": response_kind(k.group_version, k.kind),
                    "verbs": strings(k.verbs),
                })
            })
            .collect();
        m.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(m)
}

fn group_discovery(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let res: Vec<Value> = sorted_resources(group, v)
                .into_iter()
                .map(resource_discovery)
                .collect();
            json!({"version": v, "resources": res, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({})
    } else {
        json!({"name": group})
    };
    json!({"metadata": metadata, "versions": versions})
}

/// Aggregated discovery: the core group for `/api` (`core = true`), every
/// other group for `/apis`.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![group_discovery("", &["v1"])]
    } else {
        GROUPS.iter().map(|(g, v)| group_discovery(g, v)).collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// Whether an Accept header asks for aggregated discovery v2
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`,
/// parameters in any order, optionally with `profile=nopeer`). The v2beta1
/// form is not served, and a q-value of 0 refuses the type.
pub fn accepts_aggregated(accept_header: &str) -> bool {
    accept_header.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        if !media.eq_ignore_ascii_case("application/json") {
            return false;
        }
        let (mut g, mut v, mut as_, mut q_zero) = (false, false, false, false);
        for p in parts {
            let Some((k, val)) = p.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "g" => g = val == "apidiscovery.k8s.io",
                "v" => v = val == "v2",
                "as" => as_ = val == "APIGroupDiscoveryList",
                "q" => q_zero = val.parse::<f32>().map(|q| q <= 0.0).unwrap_or(false),
                _ => {}
            }
        }
        g && v && as_ && !q_zero
    })
}

#[cfg(test)]
mod tests;
