//! The etcd adapter: kube-apiserver's storage operations (as kine documents
//! them) over `etcd-client`: Range with prefix, limit and revision; create as
//! `Txn(If(ModRevision(key)=0)).Then(Put)`; update and delete as a Txn
//! compare on the ModRevision the caller read; Watch with prevKV and
//! progress requests; Compact. Values are JSON (kube-apiserver's
//! `--storage-media-type=application/json`), stored without
//! `metadata.resourceVersion`: the ModRevision is the resourceVersion.

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, SortOrder, SortTarget, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use serde_json::Value;
use std::time::Duration;
use tracing::warn;

/// How long one etcd call may take before the request fails with 504.
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("key exists")]
    Exists,
    #[error("key not found")]
    NotFound,
    #[error("modified since revision {0}")]
    Conflict(i64),
    #[error("required revision {requested} has been compacted (compacted to {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision { requested: i64, current: i64 },
    #[error("etcd is unavailable: {0}")]
    Unavailable(String),
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("stored value at {key} is not valid JSON: {err}")]
    Corrupt { key: String, err: String },
}

/// One stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct Kv {
    pub key: String,
    pub value: Value,
    pub mod_revision: i64,
    pub create_revision: i64,
}

/// A page of a range read.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResult {
    pub items: Vec<Kv>,
    /// The revision the read was served at.
    pub revision: i64,
    /// More keys follow the last item.
    pub more: bool,
    /// Keys left after this page (when `more`).
    pub remaining: i64,
}

/// Options of [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// Read at this revision (None: the current one).
    pub revision: Option<i64>,
    /// At most this many keys.
    pub limit: Option<i64>,
    /// Start at this full key (inclusive) instead of the prefix.
    pub start: Option<String>,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    pub deleted: bool,
    pub key: String,
    /// The new value (None for deletes).
    pub value: Option<Value>,
    /// The previous value (prevKV), when etcd still had it.
    pub prev: Option<Value>,
    pub mod_revision: i64,
    pub create_revision: i64,
}

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchMessage {
    Events(Vec<WatchEvent>),
    /// A progress notification: everything up to this revision was sent.
    Progress(i64),
    /// The start revision was compacted.
    Compacted(i64),
    /// etcd cancelled the watch.
    Cancelled(String),
}

/// The etcd store.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

fn decode(key: &str, bytes: &[u8]) -> Result<Value, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        key: key.to_string(),
        err: e.to_string(),
    })
}

fn encode(v: &Value) -> Vec<u8> {
    // Serialising a Value cannot fail (keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

/// Maps etcd-client errors to storage errors.
fn classify(e: etcd_client::Error) -> StorageError {
    let msg = e.to_string();
    if msg.contains("required revision has been compacted") {
        return StorageError::Compacted {
            requested: 0,
            compacted: 0,
        };
    }
    if msg.contains("future revision") {
        return StorageError::FutureRevision {
            requested: 0,
            current: 0,
        };
    }
    StorageError::Unavailable(msg)
}

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StorageError> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(r) => r.map_err(classify),
        Err(_) => Err(StorageError::Timeout(CALL_TIMEOUT)),
    }
}

/// The first key after every key starting with `prefix` (etcd's prefix range end).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Store {
    /// Connects to etcd (the connection is re-established by the client
    /// when etcd comes back after an outage).
    pub async fn connect(endpoints: &[String]) -> Result<Store, StorageError> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        let client = timed(Client::connect(endpoints, Some(opts))).await?;
        Ok(Store { client })
    }

    /// The current revision of the store.
    pub async fn revision(&self) -> Result<i64, StorageError> {
        let mut kv = self.client.kv_client();
        let r = timed(kv.get("/", Some(GetOptions::new().with_count_only()))).await?;
        Ok(r.header().map(|h| h.revision()).unwrap_or(0))
    }

    /// One key.
    pub async fn get(&self, key: &str) -> Result<Option<Kv>, StorageError> {
        let mut kv = self.client.kv_client();
        let r = timed(kv.get(key, None)).await?;
        match r.kvs().first() {
            None => Ok(None),
            Some(k) => Ok(Some(Kv {
                key: key.to_string(),
                value: decode(key, k.value())?,
                mod_revision: k.mod_revision(),
                create_revision: k.create_revision(),
            })),
        }
    }

    /// The keys under `prefix` in key order. Values that are not JSON are
    /// skipped with a warning (they cannot be served; nothing else is lost).
    pub async fn list(&self, prefix: &str, opts: &ListOpts) -> Result<ListResult, StorageError> {
        let mut kv = self.client.kv_client();
        let start = opts.start.clone().unwrap_or_else(|| prefix.to_string());
        let mut go = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_sort(SortTarget::Key, SortOrder::Ascend);
        if let Some(rev) = opts.revision {
            go = go.with_revision(rev);
        }
        if let Some(l) = opts.limit {
            go = go.with_limit(l);
        }
        let r = timed(kv.get(start, Some(go))).await?;
        let revision = r.header().map(|h| h.revision()).unwrap_or(0);
        let mut items = Vec::with_capacity(r.kvs().len());
        for k in r.kvs() {
            let key = String::from_utf8_lossy(k.key()).into_owned();
            match decode(&key, k.value()) {
                Ok(value) => items.push(Kv {
                    key,
                    value,
                    mod_revision: k.mod_revision(),
                    create_revision: k.create_revision(),
                }),
                Err(e) => warn!(%key, "skipping stored object: {e}"),
            }
        }
        let remaining = r.count() - r.kvs().len() as i64;
        Ok(ListResult {
            items,
            revision: opts.revision.unwrap_or(revision),
            more: r.more(),
            remaining: remaining.max(0),
        })
    }

    /// Creates `key`; [`StorageError::Exists`] when it is there. Returns the
    /// new revision.
    pub async fn create(&self, key: &str, value: &Value) -> Result<i64, StorageError> {
        let mut kv = self.client.kv_client();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, encode(value), None)]);
        let r = timed(kv.txn(txn)).await?;
        if !r.succeeded() {
            return Err(StorageError::Exists);
        }
        Ok(r.header().map(|h| h.revision()).unwrap_or(0))
    }

    /// Replaces `key` if its ModRevision is still `expected`; otherwise
    /// [`StorageError::Conflict`] (or NotFound when it is gone).
    pub async fn update(
        &self,
        key: &str,
        value: &Value,
        expected: i64,
    ) -> Result<i64, StorageError> {
        let mut kv = self.client.kv_client();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, encode(value), None)])
            .or_else([TxnOp::get(key, None)]);
        let r = timed(kv.txn(txn)).await?;
        if r.succeeded() {
            return Ok(r.header().map(|h| h.revision()).unwrap_or(0));
        }
        Err(Self::compare_failed(&r))
    }

    fn compare_failed(r: &etcd_client::TxnResponse) -> StorageError {
        for op in r.op_responses() {
            if let TxnOpResponse::Get(g) = op {
                return match g.kvs().first() {
                    Some(k) => StorageError::Conflict(k.mod_revision()),
                    None => StorageError::NotFound,
                };
            }
        }
        StorageError::NotFound
    }

    /// Deletes `key` if its ModRevision is still `expected`. Returns the
    /// deletion's revision.
    pub async fn delete(&self, key: &str, expected: i64) -> Result<i64, StorageError> {
        let mut kv = self.client.kv_client();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::delete(key, None)])
            .or_else([TxnOp::get(key, None)]);
        let r = timed(kv.txn(txn)).await?;
        if r.succeeded() {
            return Ok(r.header().map(|h| h.revision()).unwrap_or(0));
        }
        Err(Self::compare_failed(&r))
    }

    /// Compacts history before `revision`.
    pub async fn compact(&self, revision: i64) -> Result<(), StorageError> {
        let mut kv = self.client.kv_client();
        timed(kv.compact(revision, None)).await.map(|_| ())
    }

    /// Watches every key under `prefix` from `start_revision` (inclusive)
    /// with previous values.
    pub async fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
    ) -> Result<StoreWatch, StorageError> {
        let mut w = self.client.watch_client();
        let opts = WatchOptions::new()
            .with_range(prefix_end(prefix))
            .with_start_revision(start_revision)
            .with_prev_key()
            .with_progress_notify();
        let stream = timed(w.watch(prefix, Some(opts))).await?;
        let (sender, stream) = stream.split();
        Ok(StoreWatch {
            sender,
            stream,
            started: false,
        })
    }
}

/// A running etcd watch.
pub struct StoreWatch {
    sender: etcd_client::WatchRequestSender,
    stream: etcd_client::WatchResponseStream,
    started: bool,
}

impl StoreWatch {
    /// The next message; None when the stream ended.
    pub async fn next(&mut self) -> Result<Option<WatchMessage>, StorageError> {
        loop {
            let Some(resp) = self.stream.message().await.map_err(classify)? else {
                return Ok(None);
            };
            if resp.compact_revision() > 0 {
                return Ok(Some(WatchMessage::Compacted(resp.compact_revision())));
            }
            if resp.canceled() {
                return Ok(Some(WatchMessage::Cancelled(
                    resp.cancel_reason().to_string(),
                )));
            }
            if resp.created() && !self.started {
                self.started = true;
                if resp.events().is_empty() {
                    continue;
                }
            }
            let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            if resp.events().is_empty() {
                return Ok(Some(WatchMessage::Progress(rev)));
            }
            let mut events = Vec::with_capacity(resp.events().len());
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let deleted = ev.event_type() == EventType::Delete;
                let value = if deleted {
                    None
                } else {
                    match decode(&key, kv.value()) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            warn!(%key, "skipping watch event: {e}");
                            continue;
                        }
                    }
                };
                let prev = ev.prev_kv().and_then(|p| decode(&key, p.value()).ok());
                events.push(WatchEvent {
                    deleted,
                    key,
                    value,
                    prev,
                    mod_revision: kv.mod_revision(),
                    create_revision: kv.create_revision(),
                });
            }
            return Ok(Some(WatchMessage::Events(events)));
        }
    }

    /// Asks etcd for a progress notification (answered as
    /// [`WatchMessage::Progress`]).
    pub async fn request_progress(&mut self) -> Result<(), StorageError> {
        self.sender.request_progress().await.map_err(classify)
    }
}
