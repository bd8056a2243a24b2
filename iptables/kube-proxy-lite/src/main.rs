//! kube-proxy-lite: programs Kubernetes Services into iptables the way
//! kube-proxy's iptables mode does, from the API server (Services and
//! EndpointSlices, `--kubeconfig`/`--master` as kube-proxy's) or from a file
//! holding a `List` of Services and Endpoints/EndpointSlices. Thin: the loop
//! lives in [`kube_proxy_lite::daemon`], the sources in `daemon` and `api`,
//! the rules and the sync engine in `flannel_iptables::{proxier, kube}`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use flannel_iptables::conntrack::Conntrack;
use flannel_iptables::kube::ParseOptions;
use flannel_iptables::proxier::dry_run_payload;
use flannel_iptables::{Iptables, Proxier, ProxyConfig};
use ipnet::Ipv4Net;
use kube_proxy_lite::api::ApiSource;
use kube_proxy_lite::daemon::{self, Options};
use kube_proxy_lite::metrics::Metrics;
use kube_proxy_lite::watch::{install_stop_handler, FileWatcher};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Program Kubernetes Services into iptables (kube-proxy's iptables layout).
#[derive(Debug, Parser)]
#[command(name = "kube-proxy-lite", version)]
struct Cli {
    /// Desired state from a file: a JSON `List` of Service and Endpoints or
    /// EndpointSlice objects (as printed by `kubectl get svc,endpoints -A -o
    /// json`); re-read on change. Without it, the API server is watched.
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// kubeconfig with the API server's address and credentials (else the
    /// in-cluster service account, else the usual kubeconfig lookup).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The API server's address (overrides the kubeconfig's).
    #[arg(long, value_name = "URL")]
    master: Option<String>,
    /// This node's name, if not the hostname (kept for topology features).
    #[arg(long, value_name = "NAME")]
    hostname_override: Option<String>,
    /// Address of `/healthz` and `/livez` (empty: off).
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:10256")]
    healthz_bind_address: String,
    /// Address of `/metrics` and `/proxyMode` (empty: off).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:10249")]
    metrics_bind_address: String,
    /// Pod network; traffic to a cluster IP from outside it is masqueraded.
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Option<Ipv4Net>,
    /// Sync once (a full sync) and exit.
    #[arg(long)]
    once: bool,
    /// Print the full iptables-restore input to stdout and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Bit of the packet mark meaning "masquerade" (14 -> 0x4000).
    #[arg(long, value_name = "N", default_value_t = 14,
          value_parser = clap::value_parser!(u8).range(0..=31))]
    masquerade_bit: u8,
    /// Minimum seconds between two syncs (batches bursts of changes; fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    min_sync_period: Duration,
    /// Seconds between full syncs.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    sync_period: Duration,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("{s:?} is not a valid duration"))
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Err(e) = run(cli) {
        eprintln!("kube-proxy-lite: error: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `host:port` of a bind flag; empty is off.
fn bind_address(flag: &str, v: &str) -> Result<Option<std::net::SocketAddr>> {
    if v.trim().is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .with_context(|| format!("--{flag} {v:?}: expected IP:PORT, e.g. 0.0.0.0:10256"))
}

/// A kube-rs client from `--kubeconfig` and/or `--master`, else in-cluster, as kube-proxy's.
async fn client(cli: &Cli) -> Result<kube::Client> {
    let flags = flannel_kubeclient::Flags {
        kubeconfig: "--kubeconfig",
        server: "--master",
    };
    Ok(flannel_kubeclient::client(cli.kubeconfig.as_deref(), cli.master.as_deref(), flags).await?)
}

fn run(cli: Cli) -> Result<()> {
    let healthz = bind_address("healthz-bind-address", &cli.healthz_bind_address)?;
    let metrics_addr = bind_address("metrics-bind-address", &cli.metrics_bind_address)?;
    if cli.sync_period.is_zero() {
        bail!("--sync-period must be greater than 0");
    }
    if cli.dry_run && cli.services.is_none() {
        bail!("--dry-run needs --services FILE");
    }
    let path = cli.services.clone().unwrap_or_default();
    let ipt = Iptables::new();
    let mut opts = Options::new(&path);
    opts.min_sync_period = cli.min_sync_period;
    opts.sync_period = cli.sync_period;
    opts.check_period = cli.sync_period.min(Duration::from_secs(1));

    if cli.dry_run {
        // Read-only: no SCTP probe (it loads a rule); --random-fully from the version.
        let cfg = config(&cli, ipt.random_fully_supported());
        let parsed = daemon::load(&path, &ParseOptions { sctp: true })
            .context("reading the services file")?;
        let payload = dry_run_payload(&parsed.state, &cfg);
        let mut out = std::io::stdout().lock();
        out.write_all(payload.as_bytes())
            .context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        return Ok(());
    }

    let random_fully = ipt.random_fully_supported();
    let sctp = ipt.sctp_supported();
    if !sctp {
        tracing::warn!("the kernel cannot match SCTP; SCTP service ports are skipped");
    }
    opts.parse = ParseOptions { sctp };
    let cfg = config(&cli, random_fully);
    if cfg.masquerade_bit != 14 {
        tracing::warn!(
            mark = %cfg.mark(),
            "flanneld leaves only packets marked 0x4000 to us; with another bit both may masquerade"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let source: Box<dyn daemon::Source> = match &cli.services {
        Some(p) => Box::new(daemon::FileSource(FileWatcher::new(p))),
        None => {
            let client = rt.block_on(client(&cli))?;
            let what = format!("the API server {}", client.default_namespace());
            let what = cli
                .master
                .clone()
                .map_or(what, |m| format!("the API server {m}"));
            Box::new(ApiSource::start(rt.handle(), client, what))
        }
    };
    tracing::info!(
        source = %cli.services.as_ref().map_or("API server".to_string(), |p| p.display().to_string()),
        node = cli.hostname_override.as_deref().unwrap_or(""),
        cluster_cidr = ?cfg.cluster_cidr,
        mark = %cfg.mark(),
        random_fully,
        sctp,
        "kube-proxy-lite starting"
    );
    let mut proxier = Proxier::new(ipt, cfg);
    if conntrack_available() {
        proxier = proxier.with_conntrack(Conntrack::new());
    } else {
        tracing::warn!(
            "conntrack tool not found; stale UDP flows of removed endpoints are not deleted"
        );
    }

    if cli.once {
        daemon::run_once(&mut proxier, &opts, source.as_ref())?;
        return Ok(());
    }
    let metrics = Arc::new(Metrics::new(cli.sync_period));
    if let Some(addr) = healthz {
        let m = metrics.clone();
        rt.spawn(async move {
            if let Err(e) = kube_proxy_lite::metrics::serve_health(addr, m).await {
                tracing::error!("--healthz-bind-address {addr}: {e}");
            }
        });
    }
    if let Some(addr) = metrics_addr {
        let m = metrics.clone();
        rt.spawn(async move {
            if let Err(e) = kube_proxy_lite::metrics::serve_metrics(addr, m, "iptables").await {
                tracing::error!("--metrics-bind-address {addr}: {e}");
            }
        });
    }
    let stop = install_stop_handler();
    daemon::run_source(&mut proxier, &opts, source.as_ref(), metrics, stop);
    Ok(())
}

fn config(cli: &Cli, random_fully: bool) -> ProxyConfig {
    ProxyConfig {
        cluster_cidr: cli.cluster_cidr.map(|c| c.trunc()),
        masquerade_bit: cli.masquerade_bit,
        random_fully,
    }
}

fn conntrack_available() -> bool {
    std::process::Command::new("conntrack")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
