//! The CRUD and list steps of bench-apiserver: N small Pods created, read, listed, updated and
//! deleted through kube-rs by `c` concurrent tasks, each operation next to its floor (the etcd
//! call the server makes underneath, through etcd-client from this process, on the JSON bytes
//! the server stored for the same pods under a separate prefix), and the list of all pods as
//! JSON and as a Table.

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use etcd_client::{Compare, CompareOp, GetOptions, SortOrder, SortTarget, Txn, TxnOp};
use flannel_integration::bench::Row;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::stats::{latency_row, op_row, Lat};

/// Where the floor keeps its copies of the pods.
const FLOOR_PREFIX: &str = "/bench-floor/pods/bench/";
/// What `kubectl get` asks for.
pub const TABLE_ACCEPT: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// Target of the list of all pods (p99).
const LIST_TARGET_MS: f64 = 50.0;

/// The form of a raw list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListForm {
    Json,
    Table,
}

/// The clients, the namespace and what the passes hand to each other.
pub struct Bench {
    pub client: Client,
    pub etcd: etcd_client::Client,
    pub ns: String,
    pub n: usize,
    pub pods: Api<Pod>,
    /// The object read by the last get pass, per pod (the update pass changes it).
    slots: Arc<Vec<Mutex<Option<Pod>>>>,
    /// ModRevision of each floor key.
    revs: Arc<Vec<AtomicI64>>,
}

pub fn pod_name(i: usize) -> String {
    format!("p-{i:05}")
}

/// A small Pod: one container, one label.
pub fn pod(i: usize) -> Result<Pod> {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name(i), "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }))
    .context("a Pod literal")
}

/// Runs `f(0..n)` on `conc` tasks, each taking the next index; the latency of every call and
/// the wall time of all.
pub async fn run_ops<F, Fut>(n: usize, conc: usize, f: F) -> Result<Lat>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc.clamp(1, n.max(1)) {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ms = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(ms);
                }
                let t = Instant::now();
                f(i).await?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("a benchmark task panicked")??);
    }
    Ok(Lat {
        ms: all,
        wall: start.elapsed(),
    })
}

fn report(what: &str, ours: &Lat, floor: &Lat) {
    println!(
        "  {what}: kube-lite {}; floor {}",
        ours.show(),
        floor.show()
    );
}

impl Bench {
    /// Creates the namespace `ns`.
    pub async fn new(
        client: Client,
        etcd: etcd_client::Client,
        ns: &str,
        n: usize,
    ) -> Result<Bench> {
        let nsapi: Api<Namespace> = Api::all(client.clone());
        let obj: Namespace = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
        nsapi
            .create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating namespace {ns}"))?;
        Ok(Bench {
            pods: Api::namespaced(client.clone(), ns),
            client,
            etcd,
            ns: ns.to_string(),
            n,
            slots: Arc::new((0..n).map(|_| Mutex::new(None)).collect()),
            revs: Arc::new((0..n).map(|_| AtomicI64::new(0)).collect()),
        })
    }

    /// The server's etcd prefix of the namespace's pods.
    pub fn server_prefix(&self) -> String {
        format!("/registry/pods/{}/", self.ns)
    }

    /// Opens `c` connections (GETs of the namespace on `c` tasks) and touches etcd.
    pub async fn warm_up(&self, c: usize) -> Result<()> {
        let nsapi: Api<Namespace> = Api::all(self.client.clone());
        let ns = self.ns.clone();
        run_ops(c * 8, c, move |_| {
            let (nsapi, ns) = (nsapi.clone(), ns.clone());
            async move { nsapi.get(&ns).await.map(|_| ()).context("warm-up GET") }
        })
        .await?;
        let etcd = self.etcd.clone();
        run_ops(c * 8, c, move |_| {
            let mut kv = etcd.kv_client();
            async move {
                kv.get("/", None)
                    .await
                    .map(|_| ())
                    .context("warm-up etcd get")
            }
        })
        .await?;
        Ok(())
    }

    /// The values the server stored for the namespace's pods, in name order.
    async fn stored(&self) -> Result<Arc<Vec<Vec<u8>>>> {
        let r = range(&self.etcd, &self.server_prefix()).await?;
        let values: Vec<Vec<u8>> = r.kvs().iter().map(|kv| kv.value().to_vec()).collect();
        ensure!(
            values.len() == self.n,
            "etcd holds {} pods under {}, expected {}",
            values.len(),
            self.server_prefix(),
            self.n
        );
        Ok(Arc::new(values))
    }

    pub async fn create(&self, c: usize) -> Result<Row> {
        let api = self.pods.clone();
        let ours = run_ops(self.n, c, move |i| {
            let api = api.clone();
            async move {
                let p = pod(i)?;
                api.create(&PostParams::default(), &p)
                    .await
                    .with_context(|| format!("creating pod {}", pod_name(i)))?;
                Ok(())
            }
        })
        .await?;
        let values = self.stored().await?;
        let (etcd, revs) = (self.etcd.clone(), self.revs.clone());
        let floor = run_ops(self.n, c, move |i| {
            let mut kv = etcd.kv_client();
            let (key, value, revs) = (floor_key(i), values[i].clone(), revs.clone());
            async move {
                let txn = Txn::new()
                    .when([Compare::mod_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, value, None)]);
                let r = kv.txn(txn).await.context("floor create txn")?;
                ensure!(r.succeeded(), "floor key {} exists", floor_key(i));
                revs[i].store(revision(r.header()), Ordering::Relaxed);
                Ok(())
            }
        })
        .await?;
        Ok(self.row("create", c, &ours, &floor))
    }

    pub async fn get(&self, c: usize) -> Result<Row> {
        let (api, slots) = (self.pods.clone(), self.slots.clone());
        let ours = run_ops(self.n, c, move |i| {
            let (api, slots) = (api.clone(), slots.clone());
            async move {
                let p = api
                    .get(&pod_name(i))
                    .await
                    .with_context(|| format!("getting pod {}", pod_name(i)))?;
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                Ok(())
            }
        })
        .await?;
        let etcd = self.etcd.clone();
        let floor = run_ops(self.n, c, move |i| {
            let mut kv = etcd.kv_client();
            async move {
                let r = kv.get(floor_key(i), None).await.context("floor get")?;
                ensure!(r.kvs().len() == 1, "floor key {} is missing", floor_key(i));
                Ok(())
            }
        })
        .await?;
        Ok(self.row("get", c, &ours, &floor))
    }

    /// `lists` typed lists of all pods (k8s-openapi PodList) next to etcd Ranges.
    pub async fn list_typed(&self, c: usize, lists: usize) -> Result<Row> {
        let (api, n) = (self.pods.clone(), self.n);
        let ours = run_ops(lists, c, move |_| {
            let api = api.clone();
            async move {
                let l = api
                    .list(&ListParams::default())
                    .await
                    .context("listing pods")?;
                ensure!(
                    l.items.len() == n,
                    "listed {} pods, expected {n}",
                    l.items.len()
                );
                Ok(())
            }
        })
        .await?;
        let floor = self.floor_lists(c, lists).await?;
        Ok(self.row(&format!("list {n} (kube-rs typed)"), c, &ours, &floor))
    }

    async fn floor_lists(&self, c: usize, lists: usize) -> Result<Lat> {
        let (etcd, n) = (self.etcd.clone(), self.n);
        run_ops(lists, c, move |_| {
            let etcd = etcd.clone();
            async move {
                let r = range(&etcd, FLOOR_PREFIX).await?;
                ensure!(
                    r.kvs().len() == n,
                    "floor range: {} keys, expected {n}",
                    r.kvs().len()
                );
                Ok(())
            }
        })
        .await
    }

    /// `lists` raw lists of all pods in `form` at concurrency 1 (the bytes, not decoded),
    /// against the p99 target.
    pub async fn list_raw(&self, form: ListForm, lists: usize) -> Result<Row> {
        let client = self.client.clone();
        let path = format!("/api/v1/namespaces/{}/pods", self.ns);
        let last = Arc::new(Mutex::new(String::new()));
        let n = self.n;
        let kept = last.clone();
        let ours = run_ops(lists, 1, move |_| {
            let (client, path, kept) = (client.clone(), path.clone(), kept.clone());
            async move {
                let mut req = kube::core::Request::new(&path)
                    .list(&ListParams::default())
                    .context("building the list request")?;
                let accept = match form {
                    ListForm::Json => "application/json",
                    ListForm::Table => TABLE_ACCEPT,
                };
                req.headers_mut().insert("accept", accept.parse()?);
                let text = client.request_text(req).await.context("raw list")?;
                *kept.lock().unwrap_or_else(|e| e.into_inner()) = text;
                Ok(())
            }
        })
        .await?;
        let size = {
            let text = last.lock().unwrap_or_else(|e| e.into_inner());
            check_list(form, &text, n)?;
            text.len()
        };
        let floor = self.floor_lists(1, lists).await?;
        let name = match form {
            ListForm::Json => "JSON",
            ListForm::Table => "Table",
        };
        let what = format!("list {n} pods, {name} ({} KiB), c=1", size / 1024);
        report(&what, &ours, &floor);
        Ok(latency_row(what, &ours, &floor, LIST_TARGET_MS))
    }

    pub async fn update(&self, c: usize) -> Result<Row> {
        let (api, slots) = (self.pods.clone(), self.slots.clone());
        let ours = run_ops(self.n, c, move |i| {
            let (api, slots) = (api.clone(), slots.clone());
            async move {
                let taken = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some(mut p) = taken else {
                    bail!("pod {} was not read before its update", pod_name(i));
                };
                p.metadata
                    .labels
                    .get_or_insert_default()
                    .insert("gen".into(), "1".into());
                api.replace(&pod_name(i), &PostParams::default(), &p)
                    .await
                    .with_context(|| format!("updating pod {}", pod_name(i)))?;
                Ok(())
            }
        })
        .await?;
        let values = self.stored().await?;
        let (etcd, revs) = (self.etcd.clone(), self.revs.clone());
        let floor = run_ops(self.n, c, move |i| {
            let mut kv = etcd.kv_client();
            let (key, value, revs) = (floor_key(i), values[i].clone(), revs.clone());
            async move {
                let expected = revs[i].load(Ordering::Relaxed);
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        key.clone(),
                        CompareOp::Equal,
                        expected,
                    )])
                    .and_then([TxnOp::put(key.clone(), value, None)])
                    .or_else([TxnOp::get(key, None)]);
                let r = kv.txn(txn).await.context("floor update txn")?;
                ensure!(r.succeeded(), "floor key {} changed", floor_key(i));
                revs[i].store(revision(r.header()), Ordering::Relaxed);
                Ok(())
            }
        })
        .await?;
        Ok(self.row("update", c, &ours, &floor))
    }

    pub async fn delete(&self, c: usize) -> Result<Row> {
        let api = self.pods.clone();
        let ours = run_ops(self.n, c, move |i| {
            let api = api.clone();
            async move {
                api.delete(&pod_name(i), &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting pod {}", pod_name(i)))?;
                Ok(())
            }
        })
        .await?;
        let (etcd, revs) = (self.etcd.clone(), self.revs.clone());
        let floor = run_ops(self.n, c, move |i| {
            let mut kv = etcd.kv_client();
            let (key, revs) = (floor_key(i), revs.clone());
            async move {
                let expected = revs[i].load(Ordering::Relaxed);
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        key.clone(),
                        CompareOp::Equal,
                        expected,
                    )])
                    .and_then([TxnOp::delete(key.clone(), None)])
                    .or_else([TxnOp::get(key, None)]);
                let r = kv.txn(txn).await.context("floor delete txn")?;
                ensure!(r.succeeded(), "floor key {} changed", floor_key(i));
                Ok(())
            }
        })
        .await?;
        let left = range(&self.etcd, &self.server_prefix()).await?.kvs().len();
        ensure!(left == 0, "{left} pods left in etcd after deleting all");
        Ok(self.row("delete", c, &ours, &floor))
    }

    fn row(&self, op: &str, c: usize, ours: &Lat, floor: &Lat) -> Row {
        let what = format!("{op}, c={c}");
        report(&what, ours, floor);
        op_row(what, ours, floor)
    }
}

fn floor_key(i: usize) -> String {
    format!("{FLOOR_PREFIX}{}", pod_name(i))
}

fn revision(h: Option<&etcd_client::ResponseHeader>) -> i64 {
    h.map(|h| h.revision()).unwrap_or(0)
}

/// The Range the server makes for a list: every key under `prefix`, in key order.
async fn range(etcd: &etcd_client::Client, prefix: &str) -> Result<etcd_client::GetResponse> {
    let mut kv = etcd.kv_client();
    let opts = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Key, SortOrder::Ascend);
    kv.get(prefix, Some(opts))
        .await
        .with_context(|| format!("etcd range {prefix}"))
}

/// The raw list has the pods (items or rows) and the kind asked for.
fn check_list(form: ListForm, text: &str, n: usize) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(text).context("list response is not JSON")?;
    let (kind, field) = match form {
        ListForm::Json => ("PodList", "items"),
        ListForm::Table => ("Table", "rows"),
    };
    let got = v.get(field).and_then(|x| x.as_array()).map_or(0, Vec::len);
    ensure!(
        v.get("kind").and_then(|k| k.as_str()) == Some(kind) && got == n,
        "list answered kind {:?} with {got} {field}, expected {kind} with {n}",
        v.get("kind")
    );
    Ok(())
}
