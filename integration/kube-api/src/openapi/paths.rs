//! The REST operations of one group/version, built from the resource table
//! (`resources::all()`), in a neutral form that `v2`/`v3` render. Every
//! operation carries `x-kubernetes-group-version-kind` and
//! `x-kubernetes-action` as upstream's do; every write carries the
//! `fieldValidation` query parameter, which is how kubectl decides that the
//! server validates fields itself (cli-runtime `QueryParamVerifierV3` looks
//! for it on the PATCH operation of the kind), and `kubectl explain` finds a
//! resource's kind through the GVK of its list and item paths.
//!
//! PATCH operations list the JSON patch, merge patch and apply patch media
//! types but deliberately not `application/strategic-merge-patch+json`
//! (which the server does accept): kubectl's client-side apply builds its
//! strategic merge patch from the OpenAPI document when the PATCH operation
//! lists that type, and these schemas have no `x-kubernetes-patch-merge-key`
//! metadata, so kubectl would replace lists instead of merging them. Without
//! it kubectl uses its compiled-in patch metadata, the same as upstream's.

use serde_json::Value;

use super::kinds::GroupVersion;
use super::schemas::gvk_value;
use crate::resources::{self, ResourceInfo, Subresource};

pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// The media types a PATCH body may have (see the module comment).
pub(super) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// A query parameter: name, type, description.
pub(super) struct Query {
    pub name: &'static str,
    pub ty: &'static str,
    pub description: &'static str,
}

const fn q(name: &'static str, ty: &'static str, description: &'static str) -> Query {
    Query {
        name,
        ty,
        description,
    }
}

const PRETTY: Query = q(
    "pretty",
    "string",
    "If 'true', the output is pretty printed.",
);
const DRY_RUN: Query = q(
    "dryRun",
    "string",
    "When present, modifications are not persisted. The only valid value is All (process every stage of the request without storing the result).",
);
const FIELD_MANAGER: Query = q(
    "fieldManager",
    "string",
    "The name of the actor making the change, recorded in managedFields. At most 128 printable characters. Required for apply patches.",
);
const FIELD_VALIDATION: Query = q(
    "fieldValidation",
    "string",
    "What the server does with unknown or duplicate fields in the object: Ignore drops them silently, Warn (the default) drops them and answers with a warning for each, Strict rejects the request with a BadRequest error listing them.",
);
const FORCE: Query = q(
    "force",
    "boolean",
    "Apply patches only: take over fields owned by other managers instead of failing with a conflict.",
);
const LIST_QUERY: &[Query] = &[
    q("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events on a watch."),
    q("continue", "string", "The continue token of the previous page of a paginated list."),
    q("fieldSelector", "string", "Restrict the list to objects whose fields match, e.g. metadata.name=web."),
    q("labelSelector", "string", "Restrict the list to objects whose labels match."),
    q("limit", "integer", "The maximum number of objects of one page; the answer carries a continue token when more remain."),
    q("resourceVersion", "string", "The resource version the list or watch starts from; see resourceVersionMatch."),
    q("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    q("sendInitialEvents", "boolean", "On a watch: start with synthetic ADDED events for the current objects, then a bookmark."),
    q("timeoutSeconds", "integer", "Time limit of the list or watch call."),
    q("watch", "boolean", "Watch for changes and stream them as watch events instead of answering with a list."),
];
const DELETE_QUERY: &[Query] = &[
    DRY_RUN,
    q(
        "gracePeriodSeconds",
        "integer",
        "Seconds before the object is deleted; zero deletes immediately.",
    ),
    q(
        "orphanDependents",
        "boolean",
        "Deprecated: use propagationPolicy.",
    ),
    q(
        "propagationPolicy",
        "string",
        "Whether and how garbage collection deletes dependents: Orphan, Background or Foreground.",
    ),
];

/// One request body: the schema name and its media types.
pub(super) struct Body {
    pub schema: String,
    pub media: &'static [&'static str],
}

/// One operation of a path.
pub(super) struct Op {
    pub method: &'static str,
    pub action: &'static str,
    pub operation_id: String,
    pub description: String,
    pub gvk: Value,
    pub query: Vec<&'static Query>,
    pub body: Option<Body>,
    /// Schema name of the 200 answer.
    pub response: Option<String>,
    /// Extra success codes (`201`, `202`), answered with the same schema.
    pub created: bool,
}

/// One path with its path-level parameters and operations.
pub(super) struct PathItem {
    pub path: String,
    /// `namespace` and/or `name` path parameters.
    pub path_params: Vec<(&'static str, String)>,
    pub pretty: &'static Query,
    pub ops: Vec<Op>,
}

const JSON_BODY: &[&str] = &["application/json", "application/yaml"];

/// `Core`, `Apps`, `RbacAuthorization`: the group part of upstream's operation ids.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    g.split('.').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The resources of `gv`, in table order.
pub(super) fn resources_of(gv: &GroupVersion) -> impl Iterator<Item = &'static ResourceInfo> + '_ {
    resources::all()
        .iter()
        .filter(move |r| r.group == gv.group && r.version == gv.version)
}

/// Every path of `gv`'s served resources, sorted by path.
pub(super) fn paths(gv: &GroupVersion) -> Vec<PathItem> {
    paths_of(gv, resources_of(gv))
}

/// The paths of `resources` (those of `gv`), sorted by path.
pub(super) fn paths_of<'r>(
    gv: &GroupVersion,
    resources: impl IntoIterator<Item = &'r ResourceInfo>,
) -> Vec<PathItem> {
    let mut out = Vec::new();
    for res in resources {
        if res.group == gv.group && res.version == gv.version {
            add_resource(gv, res, &mut out);
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn add_resource(gv: &GroupVersion, res: &ResourceInfo, out: &mut Vec<PathItem>) {
    let Some(kind) = gv.find(res.group, res.version, res.kind) else {
        return;
    };
    let schema = (kind.name)().into_owned();
    let list_schema = kind.list_kind.map(|_| format!("{schema}List"));
    let prefix = if res.group.is_empty() {
        format!("/api/{}", res.version)
    } else {
        format!("/apis/{}/{}", res.group, res.version)
    };
    let ns = if res.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let scope = if res.namespaced { "Namespaced" } else { "" };
    let id = |verb: &str, suffix: &str| {
        format!(
            "{verb}{}{}{scope}{}{suffix}",
            group_camel(res.group),
            capitalize(res.version),
            res.kind
        )
    };
    let gvk = gvk_value(res.group, res.version, res.kind);
    let has = |verb: &str| res.verbs.contains(&verb);
    let ns_param = || -> Vec<(&'static str, String)> {
        if res.namespaced {
            vec![(
                "namespace",
                "object name and auth scope, such as for teams and projects".into(),
            )]
        } else {
            Vec::new()
        }
    };
    let item_params = || {
        let mut p = vec![("name", format!("name of the {}", res.kind))];
        p.extend(ns_param());
        p
    };
    let op = |method, action, operation_id, description: String| Op {
        method,
        action,
        operation_id,
        description,
        gvk: gvk.clone(),
        query: Vec::new(),
        body: None,
        response: Some(schema.clone()),
        created: false,
    };
    let write_query = || vec![&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];

    // The collection: list, create, deletecollection.
    let mut coll = Vec::new();
    if has("list") {
        if let Some(list) = &list_schema {
            let mut o = op(
                "get",
                "list",
                id("list", ""),
                format!("list or watch objects of kind {}", res.kind),
            );
            o.query = LIST_QUERY.iter().collect();
            o.response = Some(list.clone());
            coll.push(o);
        }
    }
    if has("create") {
        let mut o = op(
            "post",
            "post",
            id("create", ""),
            format!("create a {}", res.kind),
        );
        o.query = write_query();
        o.body = Some(Body {
            schema: schema.clone(),
            media: JSON_BODY,
        });
        o.created = true;
        coll.push(o);
    }
    if has("deletecollection") {
        let mut o = op(
            "delete",
            "deletecollection",
            id("deletecollection", ""),
            format!("delete collection of {}", res.kind),
        );
        o.query = DELETE_QUERY.iter().chain(LIST_QUERY.iter()).collect();
        o.body = Some(Body {
            schema: DELETE_OPTIONS.into(),
            media: JSON_BODY,
        });
        o.response = Some(STATUS.into());
        coll.push(o);
    }
    if !coll.is_empty() {
        out.push(PathItem {
            path: format!("{prefix}{ns}/{}", res.plural),
            path_params: ns_param(),
            pretty: &PRETTY,
            ops: coll,
        });
    }
    if res.namespaced && has("list") {
        if let Some(list) = &list_schema {
            let mut o = op(
                "get",
                "list",
                format!(
                    "{}ForAllNamespaces",
                    id("list", "").replacen("Namespaced", "", 1)
                ),
                format!("list or watch objects of kind {}", res.kind),
            );
            o.query = LIST_QUERY.iter().collect();
            o.response = Some(list.clone());
            out.push(PathItem {
                path: format!("{prefix}/{}", res.plural),
                path_params: Vec::new(),
                pretty: &PRETTY,
                ops: vec![o],
            });
        }
    }

    // One object: get, replace, patch, delete.
    let item = format!("{prefix}{ns}/{}/{{name}}", res.plural);
    let mut ops = Vec::new();
    if has("get") {
        ops.push(op(
            "get",
            "get",
            id("read", ""),
            format!("read the specified {}", res.kind),
        ));
    }
    if has("update") {
        let mut o = op(
            "put",
            "put",
            id("replace", ""),
            format!("replace the specified {}", res.kind),
        );
        o.query = write_query();
        o.body = Some(Body {
            schema: schema.clone(),
            media: JSON_BODY,
        });
        o.created = true;
        ops.push(o);
    }
    if has("patch") {
        ops.push(patch_op(op(
            "patch",
            "patch",
            id("patch", ""),
            format!("partially update the specified {}", res.kind),
        )));
    }
    if has("delete") {
        let mut o = op(
            "delete",
            "delete",
            id("delete", ""),
            format!("delete a {}", res.kind),
        );
        o.query = DELETE_QUERY.iter().collect();
        o.body = Some(Body {
            schema: DELETE_OPTIONS.into(),
            media: JSON_BODY,
        });
        if !res.return_deleted_object {
            o.response = Some(STATUS.into());
        }
        ops.push(o);
    }
    if !ops.is_empty() {
        out.push(PathItem {
            path: item.clone(),
            path_params: item_params(),
            pretty: &PRETTY,
            ops,
        });
    }

    // Subresources.
    for sub in res.subresources {
        let (sub_gvk, sub_schema, sub_kind, methods): (Value, String, &str, &[&str]) = match sub {
            Subresource::Status => (
                gvk.clone(),
                schema.clone(),
                "Status",
                &["get", "put", "patch"],
            ),
            Subresource::Scale => match gv.find("autoscaling", "v1", "Scale") {
                Some(k) => (
                    gvk_value("autoscaling", "v1", "Scale"),
                    (k.name)().into_owned(),
                    "Scale",
                    &["get", "put", "patch"],
                ),
                None => continue,
            },
            Subresource::Eviction => match gv.find("policy", "v1", "Eviction") {
                Some(k) => (
                    gvk_value("policy", "v1", "Eviction"),
                    (k.name)().into_owned(),
                    "Eviction",
                    &["post"],
                ),
                None => continue,
            },
            Subresource::Binding => match gv.find("", "v1", "Binding") {
                Some(k) => (
                    gvk_value("", "v1", "Binding"),
                    (k.name)().into_owned(),
                    "Binding",
                    &["post"],
                ),
                None => continue,
            },
            Subresource::Token => match gv.find("authentication.k8s.io", "v1", "TokenRequest") {
                Some(k) => (
                    gvk_value("authentication.k8s.io", "v1", "TokenRequest"),
                    (k.name)().into_owned(),
                    "Token",
                    &["post"],
                ),
                None => continue,
            },
            _ => continue,
        };
        let mut ops = Vec::new();
        for &m in methods {
            let (verb, action) = match m {
                "get" => ("read", "get"),
                "put" => ("replace", "put"),
                "patch" => ("patch", "patch"),
                _ => ("create", "post"),
            };
            let mut o = op(
                m,
                action,
                id(verb, sub_kind),
                format!("{verb} {} of the specified {}", sub.name(), res.kind),
            );
            o.gvk = sub_gvk.clone();
            o.response = Some(sub_schema.clone());
            match m {
                "put" | "post" => {
                    o.query = write_query();
                    o.body = Some(Body {
                        schema: sub_schema.clone(),
                        media: JSON_BODY,
                    });
                    o.created = true;
                }
                "patch" => o = patch_op(o),
                _ => {}
            }
            ops.push(o);
        }
        out.push(PathItem {
            path: format!("{item}/{}", sub.name()),
            path_params: item_params(),
            pretty: &PRETTY,
            ops,
        });
    }
}

fn patch_op(mut o: Op) -> Op {
    o.query = vec![&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION, &FORCE];
    o.body = Some(Body {
        schema: PATCH.into(),
        media: PATCH_TYPES,
    });
    o.created = true;
    o
}
