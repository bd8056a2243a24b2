//! Watch streams (`?watch=true`): newline-delimited JSON events
//! `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}`, one per
//! line and flushed per event, as upstream's etcd3 watcher serves them:
//! from a resourceVersion (events strictly after it), or with no/`0`
//! resourceVersion (synthetic ADDED for every existing object first),
//! `sendInitialEvents` (the initial objects, then a BOOKMARK annotated
//! `k8s.io/initial-events-end`), label/field selectors (an object that stops
//! matching is DELETED, one that starts matching ADDED), bookmarks from etcd
//! progress notifications when `allowWatchBookmarks`, `timeoutSeconds`, and
//! a 410 Expired ERROR event when the revision was compacted. When etcd goes
//! away the stream simply ends, so that clients re-watch or re-list.

use crate::query::ListOptions;
use crate::registry::{now_unix, storage_error, Registry};
use crate::storage::{StorageError, WatchEvent, WatchMessage};
use kube_lite_api::table::{self, IncludeObject};
use kube_lite_api::{meta, ApiError, ResourceInfo};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::debug;

/// How often a watch asks etcd for progress (and sends a BOOKMARK).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

/// How objects in events are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    Object,
    /// One-row Tables (`kubectl get -w`).
    Table(IncludeObject),
    /// PartialObjectMetadata.
    Metadata,
}

/// One watch request.
pub struct WatchRequest {
    pub res: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub opts: ListOptions,
    pub render: Render,
}

type Tx = mpsc::Sender<Result<bytes::Bytes, std::convert::Infallible>>;

/// Starts the watch; the receiver yields the response body's chunks.
pub fn start(
    registry: Arc<Registry>,
    req: WatchRequest,
) -> mpsc::Receiver<Result<bytes::Bytes, std::convert::Infallible>> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let res = req.res;
        if let Err(e) = run(&registry, req, &tx).await {
            debug!(resource = res.plural, "watch ended: {e}");
            let _ = send(&tx, "ERROR", e.to_status()).await;
        }
    });
    rx
}

async fn send(tx: &Tx, kind: &str, object: Value) -> Result<(), ()> {
    // Moved in, not through `json!` (which deep-copies the object with `to_value`).
    let mut ev = serde_json::Map::new();
    ev.insert("type".into(), Value::String(kind.to_string()));
    ev.insert("object".into(), object);
    let mut line = serde_json::to_vec(&Value::Object(ev)).unwrap_or_default();
    line.push(b'\n');
    tx.send(Ok(bytes::Bytes::from(line))).await.map_err(|_| ())
}

fn render(req: &WatchRequest, obj: Value) -> Value {
    match req.render {
        Render::Object => obj,
        Render::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
        Render::Table(inc) => {
            let rv = meta::resource_version(&obj).unwrap_or("").to_string();
            table::table(
                req.res,
                &[obj],
                json!({"resourceVersion": rv}),
                inc,
                now_unix(),
            )
        }
    }
}

fn bookmark(res: &ResourceInfo, rev: i64, initial_end: bool) -> Value {
    let mut md = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": md})
}

fn matches(req: &WatchRequest, obj: &Value) -> bool {
    req.opts.label.matches(meta::labels(obj)) && req.opts.field.matches(req.res, obj)
}

fn expired(rev: i64, compacted: i64) -> ApiError {
    ApiError::expired(format!("too old resource version: {rev} ({compacted})"))
}

async fn run(reg: &Registry, req: WatchRequest, tx: &Tx) -> Result<(), ApiError> {
    let res = req.res;
    req.opts
        .field
        .check_supported(res)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let prefix = match &req.namespace {
        Some(n) if res.namespaced => res.namespace_prefix(&reg.prefix, n),
        _ => res.key_prefix(&reg.prefix),
    };
    let timeout = req
        .opts
        .timeout
        .unwrap_or_else(|| Duration::from_secs(1800 + rand::random_range(0..1800)));
    let deadline = tokio::time::Instant::now() + timeout;
    let rv: i64 = req.opts.resource_version.parse().unwrap_or(0);
    let initial = req.opts.send_initial_events == Some(true) || rv == 0;
    let start_rev = if initial {
        // The initial state: every matching object as ADDED.
        let mut list_opts = req.opts.clone();
        list_opts.limit = None;
        list_opts.continue_token = None;
        list_opts.resource_version.clear();
        list_opts.rv_match = None;
        list_opts.watch = false;
        list_opts.send_initial_events = None;
        let (items, md) = reg.list(res, req.namespace.as_deref(), &list_opts).await?;
        for obj in items {
            send(tx, "ADDED", render(&req, obj))
                .await
                .map_err(|_| closed())?;
        }
        let list_rev: i64 = md
            .get("resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if req.opts.send_initial_events == Some(true) {
            send(tx, "BOOKMARK", bookmark(res, list_rev, true))
                .await
                .map_err(|_| closed())?;
        }
        list_rev
    } else {
        rv
    };
    let mut w = match reg.store.watch(&prefix, start_rev + 1).await {
        Ok(w) => w,
        Err(e) => return Err(storage_error(res, "", e)),
    };
    let mut last = start_rev;
    let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
            _ = tx.closed() => return Ok(()),
            _ = ticker.tick(), if req.opts.bookmarks => {
                if w.request_progress().await.is_err() {
                    return Ok(());
                }
            }
            msg = w.next() => match msg {
                Ok(Some(WatchMessage::Events(evs))) => {
                    for ev in evs {
                        last = last.max(ev.mod_revision);
                        if let Some((kind, obj)) = translate(reg, &req, &prefix, ev) {
                            send(tx, kind, render(&req, obj)).await.map_err(|_| closed())?;
                        }
                    }
                }
                Ok(Some(WatchMessage::Progress(rev))) => {
                    if req.opts.bookmarks && rev >= last {
                        last = rev;
                        send(tx, "BOOKMARK", bookmark(res, rev, false)).await.map_err(|_| closed())?;
                    }
                }
                Ok(Some(WatchMessage::Compacted(c))) => return Err(expired(start_rev, c)),
                Ok(Some(WatchMessage::Cancelled(_))) | Ok(None) => return Ok(()),
                Err(StorageError::Compacted { .. }) => return Err(expired(start_rev, 0)),
                Err(_) => return Ok(()),
            }
        }
    }
}

fn closed() -> ApiError {
    ApiError::new(499, "ClientClosed", "client went away")
}

/// The event a client sees for one etcd change, if any.
fn translate(
    reg: &Registry,
    req: &WatchRequest,
    prefix: &str,
    ev: WatchEvent,
) -> Option<(&'static str, Value)> {
    let rel = ev.key.get(prefix.len()..)?;
    let depth_ok = if req.namespace.is_none() && req.res.namespaced {
        rel.matches('/').count() == 1
    } else {
        !rel.contains('/')
    };
    if !depth_ok {
        return None;
    }
    let res = req.res;
    let prev = ev.prev.map(|p| reg.decorate(res, p, ev.mod_revision));
    if ev.deleted {
        let p = prev?;
        return matches(req, &p).then_some(("DELETED", p));
    }
    let cur = reg.decorate(res, ev.value?, ev.mod_revision);
    let now = matches(req, &cur);
    let before = prev.as_ref().is_some_and(|p| matches(req, p));
    let created = ev.create_revision == ev.mod_revision || prev.is_none();
    match (now, before, created) {
        (true, _, true) => Some(("ADDED", cur)),
        (true, true, false) => Some(("MODIFIED", cur)),
        (true, false, false) => Some(("ADDED", cur)),
        (false, true, _) => prev.map(|p| ("DELETED", p)),
        (false, false, _) => None,
    }
}
