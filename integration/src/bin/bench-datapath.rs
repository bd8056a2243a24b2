//! `bench-datapath`: compares flannel's pod-to-pod datapaths in one run, each on a fresh 2-node
//! lab cluster (etcd, flanneld on both nodes with `FLANNELD_LOG=info`, one pod per node wired by
//! our CNI plugin, pod MTU = `FLANNEL_MTU` of the subnet file):
//!
//! - `plain`: a host-gw cluster whose flanneld is then stopped (SIGTERM), with hand-set routes
//!   via `eth0` between the two node subnets: the ceiling;
//! - `host-gw`: flanneld's host-gw backend;
//! - `vxlan`: flanneld's vxlan backend (kernel VXLAN), the baseline of the udp backend;
//! - `udp`: flanneld's userspace udp backend (TUN device `flannel0`, UDP port 8285).
//!
//! Measured for each, pod on node 1 to pod on node 2:
//!
//! 1. ping RTT p50/p99 (300 pings 2 ms apart, from each `time=` line);
//! 2. iperf3 TCP, one stream, Gbit/s received;
//! 3. iperf3 TCP, 4 parallel streams (`-P 4`; iperf3 before 3.16 runs them in one thread);
//! 4. iperf3 UDP, 64-byte datagrams at an unlimited rate (`-u -b 0 -l 64`): datagrams received
//!    per second (`end.sum_received.bytes / 64` over `end.sum.seconds`, as iperf3's
//!    `lost_packets` misses datagrams lost after the last one received) and the loss against
//!    `end.sum_sent.packets`;
//! 5. CPU time (utime + stime) of both flanneld processes during the one-stream run, per GB
//!    received (about 0 for the kernel datapaths, which flanneld only programs).
//!
//! The summary sets udp next to vxlan (target: one stream >= 0.50x vxlan), with plain and
//! host-gw for reference. A datapath that fails is reported, its rows marked failed, and the
//! others are still measured; the exit status is then 1.
//!
//! Everything runs in lab namespaces (`fl-<6 hex>-*`), deleted when each lab is dropped (run
//! `lab-cleanup --prefix fl-<6 hex>-` after a run that was killed). `FLANNEL_LAB_KEEP=1` keeps
//! each lab's directory: flanneld and iperf3 server logs, every iperf3 client JSON report.
//!
//! Usage: bench-datapath [--secs N] [--only plain|host-gw|vxlan|udp[,...]]...
//! Set `FLANNEL_BIN_DIR=target/release` to benchmark the release flanneld (the CNI plugin
//! `flannel` is taken from there too: `cargo build --release -p flanneld -p flannel-cni`).

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use flannel_integration::bench::{
    main_with, number_arg, pass, percentile, print_summary, print_table, Row,
};
use flannel_integration::cluster::{net_config, Cluster, Instance, PodPair};
use flannel_integration::iperf::{self, gbit, UdpStats};
use flannel_integration::services::tail;
use flannel_integration::{try_workspace_bin, Lab, ProcId, POD_NETWORK};

const USAGE: &str = "usage: bench-datapath [--secs N] [--only plain|host-gw|vxlan|udp[,...]]...
  --secs N   duration of each iperf3 run (default 10, 1..=300)
  --only DP  measure only these datapaths (repeatable or comma-separated; default all)";
const DEFAULT_SECS: u32 = 10;
const MAX_SECS: u32 = 300;
/// Log level for the benchmarked flanneld (the harness default is debug).
const FLANNELD_LOG: &str = "info";
/// udp one-stream throughput / vxlan one-stream throughput must reach this.
const TARGET_TCP1_RATIO: f64 = 0.5;
const PARALLEL: u32 = 4;
/// Payload of the datagrams of the packet-rate test.
const UDP_LEN: u32 = 64;
const PING_COUNT: usize = 300;
const PING_INTERVAL: &str = "0.002";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Datapath {
    Plain,
    HostGw,
    Vxlan,
    Udp,
}

/// Measurement order (cheapest, most robust first).
const ALL: [Datapath; 4] = [
    Datapath::Plain,
    Datapath::HostGw,
    Datapath::Vxlan,
    Datapath::Udp,
];

impl Datapath {
    fn name(self) -> &'static str {
        match self {
            Datapath::Plain => "plain",
            Datapath::HostGw => "host-gw",
            Datapath::Vxlan => "vxlan",
            Datapath::Udp => "udp",
        }
    }

    /// The flanneld backend the cluster starts with.
    fn backend(self) -> &'static str {
        match self {
            Datapath::Plain | Datapath::HostGw => "host-gw",
            Datapath::Vxlan => "vxlan",
            Datapath::Udp => "udp",
        }
    }

    fn parse(s: &str) -> Result<Datapath> {
        ALL.into_iter()
            .find(|d| d.name() == s)
            .with_context(|| format!("--only: unknown datapath {s:?} (plain, host-gw, vxlan, udp)"))
    }
}

struct Opts {
    secs: u32,
    /// Empty: all.
    only: Vec<Datapath>,
}

impl Opts {
    fn datapaths(&self) -> Vec<Datapath> {
        ALL.into_iter()
            .filter(|d| self.only.is_empty() || self.only.contains(d))
            .collect()
    }
}

fn main() -> ExitCode {
    main_with("bench-datapath", USAGE, parse_args(), run)
}

fn parse_args() -> Result<Option<Opts>> {
    let mut opts = Opts {
        secs: DEFAULT_SECS,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => opts.secs = number_arg(&mut args, "--secs", 1..=MAX_SECS)?,
            "--only" => {
                let v = args.next().context("--only needs a value")?;
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let dp = Datapath::parse(name)?;
                    if !opts.only.contains(&dp) {
                        opts.only.push(dp);
                    }
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Some(opts))
}

// ------------------------------------------------------------------------------- figures

/// Ping round-trip times.
struct Ping {
    sent: usize,
    /// Replies, RTTs in ms.
    rtts: Vec<f64>,
}

impl Ping {
    fn p50(&self) -> f64 {
        percentile(&self.rtts, 50.0)
    }

    fn p99(&self) -> f64 {
        percentile(&self.rtts, 99.0)
    }
}

/// CPU time of the flanneld processes during the one-stream run, and the data it moved.
struct Cpu {
    secs: f64,
    gb: f64,
}

impl Cpu {
    fn per_gb(&self) -> f64 {
        self.secs / self.gb.max(1e-9)
    }
}

/// Everything measured on one datapath.
struct Figures {
    mtu: u32,
    ping: Ping,
    tcp1_bps: f64,
    tcp4_bps: f64,
    udp: UdpStats,
    /// `None` when no flanneld runs on the datapath (plain).
    cpu: Option<Cpu>,
}

// ------------------------------------------------------------------------------------ run

/// Measures the selected datapaths; Ok(false) if any failed (the summary is printed anyway).
fn run(opts: &Opts) -> Result<bool> {
    let bin = try_workspace_bin("flanneld")?;
    let started = Instant::now();
    println!("bench-datapath: flanneld binary {}", bin.display());
    println!(
        "bench-datapath: {}; flanneld runs with FLANNELD_LOG={FLANNELD_LOG}; iperf3 runs {} s each",
        iperf3_version(),
        opts.secs
    );
    let mut results: Vec<(Datapath, Result<Figures, String>)> = Vec::new();
    for dp in opts.datapaths() {
        println!(
            "\n== {}: 2-node cluster, backend {}, pod to pod",
            dp.name(),
            dp.backend()
        );
        match measure(dp, opts.secs) {
            Ok(f) => results.push((dp, Ok(f))),
            Err(e) => {
                eprintln!("bench-datapath: datapath {} failed: {e:#}", dp.name());
                results.push((dp, Err(format!("{e:#}"))));
            }
        }
    }

    print_datapaths(&results, opts.secs);
    let rows = summary_rows(&results);
    print_summary("udp", &rows, &bin.display().to_string(), started.elapsed());
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(dp, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{}: {}", dp.name(), one_line(e)))
        })
        .collect();
    if !failures.is_empty() {
        println!("\n{} datapath(s) FAILED:", failures.len());
        for f in &failures {
            println!("  - {f}");
        }
    }
    Ok(failures.is_empty())
}

/// A multi-line error as its first and last lines (the full text was printed when it happened).
fn one_line(e: &str) -> String {
    let lines: Vec<&str> = e.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => only.to_string(),
        [first, .., last] => format!("{first} ... {last}"),
    }
}

/// First line of `iperf3 --version` (a local command, no networking).
fn iperf3_version() -> String {
    match Command::new("iperf3")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("iperf3 (unknown version)")
            .trim()
            .to_string(),
        Err(e) => format!("iperf3 not runnable: {e}"),
    }
}

/// One datapath on a fresh cluster (dropped, with its namespaces, on return).
fn measure(dp: Datapath, secs: u32) -> Result<Figures> {
    let mut c = Cluster::new(2, &net_config(POD_NETWORK, dp.backend()))?;
    println!("   lab {}", c.lab.prefix());
    let result = measure_in(&mut c, dp, secs);
    if let Err(e) = &result {
        let text = format!("{e:#}");
        for n in 1..=2 {
            let log = tail(&c.log(n, "a"), 15);
            // Skip a log the error already carries (a flanneld that exited at start-up).
            if !log.is_empty() && !text.contains(&log) {
                eprintln!(
                    "--- {} flanneld log, node {n} (last 15 lines):\n{log}",
                    dp.name()
                );
            }
        }
    }
    result
}

fn measure_in(c: &mut Cluster, dp: Datapath, secs: u32) -> Result<Figures> {
    let inst = Instance {
        env: vec![("FLANNELD_LOG".into(), FLANNELD_LOG.into())],
        ..Default::default()
    };
    let PodPair { p1, p2, ip2, mtu } = c.start_pod_pair(&inst, READY_TIMEOUT)?;

    let flanneld = if dp == Datapath::Plain {
        c.plain_routes(&p1, ip2)?;
        Vec::new()
    } else {
        (1..=2)
            .map(|n| {
                c.proc(n, "a")
                    .with_context(|| format!("no flanneld on node {n}"))
            })
            .collect::<Result<Vec<ProcId>>>()?
    };
    println!("   ready: {p1} -> {ip2}, pod MTU {mtu}");

    let ping = ping(&c.lab, &p1, ip2)?;
    println!(
        "   ping: p50 {:.3} ms, p99 {:.3} ms ({}/{} replies)",
        ping.p50(),
        ping.p99(),
        ping.rtts.len(),
        ping.sent
    );

    let name = dp.name();
    let tcp = iperf::Opts {
        secs,
        ..iperf::Opts::default()
    };
    let cpu0 = cpu_secs(&mut c.lab, &flanneld)?;
    let one = iperf::run(&mut c.lab, &p1, &p2, ip2, &format!("{name}-tcp1"), &tcp)?;
    let cpu1 = cpu_secs(&mut c.lab, &flanneld)?;
    let tcp1_bps = one.received_bps()?;
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(Cpu {
            secs: (b - a).max(0.0),
            gb: one.received_bytes()? as f64 / 1e9,
        }),
        _ => None,
    };
    match &cpu {
        Some(cpu) => println!(
            "   iperf3 1 stream: {}; flanneld CPU {:.2} s for {:.2} GB = {:.3} s/GB",
            gbit(tcp1_bps),
            cpu.secs,
            cpu.gb,
            cpu.per_gb()
        ),
        None => println!("   iperf3 1 stream: {}", gbit(tcp1_bps)),
    }

    let four = iperf::Opts {
        parallel: PARALLEL,
        ..tcp.clone()
    };
    let tcp4_bps =
        iperf::run(&mut c.lab, &p1, &p2, ip2, &format!("{name}-tcp4"), &four)?.received_bps()?;
    println!("   iperf3 {PARALLEL} streams: {}", gbit(tcp4_bps));

    let small = iperf::Opts {
        udp_len: Some(UDP_LEN),
        ..tcp.clone()
    };
    let udp = iperf::run(&mut c.lab, &p1, &p2, ip2, &format!("{name}-udp"), &small)?.udp()?;
    println!(
        "   iperf3 UDP {UDP_LEN} B: sent {}, received {}, loss {:.1}% (iperf3's lost_packets {})",
        pps(udp.sent_pps()),
        pps(udp.received_pps()),
        udp.loss_percent(),
        udp.lost_reported
    );

    for (n, id) in (1..=2).zip(&flanneld) {
        ensure!(
            c.lab.is_running(*id),
            "flanneld on node {n} exited during the measurements"
        );
    }
    Ok(Figures {
        mtu,
        ping,
        tcp1_bps,
        tcp4_bps,
        udp,
        cpu,
    })
}

/// `FLANNEL_MTU` of node 1's subnet file.
/// `ping -c 300 -i 0.002` from `from` to `to`; every reply's `time=` in ms.
fn ping(lab: &Lab, from: &str, to: Ipv4Addr) -> Result<Ping> {
    let to = to.to_string();
    let count = PING_COUNT.to_string();
    let out = lab.exec(
        from,
        &[
            "timeout",
            "60",
            "ping",
            "-n",
            "-c",
            &count,
            "-i",
            PING_INTERVAL,
            "-W",
            "1",
            &to,
        ],
    )?;
    // Exit status 1 means some replies were missing: the RTTs printed still count.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rtts = Vec::new();
    for line in text.lines().filter(|l| !l.contains("DUP!")) {
        let Some(rest) = line.split_once(" time=").map(|(_, r)| r) else {
            continue;
        };
        let num = rest.split_whitespace().next().unwrap_or_default();
        let ms: f64 = num
            .parse()
            .with_context(|| format!("bad ping time in {line:?}"))?;
        rtts.push(ms);
    }
    ensure!(
        !rtts.is_empty(),
        "no ping replies from {to} ({}): {} {}",
        out.status,
        text.trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(Ping {
        sent: PING_COUNT,
        rtts,
    })
}

/// Sum of utime + stime of the given flanneld processes in seconds; `None` for no processes.
fn cpu_secs(lab: &mut Lab, ids: &[ProcId]) -> Result<Option<f64>> {
    if ids.is_empty() {
        return Ok(None);
    }
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ensure!(hz > 0, "sysconf(_SC_CLK_TCK) returned {hz}");
    let mut ticks = 0u64;
    for (n, id) in (1..).zip(ids) {
        let pid = lab
            .pid(*id)
            .with_context(|| format!("flanneld on node {n} is not running"))?;
        ticks += proc_ticks(pid, "flanneld")?;
    }
    Ok(Some(ticks as f64 / hz as f64))
}

/// utime + stime (clock ticks, all threads) from `/proc/<pid>/stat`, checking the command name.
fn proc_ticks(pid: u32, comm: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    let (head, rest) = text
        .rsplit_once(')')
        .with_context(|| format!("unexpected {path}: {text:?}"))?;
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
    ensure!(name == comm, "pid {pid} is {name:?}, expected {comm}");
    // After the comm: field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize, what: &str| -> Result<u64> {
        let v = fields
            .get(i)
            .with_context(|| format!("{path} has no {what} field"))?;
        v.parse()
            .with_context(|| format!("bad {what} {v:?} in {path}"))
    };
    Ok(get(11, "utime")? + get(12, "stime")?)
}

// -------------------------------------------------------------------------------- output

/// Packets per second as "123.4 kpps".
fn pps(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} Mpps", v / 1e6)
    } else {
        format!("{:.1} kpps", v / 1e3)
    }
}

fn udp_cell(u: &UdpStats) -> String {
    format!("{} (loss {:.1}%)", pps(u.received_pps()), u.loss_percent())
}

fn ping_cell(p: &Ping) -> String {
    format!("{:.3} / {:.3} ms", p.p50(), p.p99())
}

fn cpu_cell(c: &Option<Cpu>) -> String {
    match c {
        Some(c) => format!("{:.3} s/GB", c.per_gb()),
        None => "n/a (stopped)".into(),
    }
}

type Results = [(Datapath, Result<Figures, String>)];

fn lookup(results: &Results, dp: Datapath) -> Option<&Result<Figures, String>> {
    results.iter().find(|(d, _)| *d == dp).map(|(_, r)| r)
}

/// A datapath's figure, or "not run" / "failed".
fn cell(results: &Results, dp: Datapath, f: impl Fn(&Figures) -> String) -> String {
    match lookup(results, dp) {
        None => "not run".into(),
        Some(Err(_)) => "failed".into(),
        Some(Ok(fig)) => f(fig),
    }
}

fn ok(results: &Results, dp: Datapath) -> Option<&Figures> {
    lookup(results, dp).and_then(|r| r.as_ref().ok())
}

/// "vxlan X (plain Y, host-gw Z)".
fn baseline(results: &Results, f: impl Fn(&Figures) -> String) -> String {
    format!(
        "vxlan {} (plain {}, host-gw {})",
        cell(results, Datapath::Vxlan, &f),
        cell(results, Datapath::Plain, &f),
        cell(results, Datapath::HostGw, &f)
    )
}

/// Result cell of a row without a target.
fn no_target(results: &Results) -> String {
    match lookup(results, Datapath::Udp) {
        Some(Err(_)) => "FAILED".into(),
        _ => "-".into(),
    }
}

fn summary_rows(results: &Results) -> Vec<Row> {
    let (udp, vxlan) = (ok(results, Datapath::Udp), ok(results, Datapath::Vxlan));
    let both = udp.zip(vxlan);
    let ratio = |f: fn(&Figures) -> f64| -> String {
        both.map_or("-".into(), |(u, v)| {
            format!("{:.2}x", f(u) / f(v).max(1e-9))
        })
    };
    let mut rows = Vec::new();

    rows.push(Row {
        what: "iperf3 TCP 1 stream".into(),
        ours: cell(results, Datapath::Udp, |f| gbit(f.tcp1_bps)),
        baseline: baseline(results, |f| gbit(f.tcp1_bps)),
        ratio: ratio(|f| f.tcp1_bps),
        target: format!(">= {TARGET_TCP1_RATIO:.2}x vxlan"),
        result: match (lookup(results, Datapath::Udp), both) {
            (Some(Err(_)), _) => "FAILED".into(),
            (_, Some((u, v))) => pass(u.tcp1_bps >= TARGET_TCP1_RATIO * v.tcp1_bps),
            _ => "-".into(),
        },
    });
    rows.push(Row {
        what: format!("iperf3 TCP {PARALLEL} streams"),
        ours: cell(results, Datapath::Udp, |f| gbit(f.tcp4_bps)),
        baseline: baseline(results, |f| gbit(f.tcp4_bps)),
        ratio: ratio(|f| f.tcp4_bps),
        target: "-".into(),
        result: no_target(results),
    });
    rows.push(Row {
        what: format!("UDP {UDP_LEN}-byte datagrams received/s"),
        ours: cell(results, Datapath::Udp, |f| udp_cell(&f.udp)),
        baseline: baseline(results, |f| udp_cell(&f.udp)),
        ratio: ratio(|f| f.udp.received_pps()),
        target: "-".into(),
        result: no_target(results),
    });
    rows.push(Row {
        what: "ping RTT p50 / p99".into(),
        ours: cell(results, Datapath::Udp, |f| ping_cell(&f.ping)),
        baseline: baseline(results, |f| ping_cell(&f.ping)),
        ratio: both.map_or("-".into(), |(u, v)| {
            format!(
                "{:.2}x / {:.2}x",
                u.ping.p50() / v.ping.p50().max(1e-9),
                u.ping.p99() / v.ping.p99().max(1e-9)
            )
        }),
        target: "-".into(),
        result: no_target(results),
    });
    rows.push(Row {
        what: "flanneld CPU s per GB (1 stream)".into(),
        ours: cell(results, Datapath::Udp, |f| match &f.cpu {
            Some(c) => format!(
                "{:.3} s/GB ({:.2} s for {:.2} GB)",
                c.per_gb(),
                c.secs,
                c.gb
            ),
            None => "n/a".into(),
        }),
        baseline: baseline(results, |f| cpu_cell(&f.cpu)),
        ratio: "-".into(),
        target: "-".into(),
        result: no_target(results),
    });
    rows
}

/// One line per datapath with all its figures.
fn print_datapaths(results: &Results, secs: u32) {
    let header = [
        "datapath".to_string(),
        "pod MTU".into(),
        "TCP 1 stream".into(),
        format!("TCP {PARALLEL} streams"),
        format!("UDP {UDP_LEN} B received/s"),
        "ping p50 / p99".into(),
        "flanneld CPU".into(),
    ];
    let mut lines = vec![header.to_vec()];
    for (dp, r) in results {
        let mut line = vec![dp.name().to_string()];
        match r {
            Ok(f) => line.extend([
                f.mtu.to_string(),
                gbit(f.tcp1_bps),
                gbit(f.tcp4_bps),
                udp_cell(&f.udp),
                ping_cell(&f.ping),
                cpu_cell(&f.cpu),
            ]),
            Err(_) => line.extend(std::iter::repeat_n("failed".to_string(), header.len() - 1)),
        }
        lines.push(line);
    }
    println!("\n==== datapaths (pod to pod across nodes, iperf3 {secs} s per run)");
    print_table(&lines);
}
