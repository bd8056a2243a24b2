//! One request: authenticate, route, negotiate, dispatch to the registry,
//! render (object, List, Table, PartialObjectMetadata, watch stream,
//! Status). Verbs a resource does not list are 405, unknown paths 404,
//! bodies over `--max-request-body-bytes` 413.

use super::negotiate::{self, Wanted};
use super::route::{self, ResourcePath, Route};
use super::State;
use crate::auth::UserInfo;
use crate::query::{DeleteOptions, ListOptions, Query, WriteOptions};
use crate::registry::{now_unix, Registry};
use crate::watch::{self, Render, WatchRequest};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use kube_lite_api::patch::PatchType;
use kube_lite_api::table::{self, IncludeObject};
use kube_lite_api::{discovery, openapi, ApiError, Subresource};
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::debug;

/// The identity of the TLS peer (from a verified client certificate).
#[derive(Clone, Debug, Default)]
pub struct Peer(pub Option<UserInfo>);

pub async fn handle(state: Arc<State>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let headers = parts.headers.clone();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    let peer = parts.extensions.get::<Peer>().cloned().unwrap_or_default();
    let r = async {
        let route = route::parse(&path);
        let user = authenticate(&state, &headers, &peer, route.as_ref().ok())?;
        let route = route?;
        let body = if matches!(
            method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            match axum::body::to_bytes(body, state.cfg.max_request_body_bytes).await {
                Ok(b) => Some(b),
                Err(_) => {
                    return Err(ApiError::too_large(format!(
                        "the request body is larger than the limit of {} bytes",
                        state.cfg.max_request_body_bytes
                    )))
                }
            }
        } else {
            None
        };
        dispatch(
            &state,
            &method,
            route,
            &headers,
            &query,
            body.as_deref(),
            &user,
        )
        .await
    }
    .await;
    let resp = match r {
        Ok(resp) => resp,
        Err(e) => negotiate::error_response(&headers, &e),
    };
    debug!(%method, %path, code = resp.status().as_u16(), "request");
    resp
}

fn authenticate(
    state: &State,
    headers: &HeaderMap,
    peer: &Peer,
    route: Option<&Route>,
) -> Result<UserInfo, ApiError> {
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        let v = h.to_str().map_err(|_| ApiError::unauthorized())?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        return state
            .auth
            .authenticate_token(token)
            .map_err(|_| ApiError::unauthorized());
    }
    if let Some(u) = &peer.0 {
        return Ok(u.clone());
    }
    // Anonymous requests may read what upstream's system:public-info-viewer may.
    match route {
        Some(Route::Version) | Some(Route::Health { .. }) => Ok(UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        }),
        _ => Err(ApiError::unauthorized()),
    }
}

fn json_ok(headers: &HeaderMap, v: &Value) -> Response<Body> {
    negotiate::object_response(headers, StatusCode::OK, v, &[])
}

fn only_get(method: &Method, what: &str) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_supported(
            what,
            &method.as_str().to_lowercase(),
        ))
    }
}

async fn dispatch(
    state: &Arc<State>,
    method: &Method,
    route: Route,
    headers: &HeaderMap,
    q: &Query,
    body: Option<&[u8]>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Version => {
            only_get(method, "version")?;
            Ok(json_ok(headers, &discovery::version_info()))
        }
        Route::Health { kind, check } => {
            only_get(method, &kind)?;
            let ok = match kind.as_str() {
                "livez" => true,
                _ => state.is_ready().await,
            };
            let _ = check;
            let (code, text) = if ok {
                (StatusCode::OK, "ok".to_string())
            } else {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("[-]etcd failed: reason withheld\n{kind} check failed"),
                )
            };
            Ok(negotiate::bytes_response(
                headers,
                code,
                "text/plain; charset=utf-8",
                text.into_bytes(),
                &[],
            ))
        }
        Route::Api => {
            only_get(method, "api")?;
            if negotiate::wants_aggregated(headers) {
                return Ok(aggregated(headers, discovery::aggregated(true)));
            }
            Ok(json_ok(
                headers,
                &discovery::api_versions(&state.server_address()),
            ))
        }
        Route::Apis => {
            only_get(method, "apis")?;
            if negotiate::wants_aggregated(headers) {
                return Ok(aggregated(headers, discovery::aggregated(false)));
            }
            Ok(json_ok(headers, &discovery::api_group_list()))
        }
        Route::ApiGroup(g) => {
            only_get(method, "apigroups")?;
            let v = discovery::api_group(&g).ok_or_else(ApiError::unknown_path)?;
            Ok(json_ok(headers, &v))
        }
        Route::ResourceList { group, version } => {
            only_get(method, "apiresources")?;
            let v = discovery::api_resource_list(&group, &version)
                .ok_or_else(ApiError::unknown_path)?;
            Ok(json_ok(headers, &v))
        }
        Route::OpenApiV2 => {
            only_get(method, "openapi")?;
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("protobuf") {
                Ok(negotiate::bytes_response(
                    headers,
                    StatusCode::OK,
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    state.openapi_v2_pb().to_vec(),
                    &[],
                ))
            } else {
                Ok(negotiate::bytes_response(
                    headers,
                    StatusCode::OK,
                    "application/json",
                    state.openapi_v2_json().to_vec(),
                    &[],
                ))
            }
        }
        Route::OpenApiV3Index => {
            only_get(method, "openapi")?;
            Ok(json_ok(headers, &openapi::v3_index()))
        }
        Route::OpenApiV3(path) => {
            only_get(method, "openapi")?;
            let doc = state.openapi_v3(&path).ok_or_else(ApiError::unknown_path)?;
            Ok(negotiate::bytes_response(
                headers,
                StatusCode::OK,
                "application/json",
                doc.to_vec(),
                &[],
            ))
        }
        Route::LegacyBinding { namespace } => {
            if method != Method::POST {
                return Err(ApiError::method_not_supported(
                    "bindings",
                    &method.as_str().to_lowercase(),
                ));
            }
            let body = negotiate::decode_body(headers, body.unwrap_or_default())?;
            let name = kube_lite_api::meta::name(&body).to_string();
            if name.is_empty() {
                return Err(ApiError::invalid(
                    "",
                    "Binding",
                    "",
                    vec![kube_lite_api::Cause::required("metadata.name")],
                ));
            }
            let w = WriteOptions::parse(q)?;
            let st = state.registry.bind(&namespace, &name, body, &w).await?;
            Ok(negotiate::object_response(
                headers,
                StatusCode::CREATED,
                &st,
                &[],
            ))
        }
        Route::Resource(p) => resource(state, method, p, headers, q, body, user).await,
    }
}

fn aggregated(headers: &HeaderMap, v: Value) -> Response<Body> {
    negotiate::bytes_response(
        headers,
        StatusCode::OK,
        kube_lite_api::discovery::AGGREGATED_CONTENT_TYPE,
        serde_json::to_vec(&v).unwrap_or_default(),
        &[],
    )
}

fn verb_allowed(p: &ResourcePath, verb: &str) -> Result<(), ApiError> {
    if p.res.verbs.contains(&verb) {
        Ok(())
    } else {
        Err(ApiError::method_not_supported(p.res.plural, verb))
    }
}

fn include_object(q: &Query) -> Result<IncludeObject, ApiError> {
    match q.get("includeObject").unwrap_or("") {
        "" | "Metadata" => Ok(IncludeObject::Metadata),
        "Object" => Ok(IncludeObject::Object),
        "None" => Ok(IncludeObject::None),
        other => Err(ApiError::bad_request(format!(
            "includeObject {other:?} is not one of None, Metadata, Object"
        ))),
    }
}

fn render_one(
    headers: &HeaderMap,
    p: &ResourcePath,
    q: &Query,
    code: StatusCode,
    obj: &Value,
    warnings: &[String],
) -> Result<Response<Body>, ApiError> {
    match negotiate::wanted(headers)? {
        Wanted::Table => {
            let rv = kube_lite_api::meta::resource_version(obj)
                .unwrap_or("")
                .to_string();
            let t = table::table(
                p.res,
                std::slice::from_ref(obj),
                json!({"resourceVersion": rv}),
                include_object(q)?,
                now_unix(),
            );
            Ok(negotiate::object_response(headers, code, &t, warnings))
        }
        Wanted::Metadata => Ok(negotiate::object_response(
            headers,
            code,
            &json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))}),
            warnings,
        )),
        _ => Ok(negotiate::object_response(headers, code, obj, warnings)),
    }
}

/// DeleteOptions from the query and an optional (possibly empty) body.
fn delete_options(
    headers: &HeaderMap,
    q: &Query,
    body: Option<&[u8]>,
) -> Result<DeleteOptions, ApiError> {
    let dbody = match body {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => {
            Some(negotiate::decode_body(headers, b)?)
        }
        _ => None,
    };
    DeleteOptions::parse(q, dbody.as_ref())
}

fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media_type(ct))
}

async fn resource(
    state: &Arc<State>,
    method: &Method,
    p: ResourcePath,
    headers: &HeaderMap,
    q: &Query,
    body: Option<&[u8]>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    let reg: &Registry = &state.registry;
    let res = p.res;
    let ns = p.namespace.as_deref();
    let decode = |b: Option<&[u8]>| negotiate::decode_body(headers, b.unwrap_or_default());
    if p.subresource.as_deref() == Some("finalize") && res.kind == "Namespace" {
        let name = p.name.as_deref().unwrap_or("");
        if *method != Method::PUT {
            return Err(ApiError::method_not_supported(
                "namespaces/finalize",
                &method.as_str().to_lowercase(),
            ));
        }
        let body = decode(body)?;
        let obj = reg.finalize_namespace(name, &body).await?;
        return render_one(headers, &p, q, StatusCode::OK, &obj, &[]);
    }
    let sub = match p.subresource.as_deref() {
        None => None,
        Some(s) => {
            let sr = Subresource::from_name(s).filter(|sr| res.has_subresource(*sr));
            match (sr, s) {
                (Some(sr), _) => Some(sr),
                _ => return Err(ApiError::unknown_path()),
            }
        }
    };
    match (&p.name, sub) {
        (None, _) => match *method {
            Method::GET => {
                let opts = ListOptions::parse(q)?;
                if opts.watch {
                    verb_allowed(&p, "watch")?;
                    return watch_response(state, &p, opts, headers, q);
                }
                verb_allowed(&p, "list")?;
                let (items, md) = reg.list(res, ns, &opts).await?;
                list_response(headers, &p, q, items, md)
            }
            Method::POST => {
                verb_allowed(&p, "create")?;
                if res.namespaced && ns.is_none() {
                    return Err(ApiError::method_not_supported(res.plural, "create"));
                }
                let w = WriteOptions::parse(q)?;
                let obj = decode(body)?;
                let written = reg.create(res, ns, obj, &w, user).await?;
                render_one(
                    headers,
                    &p,
                    q,
                    StatusCode::CREATED,
                    &written.object,
                    &written.warnings,
                )
            }
            Method::DELETE => {
                verb_allowed(&p, "deletecollection")?;
                let opts = ListOptions::parse(q)?;
                let d = delete_options(headers, q, body)?;
                let (items, md) = reg.list(res, ns, &opts).await?;
                let mut deleted = Vec::new();
                for it in items {
                    let name = kube_lite_api::meta::name(&it).to_string();
                    let ins = kube_lite_api::meta::namespace(&it).map(str::to_string);
                    match reg.delete(res, ins.as_deref(), &name, &d).await {
                        Ok((o, _)) => deleted.push(o),
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
                list_response(headers, &p, q, deleted, md)
            }
            _ => Err(ApiError::method_not_supported(
                res.plural,
                &method.as_str().to_lowercase(),
            )),
        },
        (Some(name), None) => match *method {
            Method::GET => {
                verb_allowed(&p, "get")?;
                let obj = reg.get(res, ns, name).await?;
                render_one(headers, &p, q, StatusCode::OK, &obj, &[])
            }
            Method::PUT => {
                verb_allowed(&p, "update")?;
                let w = WriteOptions::parse(q)?;
                let written = reg.update(res, ns, name, None, decode(body)?, &w).await?;
                render_one(
                    headers,
                    &p,
                    q,
                    StatusCode::OK,
                    &written.object,
                    &written.warnings,
                )
            }
            Method::PATCH => {
                verb_allowed(&p, "patch")?;
                let w = WriteOptions::parse(q)?;
                let t = patch_type(headers)?;
                let written = reg
                    .patch(res, ns, name, None, t, decode(body)?, &w, user)
                    .await?;
                let code = if written.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                render_one(headers, &p, q, code, &written.object, &written.warnings)
            }
            Method::DELETE => {
                verb_allowed(&p, "delete")?;
                let d = delete_options(headers, q, body)?;
                let (obj, _gone) = reg.delete(res, ns, name, &d).await?;
                let out = Registry::delete_response(res, obj);
                Ok(negotiate::object_response(
                    headers,
                    StatusCode::OK,
                    &out,
                    &[],
                ))
            }
            _ => Err(ApiError::method_not_supported(
                res.plural,
                &method.as_str().to_lowercase(),
            )),
        },
        (Some(name), Some(sr)) => {
            subresource(state, method, &p, name, sr, headers, q, body, user).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn subresource(
    state: &Arc<State>,
    method: &Method,
    p: &ResourcePath,
    name: &str,
    sr: Subresource,
    headers: &HeaderMap,
    q: &Query,
    body: Option<&[u8]>,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    let reg: &Registry = &state.registry;
    let res = p.res;
    let ns = p.namespace.as_deref();
    let decode = |b: Option<&[u8]>| negotiate::decode_body(headers, b.unwrap_or_default());
    let not_supported = || {
        ApiError::method_not_supported(
            &format!("{}/{}", res.plural, sr.name()),
            &method.as_str().to_lowercase(),
        )
    };
    match sr {
        Subresource::Status => match *method {
            Method::GET => render_one(
                headers,
                p,
                q,
                StatusCode::OK,
                &reg.get(res, ns, name).await?,
                &[],
            ),
            Method::PUT => {
                let w = WriteOptions::parse(q)?;
                let written = reg
                    .update(res, ns, name, Some(sr), decode(body)?, &w)
                    .await?;
                render_one(
                    headers,
                    p,
                    q,
                    StatusCode::OK,
                    &written.object,
                    &written.warnings,
                )
            }
            Method::PATCH => {
                let w = WriteOptions::parse(q)?;
                let t = patch_type(headers)?;
                let written = reg
                    .patch(res, ns, name, Some(sr), t, decode(body)?, &w, user)
                    .await?;
                render_one(
                    headers,
                    p,
                    q,
                    StatusCode::OK,
                    &written.object,
                    &written.warnings,
                )
            }
            _ => Err(not_supported()),
        },
        Subresource::Scale => match *method {
            Method::GET => Ok(json_ok(headers, &reg.get_scale(res, ns, name).await?)),
            Method::PUT => {
                let w = WriteOptions::parse(q)?;
                Ok(json_ok(
                    headers,
                    &reg.write_scale(res, ns, name, None, decode(body)?, &w)
                        .await?,
                ))
            }
            Method::PATCH => {
                let w = WriteOptions::parse(q)?;
                let t = patch_type(headers)?;
                Ok(json_ok(
                    headers,
                    &reg.write_scale(res, ns, name, Some(t), decode(body)?, &w)
                        .await?,
                ))
            }
            _ => Err(not_supported()),
        },
        Subresource::Binding if *method == Method::POST => {
            let w = WriteOptions::parse(q)?;
            let st = reg
                .bind(ns.unwrap_or("default"), name, decode(body)?, &w)
                .await?;
            Ok(negotiate::object_response(
                headers,
                StatusCode::CREATED,
                &st,
                &[],
            ))
        }
        Subresource::Eviction if *method == Method::POST => {
            let st = reg
                .evict(ns.unwrap_or("default"), name, decode(body)?)
                .await?;
            Ok(negotiate::object_response(
                headers,
                StatusCode::CREATED,
                &st,
                &[],
            ))
        }
        Subresource::Log | Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
            let pod = reg.get(res, ns, name).await?;
            match pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                None => Err(ApiError::bad_request(format!("pod {name} does not have a host assigned"))),
                Some(node) => Err(ApiError::unavailable(format!(
                    "pods/{}: the kubelet of node {node:?} is not reachable (kube-lite serves pods/{} through kubelets, which arrive with the nodes issue)",
                    sr.name(), sr.name()
                ))),
            }
        }
        Subresource::Token if *method == Method::POST => {
            let sa = reg.get(res, ns, name).await?;
            let req = decode(body)?;
            let tok = state.mint_token(&sa, &req)?;
            Ok(negotiate::object_response(
                headers,
                StatusCode::CREATED,
                &tok,
                &[],
            ))
        }
        _ => Err(not_supported()),
    }
}

fn list_response(
    headers: &HeaderMap,
    p: &ResourcePath,
    q: &Query,
    items: Vec<Value>,
    md: Value,
) -> Result<Response<Body>, ApiError> {
    let res = p.res;
    let v = match negotiate::wanted(headers)? {
        Wanted::Table => table::table(res, &items, md, include_object(q)?, now_unix()),
        Wanted::Metadata => {
            let items: Vec<Value> = items
                .iter()
                .map(|o| json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":o.get("metadata").cloned().unwrap_or(json!({}))}))
                .collect();
            json!({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":md,"items":items})
        }
        // Moved in, not through `json!` (which deep-copies every item with `to_value`).
        _ => {
            let mut list = serde_json::Map::new();
            list.insert("kind".into(), Value::String(res.list_kind()));
            list.insert("apiVersion".into(), Value::String(res.api_version()));
            list.insert("metadata".into(), md);
            list.insert("items".into(), Value::Array(items));
            Value::Object(list)
        }
    };
    Ok(negotiate::object_response(headers, StatusCode::OK, &v, &[]))
}

fn watch_response(
    state: &Arc<State>,
    p: &ResourcePath,
    opts: ListOptions,
    headers: &HeaderMap,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let render = match negotiate::wanted(headers)? {
        Wanted::Table => Render::Table(include_object(q)?),
        Wanted::Metadata => Render::Metadata,
        _ => Render::Object,
    };
    let rx = watch::start(
        state.registry.clone(),
        WatchRequest {
            res: p.res,
            namespace: p.namespace.clone(),
            opts,
            render,
        },
    );
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}
