//! The watch step of bench-apiserver: W raw `?watch=1` streams on the namespace's pods (kube-rs
//! `request_events`, objects decoded as JSON values) and W etcd watches with prevKV (what the
//! server opens per watch) on a floor key; updates of one pod alternated with raw puts of its
//! stored bytes, each timed from the write's response to every watch receiving its event.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use etcd_client::WatchOptions;
use flannel_integration::bench::Row;
use futures::TryStreamExt;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use super::crud::{pod_name, Bench};
use super::stats::{latency_row, ms, op_row, Lat, Memory};
use super::Pids;

/// The floor's watched key.
const FLOOR_KEY: &str = "/bench-floor/watch/pod";
/// How long all watches may take to see one event.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Updates before the timed ones (watch creation in the server and etcd settles).
const WARM_UP: usize = 5;
/// Target of the delivery latency (p99).
const TARGET_MS: f64 = 10.0;

/// A received event: its resourceVersion (ModRevision) and when it arrived.
type Seen = (i64, Instant);

/// Runs the step; returns the memory reading taken while the API watches were open.
pub async fn run(
    b: &Bench,
    watches: usize,
    updates: usize,
    pids: Pids,
    rows: &mut Vec<Row>,
) -> Result<Memory> {
    let name = pod_name(0);
    let list = b
        .pods
        .list_metadata(&ListParams::default().limit(1))
        .await
        .context("listing for the watch's resourceVersion")?;
    let rv = list.metadata.resource_version.unwrap_or_default();
    let (api_tx, mut api_rx) = unbounded_channel();
    let (ready_tx, mut ready_rx) = unbounded_channel();
    let mut tasks: Vec<JoinHandle<Result<()>>> = (0..watches)
        .map(|_| {
            let (client, tx, ready) = (b.client.clone(), api_tx.clone(), ready_tx.clone());
            let path = format!("/api/v1/namespaces/{}/pods", b.ns);
            let rv = rv.clone();
            tokio::spawn(async move { api_watch(client, path, rv, tx, ready).await })
        })
        .collect();
    wait_ready(&mut ready_rx, watches, "API watches").await?;
    let memory = Memory::read(pids)?;
    println!("memory with {} pods + {watches} watches: {memory}", b.n);

    let stored = {
        let mut kv = b.etcd.kv_client();
        let key = format!("{}{name}", b.server_prefix());
        let r = kv
            .get(key.clone(), None)
            .await
            .context("reading the stored pod")?;
        match r.kvs().first() {
            Some(kv) => kv.value().to_vec(),
            None => bail!("{key} is not in etcd"),
        }
    };
    let (floor_tx, mut floor_rx) = unbounded_channel();
    for _ in 0..watches {
        let (etcd, tx, ready) = (b.etcd.clone(), floor_tx.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(
            async move { etcd_watch(etcd, tx, ready).await },
        ));
    }
    wait_ready(&mut ready_rx, watches, "etcd watches").await?;

    let mut pod = b.pods.get(&name).await.context("reading the watched pod")?;
    let mut kv = b.etcd.kv_client();
    let (mut ours, mut floor) = (Lat::default(), Lat::default());
    let (mut ours_w, mut floor_w) = (Lat::default(), Lat::default());
    let (mut early_ours, mut early_floor) = (0usize, 0usize);
    let (mut ours_wall, mut floor_wall) = (Duration::ZERO, Duration::ZERO);
    for k in 0..WARM_UP + updates {
        let timed = k >= WARM_UP;
        // kube-lite: an update of the pod.
        pod.metadata
            .annotations
            .get_or_insert_default()
            .insert("bench/seq".into(), k.to_string());
        let t = Instant::now();
        pod = b
            .pods
            .replace(&name, &PostParams::default(), &pod)
            .await
            .context("updating the watched pod")?;
        let at = Instant::now();
        let rev: i64 = pod
            .metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .context("update response without a resourceVersion")?;
        let (mut got, early) = collect(&mut api_rx, rev, watches, at).await?;
        if timed {
            ours_w.ms.push((at - t).as_secs_f64() * 1e3);
            ours_wall += at - t;
            ours.ms.append(&mut got);
            early_ours += early;
        }
        // Floor: a raw put of the same bytes.
        let t = Instant::now();
        let r = kv
            .put(FLOOR_KEY, stored.clone(), None)
            .await
            .context("floor put")?;
        let at = Instant::now();
        let rev = r.header().map(|h| h.revision()).unwrap_or(0);
        let (mut got, early) = collect(&mut floor_rx, rev, watches, at).await?;
        if timed {
            floor_w.ms.push((at - t).as_secs_f64() * 1e3);
            floor_wall += at - t;
            floor.ms.append(&mut got);
            early_floor += early;
        }
    }
    for t in &tasks {
        t.abort();
    }
    ours_w.wall = ours_wall;
    floor_w.wall = floor_wall;
    let what = format!("watch delivery, {watches} watches x {updates} updates");
    println!(
        "  {what}: kube-lite {} ({early_ours} events before the response); floor {} ({early_floor} before)",
        ours.show_latency(),
        floor.show_latency()
    );
    println!(
        "  slowest delivery: kube-lite {} ms, floor {} ms",
        ms(ours.p(100.0)),
        ms(floor.p(100.0))
    );
    let mut row = latency_row(what, &ours, &floor, TARGET_MS);
    if early_ours + early_floor > 0 {
        row.what += &format!(" ({early_ours}/{early_floor} seen before the response, as 0)");
    }
    rows.push(row);
    let what = format!("update with {watches} watches, c=1");
    println!(
        "  {what}: kube-lite {}; floor put {}",
        ours_w.show(),
        floor_w.show()
    );
    rows.push(op_row(what, &ours_w, &floor_w));
    Ok(memory)
}

/// Waits until `n` watches said they are open.
async fn wait_ready(rx: &mut UnboundedReceiver<()>, n: usize, what: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for k in 0..n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(())) => {}
            _ => bail!("only {k} of {n} {what} opened within 60 s"),
        }
    }
    Ok(())
}

/// Receives until `n` watches reported revision `rev`; their latencies after `at` (ms; an
/// event seen before `at` counts as 0) and how many were seen before `at`.
async fn collect(
    rx: &mut UnboundedReceiver<Seen>,
    rev: i64,
    n: usize,
    at: Instant,
) -> Result<(Vec<f64>, usize)> {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    let mut out = Vec::with_capacity(n);
    let mut early = 0;
    while out.len() < n {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| {
                anyhow!(
                    "only {} of {n} watches saw revision {rev} within {DELIVERY_TIMEOUT:?}",
                    out.len()
                )
            })?;
        let Some((r, seen)) = msg else {
            bail!("every watch stream ended");
        };
        if r != rev {
            continue;
        }
        if seen < at {
            early += 1;
        }
        out.push(seen.saturating_duration_since(at).as_secs_f64() * 1e3);
    }
    Ok((out, early))
}

/// One API watch from `rv`: reports MODIFIED events.
async fn api_watch(
    client: kube::Client,
    path: String,
    rv: String,
    tx: UnboundedSender<Seen>,
    ready: UnboundedSender<()>,
) -> Result<()> {
    let req = kube::core::Request::new(&path)
        .watch(&WatchParams::default().timeout(290), &rv)
        .context("building the watch request")?;
    let stream = client
        .request_events::<serde_json::Value>(req)
        .await
        .context("opening a watch")?;
    let _ = ready.send(());
    futures::pin_mut!(stream);
    while let Some(ev) = stream.try_next().await.context("reading a watch")? {
        let seen = Instant::now();
        if let WatchEvent::Modified(obj) = ev {
            let rev = obj
                .pointer("/metadata/resourceVersion")
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if tx.send((rev, seen)).is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// One etcd watch of [`FLOOR_KEY`] with prevKV, as the server's.
async fn etcd_watch(
    etcd: etcd_client::Client,
    tx: UnboundedSender<Seen>,
    ready: UnboundedSender<()>,
) -> Result<()> {
    let mut wc = etcd.watch_client();
    let mut stream = wc
        .watch(FLOOR_KEY, Some(WatchOptions::new().with_prev_key()))
        .await
        .context("opening an etcd watch")?;
    while let Some(resp) = stream.message().await.context("reading an etcd watch")? {
        let seen = Instant::now();
        if resp.created() {
            let _ = ready.send(());
        }
        for ev in resp.events() {
            if let Some(kv) = ev.kv() {
                if tx.send((kv.mod_revision(), seen)).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
