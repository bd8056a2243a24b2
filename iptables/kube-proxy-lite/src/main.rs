//! kube-proxy-lite: programs Kubernetes Services into iptables the way
//! kube-proxy's iptables mode does, from a file holding a `List` of Services
//! and Endpoints. Thin: the loop lives in [`kube_proxy_lite::daemon`], the
//! rules and the sync engine in `flannel_iptables::{proxier, kube}`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use flannel_iptables::conntrack::Conntrack;
use flannel_iptables::kube::ParseOptions;
use flannel_iptables::proxier::dry_run_payload;
use flannel_iptables::{Iptables, Proxier, ProxyConfig};
use ipnet::Ipv4Net;
use kube_proxy_lite::daemon::{self, Options};
use kube_proxy_lite::watch::install_stop_handler;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Program Kubernetes Services into iptables (kube-proxy's iptables layout).
#[derive(Debug, Parser)]
#[command(name = "kube-proxy-lite", version)]
struct Cli {
    /// Desired state: a JSON `List` of Service and Endpoints objects (as
    /// printed by `kubectl get svc,endpoints -A -o json`); re-read on change.
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// Watch an API server instead (not available yet).
    #[arg(long, value_name = "URL")]
    api_server: Option<String>,
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

fn run(cli: Cli) -> Result<()> {
    if let Some(url) = &cli.api_server {
        bail!(
            "--api-server {url}: the control-plane API server does not exist yet; \
             give the desired state with --services FILE"
        );
    }
    let Some(path) = cli.services.clone() else {
        bail!("--services FILE is required (the desired state; --api-server is not available yet)");
    };
    if cli.sync_period.is_zero() {
        bail!("--sync-period must be greater than 0");
    }
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
    tracing::info!(
        services = %path.display(),
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
        daemon::run_once(&mut proxier, &opts)?;
        return Ok(());
    }
    let stop = install_stop_handler();
    daemon::run(&mut proxier, &opts, stop);
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
