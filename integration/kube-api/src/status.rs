//! `ApiError`: every failure the API server answers with, as the Kubernetes
//! `metav1.Status` (kind Status, apiVersion v1, status Failure, message,
//! reason, details{name, group, kind, causes, retryAfterSeconds}, code).
//! Constructors follow apimachinery's `pkg/api/errors`: `details.kind` is the
//! *resource* (plural) for NotFound/AlreadyExists/Conflict and the *Kind* for
//! Invalid; messages use the same formats so that kubectl prints what it
//! prints against kube-apiserver.

use serde_json::{json, Map, Value};

/// One `details.causes[]` entry (`FieldValueInvalid`, `FieldValueRequired`,
/// `FieldValueNotSupported`, `FieldValueForbidden`, `FieldValueDuplicate`,
/// `FieldValueTooLong`, `FieldValueTypeInvalid`, `FieldValueUnknown`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Cause {
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Cause {
        Cause {
            reason: reason.to_string(),
            message: message.into(),
            field: field.to_string(),
        }
    }
    /// `field: Required value` (FieldValueRequired).
    pub fn required(field: &str) -> Cause {
        Cause::new("FieldValueRequired", field, "Required value")
    }
    /// `field: Invalid value: <value>: detail` (FieldValueInvalid).
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Cause {
        Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {}: {detail}", render_value(value)),
        )
    }
    /// `field: Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause::new(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {}: supported values: {}",
                render_value(value),
                list.join(", ")
            ),
        )
    }
    /// `field: Forbidden: detail` (FieldValueForbidden).
    pub fn forbidden(field: &str, detail: &str) -> Cause {
        Cause::new("FieldValueForbidden", field, format!("Forbidden: {detail}"))
    }
    /// `field: Duplicate value: <value>` (FieldValueDuplicate).
    pub fn duplicate(field: &str, value: &Value) -> Cause {
        Cause::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {}", render_value(value)),
        )
    }
    /// An immutable field that changed: `field: Invalid value: ...: field is immutable`.
    pub fn immutable(field: &str, value: &Value) -> Cause {
        Cause::invalid(field, value, "field is immutable")
    }
}

/// Renders a value as Go's field errors do: strings quoted, numbers bare.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// A failed request, rendered as a `metav1.Status`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details`, absent for errors that have none (BadRequest, unknown path).
    pub details: Option<Box<Details>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub uid: String,
    pub causes: Vec<Cause>,
    pub retry_after_seconds: Option<u32>,
}

/// `resource[.group]` as apimachinery's `GroupResource.String()`.
fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, kind: &str) -> ApiError {
        self.details = Some(Box::new(Details {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            ..Details::default()
        }));
        self
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(resource, group)),
        )
        .with_details(name, group, resource)
    }
    /// 404 for a path that names no resource.
    pub fn unknown_path() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }
    /// 409 `configmaps "cfg" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(resource, group)),
        )
        .with_details(name, group, resource)
    }
    /// 409 `Operation cannot be fulfilled on <res> "<name>": <detail>`.
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {detail}",
                qualified(resource, group)
            ),
        )
        .with_details(name, group, resource)
    }
    /// The stale-resourceVersion conflict.
    pub fn stale(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }
    /// 422 `<Kind>[.group] "<name>" is invalid: <causes>`, with `details.kind` the Kind.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let list: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut e = ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {joined}", qualified(kind, group)),
        )
        .with_details(name, group, kind);
        if let Some(d) = e.details.as_mut() {
            d.causes = causes;
        }
        e
    }
    /// 400 BadRequest with free text.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }
    /// 401 Unauthorized.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }
    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }
    /// 405 `<verb> is not supported on resources of kind "<res>"`.
    pub fn method_not_supported(resource: &str, verb: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{resource}\""),
        )
    }
    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(406, "NotAcceptable", message)
    }
    /// 410 Expired (a compacted resourceVersion).
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }
    /// 413 RequestEntityTooLarge.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, "RequestEntityTooLarge", message)
    }
    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"),
        )
    }
    /// 429 TooManyRequests (e.g. an eviction blocked by a disruption budget).
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError::new(429, "TooManyRequests", message)
    }
    /// 500 `Internal error occurred: <err>`.
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        let msg = err.to_string();
        let mut e = ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {msg}"),
        );
        e.details = Some(Box::new(Details {
            causes: vec![Cause::new("", "", msg)],
            ..Details::default()
        }));
        e
    }
    /// 503 ServiceUnavailable (storage unreachable).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(503, "ServiceUnavailable", message);
        e.details = Some(Box::new(Details {
            retry_after_seconds: Some(1),
            ..Details::default()
        }));
        e
    }
    /// 504 Timeout, with retryAfterSeconds.
    pub fn timeout(message: impl Into<String>, retry_after: u32) -> ApiError {
        let mut e = ApiError::new(504, "Timeout", message);
        e.details = Some(Box::new(Details {
            retry_after_seconds: Some(retry_after),
            ..Details::default()
        }));
        e
    }
    /// 504 `Too large resource version: N, current: M` (ResourceVersionTooLarge).
    pub fn too_large_resource_version(asked: i64, current: i64) -> ApiError {
        let mut e = ApiError::new(
            504,
            "Timeout",
            format!("Too large resource version: {asked}, current: {current}"),
        );
        e.details = Some(Box::new(Details {
            causes: vec![Cause::new(
                "ResourceVersionTooLarge",
                "",
                "Too large resource version",
            )],
            retry_after_seconds: Some(1),
            ..Details::default()
        }));
        e
    }

    /// The `metav1.Status` JSON.
    pub fn to_status(&self) -> Value {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        s.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            let mut dm = Map::new();
            if !d.name.is_empty() {
                dm.insert("name".into(), json!(d.name));
            }
            if !d.group.is_empty() {
                dm.insert("group".into(), json!(d.group));
            }
            if !d.kind.is_empty() {
                dm.insert("kind".into(), json!(d.kind));
            }
            if !d.uid.is_empty() {
                dm.insert("uid".into(), json!(d.uid));
            }
            if !d.causes.is_empty() {
                let causes: Vec<Value> = d
                    .causes
                    .iter()
                    .map(|c| {
                        let mut m = Map::new();
                        if !c.reason.is_empty() {
                            m.insert("reason".into(), json!(c.reason));
                        }
                        m.insert("message".into(), json!(c.message));
                        if !c.field.is_empty() {
                            m.insert("field".into(), json!(c.field));
                        }
                        Value::Object(m)
                    })
                    .collect();
                dm.insert("causes".into(), Value::Array(causes));
            }
            if let Some(r) = d.retry_after_seconds {
                dm.insert("retryAfterSeconds".into(), json!(r));
            }
            s.insert("details".into(), Value::Object(dm));
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

/// The `Status{status: Success}` that deletes of most kinds, bindings and
/// evictions answer with.
pub fn success_status(group: &str, resource: &str, name: &str, uid: &str) -> Value {
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(resource));
    if !uid.is_empty() {
        details.insert("uid".into(), json!(uid));
    }
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":Value::Object(details)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_renders_kind_and_causes_as_kubectl_expects() {
        let e = ApiError::invalid(
            "apps",
            "Deployment",
            "bad",
            vec![Cause::invalid(
                "spec.replicas",
                &json!(-1),
                "must be greater than or equal to 0",
            )],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["kind"], "Deployment");
        assert_eq!(s["details"]["causes"][0]["field"], "spec.replicas");
        assert_eq!(
            s["message"],
            "Deployment.apps \"bad\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn not_found_uses_the_resource() {
        let s = ApiError::not_found("", "pods", "nope").to_status();
        assert_eq!(s["message"], "pods \"nope\" not found");
        assert_eq!(s["details"]["kind"], "pods");
        assert_eq!(s["reason"], "NotFound");
    }
}
