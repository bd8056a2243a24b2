//! `bench-cni`: measures the `flannel` CNI plugin's built-in fast path (bridge + host-local IPAM
//! done in-process) against the reference chain it replaces, Debian's `/usr/lib/cni/bridge` with
//! `/usr/lib/cni/host-local` (containernetworking-plugins), both executed the same way, in the
//! same lab, in the same run:
//!
//! 1. latency: N sequential ADDs (N distinct pod namespaces and container IDs), then N DELs;
//!    p50/p99 per operation for flannel built-in, flannel `execDelegate` (-> bridge ->
//!    host-local, for information) and the reference chain;
//! 2. parallel: M ADDs started at once (M concurrent plugin processes), time until all finished
//!    (the M addresses must be distinct), then M parallel DELs.
//!
//! Everything runs in a 1-node lab (`fl-<6 hex>-*` namespaces, deleted when the lab is dropped).
//! The plugins run inside the node namespace: the benchmark re-executes itself there
//! (`ip netns exec <node> bench-cni --inner <job.json>`) and that inner process spawns every
//! plugin invocation directly, as a runtime would (config on stdin, result read from stdout),
//! timing each from spawn to exit; it prints raw timings as JSON, the outer process the report.
//! Pod namespaces are `<lab prefix>-bp-<i>`, created once; between runs the node's `cni0` is
//! deleted (the DELs removed everything else, which each run checks), so every implementation
//! starts from the same state; after a failed run the pod namespaces are recreated.
//! IPAM data dirs and flannel's saved-state dirs are separate per run. Every plugin gets the
//! same environment (PATH, CNI_COMMAND/CONTAINERID/NETNS/IFNAME=eth0, CNI_PATH=/usr/lib/cni).
//! Each run checks its results: every ADD returns an address, all distinct, every pod is a port
//! of `cni0`; after the DELs no port, no IPAM allocation and no saved flannel state is left.
//!
//! For context, the latency step also reports floors measured by the same runner: spawning
//! `/bin/true`, and `ip link add` / `ip link del` of a veth pair (the kernel's share of an ADD
//! and a DEL), and the in-process kernel work of the built-in ADD without any process: the
//! plugin library's `Kernel` doing `ensure_bridge` + `enable_ip_forward` + `add_veth` +
//! `configure_pod` for each of the first pods, as `cni-plugin/tests/kernel_netns.rs`'s timed
//! "full" scenario does (undone before the plugins run).
//!
//! Runs alternate: every round runs each implementation once (latency: built-in, execDelegate,
//! reference; parallel: built-in, reference), each run one sample under the CPU-steal check of
//! `flannel_integration::bench` (rerun when steal exceeded `--max-steal`). The summary prints
//! each run's p50 as median [min .. max] over the rounds and the reference / built-in ratio as
//! the spread of the per-round ratios. The load average is printed too.
//!
//! Exit status: 0 when every step ran and checked out (a missed target prints MISS but is not a
//! failure), 1 when a step failed, 2 on bad usage. If the process is SIGKILLed, remove the lab
//! with `lab-cleanup`.
//!
//! Set `FLANNEL_BIN_DIR=target/release` to benchmark the release plugin.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use flannel_cni::dataplane::{BridgeConfig, Dataplane, PodIface, PodRoute};
use flannel_cni::kernel::Kernel;
use flannel_integration::bench::{
    exit_code, percentile, print_rows, ratio_spread, ratios, spread, Row, Sampler, Spread,
    StealOpts,
};
use flannel_integration::{require_root, try_workspace_bin, Lab};
use serde_json::{json, Value};

const REF_DIR: &str = "/usr/lib/cni";
const NETWORK: &str = "10.244.0.0/16";
const SUBNET: &str = "10.244.1.0/24";
const SUBNET_GW: &str = "10.244.1.1/24";
const MTU: u32 = 1450;
const NET_NAME: &str = "cbr0";
const BRIDGE: &str = "cni0";
/// Usable addresses of the /24 are .2 ..= .254.
const MAX_PODS: u64 = 250;
/// Pods of the in-process kernel figure (at most the run's pods).
const KERNEL_RUNS: usize = 20;
/// Target: reference p50 / ours p50 at least this.
const TARGET_RATIO: f64 = 4.0;
/// Per plugin invocation; a hung plugin is SIGKILLed and the step fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Veth pairs created and deleted to measure the kernel's share of an ADD and a DEL.
const VETH_FLOOR_RUNS: usize = 20;
/// Pause before every run.
const SETTLE_PAUSE: Duration = Duration::from_secs(1);
/// Pause after deleting pod namespaces (the kernel tears them down asynchronously).
const NETNS_TEARDOWN_PAUSE: Duration = Duration::from_secs(3);
/// Time the inner runner spends on best-effort DELs after a failure.
const CLEANUP_BUDGET: Duration = Duration::from_secs(20);
/// Runs of `/bin/true` measuring the process spawn floor of the inner runner.
const FLOOR_RUNS: usize = 50;
/// Environment every plugin invocation gets (on top of the CNI_* variables).
const PLUGIN_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Step {
    Latency,
    Parallel,
}

/// Measures the flannel CNI plugin's built-in path against the reference bridge + host-local
/// chain, runs alternated over rounds.
#[derive(Parser, Debug)]
#[command(name = "bench-cni")]
struct Opts {
    /// Run only this step.
    #[arg(long, value_enum)]
    only: Option<Step>,
    /// Pods of each latency run (sequential ADDs, then DELs).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=MAX_PODS))]
    pods: u64,
    /// ADDs started at once in each parallel run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_PODS))]
    parallel: u64,
    /// Rounds; each runs every implementation once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    #[command(flatten)]
    steal: StealOpts,
    /// Internal: run the job file inside the node namespace (started by bench-cni itself).
    #[arg(long, hide = true, value_name = "JOB")]
    inner: Option<PathBuf>,
}

impl Opts {
    fn wants(&self, s: Step) -> bool {
        self.only.is_none_or(|o| o == s)
    }
}

fn main() -> ExitCode {
    // The inner runner prints JSON only; it is not `main_with`'s business.
    let opts = Opts::parse();
    if let Some(job) = &opts.inner {
        return match inner_main(job) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-cni --inner: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    exit_code("bench-cni", run(&opts))
}

// ------------------------------------------------------------------ implementations

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    /// flannel with its built-in bridge + host-local.
    Ours,
    /// flannel with `execDelegate: true` (executes /usr/lib/cni/bridge).
    OursExec,
    /// /usr/lib/cni/bridge + host-local directly.
    Reference,
}

impl Impl {
    fn key(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::OursExec => "exec",
            Impl::Reference => "ref",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Impl::Ours => "flannel built-in",
            Impl::OursExec => "flannel execDelegate (-> bridge -> host-local)",
            Impl::Reference => "reference bridge+host-local",
        }
    }

    fn plugin(self, flannel: &Path) -> PathBuf {
        match self {
            Impl::Ours | Impl::OursExec => flannel.to_path_buf(),
            Impl::Reference => Path::new(REF_DIR).join("bridge"),
        }
    }

    /// Network config (stdin of every invocation) for a run using `dir` for its state.
    fn config(self, subnet_file: &Path, dir: &Path) -> String {
        let ipam_dir = dir.join("ipam").display().to_string();
        let data_dir = dir.join("flannel").display().to_string();
        let v = match self {
            Impl::Ours | Impl::OursExec => {
                let mut v = json!({
                    "cniVersion": "1.0.0",
                    "name": NET_NAME,
                    "type": "flannel",
                    "subnetFile": subnet_file.display().to_string(),
                    "dataDir": data_dir,
                    "ipam": {"dataDir": ipam_dir},
                    "delegate": {"hairpinMode": true, "isDefaultGateway": true},
                });
                if self == Impl::OursExec {
                    v["execDelegate"] = json!(true);
                }
                v
            }
            Impl::Reference => json!({
                "cniVersion": "1.0.0",
                "name": NET_NAME,
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "isDefaultGateway": true,
                "hairpinMode": true,
                "ipMasq": false,
                "mtu": MTU,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET}]],
                    "routes": [{"dst": NETWORK}],
                    "dataDir": ipam_dir,
                },
            }),
        };
        v.to_string()
    }
}

// ------------------------------------------------------------------ outer: report

/// Raw timings of one run, as printed by the inner process.
struct RunResult {
    add_ms: Vec<f64>,
    del_ms: Vec<f64>,
    add_wall_ms: f64,
    del_wall_ms: f64,
    floor_ms: Vec<f64>,
    veth_add_ms: Vec<f64>,
    veth_del_ms: Vec<f64>,
    /// In-process `Kernel` ADD work per pod (latency runs of the built-in plugin only).
    kernel_add_ms: Vec<f64>,
    kernel_new_ms: f64,
    ips: Vec<String>,
}

fn mean(samples: &[f64]) -> f64 {
    samples.iter().sum::<f64>() / samples.len().max(1) as f64
}

fn run(opts: &Opts) -> Result<bool> {
    require_root();
    let started = Instant::now();
    let flannel = try_workspace_bin("flannel")?;
    let flannel = flannel
        .canonicalize()
        .with_context(|| format!("resolving {}", flannel.display()))?;
    for p in ["bridge", "host-local"] {
        let path = Path::new(REF_DIR).join(p);
        ensure!(
            path.is_file(),
            "reference plugin {} missing: install the Debian package containernetworking-plugins",
            path.display()
        );
    }
    let exe = std::env::current_exe().context("locating the bench-cni executable")?;
    println!("bench-cni: flannel plugin   {}", flannel.display());
    if !flannel.components().any(|c| c.as_os_str() == "release") {
        println!(
            "bench-cni: WARNING: that is not a release build; set FLANNEL_BIN_DIR=target/release"
        );
    }
    println!("bench-cni: reference chain  {REF_DIR}/bridge + {REF_DIR}/host-local");
    println!("bench-cni: runner           {}", exe.display());
    println!(
        "bench-cni: pods={} parallel={} (each invocation timed from spawn to exit by a runner \
         inside the node namespace)",
        opts.pods, opts.parallel
    );

    println!(
        "bench-cni: {} CPU(s), load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );

    let lab = Lab::new(1)?;
    let bench = Bench::new(&lab, exe, flannel)?;
    println!("bench-cni: lab {} (node {})", lab.prefix(), bench.node);

    let mut failures: Vec<String> = Vec::new();
    let mut results: Vec<((Step, Impl), RunResult)> = Vec::new();
    let mut sampler = Sampler::new(&opts.steal);
    let (n_pods, n_par) = (usize::try_from(opts.pods)?, usize::try_from(opts.parallel)?);
    let mut run_no = 0usize;
    let mut plan = Vec::new();
    if opts.wants(Step::Latency) {
        for imp in [Impl::Ours, Impl::OursExec, Impl::Reference] {
            plan.push((Step::Latency, imp, n_pods));
        }
    }
    if opts.wants(Step::Parallel) {
        for imp in [Impl::Ours, Impl::Reference] {
            plan.push((Step::Parallel, imp, n_par));
        }
    }
    let pods = plan.iter().map(|(_, _, n)| *n).max().unwrap_or(0);
    bench.create_pods(pods)?;
    for round in 1..=opts.rounds {
        println!("\n==== round {round}/{}", opts.rounds);
        for &(step, imp, n) in &plan {
            let what = match step {
                Step::Latency => format!("latency, {}: {n} sequential ADDs then DELs", imp.label()),
                Step::Parallel => format!("parallel, {}: {n} ADDs at once, then DELs", imp.label()),
            };
            println!("\n== {what}");
            let sample = sampler.sample(&what, || {
                run_no += 1;
                // Let the previous run's deferred kernel work (veth teardown) finish.
                std::thread::sleep(SETTLE_PAUSE);
                let t0 = Instant::now();
                let outcome = bench.run(run_no, imp, step, n);
                // Reset to the initial state whatever happened; if that fails nothing after it
                // is comparable, so stop.
                bench
                    .reset(outcome.is_ok(), pods)
                    .with_context(|| format!("resetting the node after run {run_no}"))?;
                Ok((outcome, t0.elapsed()))
            })?;
            match sample.value {
                (Ok(r), took) => {
                    print_run(step, &r);
                    println!(
                        "   ({:.1} s; steal {:.1}%)",
                        took.as_secs_f64(),
                        sample.steal
                    );
                    results.push(((step, imp), r));
                }
                (Err(e), _) => {
                    println!("   FAILED: {e:#}");
                    failures.push(format!("{what}: {e:#}"));
                }
            }
        }
    }

    let get = |s: Step, i: Impl| -> Vec<&RunResult> {
        results
            .iter()
            .filter(|(k, _)| *k == (s, i))
            .map(|(_, r)| r)
            .collect()
    };
    let ms = |v: f64| format!("{v:.2} ms");
    // "p50 M [..] / p99 M [..]" over the runs of one implementation.
    let p50_p99_runs = |runs: &[&RunResult], pick: fn(&RunResult) -> &Vec<f64>| -> String {
        if runs.is_empty() {
            return "FAILED".into();
        }
        let p50: Vec<f64> = runs.iter().map(|r| percentile(pick(r), 50.0)).collect();
        let p99: Vec<f64> = runs.iter().map(|r| percentile(pick(r), 99.0)).collect();
        format!("{} / {}", spread(&p50, ms), spread(&p99, ms))
    };
    let p50s = |runs: &[&RunResult], pick: fn(&RunResult) -> &Vec<f64>| -> Vec<f64> {
        runs.iter().map(|r| percentile(pick(r), 50.0)).collect()
    };
    let mut rows = Vec::new();
    if opts.wants(Step::Latency) {
        let ours = get(Step::Latency, Impl::Ours);
        let exec = get(Step::Latency, Impl::OursExec);
        let reference = get(Step::Latency, Impl::Reference);
        let mut info_rows = Vec::new();
        for (op, pick) in [
            (
                "ADD",
                (|r: &RunResult| &r.add_ms) as fn(&RunResult) -> &Vec<f64>,
            ),
            ("DEL", |r: &RunResult| &r.del_ms),
        ] {
            let mut row = Row::new(format!("{op} sequential ({} pods)", opts.pods));
            row.ours = p50_p99_runs(&ours, pick);
            row.baseline = p50_p99_runs(&reference, pick);
            row.target = format!("median >= {TARGET_RATIO:.0}x");
            if !ours.is_empty() && !reference.is_empty() {
                let (o, r) = (p50s(&ours, pick), p50s(&reference, pick));
                row.ratio = ratio_spread(&r, &o);
                let ok = Spread::of(&ratios(&r, &o)).is_some_and(|s| s.median >= TARGET_RATIO);
                row.result = if ok { "PASS" } else { "MISS" }.into();
            } else {
                row.result = "FAILED".into();
            }
            rows.push(row);
            let mut row = Row::new(format!("{op} sequential, flannel execDelegate (info)"));
            row.result = "info".into();
            row.ours = p50_p99_runs(&exec, pick);
            row.baseline = p50_p99_runs(&reference, pick);
            if !exec.is_empty() && !reference.is_empty() {
                row.ratio = ratio_spread(&p50s(&reference, pick), &p50s(&exec, pick));
            }
            row.target = "-".into();
            info_rows.push(row);
        }
        rows.append(&mut info_rows);
        let all: Vec<&RunResult> = ours.iter().chain(&reference).copied().collect();
        if !ours.is_empty() {
            // What kernel_netns.rs's timed "full" scenario measures: the kernel work of the
            // built-in ADD, in-process, next to the `ip link add` veth floor.
            let mut row = Row::new(format!(
                "in-process Kernel ADD work, {} pods: ensure_bridge + add_veth + configure_pod (info)",
                ours.first().map_or(0, |r| r.kernel_add_ms.len())
            ));
            row.ours = p50_p99_runs(&ours, |r| &r.kernel_add_ms);
            row.baseline = format!(
                "{} `ip link add` veth",
                p50_p99_runs(&ours, |r| &r.veth_add_ms)
            );
            // As in the other rows: baseline / ours.
            row.ratio = ratio_spread(
                &p50s(&ours, |r| &r.veth_add_ms),
                &p50s(&ours, |r| &r.kernel_add_ms),
            );
            row.result = "info".into();
            rows.push(row);
            let mut row = Row::new("in-process Kernel::new (info)");
            row.ours = spread(
                &ours.iter().map(|r| r.kernel_new_ms).collect::<Vec<_>>(),
                ms,
            );
            row.result = "info".into();
            rows.push(row);
        }
        if !all.is_empty() {
            // Measured by the runner at the start of each run: the cost of spawning any process.
            let mut row = Row::new("spawn floor: /bin/true (info)");
            row.ours = p50_p99_runs(&ours, |r| &r.floor_ms);
            row.baseline = p50_p99_runs(&reference, |r| &r.floor_ms);
            row.result = "info".into();
            rows.push(row);
            for (what, pick) in [
                (
                    "add",
                    (|r: &RunResult| &r.veth_add_ms) as fn(&RunResult) -> &Vec<f64>,
                ),
                ("del", |r: &RunResult| &r.veth_del_ms),
            ] {
                let mut row = Row::new(format!("kernel floor: `ip link {what}` veth pair (info)"));
                row.ours = p50_p99_runs(&ours, pick);
                row.baseline = p50_p99_runs(&reference, pick);
                row.result = "info".into();
                rows.push(row);
            }
        }
    }
    if opts.wants(Step::Parallel) {
        let ours = get(Step::Parallel, Impl::Ours);
        let reference = get(Step::Parallel, Impl::Reference);
        for (op, pick) in [
            (
                "ADD",
                (|r: &RunResult| r.add_wall_ms) as fn(&RunResult) -> f64,
            ),
            ("DEL", |r: &RunResult| r.del_wall_ms),
        ] {
            let mut row = Row::new(format!(
                "{op} x{} in parallel, until all done",
                opts.parallel
            ));
            let o: Vec<f64> = ours.iter().map(|r| pick(r)).collect();
            let r: Vec<f64> = reference.iter().map(|r| pick(r)).collect();
            let total = |v: &[f64]| {
                if v.is_empty() {
                    "FAILED".into()
                } else {
                    format!("{} (total)", spread(v, |x| format!("{x:.1} ms")))
                }
            };
            row.ours = total(&o);
            row.baseline = total(&r);
            if !o.is_empty() && !r.is_empty() {
                row.ratio = ratio_spread(&r, &o);
                row.result = if op == "ADD" {
                    "ok, IPs distinct".into()
                } else {
                    "ok".into()
                };
            } else {
                row.result = "FAILED".into();
            }
            rows.push(row);
        }
    }

    println!(
        "\n==== summary (flannel plugin {}, total {:.0} s)",
        bench.flannel.display(),
        started.elapsed().as_secs_f64()
    );
    print_rows(
        [
            "op",
            "flannel built-in p50 / p99",
            "reference bridge+host-local p50 / p99",
            "ratio p50",
            "target",
            "result",
        ],
        &rows,
    );
    println!(
        "(load average at the end: {}; {}; figures are median [min .. max] over {} round(s))",
        loadavg(),
        sampler.summary(),
        opts.rounds
    );
    if !failures.is_empty() {
        println!("\n{} step(s) FAILED:", failures.len());
        for f in &failures {
            println!("  - {f}");
        }
    }
    drop(bench);
    drop(lab);
    Ok(failures.is_empty())
}

/// The first three fields of /proc/loadavg (other work on the machine skews the figures).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn print_run(step: Step, r: &RunResult) {
    let mut sorted: Vec<std::net::Ipv4Addr> = r
        .ips
        .iter()
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect();
    sorted.sort();
    if let (Some(lo), Some(hi)) = (sorted.first(), sorted.last()) {
        println!(
            "   {} distinct addresses handed out, {lo} .. {hi} (first result: {})",
            r.ips.len(),
            r.ips.first().map_or("-", String::as_str)
        );
    }
    let line = |op: &str, v: &[f64]| {
        println!(
            "   {op}: n={} p50 {:.2} ms, p99 {:.2} ms, min {:.2}, mean {:.2}, max {:.2} ms",
            v.len(),
            percentile(v, 50.0),
            percentile(v, 99.0),
            percentile(v, 0.0),
            mean(v),
            percentile(v, 100.0)
        )
    };
    match step {
        Step::Latency => {
            line("ADD", &r.add_ms);
            line("DEL", &r.del_ms);
            println!(
                "   floors (p50): /bin/true {:.2} ms, ip link add veth {:.2} ms, \
                 ip link del veth {:.2} ms",
                percentile(&r.floor_ms, 50.0),
                percentile(&r.veth_add_ms, 50.0),
                percentile(&r.veth_del_ms, 50.0)
            );
        }
        Step::Parallel => {
            println!(
                "   ADD: all {} done after {:.1} ms (slowest single call {:.1} ms)",
                r.add_ms.len(),
                r.add_wall_ms,
                percentile(&r.add_ms, 100.0)
            );
            println!(
                "   DEL: all {} done after {:.1} ms (slowest single call {:.1} ms)",
                r.del_ms.len(),
                r.del_wall_ms,
                percentile(&r.del_ms, 100.0)
            );
        }
    }
}

// ------------------------------------------------------------------ outer: runs

struct Bench<'a> {
    lab: &'a Lab,
    node: String,
    exe: PathBuf,
    flannel: PathBuf,
    subnet_file: PathBuf,
}

impl<'a> Bench<'a> {
    fn new(lab: &'a Lab, exe: PathBuf, flannel: PathBuf) -> Result<Bench<'a>> {
        let subnet_file = lab.dir().join("subnet.env");
        std::fs::write(
            &subnet_file,
            format!(
                "FLANNEL_NETWORK={NETWORK}\nFLANNEL_SUBNET={SUBNET_GW}\nFLANNEL_MTU={MTU}\n\
                 FLANNEL_IPMASQ=true\n"
            ),
        )
        .with_context(|| format!("writing {}", subnet_file.display()))?;
        Ok(Bench {
            node: lab.node_ns(1),
            lab,
            exe,
            flannel,
            subnet_file,
        })
    }

    /// Errors unless `ns` is a namespace name of this lab (`<prefix>-...`).
    fn own(&self, ns: &str) -> Result<()> {
        let own = format!("{}-", self.lab.prefix());
        ensure!(
            ns.starts_with(&own) && ns.len() > own.len() && !ns.contains(['/', ' ']),
            "namespace {ns:?} is not part of lab {} (refusing to touch it)",
            self.lab.prefix()
        );
        Ok(())
    }

    fn pod_ns(&self, i: usize) -> String {
        format!("{}-bp-{i}", self.lab.prefix())
    }

    /// Creates the pod namespaces `<prefix>-bp-0 .. -<n-1>` (deleting any left over first).
    fn create_pods(&self, n: usize) -> Result<()> {
        self.delete_pods()?;
        let names: Vec<String> = (0..n).map(|i| self.pod_ns(i)).collect();
        self.netns_batch("add", &names)
            .context("creating pod namespaces")
    }

    /// Deletes every pod namespace of the lab; then lets the kernel's asynchronous namespace
    /// teardown finish before anything is measured.
    fn delete_pods(&self) -> Result<()> {
        let own = format!("{}-bp-", self.lab.prefix());
        let names: Vec<String> = list_ns()?
            .into_iter()
            .filter(|ns| ns.starts_with(&own))
            .collect();
        if !names.is_empty() {
            self.netns_batch("del", &names)
                .context("deleting pod namespaces")?;
            std::thread::sleep(NETNS_TEARDOWN_PAUSE);
        }
        Ok(())
    }

    /// `ip -n NS args...`; `ns` must belong to the lab.
    fn ipn(&self, ns: &str, args: &[&str]) -> Result<std::process::Output> {
        self.own(ns)?;
        Command::new("ip")
            .arg("-n")
            .arg(ns)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running ip -n {ns} {}", args.join(" ")))
    }

    fn ipn_ok(&self, ns: &str, args: &[&str]) -> Result<String> {
        let out = self.ipn(ns, args)?;
        ensure!(
            out.status.success(),
            "ip -n {ns} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ip -batch -` with one `netns add|del NAME` line per namespace (all checked to be
    /// lab namespaces).
    fn netns_batch(&self, verb: &str, names: &[String]) -> Result<()> {
        let mut script = String::new();
        for n in names {
            self.own(n)?;
            let _ = writeln!(script, "netns {verb} {n}");
        }
        let mut child = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting ip -batch")?;
        child
            .stdin
            .take()
            .context("ip -batch stdin")?
            .write_all(script.as_bytes())
            .context("writing to ip -batch")?;
        let out = child.wait_with_output().context("waiting for ip -batch")?;
        ensure!(
            out.status.success(),
            "ip -batch (netns {verb} x{}) failed ({}): {}",
            names.len(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    fn run_dir(&self, run: usize, imp: Impl, step: Step) -> PathBuf {
        let s = match step {
            Step::Latency => "seq",
            Step::Parallel => "par",
        };
        self.lab.dir().join(format!("run{run}-{}-{s}", imp.key()))
    }

    /// One run: fresh pod namespaces, the inner runner in the node namespace, checks that DEL
    /// left nothing behind. The caller resets the node afterwards, whatever the outcome.
    fn run(&self, run: usize, imp: Impl, step: Step, n: usize) -> Result<RunResult> {
        let dir = self.run_dir(run, imp, step);
        for sub in ["ipam", "flannel"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        // The node starts without cni0 and without pods.
        ensure!(
            !self
                .ipn(&self.node, &["link", "show", BRIDGE])?
                .status
                .success(),
            "{BRIDGE} exists in {} before the run",
            self.node
        );
        let pods: Vec<Value> = (0..n)
            .map(|i| {
                let ns = self.pod_ns(i);
                self.own(&ns)?;
                ensure!(
                    Path::new("/run/netns").join(&ns).exists(),
                    "pod namespace {ns} missing"
                );
                Ok(json!([
                    format!("bench-{run}-{i:04}"),
                    format!("/run/netns/{ns}")
                ]))
            })
            .collect::<Result<_>>()?;
        let (dev, ino) = ns_id("/proc/self/ns/net")?;
        let job = json!({
            "prefix": self.lab.prefix(),
            "node": self.node,
            "outer_netns": [dev, ino],
            "plugin": imp.plugin(&self.flannel).display().to_string(),
            "config": imp.config(&self.subnet_file, &dir),
            "cni_path": REF_DIR,
            "parallel": step == Step::Parallel,
            "floor": step == Step::Latency,
            "kernel": step == Step::Latency && imp == Impl::Ours,
            "pods": pods,
        });
        let job_path = dir.join("job.json");
        std::fs::write(&job_path, job.to_string())
            .with_context(|| format!("writing {}", job_path.display()))?;

        self.own(&self.node)?;
        let out = Command::new("ip")
            .arg("netns")
            .arg("exec")
            .arg(&self.node)
            .arg(&self.exe)
            .arg("--inner")
            .arg(&job_path)
            .stdin(Stdio::null())
            .output()
            .context("starting the inner runner (ip netns exec)")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("inner runner failed ({}): {}", out.status, stderr.trim());
        }
        let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "parsing the inner runner's output {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        let nums = |k: &str| -> Result<Vec<f64>> {
            v[k].as_array()
                .with_context(|| format!("inner output lacks {k}"))?
                .iter()
                .map(|x| x.as_f64().with_context(|| format!("bad number in {k}")))
                .collect()
        };
        let num = |k: &str| {
            v[k].as_f64()
                .with_context(|| format!("inner output lacks {k}"))
        };
        let r = RunResult {
            add_ms: nums("add_ms")?,
            del_ms: nums("del_ms")?,
            add_wall_ms: num("add_wall_ms")?,
            del_wall_ms: num("del_wall_ms")?,
            floor_ms: nums("floor_ms")?,
            veth_add_ms: nums("veth_add_ms")?,
            veth_del_ms: nums("veth_del_ms")?,
            kernel_add_ms: nums("kernel_add_ms")?,
            kernel_new_ms: num("kernel_new_ms")?,
            ips: v["ips"]
                .as_array()
                .context("inner output lacks ips")?
                .iter()
                .map(|x| x.as_str().map(str::to_string).context("bad address in ips"))
                .collect::<Result<_>>()?,
        };
        ensure!(
            r.add_ms.len() == n && r.del_ms.len() == n,
            "inner runner reported {} ADD and {} DEL timings for {n} pods",
            r.add_ms.len(),
            r.del_ms.len()
        );
        self.check_clean(&dir)
            .context("state left behind after every DEL succeeded")?;
        Ok(r)
    }

    /// After all DELs: no veth on cni0, no address still allocated in the IPAM dir, no saved
    /// flannel state.
    fn check_clean(&self, dir: &Path) -> Result<()> {
        let ports = self.ipn_ok(&self.node, &["-o", "link", "show", "master", BRIDGE])?;
        let ports: Vec<&str> = ports.lines().filter(|l| !l.trim().is_empty()).collect();
        ensure!(
            ports.is_empty(),
            "{} port(s) still on {BRIDGE}: {}",
            ports.len(),
            ports.first().copied().unwrap_or_default()
        );
        let ipam = dir.join("ipam").join(NET_NAME);
        let mut leaked = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&ipam) {
            for e in rd {
                let name = e
                    .with_context(|| format!("listing {}", ipam.display()))?
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if name.parse::<std::net::IpAddr>().is_ok() {
                    leaked.push(name);
                }
            }
        }
        ensure!(
            leaked.is_empty(),
            "{} address(es) still allocated in {}: {}",
            leaked.len(),
            ipam.display(),
            leaked.join(" ")
        );
        let data = dir.join("flannel");
        if let Ok(rd) = std::fs::read_dir(&data) {
            let saved: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("bench-"))
                .collect();
            ensure!(
                saved.is_empty(),
                "{} saved delegate config(s) left in {}",
                saved.len(),
                data.display()
            );
        }
        Ok(())
    }

    /// Back to the initial state: the node's cni0 deleted and `n` empty pod namespaces. After a
    /// clean run (every DEL succeeded, no port left on cni0, so no veth left in any pod) the pod
    /// namespaces are reused: deleting and recreating them would leave the kernel tearing down
    /// namespaces in the background during the next run. After a failed run they are recreated.
    fn reset(&self, clean: bool, n: usize) -> Result<()> {
        if !clean {
            self.create_pods(n)?;
        }
        if self
            .ipn(&self.node, &["link", "show", BRIDGE])?
            .status
            .success()
        {
            self.ipn_ok(&self.node, &["link", "del", BRIDGE])?;
        }
        Ok(())
    }
}

fn list_ns() -> Result<Vec<String>> {
    flannel_integration::list_namespaces()
}

// ------------------------------------------------------------------ inner runner

/// Outcome of one plugin invocation.
struct Call {
    ms: f64,
    end: Instant,
    stdout: Vec<u8>,
}

/// Kills the armed child (and its process group) if it runs longer than [`CALL_TIMEOUT`]; one
/// per invoking thread so that timing is not disturbed by creating a thread per call.
struct Watchdog {
    tx: mpsc::Sender<Option<u32>>,
    fired: Arc<AtomicBool>,
}

impl Watchdog {
    fn new() -> Watchdog {
        let (tx, rx) = mpsc::channel::<Option<u32>>();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        std::thread::spawn(move || {
            while let Ok(msg) = rx.recv() {
                let Some(pid) = msg else { continue };
                match rx.recv_timeout(CALL_TIMEOUT) {
                    Ok(_) => {}
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        f.store(true, Ordering::SeqCst);
                        if let Ok(pid) = i32::try_from(pid) {
                            // SAFETY: kill(2) on the process group of our own child (it leads
                            // it, and has not been reaped: the invoking thread disarms only
                            // after wait returned). The whole group, so that grandchildren
                            // holding the output pipes die too.
                            unsafe {
                                libc::kill(-pid, libc::SIGKILL);
                            }
                        }
                        // Wait for the disarm of this call.
                        if rx.recv().is_err() {
                            return;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Watchdog { tx, fired }
    }
}

struct Job {
    node: String,
    outer_netns: (u64, u64),
    plugin: PathBuf,
    config: String,
    cni_path: String,
    parallel: bool,
    floor: bool,
    /// Also time the in-process kernel work of the built-in ADD.
    kernel: bool,
    pods: Vec<(String, String)>,
}

fn read_job(path: &Path) -> Result<Job> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).context("parsing the job")?;
    let s = |k: &str| -> Result<String> {
        Ok(v[k]
            .as_str()
            .with_context(|| format!("job lacks {k}"))?
            .to_string())
    };
    let prefix = s("prefix")?;
    ensure!(
        prefix.starts_with(flannel_integration::PREFIX_ROOT),
        "bad lab prefix {prefix:?}"
    );
    let netns_root = format!("/run/netns/{prefix}-");
    let mut pods = Vec::new();
    for p in v["pods"].as_array().context("job lacks pods")? {
        let id = p[0].as_str().context("pod without container id")?;
        let ns = p[1].as_str().context("pod without netns")?;
        // Safety: plugins only ever get namespaces of this lab.
        ensure!(
            ns.starts_with(&netns_root) && !ns.contains(".."),
            "pod netns {ns} is not a namespace of lab {prefix}"
        );
        pods.push((id.to_string(), ns.to_string()));
    }
    let node = s("node")?;
    ensure!(
        node.starts_with(&format!("{prefix}-")) && !node.contains(['/', ' ']),
        "node namespace {node:?} is not part of lab {prefix}"
    );
    let outer = v["outer_netns"]
        .as_array()
        .context("job lacks outer_netns")?;
    let outer_netns = (
        outer
            .first()
            .and_then(Value::as_u64)
            .context("bad outer_netns")?,
        outer
            .get(1)
            .and_then(Value::as_u64)
            .context("bad outer_netns")?,
    );
    Ok(Job {
        node,
        outer_netns,
        plugin: PathBuf::from(s("plugin")?),
        config: s("config")?,
        cni_path: s("cni_path")?,
        parallel: v["parallel"].as_bool().context("job lacks parallel")?,
        floor: v["floor"].as_bool().context("job lacks floor")?,
        kernel: v["kernel"].as_bool().context("job lacks kernel")?,
        pods,
    })
}

/// (device, inode) of a network namespace file.
fn ns_id(path: &str) -> Result<(u64, u64)> {
    let m = std::fs::metadata(path).with_context(|| format!("stat {path}"))?;
    Ok((m.dev(), m.ino()))
}

/// Refuses to run plugins anywhere but in the lab node's namespace: the runner's network
/// namespace must be `/run/netns/<node>` and differ from the outer process's (the host's).
fn ensure_in_node_netns(job: &Job) -> Result<()> {
    let me = ns_id("/proc/self/ns/net")?;
    ensure!(
        me != job.outer_netns,
        "the inner runner is in the outer (host) network namespace; refusing to run plugins here"
    );
    let node = ns_id(&format!("/run/netns/{}", job.node))?;
    ensure!(
        me == node,
        "the inner runner is not in the network namespace of {}; refusing to run plugins",
        job.node
    );
    Ok(())
}

fn inner_main(job_path: &Path) -> Result<()> {
    let job = Arc::new(read_job(job_path)?);
    ensure_in_node_netns(&job)?;
    let wd = Watchdog::new();
    // Warm the page cache and the dynamic loader for every binary involved.
    for bin in [
        job.plugin.clone(),
        Path::new(&job.cni_path).join("host-local"),
        Path::new(&job.cni_path).join("bridge"),
    ] {
        let version = r#"{"cniVersion":"1.0.0"}"#;
        let _ = invoke(&wd, &job, &bin, "VERSION", "warmup", "", version);
    }
    let (floor_ms, (veth_add_ms, veth_del_ms)) = if job.floor {
        let t = Path::new("/bin/true");
        let spawn = (0..FLOOR_RUNS)
            .map(|_| invoke(&wd, &job, t, "VERSION", "floor", "", "").map(|c| c.ms))
            .collect::<Result<_>>()
            .context("running /bin/true")?;
        (spawn, veth_floor(&wd)?)
    } else {
        (Vec::new(), (Vec::new(), Vec::new()))
    };
    let (kernel_new_ms, kernel_add_ms) = if job.kernel {
        kernel_floor(&job).context("in-process kernel ADD work")?
    } else {
        (0.0, Vec::new())
    };

    let result = if job.parallel {
        run_parallel(&job)
    } else {
        run_sequential(&wd, &job)
    };
    match result {
        Ok(p) => {
            let out = json!({
                "ips": p.ips,
                "add_ms": p.add_ms,
                "del_ms": p.del_ms,
                "add_wall_ms": p.add_wall_ms,
                "del_wall_ms": p.del_wall_ms,
                "floor_ms": floor_ms,
                "veth_add_ms": veth_add_ms,
                "veth_del_ms": veth_del_ms,
                "kernel_new_ms": kernel_new_ms,
                "kernel_add_ms": kernel_add_ms,
            });
            println!("{out}");
            Ok(())
        }
        Err(e) => {
            // Best effort, bounded: release whatever was set up (the outer deletes the
            // namespaces and the bridge anyway).
            let t0 = Instant::now();
            for (id, ns) in &job.pods {
                if t0.elapsed() > CLEANUP_BUDGET {
                    break;
                }
                let _ = invoke(&wd, &job, &job.plugin, "DEL", id, ns, &job.config);
            }
            Err(e)
        }
    }
}

/// Timings of one run's ADD phase and DEL phase.
struct Phases {
    /// Per call, spawn to exit.
    add_ms: Vec<f64>,
    del_ms: Vec<f64>,
    /// Whole phase: first spawn (release of all threads when parallel) to the last exit.
    add_wall_ms: f64,
    del_wall_ms: f64,
    /// Addresses handed out by the ADDs (CIDR form).
    ips: Vec<String>,
}

fn to_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Address (CIDR) of the first `ips` entry of an ADD result.
fn result_ip(call: &Call, id: &str) -> Result<String> {
    let v: Value = serde_json::from_slice(&call.stdout).with_context(|| {
        format!(
            "ADD {id}: result is not JSON: {:?}",
            String::from_utf8_lossy(&call.stdout)
        )
    })?;
    let ip = v["ips"][0]["address"]
        .as_str()
        .with_context(|| format!("ADD {id}: result has no ips[0].address: {v}"))?;
    Ok(ip.to_string())
}

/// All ADDs returned an address, and no address twice.
fn check_distinct(ips: &[String], n: usize) -> Result<()> {
    ensure!(ips.len() == n, "{} addresses for {n} ADDs", ips.len());
    let mut seen = HashSet::new();
    for ip in ips {
        ensure!(seen.insert(ip.as_str()), "address {ip} handed out twice");
    }
    Ok(())
}

/// After the ADDs (not timed): every pod's host veth must be a port of the bridge. Read-only,
/// runs in the node namespace (where the runner is).
fn check_ports(n: usize) -> Result<()> {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", BRIDGE])
        .stdin(Stdio::null())
        .output()
        .context("running ip -o link show master")?;
    ensure!(
        out.status.success(),
        "ip -o link show master {BRIDGE} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let ports = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    ensure!(
        ports == n,
        "{BRIDGE} has {ports} port(s) after {n} successful ADDs"
    );
    Ok(())
}

fn run_sequential(wd: &Watchdog, job: &Job) -> Result<Phases> {
    let n = job.pods.len();
    let (mut add_ms, mut ips) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let t0 = Instant::now();
    for (id, ns) in &job.pods {
        let c = invoke(wd, job, &job.plugin, "ADD", id, ns, &job.config)?;
        ips.push(result_ip(&c, id)?);
        add_ms.push(c.ms);
    }
    let add_wall_ms = to_ms(t0.elapsed());
    check_distinct(&ips, n)?;
    check_ports(n)?;
    let mut del_ms = Vec::with_capacity(n);
    let t0 = Instant::now();
    for (id, ns) in &job.pods {
        del_ms.push(invoke(wd, job, &job.plugin, "DEL", id, ns, &job.config)?.ms);
    }
    Ok(Phases {
        add_ms,
        del_ms,
        add_wall_ms,
        del_wall_ms: to_ms(t0.elapsed()),
        ips,
    })
}

/// Starts one invocation per pod at once (one thread each, released together by a barrier)
/// and waits for all; returns the calls (in pod order) and the time from the release to the
/// last exit.
fn parallel_phase(job: &Arc<Job>, cmd: &'static str) -> Result<(Vec<Call>, f64)> {
    let n = job.pods.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let (job, barrier) = (job.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> Result<Call> {
            let wd = Watchdog::new();
            let (id, ns) = &job.pods[i];
            barrier.wait();
            invoke(&wd, &job, &job.plugin, cmd, id, ns, &job.config)
        }));
    }
    let t0 = Instant::now();
    barrier.wait();
    let mut calls = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(c)) => calls.push(c),
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(_) => errors.push("invoking thread panicked".into()),
        }
    }
    if let Some(first) = errors.first() {
        bail!(
            "{} of {n} parallel {cmd}s failed; first: {first}",
            errors.len()
        );
    }
    let last = calls.iter().map(|c| c.end).max().unwrap_or(t0);
    Ok((calls, to_ms(last.duration_since(t0))))
}

fn run_parallel(job: &Arc<Job>) -> Result<Phases> {
    let n = job.pods.len();
    let (adds, add_wall_ms) = parallel_phase(job, "ADD")?;
    let ips = adds
        .iter()
        .zip(&job.pods)
        .map(|(c, (id, _))| result_ip(c, id))
        .collect::<Result<Vec<_>>>()?;
    check_distinct(&ips, n)?;
    check_ports(n)?;
    let (dels, del_wall_ms) = parallel_phase(job, "DEL")?;
    Ok(Phases {
        add_ms: adds.iter().map(|c| c.ms).collect(),
        del_ms: dels.iter().map(|c| c.ms).collect(),
        add_wall_ms,
        del_wall_ms,
        ips,
    })
}

/// Executes `plugin` as a runtime does: CNI_* environment, `config` on stdin, stdout captured;
/// timed from spawn to exit. Non-zero exit is an error carrying the plugin's output.
fn invoke(
    wd: &Watchdog,
    job: &Job,
    plugin: &Path,
    cmd: &str,
    id: &str,
    netns: &str,
    config: &str,
) -> Result<Call> {
    let mut c = Command::new(plugin);
    c.env_clear()
        .env("PATH", PLUGIN_PATH_ENV)
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", &job.cni_path);
    let what = format!("{cmd} {id}: {}", plugin.display());
    run_timed(wd, c, config.as_bytes(), &what)
}

/// Spawns `c` (stdin `input`, stdout/stderr captured, own process group for the watchdog) and
/// times it from spawn to exit. Non-zero exit is an error carrying the output.
fn run_timed(wd: &Watchdog, mut c: Command, input: &[u8], what: &str) -> Result<Call> {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = c.spawn().with_context(|| format!("{what}: cannot start"))?;
    let _ = wd.tx.send(Some(child.id()));
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin may exit without reading its stdin (e.g. on a usage error): its output says why.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output();
    let end = Instant::now();
    let _ = wd.tx.send(None);
    let out = out.with_context(|| format!("{what}: waiting for it"))?;
    if wd.fired.swap(false, Ordering::SeqCst) {
        bail!("{what}: killed after {CALL_TIMEOUT:?}");
    }
    if !out.status.success() {
        bail!(
            "{what}: failed ({}): stdout {} stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Call {
        ms: to_ms(end.duration_since(start)),
        end,
        stdout: out.stdout,
    })
}

/// Kernel floors: times `ip link add` of a veth pair and `ip link del` of it, in the runner's
/// namespace (the node's); both ends are gone afterwards. Returns (add, del) timings.
fn veth_floor(wd: &Watchdog) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut add_ms, mut del_ms) = (Vec::new(), Vec::new());
    for i in 0..VETH_FLOOR_RUNS {
        let (a, b) = (format!("bcfl{i}a"), format!("bcfl{i}b"));
        let mut add = Command::new("ip");
        add.args(["link", "add", &a, "type", "veth", "peer", "name", &b]);
        add_ms.push(run_timed(wd, add, b"", &format!("ip link add {a}"))?.ms);
        let mut del = Command::new("ip");
        del.args(["link", "del", &a]);
        del_ms.push(run_timed(wd, del, b"", &format!("ip link del {a}"))?.ms);
    }
    Ok((add_ms, del_ms))
}

/// What `cni-plugin/tests/kernel_netns.rs`'s timed "full" scenario measures, in the node
/// namespace: `Kernel::new`, then for each of the first [`KERNEL_RUNS`] pods the kernel work
/// of a built-in ADD (`ensure_bridge` + `enable_ip_forward` + `add_veth` + `configure_pod`),
/// no process spawned. Undone afterwards (pod interfaces and `cni0` deleted), so the plugin
/// runs start from the same state. Returns (Kernel::new ms, per-pod ms).
fn kernel_floor(job: &Job) -> Result<(f64, Vec<f64>)> {
    let t0 = Instant::now();
    let k = Kernel::new().context("Kernel::new")?;
    let new_ms = to_ms(t0.elapsed());
    let gw: ipnet::Ipv4Net = SUBNET_GW.parse().context("gateway")?;
    let cfg = BridgeConfig {
        name: BRIDGE.into(),
        mtu: MTU,
        promisc: false,
        gateway: Some(gw),
        force_address: false,
    };
    let pods: Vec<&Path> = job
        .pods
        .iter()
        .take(KERNEL_RUNS)
        .map(|(_, ns)| Path::new(ns.as_str()))
        .collect();
    let mut ms = Vec::with_capacity(pods.len());
    let mut outcome = Ok(());
    for (i, pod) in pods.iter().enumerate() {
        let addr: ipnet::Ipv4Net = format!("10.244.1.{}/24", i + 2)
            .parse()
            .context("address")?;
        let iface = PodIface {
            name: "eth0".into(),
            addrs: vec![addr],
            routes: vec![PodRoute {
                dst: NETWORK.parse().context("network")?,
                gw: Some(gw.addr()),
            }],
        };
        let t = Instant::now();
        let r = k
            .ensure_bridge(&cfg)
            .and_then(|br| {
                k.enable_ip_forward()?;
                k.add_veth(pod, "eth0", &br, MTU, true)
            })
            .and_then(|_| k.configure_pod(pod, &iface));
        ms.push(to_ms(t.elapsed()));
        if let Err(e) = r {
            outcome = Err(anyhow::anyhow!("pod {}: {e}", pod.display()));
            break;
        }
    }
    // Undo: the pod ends (deleting one deletes its peer) and the bridge.
    for pod in &pods {
        k.del_pod_iface(pod, "eth0")
            .map_err(|e| anyhow::anyhow!("deleting eth0 in {}: {e}", pod.display()))?;
    }
    let out = Command::new("ip")
        .args(["link", "del", BRIDGE])
        .stdin(Stdio::null())
        .output()
        .context("ip link del cni0")?;
    ensure!(
        out.status.success(),
        "ip link del {BRIDGE} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    outcome.map(|()| (new_ms, ms))
}
