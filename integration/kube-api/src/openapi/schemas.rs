//! Schema definitions from k8s-openapi's `schemars` impls (generated from
//! the upstream spec, descriptions included), reshaped into upstream's
//! definitions: the same names, `x-kubernetes-group-version-kind` on the
//! top-level kinds, `<Kind>List` schemas, `metadata` not required (k8s-openapi
//! marks it required because its Rust field is not optional; upstream does
//! not), and IntOrString/Quantity in upstream's form. The result uses
//! Swagger 2.0 refs (`#/definitions/<name>`); [`to_v3`] rewrites one schema
//! for OpenAPI 3.0 (`#/components/schemas/<name>`, `$ref` siblings moved
//! beside an `allOf`, as upstream's v3 documents do).

use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::kinds::{self, Kind};

/// Definition name → schema.
pub(super) type Definitions = Map<String, Value>;

pub(super) const V2_PREFIX: &str = "#/definitions/";
pub(super) const V3_PREFIX: &str = "#/components/schemas/";

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The GVK extension value of one kind: `[{"group":..,"kind":..,"version":..}]`.
pub(super) fn gvk_value(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// The definitions of `kinds` and of everything they reference, plus the
/// meta types the paths use, in Swagger 2.0 form.
pub(super) fn definitions<'a>(kinds: impl IntoIterator<Item = &'a Kind> + Clone) -> Definitions {
    let settings = SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/definitions".into();
        s.meta_schema = None;
        s.transforms.clear();
    });
    let mut generator = settings.into_generator();
    for k in kinds.clone() {
        (k.add)(&mut generator);
    }
    kinds::add_common(&mut generator);
    let mut defs = generator.take_definitions(false);
    for k in kinds {
        let name = (k.name)();
        if let Some(Value::Object(schema)) = defs.get_mut(name.as_ref()) {
            unrequire_metadata(schema);
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([gvk_value(k.group, k.version, k.kind)]),
            );
        }
        if let Some(list_kind) = k.list_kind {
            defs.insert(format!("{name}List"), list_schema(k, &name, list_kind));
        }
    }
    if let Some(Value::Object(s)) = defs.get_mut(INT_OR_STRING) {
        s.remove("x-kubernetes-int-or-string");
        s.insert("type".into(), "string".into());
        s.insert("format".into(), "int-or-string".into());
    }
    if let Some(Value::Object(s)) = defs.get_mut(QUANTITY) {
        s.remove("x-kubernetes-int-or-string");
        s.insert("type".into(), "string".into());
    }
    defs
}

fn unrequire_metadata(schema: &mut Map<String, Value>) {
    let empty = match schema.get_mut("required") {
        Some(Value::Array(req)) => {
            req.retain(|v| v != "metadata");
            req.is_empty()
        }
        _ => false,
    };
    if empty {
        schema.remove("required");
    }
}

/// `PodList`, as upstream defines every list kind.
fn list_schema(k: &Kind, item_name: &str, list_kind: &str) -> Value {
    let api_version = if k.group.is_empty() {
        k.version.to_string()
    } else {
        format!("{}/{}", k.group, k.version)
    };
    json!({
        "description": format!("{list_kind} is a list of {} objects.", k.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("List of {} objects ({api_version}).", k.kind),
                "type": "array",
                "items": {"$ref": format!("{V2_PREFIX}{item_name}")}
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "$ref": format!("{V2_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
            }
        },
        "x-kubernetes-group-version-kind": [gvk_value(k.group, k.version, list_kind)]
    })
}

/// One definition rewritten for OpenAPI 3.0.
pub(super) fn to_v3(name: &str, schema: &Value) -> Value {
    let mut out = schema.clone();
    rewrite_v3(&mut out);
    if let Value::Object(s) = &mut out {
        match name {
            INT_OR_STRING => {
                s.remove("type");
                s.insert(
                    "oneOf".into(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            QUANTITY => {
                s.remove("type");
                s.insert(
                    "oneOf".into(),
                    json!([{"type": "string"}, {"type": "number"}]),
                );
            }
            _ => {}
        }
    }
    out
}

/// Rewrites refs to `#/components/schemas/` and moves the siblings of a
/// `$ref` (descriptions) beside an `allOf`, walking only schema positions.
fn rewrite_v3(schema: &mut Value) {
    let Value::Object(s) = schema else { return };
    if let Some(Value::String(r)) = s.get("$ref") {
        let r = match r.strip_prefix(V2_PREFIX) {
            Some(n) => format!("{V3_PREFIX}{n}"),
            None => r.clone(),
        };
        if s.len() > 1 {
            s.remove("$ref");
            s.insert("allOf".into(), json!([{"$ref": r}]));
        } else {
            s.insert("$ref".into(), Value::String(r));
        }
    }
    if let Some(Value::Object(props)) = s.get_mut("properties") {
        props.values_mut().for_each(rewrite_v3);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = s.get_mut(key) {
            rewrite_v3(v);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(list)) = s.get_mut(key) {
            list.iter_mut().for_each(rewrite_v3);
        }
    }
}

/// Every `$ref` string inside `value` (for the tests and the resolver check).
#[cfg(test)]
pub(super) fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}
