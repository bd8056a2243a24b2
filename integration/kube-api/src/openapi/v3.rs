//! OpenAPI 3.0 documents, one per group/version, as kube-apiserver serves
//! them under `/openapi/v3/<path>`: `components.schemas` under upstream's
//! names and `paths` with the operations of every served resource.

use serde_json::{json, Map, Value};

use super::kinds::GroupVersion;
use super::paths::{self, Op, PathItem, Query};
use super::schemas::{self, V3_PREFIX};

/// `info.version` of every document.
pub(super) const INFO_VERSION: &str = "v1.37.0";

/// The document of one group/version.
pub(super) fn document(gv: &GroupVersion) -> Value {
    document_with(gv, paths::paths(gv))
}

/// The document of one group/version with the given paths.
pub(super) fn document_with(gv: &GroupVersion, paths: Vec<PathItem>) -> Value {
    let defs = schemas::definitions(gv.kinds.iter());
    let components: Map<String, Value> = defs
        .iter()
        .map(|(name, s)| (name.clone(), schemas::to_v3(name, s)))
        .collect();
    let tag = tag(gv);
    let paths: Map<String, Value> = paths
        .iter()
        .map(|p| (p.path.clone(), path_item(p, &tag)))
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header"
                }
            }
        },
        "security": [{"BearerToken": []}]
    })
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1`.
pub(super) fn tag(gv: &GroupVersion) -> String {
    let g = if gv.group.is_empty() {
        "core"
    } else {
        gv.group.strip_suffix(".k8s.io").unwrap_or(gv.group)
    };
    let mut parts = g.split('.');
    let mut out: String = parts.next().unwrap_or_default().to_string();
    for p in parts {
        let mut c = p.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    format!("{out}_{}", gv.version)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{V3_PREFIX}{name}")})
}

fn query_param(q: &Query) -> Value {
    json!({
        "name": q.name,
        "in": "query",
        "description": q.description,
        "schema": {"type": q.ty, "uniqueItems": true}
    })
}

fn path_item(p: &PathItem, tag: &str) -> Value {
    let mut item = Map::new();
    for op in &p.ops {
        item.insert(op.method.into(), operation(op, tag));
    }
    let mut params: Vec<Value> = p
        .path_params
        .iter()
        .map(|(name, description)| {
            json!({
                "name": name,
                "in": "path",
                "description": description,
                "required": true,
                "schema": {"type": "string", "uniqueItems": true}
            })
        })
        .collect();
    params.push(query_param(p.pretty));
    item.insert("parameters".into(), Value::Array(params));
    Value::Object(item)
}

fn operation(op: &Op, tag: &str) -> Value {
    let mut o = Map::new();
    o.insert("tags".into(), json!([tag]));
    o.insert("description".into(), op.description.clone().into());
    o.insert("operationId".into(), op.operation_id.clone().into());
    if !op.query.is_empty() {
        let params: Vec<Value> = op.query.iter().map(|q| query_param(q)).collect();
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some(body) = &op.body {
        let content: Map<String, Value> = body
            .media
            .iter()
            .map(|m| {
                (
                    (*m).to_string(),
                    json!({"schema": schema_ref(&body.schema)}),
                )
            })
            .collect();
        o.insert(
            "requestBody".into(),
            json!({"content": content, "required": true}),
        );
    }
    let mut responses = Map::new();
    let ok = |description: &str| match &op.response {
        Some(name) => json!({
            "description": description,
            "content": {
                "application/json": {"schema": schema_ref(name)},
                "application/yaml": {"schema": schema_ref(name)}
            }
        }),
        None => json!({"description": description}),
    };
    responses.insert("200".into(), ok("OK"));
    if op.created {
        responses.insert("201".into(), ok("Created"));
    }
    if op.method == "delete" || op.method == "post" {
        responses.insert("202".into(), ok("Accepted"));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    o.insert("responses".into(), Value::Object(responses));
    o.insert("x-kubernetes-action".into(), op.action.into());
    o.insert("x-kubernetes-group-version-kind".into(), op.gvk.clone());
    Value::Object(o)
}
