//! `bench-datapath`: compares flannel's pod-to-pod datapaths in one run, each on its own 2-node
//! lab cluster (etcd, flanneld on both nodes with `FLANNELD_LOG=info`, one pod per node wired by
//! our CNI plugin, pod MTU = `FLANNEL_MTU` of the subnet file), all clusters set up first and
//! then measured in alternation, round after round (plain, host-gw, vxlan, udp, plain, ...), so
//! every ratio comes from samples taken a few seconds apart:
//!
//! - `plain`: a host-gw cluster whose flanneld is then stopped (SIGTERM), with hand-set routes
//!   via `eth0` between the two node subnets: the ceiling;
//! - `host-gw`: flanneld's host-gw backend;
//! - `vxlan`: flanneld's vxlan backend (kernel VXLAN), the baseline of the udp backend;
//! - `udp`: flanneld's userspace udp backend (TUN device `flannel0`, UDP port 8285).
//!
//! Measured for each in every round, pod on node 1 to pod on node 2:
//!
//! 1. ping RTT p50/p99 (300 pings 2 ms apart, from each `time=` line);
//! 2. iperf3 TCP, one stream, Gbit/s received, and the sender's retransmits;
//! 3. iperf3 TCP, 4 parallel streams (`-P 4`; iperf3 before 3.16 runs them in one thread);
//! 4. iperf3 UDP, 64-byte datagrams at an unlimited rate (`-u -b 0 -l 64`): datagrams received
//!    per second (`end.sum_received.bytes / 64` over `end.sum.seconds`, as iperf3's
//!    `lost_packets` misses datagrams lost after the last one received) and the loss against
//!    `end.sum_sent.packets`;
//! 5. CPU time (utime + stime) of both flanneld processes during the one-stream run, per GB
//!    received (about 0 for the kernel datapaths, which flanneld only programs);
//! 6. udp and vxlan only: bulk TCP (one stream, 2 s) to a pod that advertises an 88-byte MSS
//!    (its pod-network route with `advmss 88` in the server pod), so every TCP superpacket
//!    flanneld reads splits into hundreds of packets (the scenario `tests/udp.rs` checks
//!    works; there it once crawled at a few Mbit/s): the floor here is 20 Mbit/s.
//!
//! Every iperf3 run and ping series is one sample under the CPU-steal check of
//! `flannel_integration::bench` (rerun when steal exceeded `--max-steal`). The tables print
//! each figure as median [min .. max] over the rounds, and each udp/vxlan ratio as the spread of
//! the per-round ratios. The target: one stream median ratio >= 0.50x vxlan. A datapath that
//! fails is reported, its rows marked failed, and the others are still measured; the exit
//! status is then 1.
//!
//! Everything runs in lab namespaces (`fl-<6 hex>-*`), deleted when each lab is dropped (run
//! `lab-cleanup --prefix fl-<6 hex>-` after a run that was killed). `FLANNEL_LAB_KEEP=1` keeps
//! each lab's directory: flanneld and iperf3 server logs, every iperf3 client JSON report.
//!
//! Set `FLANNEL_BIN_DIR=target/release` to benchmark the release flanneld (the CNI plugin
//! `flannel` is taken from there too: `cargo build --release -p flanneld -p flannel-cni`).

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Parser;
use flannel_integration::bench::{
    main_with, pass, percentile, print_summary, print_table, ratio_spread, ratios, spread, Row,
    Sampler, Spread, StealOpts,
};
use flannel_integration::cluster::{net_config, Cluster, Instance, PodPair};
use flannel_integration::iperf::{self, gbit, UdpStats};
use flannel_integration::services::tail;
use flannel_integration::{try_workspace_bin, Lab, ProcId, POD_NETWORK};

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
/// Duration of the small-MSS bulk TCP run (as in `tests/udp.rs`).
const SMALL_MSS_SECS: u32 = 2;
/// The MSS the server pod advertises in that run (Linux's minimum).
const SMALL_MSS: u32 = 88;
/// The small-MSS throughput must stay above this.
const TARGET_SMALL_MSS_BPS: f64 = 20e6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Datapath {
    Plain,
    #[value(name = "host-gw")]
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

    /// Whether the small-MSS bulk TCP run is measured (the udp backend and its baseline).
    fn small_mss(self) -> bool {
        matches!(self, Datapath::Vxlan | Datapath::Udp)
    }
}

/// Compares flannel's pod-to-pod datapaths (plain routing, host-gw, vxlan, udp), samples
/// alternated over rounds.
#[derive(Parser, Debug)]
#[command(name = "bench-datapath")]
struct Opts {
    /// Duration of each iperf3 run, seconds.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=MAX_SECS as i64))]
    secs: u32,
    /// Measure only these datapaths (repeatable or comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Datapath>,
    /// Rounds: each measures every datapath once, in turn.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    #[command(flatten)]
    steal: StealOpts,
}

impl Opts {
    fn datapaths(&self) -> Vec<Datapath> {
        ALL.into_iter()
            .filter(|d| self.only.is_empty() || self.only.contains(d))
            .collect()
    }
}

fn main() -> ExitCode {
    main_with("bench-datapath", run)
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

/// Everything measured on one datapath: one entry per round in each list.
#[derive(Default)]
struct Figures {
    mtu: u32,
    ping_p50: Vec<f64>,
    ping_p99: Vec<f64>,
    tcp1_bps: Vec<f64>,
    tcp1_retr: Vec<f64>,
    tcp4_bps: Vec<f64>,
    tcp4_retr: Vec<f64>,
    udp_pps: Vec<f64>,
    udp_loss: Vec<f64>,
    /// flanneld CPU s per GB received in the one-stream run; empty when no flanneld runs.
    cpu_per_gb: Vec<f64>,
    /// Bulk TCP to the pod advertising an 88-byte MSS (udp and vxlan only).
    mss_bps: Vec<f64>,
    mss_retr: Vec<f64>,
}

/// A datapath's cluster, ready to measure.
struct Setup {
    c: Cluster,
    p1: String,
    p2: String,
    ip2: Ipv4Addr,
    /// The flanneld processes (none for plain).
    flanneld: Vec<ProcId>,
}

/// One datapath through the run.
struct State {
    dp: Datapath,
    /// Dropped (with its namespaces) once the datapath failed.
    setup: Option<Setup>,
    figs: Figures,
    error: Option<String>,
}

// ------------------------------------------------------------------------------------ run

/// Measures the selected datapaths; Ok(false) if any failed (the summary is printed anyway).
fn run(opts: &Opts) -> Result<bool> {
    let bin = try_workspace_bin("flanneld")?;
    let started = Instant::now();
    println!("bench-datapath: flanneld binary {}", bin.display());
    println!(
        "bench-datapath: {}; flanneld runs with FLANNELD_LOG={FLANNELD_LOG}; iperf3 runs {} s \
         each; {} round(s), datapaths alternated within each round",
        iperf3_version(),
        opts.secs,
        opts.rounds
    );
    let mut states: Vec<State> = Vec::new();
    for dp in opts.datapaths() {
        println!(
            "\n== {}: 2-node cluster, backend {}, pod to pod",
            dp.name(),
            dp.backend()
        );
        let (setup, error) = match set_up(dp) {
            Ok((s, mtu)) => {
                states.push(State {
                    dp,
                    setup: Some(s),
                    figs: Figures {
                        mtu,
                        ..Figures::default()
                    },
                    error: None,
                });
                continue;
            }
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        eprintln!(
            "bench-datapath: datapath {} failed: {}",
            dp.name(),
            error.as_deref().unwrap_or_default()
        );
        states.push(State {
            dp,
            setup,
            figs: Figures::default(),
            error,
        });
    }

    let mut sampler = Sampler::new(&opts.steal);
    for round in 1..=opts.rounds {
        println!("\n== round {round}/{}", opts.rounds);
        for st in states.iter_mut().filter(|s| s.error.is_none()) {
            let Some(setup) = st.setup.as_mut() else {
                continue;
            };
            if let Err(e) = measure_round(st.dp, setup, &mut st.figs, &mut sampler, opts.secs) {
                let text = format!("{e:#}");
                eprintln!("bench-datapath: datapath {} failed: {text}", st.dp.name());
                print_logs(st.dp, &setup.c, &text);
                st.error = Some(text);
                st.setup = None;
            }
        }
    }
    for st in &mut states {
        st.setup = None;
    }

    print_datapaths(&states, opts.secs);
    let rows = summary_rows(&states);
    print_summary("udp", &rows, &bin.display().to_string(), started.elapsed());
    println!(
        "({}; figures are median [min .. max] over the rounds)",
        sampler.summary()
    );
    let failures: Vec<String> = states
        .iter()
        .filter_map(|st| {
            st.error
                .as_ref()
                .map(|e| format!("{}: {}", st.dp.name(), one_line(e)))
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

/// The flanneld logs of a failed datapath, unless the error already carries them.
fn print_logs(dp: Datapath, c: &Cluster, error: &str) {
    for n in 1..=2 {
        let log = tail(&c.log(n, "a"), 15);
        if !log.is_empty() && !error.contains(&log) {
            eprintln!(
                "--- {} flanneld log, node {n} (last 15 lines):\n{log}",
                dp.name()
            );
        }
    }
}

/// A fresh cluster for `dp` with a pod on each node; returns it and the pod MTU.
fn set_up(dp: Datapath) -> Result<(Setup, u32)> {
    let mut c = Cluster::new(2, &net_config(POD_NETWORK, dp.backend()))?;
    println!("   lab {}", c.lab.prefix());
    let inst = Instance {
        env: vec![("FLANNELD_LOG".into(), FLANNELD_LOG.into())],
        ..Default::default()
    };
    let pair = c.start_pod_pair(&inst, READY_TIMEOUT);
    let PodPair { p1, p2, ip2, mtu } = match pair {
        Ok(p) => p,
        Err(e) => {
            print_logs(dp, &c, &format!("{e:#}"));
            return Err(e);
        }
    };
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
    let ip1 = pod_ip(&c.lab, &p1)?;
    println!("   ready: {p1} ({ip1}) -> {ip2}, pod MTU {mtu}");
    Ok((
        Setup {
            c,
            p1,
            p2,
            ip2,
            flanneld,
        },
        mtu,
    ))
}

/// The IPv4 address of `eth0` in a pod.
fn pod_ip(lab: &Lab, pod: &str) -> Result<Ipv4Addr> {
    let out = lab.sh(pod, "ip -4 -o addr show dev eth0")?;
    let addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .with_context(|| format!("no IPv4 address on eth0 in {pod}: {out:?}"))?;
    addr.parse()
        .with_context(|| format!("bad address {addr:?} on eth0 in {pod}"))
}

/// One round on one datapath: every figure sampled once.
fn measure_round(
    dp: Datapath,
    s: &mut Setup,
    figs: &mut Figures,
    sampler: &mut Sampler,
    secs: u32,
) -> Result<()> {
    let name = dp.name();
    let round = figs.tcp1_bps.len() + 1;
    let tag = |what: &str| format!("{name}-r{round}-{what}");

    let p = sampler.sample(&format!("{name} ping"), || ping(&s.c.lab, &s.p1, s.ip2))?;
    println!(
        "   {name}: ping p50 {:.3} ms, p99 {:.3} ms ({}/{} replies; steal {:.1}%)",
        p.value.p50(),
        p.value.p99(),
        p.value.rtts.len(),
        p.value.sent,
        p.steal
    );
    figs.ping_p50.push(p.value.p50());
    figs.ping_p99.push(p.value.p99());

    let tcp = iperf::Opts {
        secs,
        ..iperf::Opts::default()
    };
    let one = sampler.sample(&format!("{name} 1 stream"), || {
        let cpu0 = cpu_secs(&mut s.c.lab, &s.flanneld)?;
        let r = iperf::run(&mut s.c.lab, &s.p1, &s.p2, s.ip2, &tag("tcp1"), &tcp)?;
        let cpu1 = cpu_secs(&mut s.c.lab, &s.flanneld)?;
        let cpu = cpu0.zip(cpu1).map(|(a, b)| (b - a).max(0.0));
        Ok((r, cpu))
    })?;
    let (report, cpu) = &one.value;
    let bps = report.received_bps()?;
    let retr = report.retransmits()?;
    figs.tcp1_bps.push(bps);
    figs.tcp1_retr.push(retr as f64);
    let cpu_text = match cpu {
        Some(cpu) => {
            let gb = report.received_bytes()? as f64 / 1e9;
            let per_gb = cpu / gb.max(1e-9);
            figs.cpu_per_gb.push(per_gb);
            format!("; flanneld CPU {cpu:.2} s for {gb:.2} GB = {per_gb:.3} s/GB")
        }
        None => String::new(),
    };
    println!(
        "   {name}: iperf3 1 stream {}, {retr} retransmits{cpu_text} (steal {:.1}%)",
        gbit(bps),
        one.steal
    );

    let four = iperf::Opts {
        parallel: PARALLEL,
        ..tcp.clone()
    };
    let r = sampler.sample(&format!("{name} {PARALLEL} streams"), || {
        iperf::run(&mut s.c.lab, &s.p1, &s.p2, s.ip2, &tag("tcp4"), &four)
    })?;
    let (bps, retr) = (r.value.received_bps()?, r.value.retransmits()?);
    figs.tcp4_bps.push(bps);
    figs.tcp4_retr.push(retr as f64);
    println!(
        "   {name}: iperf3 {PARALLEL} streams {}, {retr} retransmits (steal {:.1}%)",
        gbit(bps),
        r.steal
    );

    let small = iperf::Opts {
        udp_len: Some(UDP_LEN),
        ..tcp.clone()
    };
    let r = sampler.sample(&format!("{name} UDP {UDP_LEN} B"), || {
        iperf::run(&mut s.c.lab, &s.p1, &s.p2, s.ip2, &tag("udp"), &small)?.udp()
    })?;
    let udp: UdpStats = r.value;
    figs.udp_pps.push(udp.received_pps());
    figs.udp_loss.push(udp.loss_percent());
    println!(
        "   {name}: iperf3 UDP {UDP_LEN} B: sent {}, received {}, loss {:.1}% (iperf3's \
         lost_packets {}; steal {:.1}%)",
        pps(udp.sent_pps()),
        pps(udp.received_pps()),
        udp.loss_percent(),
        udp.lost_reported,
        r.steal
    );

    if dp.small_mss() {
        let r = sampler.sample(&format!("{name} MSS {SMALL_MSS}"), || {
            small_mss(s, &tag("mss"))
        })?;
        let (bps, retr) = (r.value.received_bps()?, r.value.retransmits()?);
        figs.mss_bps.push(bps);
        figs.mss_retr.push(retr as f64);
        println!(
            "   {name}: bulk TCP to a pod advertising MSS {SMALL_MSS}: {} (connection MSS {}), \
             {retr} retransmits (steal {:.1}%)",
            mbit(bps),
            r.value.tcp_mss()?,
            r.steal
        );
    }

    for (n, id) in (1..=2).zip(&s.flanneld) {
        ensure!(
            s.c.lab.is_running(*id),
            "flanneld on node {n} exited during the measurements"
        );
    }
    Ok(())
}

/// One stream for [`SMALL_MSS_SECS`] to pod 2 while its pod-network route advertises an
/// 88-byte MSS (`ip route replace 10.244.0.0/16 via <gw> dev eth0 advmss 88`, as
/// `tests/udp.rs` does; a /32 route to pod 1's address alone does not take effect on vxlan);
/// the route is put back as the CNI plugin set it whatever the outcome.
fn small_mss(s: &mut Setup, tag: &str) -> Result<iperf::Report> {
    let gw2 = s.c.host_ip(2, "a", 1)?;
    let route = format!("{POD_NETWORK} via {gw2} dev eth0");
    let before =
        s.c.lab
            .sh(&s.p2, &format!("ip -4 route show {POD_NETWORK}"))?;
    ensure!(
        before.trim() == format!("{POD_NETWORK} via {gw2} dev eth0"),
        "pod 2's route to the pod network is {:?}, not the one to put back",
        before.trim()
    );
    s.c.lab.sh(
        &s.p2,
        &format!("ip route replace {route} advmss {SMALL_MSS}"),
    )?;
    let opts = iperf::Opts {
        secs: SMALL_MSS_SECS,
        ..iperf::Opts::default()
    };
    let result = iperf::run(&mut s.c.lab, &s.p1, &s.p2, s.ip2, tag, &opts);
    s.c.lab
        .sh(&s.p2, &format!("ip route replace {route}"))
        .context("putting pod 2's route back")?;
    let report = result?;
    // The advertised MSS took effect (iperf3's connections use the same route back).
    let mss = report.tcp_mss()?;
    ensure!(
        mss <= u64::from(SMALL_MSS),
        "iperf3's connection had MSS {mss}, not at most the {SMALL_MSS} advertised"
    );
    Ok(report)
}

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

/// Bits/s as "123 Mbit/s".
fn mbit(bps: f64) -> String {
    format!("{:.0} Mbit/s", bps / 1e6)
}

fn ms3(v: f64) -> String {
    format!("{v:.3} ms")
}

fn count(v: f64) -> String {
    format!("{v:.0}")
}

fn find(states: &[State], dp: Datapath) -> Option<&State> {
    states.iter().find(|s| s.dp == dp)
}

/// A datapath's figure as its spread over the rounds, or "not run" / "failed".
fn cell(states: &[State], dp: Datapath, f: impl Fn(&Figures) -> String) -> String {
    match find(states, dp) {
        None => "not run".into(),
        Some(s) if s.error.is_some() && s.figs.tcp1_bps.is_empty() => "failed".into(),
        Some(s) => {
            let v = f(&s.figs);
            if s.error.is_some() {
                format!("{v} (then failed)")
            } else {
                v
            }
        }
    }
}

/// A datapath's median of one figure, or "not run" / "failed".
fn median_cell(
    states: &[State],
    dp: Datapath,
    pick: fn(&Figures) -> &Vec<f64>,
    fmt: fn(f64) -> String,
) -> String {
    cell(states, dp, |f| {
        Spread::of(pick(f)).map_or("-".into(), |s| fmt(s.median))
    })
}

/// "vxlan M [min .. max] (plain M, host-gw M)".
fn baseline(states: &[State], pick: fn(&Figures) -> &Vec<f64>, fmt: fn(f64) -> String) -> String {
    format!(
        "vxlan {} (plain {}, host-gw {})",
        cell(states, Datapath::Vxlan, |f| spread(pick(f), fmt)),
        median_cell(states, Datapath::Plain, pick, fmt),
        median_cell(states, Datapath::HostGw, pick, fmt)
    )
}

/// Result cell of a row without a target.
fn no_target(states: &[State]) -> String {
    match find(states, Datapath::Udp) {
        Some(s) if s.error.is_some() => "FAILED".into(),
        _ => "-".into(),
    }
}

fn percent1(v: f64) -> String {
    format!("{v:.1}%")
}

fn s_per_gb(v: f64) -> String {
    format!("{v:.3} s/GB")
}

/// Spread of the per-round udp/vxlan ratios of one figure.
fn udp_ratio(states: &[State], pick: fn(&Figures) -> &Vec<f64>) -> String {
    match (find(states, Datapath::Udp), find(states, Datapath::Vxlan)) {
        (Some(u), Some(v)) => ratio_spread(pick(&u.figs), pick(&v.figs)),
        _ => "-".into(),
    }
}

fn summary_rows(states: &[State]) -> Vec<Row> {
    let udp = |pick: fn(&Figures) -> &Vec<f64>, fmt: fn(f64) -> String| {
        cell(states, Datapath::Udp, |f| spread(pick(f), fmt))
    };
    let pair = find(states, Datapath::Udp).zip(find(states, Datapath::Vxlan));
    let mut rows = Vec::new();

    rows.push(Row {
        what: "iperf3 TCP 1 stream".into(),
        ours: udp(|f| &f.tcp1_bps, gbit),
        baseline: baseline(states, |f| &f.tcp1_bps, gbit),
        ratio: udp_ratio(states, |f| &f.tcp1_bps),
        target: format!("median >= {TARGET_TCP1_RATIO:.2}x vxlan"),
        result: match pair {
            Some((u, _)) if u.error.is_some() => "FAILED".into(),
            Some((u, v)) => Spread::of(&ratios(&u.figs.tcp1_bps, &v.figs.tcp1_bps))
                .map_or("-".into(), |r| pass(r.median >= TARGET_TCP1_RATIO)),
            None => "-".into(),
        },
    });
    // Figures without a target: udp next to the other datapaths, with the udp/vxlan ratio
    // where a ratio means something.
    type Pick = fn(&Figures) -> &Vec<f64>;
    type Format = fn(f64) -> String;
    let info: [(String, Pick, Format, bool); 7] = [
        (
            "TCP 1 stream retransmits".into(),
            |f| &f.tcp1_retr,
            count,
            false,
        ),
        (
            format!("iperf3 TCP {PARALLEL} streams"),
            |f| &f.tcp4_bps,
            gbit,
            true,
        ),
        (
            format!("UDP {UDP_LEN}-byte datagrams received/s"),
            |f| &f.udp_pps,
            pps,
            true,
        ),
        (
            format!("UDP {UDP_LEN}-byte loss %"),
            |f| &f.udp_loss,
            percent1,
            false,
        ),
        ("ping RTT p50".into(), |f| &f.ping_p50, ms3, true),
        ("ping RTT p99".into(), |f| &f.ping_p99, ms3, true),
        (
            "flanneld CPU s per GB (1 stream)".into(),
            |f| &f.cpu_per_gb,
            s_per_gb,
            false,
        ),
    ];
    for (what, pick, fmt, with_ratio) in info {
        rows.push(Row {
            what,
            ours: udp(pick, fmt),
            baseline: baseline(states, pick, fmt),
            ratio: if with_ratio {
                udp_ratio(states, pick)
            } else {
                "-".into()
            },
            target: "-".into(),
            result: no_target(states),
        });
    }
    rows.push(Row {
        what: format!("bulk TCP to a pod with MSS {SMALL_MSS} ({SMALL_MSS_SECS} s)"),
        ours: udp(|f| &f.mss_bps, mbit),
        baseline: format!(
            "vxlan {}",
            cell(states, Datapath::Vxlan, |f| spread(&f.mss_bps, mbit))
        ),
        ratio: udp_ratio(states, |f| &f.mss_bps),
        target: format!("every round > {}", mbit(TARGET_SMALL_MSS_BPS)),
        result: match find(states, Datapath::Udp) {
            Some(u) if u.error.is_some() => "FAILED".into(),
            Some(u) => Spread::of(&u.figs.mss_bps)
                .map_or("-".into(), |s| pass(s.min > TARGET_SMALL_MSS_BPS)),
            None => "-".into(),
        },
    });
    rows.push(Row {
        what: format!("MSS {SMALL_MSS} retransmits"),
        ours: udp(|f| &f.mss_retr, count),
        baseline: format!(
            "vxlan {}",
            cell(states, Datapath::Vxlan, |f| spread(&f.mss_retr, count))
        ),
        ratio: "-".into(),
        target: "-".into(),
        result: no_target(states),
    });
    rows
}

/// One line per datapath with all its figures (median [min .. max] over the rounds).
fn print_datapaths(states: &[State], secs: u32) {
    let header = [
        "datapath".to_string(),
        "pod MTU".into(),
        "TCP 1 stream".into(),
        "retransmits".into(),
        format!("TCP {PARALLEL} streams"),
        format!("UDP {UDP_LEN} B received/s"),
        "ping p50".into(),
        "flanneld CPU".into(),
        format!("MSS {SMALL_MSS} bulk TCP"),
    ];
    let mut lines = vec![header.to_vec()];
    for st in states {
        let f = &st.figs;
        let mut line = vec![st.dp.name().to_string()];
        if st.error.is_some() && f.tcp1_bps.is_empty() {
            line.extend(std::iter::repeat_n("failed".to_string(), header.len() - 1));
        } else {
            line.extend([
                f.mtu.to_string(),
                spread(&f.tcp1_bps, gbit),
                spread(&f.tcp1_retr, count),
                spread(&f.tcp4_bps, gbit),
                spread(&f.udp_pps, pps),
                spread(&f.ping_p50, ms3),
                if f.cpu_per_gb.is_empty() {
                    "n/a (stopped)".into()
                } else {
                    spread(&f.cpu_per_gb, s_per_gb)
                },
                if st.dp.small_mss() {
                    spread(&f.mss_bps, mbit)
                } else {
                    "-".into()
                },
            ]);
        }
        lines.push(line);
    }
    println!(
        "\n==== datapaths (pod to pod across nodes, iperf3 {secs} s per run, median [min .. max] \
         over the rounds)"
    );
    print_table(&lines);
}
