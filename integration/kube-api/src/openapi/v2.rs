//! The Swagger 2.0 document of `/openapi/v2`: one document for every served
//! group/version, `definitions` under upstream's names (with
//! `x-kubernetes-group-version-kind` on the kinds) and the same operations as
//! the v3 documents.

use serde_json::{json, Map, Value};

use super::kinds::GroupVersion;
use super::paths::{self, Op, PathItem, Query};
use super::schemas::{self, V2_PREFIX};
use super::v3::{tag, INFO_VERSION};

/// The document covering `gvs`.
pub(super) fn document(gvs: &[&GroupVersion]) -> Value {
    let defs = schemas::definitions(gvs.iter().flat_map(|gv| gv.kinds.iter()));
    let mut all_paths = Map::new();
    for gv in gvs {
        let tag = tag(gv);
        for p in paths::paths(gv) {
            all_paths.insert(p.path.clone(), path_item(&p, &tag));
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": all_paths,
        "definitions": defs,
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header"
            }
        },
        "security": [{"BearerToken": []}]
    })
}

fn query_param(q: &Query) -> Value {
    json!({
        "uniqueItems": true,
        "type": q.ty,
        "description": q.description,
        "name": q.name,
        "in": "query"
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
                "uniqueItems": true,
                "type": "string",
                "description": description,
                "name": name,
                "in": "path",
                "required": true
            })
        })
        .collect();
    params.push(query_param(p.pretty));
    item.insert("parameters".into(), Value::Array(params));
    Value::Object(item)
}

fn operation(op: &Op, tag: &str) -> Value {
    let mut o = Map::new();
    o.insert("description".into(), op.description.clone().into());
    let consumes: Vec<&str> = match (&op.body, op.method) {
        (Some(b), "patch") => b.media.to_vec(),
        _ => vec!["*/*"],
    };
    o.insert("consumes".into(), json!(consumes));
    o.insert(
        "produces".into(),
        json!(["application/json", "application/yaml"]),
    );
    o.insert("schemes".into(), json!(["https"]));
    o.insert("tags".into(), json!([tag]));
    o.insert("operationId".into(), op.operation_id.clone().into());
    let mut params = Vec::new();
    if let Some(body) = &op.body {
        params.push(json!({
            "name": "body",
            "in": "body",
            "required": true,
            "schema": {"$ref": format!("{V2_PREFIX}{}", body.schema)}
        }));
    }
    params.extend(op.query.iter().map(|q| query_param(q)));
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    let mut responses = Map::new();
    let ok = |description: &str| match &op.response {
        Some(name) => json!({
            "description": description,
            "schema": {"$ref": format!("{V2_PREFIX}{name}")}
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
