//! OpenAPI documents for kubectl: `/openapi/v2` as gnostic protobuf (served
//! with `application/com.github.proto-openapi.spec.v2.v1.0+protobuf`) or
//! JSON, and `/openapi/v3` (the index and one document per group/version),
//! built from k8s-openapi's schemas, enough for client-side validation and
//! `kubectl explain` of the built-in kinds.
//!
//! - [`kinds`]: which kinds each group/version document carries;
//! - [`schemas`]: k8s-openapi's JSON schemas reshaped into upstream's definitions;
//! - [`paths`]: the operations of the served resources (from `resources::all()`);
//! - [`v3`], [`v2`]: the two document formats; [`gnostic`]: v2 as protobuf.
//!
//! Documents cover the group/versions that have at least one resource in
//! the resource table and are built once, on first use.

mod gnostic;
mod kinds;
mod paths;
mod schemas;
mod v2;
mod v3;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

use kinds::GroupVersion;

/// The group/versions with at least one served resource, in index order.
fn served() -> Vec<&'static GroupVersion> {
    kinds::GROUP_VERSIONS
        .iter()
        .filter(|gv| paths::resources_of(gv).next().is_some())
        .collect()
}

/// The documents, kept serialized (a few MB; a parsed `Value` would be
/// several times larger).
struct V3 {
    /// `api/v1` → (JSON text, hash).
    docs: BTreeMap<String, (String, String)>,
}

fn v3_cache() -> &'static V3 {
    static CACHE: OnceLock<V3> = OnceLock::new();
    CACHE.get_or_init(|| V3 {
        docs: served()
            .into_iter()
            .map(|gv| {
                let text = v3::document(gv).to_string();
                let hash = digest(&text);
                (gv.path(), (text, hash))
            })
            .collect(),
    })
}

/// (JSON text, protobuf bytes) of the v2 document.
fn v2_cache() -> &'static (String, Vec<u8>) {
    static CACHE: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let doc = v2::document(&served());
        let pb = gnostic::encode(&doc);
        (doc.to_string(), pb)
    })
}

/// The document hash of the index URLs: 128 bits of the JSON text in
/// uppercase hex (upstream uses SHA-512; clients only compare URLs). std's
/// SipHash with fixed keys, which is optimized even in debug builds (SHA-512
/// of the documents took over half a second there); stable for one binary,
/// which is all a URL-keyed cache needs.
fn digest(text: &str) -> String {
    use std::hash::{DefaultHasher, Hasher};
    let half = |seed: u8| {
        let mut h = DefaultHasher::new();
        h.write_u8(seed);
        h.write(text.as_bytes());
        h.finish()
    };
    format!("{:016X}{:016X}", half(1), half(2))
}

/// The gnostic-protobuf-encoded OpenAPI v2 document.
pub fn v2_protobuf() -> Vec<u8> {
    v2_cache().1.clone()
}

/// The OpenAPI v2 document as JSON.
pub fn v2_json() -> Value {
    serde_json::from_str(&v2_cache().0).unwrap_or(Value::Null)
}

/// [`v2_json`] already serialized, for serving without a copy.
pub fn v2_json_bytes() -> &'static [u8] {
    v2_cache().0.as_bytes()
}

/// `/openapi/v3`: `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."}, ...}}`.
pub fn v3_index() -> Value {
    let paths: serde_json::Map<String, Value> = v3_cache()
        .docs
        .iter()
        .map(|(path, (_, hash))| {
            (
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            )
        })
        .collect();
    json!({ "paths": paths })
}

/// `/openapi/v3/<path>` (`api/v1`, `apis/apps/v1`); None when not served.
/// A leading `/`, `openapi/v3/` and a query string (`?hash=...`) are ignored.
pub fn v3_document(path: &str) -> Option<Value> {
    v3_document_bytes(path).and_then(|b| serde_json::from_slice(b).ok())
}

/// [`v3_document`] already serialized, for serving without a copy.
pub fn v3_document_bytes(path: &str) -> Option<&'static [u8]> {
    let path = path.split('?').next().unwrap_or_default();
    let path = path.trim_start_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
    v3_cache().docs.get(path).map(|(doc, _)| doc.as_bytes())
}
