//! Discovery documents, computed from [`crate::resources`]: `/version`,
//! `/api` (APIVersions), `/apis` (APIGroupList), `/api/v1` and
//! `/apis/<group>/<version>` (APIResourceList), and aggregated discovery
//! (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList) for `/api` and `/apis`.

use serde_json::{json, Value};

/// The Kubernetes version the server claims (`/version`).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "37";

/// `/version`.
pub fn version_info() -> Value {
    json!({"major": KUBE_MAJOR, "minor": KUBE_MINOR, "gitVersion": "v1.37.0+kube-lite"})
}

/// `/api`: APIVersions with `serverAddressByClientCIDRs` naming `server_address` (host:port).
pub fn api_versions(server_address: &str) -> Value {
    json!({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":server_address}]})
}

/// `/apis`: APIGroupList.
pub fn api_group_list() -> Value {
    json!({"kind":"APIGroupList","apiVersion":"v1","groups":[]})
}

/// `/api/v1` (group "") or `/apis/<group>/<version>`; None when not served.
pub fn api_resource_list(_group: &str, _version: &str) -> Option<Value> {
    None
}

/// `/apis/<group>`: APIGroup; None when not served.
pub fn api_group(_group: &str) -> Option<Value> {
    None
}

/// Aggregated discovery: the core group for `/api` (`core = true`), every
/// other group for `/apis`.
pub fn aggregated(core: bool) -> Value {
    let _ = core;
    json!({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[]})
}
