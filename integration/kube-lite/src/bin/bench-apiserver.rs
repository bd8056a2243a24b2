//! `bench-apiserver`: measures `kube-lite apiserver` inside the namespace lab (etcd and the
//! server in the lab's fabric namespace), each figure next to a floor measured in the same run
//! from the same process:
//!
//! 1. create, get, list (all N pods), update and delete of N small Pods through kube-rs with
//!    concurrency 1 and 16 (p50/p99 per operation and ops/s), next to what the server does
//!    underneath: a raw etcd Txn (compare ModRevision + put/delete) or Range of the same JSON
//!    bytes the server stored, through etcd-client;
//! 2. list of the N pods as JSON and as a `meta.k8s.io/v1` Table (kubectl get's form), p50/p99
//!    (target p99 < 50 ms), next to the etcd Range of the same prefix;
//! 3. watch delivery: W concurrent `?watch=1` streams on the namespace; for each update, the
//!    time from the update's response to each watch receiving the event (target p99 < 10 ms),
//!    next to W etcd watches (prevKV, as the server's) receiving a raw put, alternated;
//! 4. VmRSS of the API server idle, with N pods stored and with N pods + W open watches, next
//!    to etcd's.
//!
//! Everything runs in lab namespaces (`fl-<6 hex>-*`), deleted when the lab is dropped. The
//! client side runs on a tokio runtime inside the fabric namespace and reaches the server at
//! 198.18.0.254:6443 (`ApiServer::fabric_kubeconfig`) and etcd at 198.18.0.254:2379.
//!
//! Build the release server first (`cargo build --release -p kube-lite`); the benchmark uses
//! the `kube-lite` next to its own executable (or `$FLANNEL_BIN_DIR/kube-lite`).

#[path = "bench_apiserver/crud.rs"]
mod crud;
#[path = "bench_apiserver/stats.rs"]
mod stats;
#[path = "bench_apiserver/watch.rs"]
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use flannel_integration::bench::{main_with, print_summary, Row};
use flannel_integration::{try_workspace_bin, ApiServerOptions, Lab, ETCD_ENDPOINT};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Measures kube-lite's API server (CRUD, list, watch, memory) next to raw etcd.
#[derive(Parser, Debug)]
#[command(name = "bench-apiserver")]
pub struct Opts {
    /// Pods created, read, listed, updated and deleted per concurrency level.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=20000))]
    pods: u32,
    /// Concurrent watches of the watch step.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2000))]
    watches: u32,
    /// The higher concurrency of the CRUD step (the lower one is 1).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=256))]
    concurrency: u32,
    /// List requests per list measurement.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10000))]
    lists: u32,
    /// Timed updates of the watch step (each delivered to every watch).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100000))]
    updates: u32,
}

fn main() -> ExitCode {
    main_with("bench-apiserver", run)
}

/// The processes whose memory is reported.
#[derive(Clone, Copy, Debug)]
pub struct Pids {
    pub apiserver: u32,
    pub etcd: u32,
}

fn run(opts: &Opts) -> Result<bool> {
    let started = Instant::now();
    let bin = try_workspace_bin("kube-lite")?;
    println!("bench-apiserver: kube-lite binary {}", bin.display());
    println!(
        "bench-apiserver: pods={} watches={} concurrency=1,{} lists={} updates={}",
        opts.pods, opts.watches, opts.concurrency, opts.lists, opts.updates
    );
    let mut lab = Lab::new(1).context("building the lab")?;
    lab.start_etcd().context("starting etcd")?;
    let mut api = lab
        .start_apiserver_with(ApiServerOptions {
            binary: Some(bin.clone()),
            ..ApiServerOptions::default()
        })
        .context("starting kube-lite apiserver")?;
    let pids = Pids {
        apiserver: api.pid(&mut lab).context("the API server is not running")?,
        etcd: lab.etcd_pid().context("etcd is not running")?,
    };
    let kubeconfig = api.fabric_kubeconfig();
    let fab = lab.fabric_ns();
    let mut rows = Vec::new();
    let outcome = lab
        .run_in_netns(&fab, || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("building the tokio runtime")?;
            rt.block_on(bench(opts, pids, kubeconfig, &mut rows))
        })
        .and_then(|r| r);
    print_summary(
        "kube-lite",
        &rows,
        &bin.display().to_string(),
        started.elapsed(),
    );
    println!(
        "(latencies in ms as p50 / p99; ratios are kube-lite / floor, for ops/s floor / kube-lite; \
         the floor is etcd-client from the same process doing what the server does underneath)"
    );
    if let Err(e) = &outcome {
        println!("\nbench-apiserver FAILED: {e:#}");
        println!("{}", api.log_tail(&lab, 30));
    }
    let _ = api.stop(&mut lab);
    Ok(outcome.is_ok())
}

/// Everything timed, on the runtime inside the fabric namespace.
async fn bench(opts: &Opts, pids: Pids, kubeconfig: PathBuf, rows: &mut Vec<Row>) -> Result<()> {
    let kc = Kubeconfig::read_from(&kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .context("kube config from the lab's kubeconfig")?;
    let client = kube::Client::try_from(cfg).context("building the kube client")?;
    let etcd = etcd_client::Client::connect([ETCD_ENDPOINT], None)
        .await
        .context("connecting to etcd")?;
    let b = crud::Bench::new(client, etcd, "bench", opts.pods as usize).await?;

    let idle = stats::Memory::read(pids)?;
    println!("memory idle: {idle}");

    let levels = [1, opts.concurrency as usize];
    for (k, &c) in levels.iter().enumerate() {
        println!("\n== CRUD of {} pods, concurrency {c}", opts.pods);
        b.warm_up(c).await?;
        rows.push(b.create(c).await?);
        rows.push(b.get(c).await?);
        rows.push(b.list_typed(c, opts.lists as usize).await?);
        rows.push(b.update(c).await?);
        if k + 1 < levels.len() {
            rows.push(b.delete(c).await?);
        }
    }
    let with_pods = stats::Memory::read(pids)?;
    println!("memory with {} pods: {with_pods}", opts.pods);

    println!("\n== list of {} pods, JSON and Table", opts.pods);
    rows.push(
        b.list_raw(crud::ListForm::Json, opts.lists as usize)
            .await?,
    );
    rows.push(
        b.list_raw(crud::ListForm::Table, opts.lists as usize)
            .await?,
    );

    println!(
        "\n== watch delivery, {} watches, {} updates",
        opts.watches, opts.updates
    );
    let with_watches =
        watch::run(&b, opts.watches as usize, opts.updates as usize, pids, rows).await?;

    rows.extend(stats::memory_rows(
        &idle,
        &with_pods,
        &with_watches,
        opts.pods,
        opts.watches,
    ));
    println!("\n== delete, concurrency {}", opts.concurrency);
    rows.push(b.delete(opts.concurrency as usize).await?);
    Ok(())
}
