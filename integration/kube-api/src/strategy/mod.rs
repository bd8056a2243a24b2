//! Per-kind strategies, as upstream's `pkg/registry/*/strategy.go`: on create
//! decode into the k8s-openapi type (reporting unknown fields per
//! `fieldValidation`), default, validate (names, required fields, enums),
//! set generation; on update keep what the verb may not change (status on
//! the main resource, spec on `status`), check immutable fields, bump
//! generation on spec changes. Errors are 400/422 `ApiError`s with causes.
//! Also the storage-version conversion ([`to_storage`], [`from_storage`]).
//!
//! Layout: [`decode`] (typed decoding, unknown fields), `typed` (kind ->
//! k8s-openapi type), [`names`] (name syntax), `util` (shared checks),
//! `pod` (pod specs and templates), `core` (core-group kinds), `apps`,
//! `batch`, `autoscaling` (and v1 <-> v2 conversion), `other` (every other
//! group).
//!
//! Contract with the registry: objects passed in and out are in the
//! request's version (the registry converts with [`from_storage`] before and
//! [`to_storage`] after); `metadata.uid` is set by the registry *before*
//! `prepare_create` (Jobs derive their selector from it); uid,
//! creationTimestamp, resourceVersion and deletionTimestamp pass through
//! untouched.

// `ApiError` (the integrator's type, in the public signatures) is large;
// boxing it is a crate-wide decision.
#![allow(clippy::result_large_err)]

mod apps;
mod autoscaling;
mod batch;
mod core;
pub mod decode;
pub mod names;
mod other;
mod pod;
mod typed;
mod util;

#[cfg(test)]
mod tests;

use crate::{ApiError, ResourceInfo, Subresource};
use serde_json::{json, Value};
use util::NameRule;

/// `?fieldValidation=`: upstream's default (no parameter) is Warn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// The object to store, and warnings for the `Warning:` response header.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub object: Value,
    pub warnings: Vec<String>,
}

/// Prepares a create: `obj` is the request body; `namespace` is the URL's
/// namespace (None for cluster-scoped kinds). System metadata (uid,
/// creationTimestamp, resourceVersion) is set by the registry, not here.
pub fn prepare_create(
    res: &ResourceInfo,
    namespace: Option<&str>,
    obj: Value,
    fv: FieldValidation,
) -> Result<Prepared, ApiError> {
    let mut warnings = Vec::new();
    let mut obj = decode_body(res, obj, fv, &mut warnings)?;
    if res.namespaced {
        if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
            if crate::meta::namespace(&obj).is_none() {
                crate::meta::set(&mut obj, "namespace", json!(ns));
            }
        }
    } else {
        crate::meta::set(&mut obj, "namespace", Value::Null);
    }
    defaults(res, &mut obj, true);
    if resets_status_on_create(res) {
        let status = match (res.group, res.kind, res.version) {
            ("", "Pod", _) => pod::initial_status(&obj),
            ("", "Service", _) => json!({"loadBalancer": {}}),
            ("autoscaling", "HorizontalPodAutoscaler", "v1") => {
                json!({"currentReplicas": 0, "desiredReplicas": 0})
            }
            ("autoscaling", "HorizontalPodAutoscaler", _) => json!({"desiredReplicas": 0}),
            _ => json!({}),
        };
        util::put(&mut obj, "status", status);
    }
    kind_prepare_create(res, &mut obj);
    if has_generation(res) {
        crate::meta::set(&mut obj, "generation", json!(1));
    }
    let mut causes = Vec::new();
    validate(res, &obj, &mut causes);
    if !causes.is_empty() {
        return Err(invalid(res, &obj, causes));
    }
    Ok(Prepared {
        object: obj,
        warnings,
    })
}

/// Prepares an update of the main resource (`sub` None, or Scale/Binding)
/// or of `status`: `new` is the full proposed object (a PUT body or a patch
/// result), `old` the stored one (in the same version).
pub fn prepare_update(
    res: &ResourceInfo,
    sub: Option<Subresource>,
    old: &Value,
    new: Value,
    fv: FieldValidation,
) -> Result<Prepared, ApiError> {
    let mut warnings = Vec::new();
    let mut new = decode_body(res, new, fv, &mut warnings)?;
    if !res.namespaced {
        crate::meta::set(&mut new, "namespace", Value::Null);
    }
    defaults(res, &mut new, false);
    let status_update = sub == Some(Subresource::Status);
    if status_update {
        if res.group.is_empty() && res.kind == "Node" {
            copy_key(old, &mut new, "spec");
        } else {
            copy_key(old, &mut new, "spec");
            // Status writes may change labels, annotations, finalizers and
            // owner references, not the rest of the metadata.
            for k in ["generateName", "generation"] {
                if let (Some(o), Some(Value::Object(nm))) =
                    (old.get("metadata"), new.get_mut("metadata"))
                {
                    match o.get(k) {
                        Some(v) => {
                            nm.insert(k.to_string(), v.clone());
                        }
                        None => {
                            nm.remove(k);
                        }
                    }
                }
            }
        }
    } else if has_status(res) {
        copy_key(old, &mut new, "status");
    }
    kind_prepare_update(res, status_update, old, &mut new);
    if has_generation(res) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let g = if old.get("spec") != new.get("spec") {
            g + 1
        } else {
            g
        };
        crate::meta::set(&mut new, "generation", json!(g));
    }
    let mut causes = Vec::new();
    util::validate_meta_update(&mut causes, old, &new);
    validate(res, &new, &mut causes);
    if !status_update {
        validate_update(res, old, &new, &mut causes);
    }
    if !causes.is_empty() {
        return Err(invalid(res, &new, causes));
    }
    Ok(Prepared {
        object: new,
        warnings,
    })
}

/// Converts an object of `res`'s version to its storage version
/// (autoscaling/v1 HorizontalPodAutoscalers are stored as v2); identity
/// for every other kind.
pub fn to_storage(res: &ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    if is_hpa(res) && obj.get("apiVersion") == Some(&json!("autoscaling/v1")) {
        return Ok(autoscaling::v1_to_v2(obj));
    }
    Ok(obj)
}

/// Converts a stored object to `res`'s version (v2 HPAs read through
/// autoscaling/v1, and back); identity for every other kind.
pub fn from_storage(res: &ResourceInfo, obj: Value) -> Value {
    if !is_hpa(res) {
        return obj;
    }
    let stored = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    match (res.version, stored) {
        ("v1", "autoscaling/v2") => autoscaling::v2_to_v1(obj),
        ("v2", "autoscaling/v1") => autoscaling::v1_to_v2(obj),
        _ => obj,
    }
}

fn is_hpa(res: &ResourceInfo) -> bool {
    res.group == "autoscaling" && res.kind == "HorizontalPodAutoscaler"
}

fn copy_key(from: &Value, to: &mut Value, key: &str) {
    match from.get(key) {
        Some(v) => util::put(to, key, v.clone()),
        None => {
            util::remove(to, key);
        }
    }
}

fn invalid(res: &ResourceInfo, obj: &Value, causes: Vec<crate::Cause>) -> ApiError {
    ApiError::invalid(res.group, res.kind, crate::meta::name(obj), causes)
}

/// Typed decode, unknown-field handling, apiVersion/kind set from `res`.
fn decode_body(
    res: &ResourceInfo,
    obj: Value,
    fv: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let Value::Object(map) = &obj else {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {})",
            res.kind
        )));
    };
    let input = decode::without_type_meta(map);
    let mut out = match typed::roundtrip_kind(res.group, res.version, res.kind, &input) {
        None => obj,
        Some(Err(e)) => {
            let at = if e.path.is_empty() {
                format!("Go value of type {}", res.kind)
            } else {
                format!("Go struct field {}.{}", res.kind, e.path)
            };
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {found} into {at}: {msg}",
                kind = res.kind,
                v = res.version,
                found = e.found,
                msg = e.message
            )));
        }
        Some(Ok(out)) => {
            let unknown = decode::unknown_fields(&input, &out);
            match fv {
                FieldValidation::Ignore => {}
                FieldValidation::Warn => {
                    warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
                }
                FieldValidation::Strict if !unknown.is_empty() => {
                    let list: Vec<String> = unknown
                        .iter()
                        .map(|f| format!("unknown field \"{f}\""))
                        .collect();
                    return Err(ApiError::bad_request(format!(
                        "strict decoding error: {}",
                        list.join(", ")
                    )));
                }
                FieldValidation::Strict => {}
            }
            out
        }
    };
    util::put(&mut out, "apiVersion", json!(res.api_version()));
    util::put(&mut out, "kind", json!(res.kind));
    Ok(out)
}

/// Kinds whose `metadata.generation` tracks spec changes.
fn has_generation(res: &ResourceInfo) -> bool {
    matches!(
        (res.group, res.kind),
        ("", "Pod")
            | ("", "ReplicationController")
            | (
                "apps",
                "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
            )
            | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "NetworkPolicy" | "Ingress")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")
    )
}

/// Kinds with a `status` that the main resource may not write.
fn has_status(res: &ResourceInfo) -> bool {
    resets_status_on_create(res)
        || matches!(
            (res.group, res.kind),
            ("", "Node") | ("certificates.k8s.io", "CertificateSigningRequest")
        )
}

/// Kinds whose create ignores a sent `status` (nodes keep theirs).
fn resets_status_on_create(res: &ResourceInfo) -> bool {
    matches!(
        (res.group, res.kind),
        (
            "",
            "Pod"
                | "Service"
                | "PersistentVolume"
                | "PersistentVolumeClaim"
                | "ReplicationController"
                | "ResourceQuota"
        ) | (
            "apps",
            "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
        ) | ("batch", "Job" | "CronJob")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "Ingress" | "ServiceCIDR")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("storage.k8s.io", "VolumeAttachment")
            | ("flowcontrol.apiserver.k8s.io", _)
            | ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")
    )
}

/// Kinds that are not stored objects (reviews, token requests): no name
/// required.
fn is_virtual(res: &ResourceInfo) -> bool {
    matches!(res.group, "authentication.k8s.io" | "authorization.k8s.io")
        || matches!(
            (res.group, res.kind),
            ("", "Binding") | ("policy", "Eviction")
        )
        || res.kind == "Scale"
}

fn name_rule(res: &ResourceInfo) -> NameRule {
    match (res.group, res.kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        ("", "Event") | ("events.k8s.io", _) => NameRule::Subdomain,
        ("flowcontrol.apiserver.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Defaulting; `create` adds what upstream's admission plugins set on
/// create only (pod service account, priority, default tolerations).
fn defaults(res: &ResourceInfo, obj: &mut Value, create: bool) {
    match res.group {
        "" => core::defaults(res.kind, obj, create),
        "apps" => apps::defaults(res.kind, obj),
        "batch" => batch::defaults(res.kind, obj),
        "autoscaling" => autoscaling::defaults(res.version, res.kind, obj),
        g => other::defaults(g, res.kind, obj),
    }
}

fn kind_prepare_create(res: &ResourceInfo, obj: &mut Value) {
    match res.group {
        "" => core::prepare_create(res.kind, obj),
        "batch" => batch::prepare_create(res.kind, obj),
        _ => {}
    }
}

fn kind_prepare_update(res: &ResourceInfo, status: bool, old: &Value, new: &mut Value) {
    if res.group.is_empty() {
        core::prepare_update(res.kind, status, old, new);
    }
}

fn validate(res: &ResourceInfo, obj: &Value, c: &mut Vec<crate::Cause>) {
    if !is_virtual(res) {
        util::validate_meta(c, obj, res.namespaced, name_rule(res));
    }
    match res.group {
        "" => core::validate(res.kind, obj, c),
        "apps" => apps::validate(res.kind, obj, c),
        "batch" => batch::validate(res.kind, obj, c),
        "autoscaling" => autoscaling::validate(res.version, res.kind, obj, c),
        g => other::validate(g, res.kind, obj, c),
    }
}

fn validate_update(res: &ResourceInfo, old: &Value, new: &Value, c: &mut Vec<crate::Cause>) {
    match res.group {
        "" => core::validate_update(res.kind, old, new, c),
        "apps" => apps::validate_update(res.kind, old, new, c),
        "batch" => batch::validate_update(res.kind, old, new, c),
        g => other::validate_update(g, res.kind, old, new, c),
    }
}
