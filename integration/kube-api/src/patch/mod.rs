//! Patches of stored objects: strategic merge patch ([`strategic`]: patch
//! directives, list merge keys per kind as k8s.io/api's `patchMergeKey` tags,
//! in the [`schema`] type graph), RFC 7386 JSON merge patch, RFC 6902 JSON
//! patch (both through the `json-patch` crate), and a simplified server-side
//! apply ([`ssa`]: create-or-merge plus a `managedFields` entry; see
//! [`server_side_apply`] for what is simplified).
//!
//! Every function here is pure and total: malformed patches and documents
//! give a [`PatchError`] (the registry answers 422/400 with its message),
//! never a panic.

pub mod schema;
pub mod ssa;
pub mod strategic;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use serde_json::Value;

/// The `Content-Type` of a PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (body parsed to JSON by the caller)
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// A patch that cannot be applied; the message says why (and, for JSON
/// patch, which operation failed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies a JSON-patch, merge or strategic patch (`patch` already parsed
/// from the body) to `original`; `kind` is the object's Kind (`Deployment`),
/// which selects the merge keys of strategic merge (unknown kinds: only
/// `metadata`'s lists merge, every other list is replaced).
///
/// `PatchType::Apply` here merges like [`server_side_apply`] onto the
/// existing object but records no `managedFields` entry (no field manager
/// is known); the registry should call [`server_side_apply`] instead.
pub fn apply(
    kind: &str,
    ptype: PatchType,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    match ptype {
        PatchType::Json => json_patch_apply(original, patch),
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(PatchError(
                    "merge patch: the patch must be a JSON object".into(),
                ));
            }
            let mut doc = original.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic => strategic::apply(Some(schema::root(kind)), original, patch),
        PatchType::Apply => ssa::merge_applied(kind, original, patch),
    }
}

fn op_name(op: &json_patch::PatchOperation) -> &'static str {
    use json_patch::PatchOperation::*;
    match op {
        Add(_) => "add",
        Remove(_) => "remove",
        Replace(_) => "replace",
        Move(_) => "move",
        Copy(_) => "copy",
        Test(_) => "test",
    }
}

fn json_patch_apply(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError(
            "json patch: the patch must be a JSON array of operations".into(),
        ));
    };
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let p: json_patch::PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| PatchError(format!("json patch: operation {i} ({op}): {e}")))?;
        parsed.push(p);
    }
    // `patch_unsafe` on a copy: `json_patch::patch` undoes on failure and
    // panics when an undo fails (json-patch 5.0.0, e.g. after a `move`);
    // the copy is dropped on failure anyway.
    let mut doc = original.clone();
    json_patch::patch_unsafe(&mut doc, &parsed).map_err(|e| {
        let what = parsed
            .get(e.operation)
            .map(|op| format!("{} {}", op_name(op), op.path()))
            .unwrap_or_default();
        PatchError(format!(
            "json patch: operation {} ({what}) failed: {}",
            e.operation, e.kind
        ))
    })?;
    Ok(doc)
}

/// Server-side apply of `applied` (the full intent of `field_manager`) onto
/// `live` (None: the object does not exist and is created from `applied`).
///
/// Simplified from upstream (structured-merge-diff):
/// - the result is `live` with `applied` merged in: maps merge, lists with a
///   merge key (the strategic-merge table) merge by that key, sets of
///   primitives union, other lists and scalars are replaced, `null` deletes;
/// - fields this manager applied before (its `Apply` entry in
///   `metadata.managedFields`) and omits now are removed, unless another
///   manager's entry lists them; no other field is ever removed;
/// - the manager's `Apply` entry is replaced by one listing the fields of
///   `applied` (`fieldsV1`, with `k:{"<mergeKey>":…}` for list items, one key
///   even where upstream's list-map has several);
/// - there is no conflict detection: `force` is ignored and `force=false`
///   never yields a 409 conflict.
pub fn server_side_apply(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    field_manager: &str,
    force: bool,
) -> Result<Value, PatchError> {
    let _ = force;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ssa::server_side_apply_at(kind, live, applied, field_manager, now)
}
