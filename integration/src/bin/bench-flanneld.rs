//! `bench-flanneld`: measures flanneld inside the namespace lab, each figure next to a baseline
//! measured in the same run:
//!
//! 1. convergence: N fake vxlan peer leases written to etcd in one transaction, time until the
//!    node's kernel has all N routes, neighbours and FDB entries on `flannel.1` (and back to zero
//!    after deleting them), next to `ip -batch`/`bridge -batch` programming the same entries on
//!    an identical `flannel.1` in a second node namespace (the kernel floor); floor add,
//!    flanneld add, floor delete, flanneld delete in every round;
//! 2. memory: flanneld's VmRSS/VmHWM with N peers (after each round's add) next to its VmRSS
//!    with 0 peers (and etcd's);
//! 3. throughput: cross-node pod-to-pod TCP (iperf3, one stream) over vxlan and host-gw, each
//!    next to a hand-set plain route between two pods of a third cluster (flanneld stopped)
//!    whose pods get the same MTU as the backend's (1450 next to vxlan, 1500 next to host-gw);
//!    vxlan, plain, host-gw, plain in every round.
//!
//! Every timed sample runs under the CPU-steal check of `flannel_integration::bench` (rerun
//! when steal exceeded `--max-steal`); figures are printed as median [min .. max] over the
//! rounds, ratios as the spread of the per-round ratios.
//!
//! Everything runs in lab namespaces (`fl-<6 hex>-*`), deleted when the lab is dropped.
//!
//! Set `FLANNEL_BIN_DIR=target/release` to benchmark the release flanneld.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use flannel_integration::bench::{
    main_with, mib, pass, print_summary, ratio_spread, spread, Row, Sampler, Spread, StealOpts,
};
use flannel_integration::cluster::{net_config, Cluster, Instance, PodPair};
use flannel_integration::iperf::{self, gbit};
use flannel_integration::services::tail;
use flannel_integration::{try_workspace_bin, Lab, ProcId, ETCD_ENDPOINT};

const PREFIX: &str = "/coreos.com/network";
/// Network of the convergence lab: a /16 only holds 256 /24 subnets, too few for 1000 peers.
const CONV_NETWORK: &str = "10.0.0.0/8";
const TARGET_CONVERGENCE: Duration = Duration::from_secs(2);
const TARGET_RSS_KIB: u64 = 20 * 1024;
const POLL: Duration = Duration::from_millis(20);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_PEERS: u64 = 5000;
/// Log level for the benchmarked flanneld (the harness default is debug).
const FLANNELD_LOG: &str = "info";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Step {
    Convergence,
    Memory,
    Throughput,
}

/// Measures flanneld in the namespace lab (convergence, memory, throughput), each figure next to
/// a baseline sampled in alternation with it.
#[derive(Parser, Debug)]
#[command(name = "bench-flanneld")]
struct Opts {
    /// Run only this step.
    #[arg(long, value_enum)]
    only: Option<Step>,
    /// Fake peers of the convergence and memory steps.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_PEERS))]
    peers: u64,
    /// Rounds of alternated samples.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Duration of each iperf3 run of the throughput step, seconds.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=300))]
    secs: u32,
    #[command(flatten)]
    steal: StealOpts,
}

impl Opts {
    fn wants(&self, s: Step) -> bool {
        self.only.is_none_or(|o| o == s)
    }
}

fn main() -> ExitCode {
    main_with("bench-flanneld", run)
}

/// Runs the selected steps; Ok(false) if any step failed (the summary is printed anyway).
fn run(opts: &Opts) -> Result<bool> {
    let bin = try_workspace_bin("flanneld")?;
    let started = Instant::now();
    println!("bench-flanneld: flanneld binary {}", bin.display());
    println!(
        "bench-flanneld: flanneld runs with FLANNELD_LOG={FLANNELD_LOG}; peers={}",
        opts.peers
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut sampler = Sampler::new(&opts.steal);
    let peers = usize::try_from(opts.peers)?;

    if opts.wants(Step::Convergence) || opts.wants(Step::Memory) {
        let conv = opts.wants(Step::Convergence);
        let mem = opts.wants(Step::Memory);
        if let Err(e) =
            convergence_and_memory(peers, conv, mem, opts.rounds, &mut sampler, &mut rows)
        {
            let step = if conv { "convergence" } else { "memory" };
            eprintln!("bench-flanneld: {step} step failed: {e:#}");
            let mut r = Row::new(format!("{step} step"));
            r.result = "FAILED".into();
            rows.push(r);
            failures.push(format!("{step}: {e:#}"));
        }
    }
    if opts.wants(Step::Throughput) {
        if let Err(e) = throughput(opts, &mut sampler, &mut rows) {
            eprintln!("bench-flanneld: throughput step failed: {e:#}");
            let mut r = Row::new("throughput step");
            r.result = "FAILED".into();
            rows.push(r);
            failures.push(format!("throughput: {e:#}"));
        }
    }

    print_summary(
        "flanneld",
        &rows,
        &bin.display().to_string(),
        started.elapsed(),
    );
    println!(
        "({}; figures are median [min .. max] over {} round(s))",
        sampler.summary(),
        opts.rounds
    );
    if !failures.is_empty() {
        println!("\n{} step(s) FAILED:", failures.len());
        for f in &failures {
            println!("  - {f}");
        }
    }
    Ok(failures.is_empty())
}

// ------------------------------------------------------------------ convergence and memory

/// A fake peer lease.
struct Peer {
    subnet: Ipv4Addr,
    public_ip: Ipv4Addr,
    mac: String,
}

impl Peer {
    fn key(&self) -> String {
        format!("{PREFIX}/subnets/{}-24", self.subnet)
    }

    fn value(&self) -> String {
        format!(
            r#"{{"PublicIP":"{}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{}"}}}}"#,
            self.public_ip, self.mac
        )
    }
}

/// `n` peers with subnets 10.244.1.0/24, 10.244.2.0/24, ... (wrapping inside 10.0.0.0/8,
/// skipping 10.0.0.0/24 and `own`), PublicIPs 198.18.2.1.. (off-link, no real node) and distinct
/// locally administered MACs.
fn make_peers(n: usize, own: Ipv4Addr) -> Result<Vec<Peer>> {
    let own_idx = (u32::from(own) >> 8) & 0xffff;
    let mut peers = Vec::with_capacity(n);
    let mut idx: u32 = 244 * 256 + 1;
    let mut k: u32 = 0;
    while peers.len() < n {
        if idx != 0 && idx != own_idx {
            let subnet = Ipv4Addr::from((10u32 << 24) | (idx << 8));
            let third = u8::try_from(2 + k / 250).context("too many peers for 198.18.x.y")?;
            let fourth = u8::try_from(1 + k % 250).context("peer address octet")?;
            let [_, b1, b2, b3] = (k + 1).to_be_bytes();
            peers.push(Peer {
                subnet,
                public_ip: Ipv4Addr::new(198, 18, third, fourth),
                mac: format!("0e:fb:00:{b1:02x}:{b2:02x}:{b3:02x}"),
            });
            k += 1;
        }
        idx = (idx + 1) & 0xffff;
    }
    Ok(peers)
}

/// Entry counts on a vxlan device: (routes via it, PERMANENT neighbours, FDB entries with a dst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    routes: usize,
    neigh: usize,
    fdb: usize,
}

/// Runs a read-only `ip`/`bridge` `-n ns` command in a namespace of `lab`.
fn read_only(lab: &Lab, tool: &str, ns: &str, args: &[&str]) -> Result<String> {
    let own = format!("{}-", lab.prefix());
    ensure!(
        ns.starts_with(&own),
        "namespace {ns} is not part of lab {}",
        lab.prefix()
    );
    let out = Command::new(tool)
        .arg("-n")
        .arg(ns)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {tool} -n {ns} {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{tool} -n {ns} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn counts(lab: &Lab, ns: &str, dev: &str) -> Result<Counts> {
    let routes = read_only(lab, "ip", ns, &["-4", "route", "show", "dev", dev])?;
    let neigh = read_only(lab, "ip", ns, &["-4", "neigh", "show", "dev", dev])?;
    let fdb = read_only(lab, "bridge", ns, &["fdb", "show", "dev", dev])?;
    Ok(Counts {
        routes: routes.lines().filter(|l| l.contains(" via ")).count(),
        neigh: neigh.lines().filter(|l| l.contains("PERMANENT")).count(),
        fdb: fdb.lines().filter(|l| l.contains(" dst ")).count(),
    })
}

/// Polls every [`POLL`] until the counts on `dev` equal `want`; returns the time from `t0` to
/// the end of the poll that saw them and the mean duration of one poll.
fn wait_counts(
    lab: &mut Lab,
    ns: &str,
    dev: &str,
    want: Counts,
    t0: Instant,
    flanneld: ProcId,
) -> Result<(Duration, Duration)> {
    let mut polls = 0u32;
    let mut poll_time = Duration::ZERO;
    loop {
        let p0 = Instant::now();
        let c = counts(lab, ns, dev)?;
        let now = Instant::now();
        polls += 1;
        poll_time += now - p0;
        if c == want {
            return Ok((now - t0, poll_time / polls));
        }
        if !lab.is_running(flanneld) {
            bail!("flanneld exited while converging (at {c:?}, want {want:?})");
        }
        if now - t0 > CONVERGE_TIMEOUT {
            bail!("not converged after {CONVERGE_TIMEOUT:?}: {c:?}, want {want:?}");
        }
        let next = p0 + POLL;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
}

/// Runs `etcdctl txn` with the requests in `file` (one transaction, no compares) in the fabric
/// namespace and returns how long it took.
fn etcd_txn(lab: &Lab, file: &Path, expect_ops: usize) -> Result<Duration> {
    let script = format!(
        "ETCDCTL_API=3 exec etcdctl --endpoints={ETCD_ENDPOINT} --command-timeout=60s txn < '{}'",
        file.display()
    );
    let t0 = Instant::now();
    let out = lab.sh(&lab.fabric_ns(), &script).context("etcdctl txn")?;
    let took = t0.elapsed();
    ensure!(
        out.lines().next() == Some("SUCCESS"),
        "etcdctl txn did not succeed: {}",
        out.chars().take(300).collect::<String>()
    );
    // One result line per request (OK for put, the count for del).
    let results = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        .saturating_sub(1);
    ensure!(
        results >= expect_ops,
        "etcdctl txn reported {results} results for {expect_ops} requests"
    );
    Ok(took)
}

/// Number of keys under `<prefix>/subnets/`.
fn lease_count(lab: &Lab) -> Result<u64> {
    let out = lab.etcdctl(&[
        "get",
        &format!("{PREFIX}/subnets/"),
        "--prefix",
        "--keys-only",
    ])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

/// (VmRSS, VmHWM) of a process in KiB.
fn mem_kib(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("no {name} in {path}"))?;
        let num = line.trim().trim_end_matches("kB").trim();
        num.parse()
            .with_context(|| format!("bad {name} value {line:?} in {path}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn pid_of(lab: &mut Lab, id: ProcId, what: &str) -> Result<u32> {
    let pid = lab
        .pid(id)
        .with_context(|| format!("{what} is not running"))?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    ensure!(
        comm.trim() == what,
        "pid {pid} is {:?}, expected {what}",
        comm.trim()
    );
    Ok(pid)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Batch files of the kernel-floor baseline: `ip -batch` (routes, neighbours) and
/// `bridge -batch` (FDB) adding, then deleting, the same entries flanneld programs; run on an
/// identical `flannel.1` in node 2, where no flanneld runs.
struct BatchFiles {
    add_ip: String,
    add_fdb: String,
    del_ip: String,
    del_fdb: String,
}

fn batch_files(lab: &Lab, peers: &[Peer]) -> Result<BatchFiles> {
    let (mut add_ip, mut add_fdb, mut del_ip, mut del_fdb) =
        (String::new(), String::new(), String::new(), String::new());
    for p in peers {
        let (s, ip, mac) = (p.subnet, p.public_ip, &p.mac);
        let _ = writeln!(
            add_ip,
            "route replace {s}/24 via {s} dev flannel.1 onlink\n\
             neigh replace {s} lladdr {mac} dev flannel.1 nud permanent"
        );
        let _ = writeln!(
            add_fdb,
            "fdb replace {mac} dev flannel.1 dst {ip} self permanent"
        );
        let _ = writeln!(
            del_ip,
            "route del {s}/24 via {s} dev flannel.1 onlink\nneigh del {s} dev flannel.1"
        );
        let _ = writeln!(del_fdb, "fdb del {mac} dev flannel.1 dst {ip} self");
    }
    let dir = lab.dir();
    let mut files = Vec::new();
    for (name, text) in [
        ("base-add.ip", add_ip),
        ("base-add.fdb", add_fdb),
        ("base-del.ip", del_ip),
        ("base-del.fdb", del_fdb),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        files.push(path.display().to_string());
    }
    let mut it = files.into_iter();
    let mut next = || it.next().context("batch file");
    Ok(BatchFiles {
        add_ip: next()?,
        add_fdb: next()?,
        del_ip: next()?,
        del_fdb: next()?,
    })
}

/// Times `ip -batch IP && bridge -batch FDB` inside `ns` (process start-up included).
/// One baseline sample: brings `dev` on `ns` to `start` with the `undo` batch files if needed
/// (untimed, so a sample rerun for steal measures the same change again), then times the
/// `apply` batch files and checks that they reached `end`.
fn floor_step(
    lab: &Lab,
    ns: &str,
    (start, end): (Counts, Counts),
    undo: (&str, &str),
    apply: (&str, &str),
) -> Result<Duration> {
    if counts(lab, ns, "flannel.1")? != start {
        timed_batch(lab, ns, undo.0, undo.1)?;
    }
    let t = timed_batch(lab, ns, apply.0, apply.1)?;
    let got = counts(lab, ns, "flannel.1")?;
    ensure!(
        got == end,
        "ip -batch baseline reached {got:?}, want {end:?}"
    );
    Ok(t)
}

/// One flanneld sample: brings the leases to `start` with the `undo` transaction if needed
/// (untimed), then writes the `apply` transaction and waits for flanneld to program `end`.
/// Returns (write to kernel state, the etcd write alone, one poll).
fn flanneld_step(
    lab: &mut Lab,
    ns: &str,
    (start, end): (Counts, Counts),
    (undo, apply): (&Path, &Path),
    n: usize,
    fl: ProcId,
) -> Result<(Duration, Duration, Duration)> {
    if counts(lab, ns, "flannel.1")? != start {
        etcd_txn(lab, undo, n)?;
        wait_counts(lab, ns, "flannel.1", start, Instant::now(), fl)?;
    }
    let t0 = Instant::now();
    let write = etcd_txn(lab, apply, n)?;
    let (took, poll) = wait_counts(lab, ns, "flannel.1", end, t0, fl)?;
    Ok((took, write, poll))
}

fn timed_batch(lab: &Lab, ns: &str, ip_file: &str, fdb_file: &str) -> Result<Duration> {
    let script = format!(
        "s=$(date +%s%N); ip -batch '{ip_file}' && bridge -batch '{fdb_file}' || exit 1; \
         e=$(date +%s%N); echo $((e - s))"
    );
    let out = lab.sh(ns, &script).context("ip -batch baseline")?;
    let ns_taken: u64 = out
        .trim()
        .parse()
        .with_context(|| format!("baseline timing output {out:?}"))?;
    Ok(Duration::from_nanos(ns_taken))
}

fn convergence_and_memory(
    n: usize,
    do_conv: bool,
    do_mem: bool,
    rounds: u32,
    sampler: &mut Sampler,
    rows: &mut Vec<Row>,
) -> Result<()> {
    println!("\n== convergence/memory: 1 flanneld node (vxlan, {CONV_NETWORK}), {n} fake peers");
    let mut lab = Lab::new(2)?;
    println!("   lab {}", lab.prefix());
    // One transaction carries every fake lease (etcd's default --max-txn-ops is 128).
    lab.start_etcd_with(&[
        format!("--max-txn-ops={}", (n + 8).max(128)),
        "--max-request-bytes=8388608".to_string(),
    ])?;
    let etcd = lab.etcd_proc().context("etcd not started")?;
    lab.etcdctl(&[
        "put",
        &format!("{PREFIX}/config"),
        &net_config(CONV_NETWORK, "vxlan"),
    ])?;
    let mut c = Cluster::from_lab(lab);
    let inst = Instance {
        env: vec![("FLANNELD_LOG".into(), FLANNELD_LOG.into())],
        ..Default::default()
    };
    let fl = c.start(1, &inst)?;
    c.wait_subnet_file(1, "a")?;
    let own = c.subnet(1, "a")?;
    let node = c.lab.node_ns(1);
    // Let the daemon finish start-up (first reconcile, status server) before sampling.
    Lab::wait_until(Duration::from_secs(10), "flanneld routes to answer", || {
        c.routes_json(1, "a").is_ok()
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let fl_pid = pid_of(&mut c.lab, fl, "flanneld")?;
    let etcd_pid = pid_of(&mut c.lab, etcd, "etcd")?;
    let (rss0, hwm0) = mem_kib(fl_pid)?;
    let (etcd_rss0, _) = mem_kib(etcd_pid)?;
    println!(
        "   own subnet {own}; flanneld pid {fl_pid}: 0 peers VmRSS {} (VmHWM {}); etcd VmRSS {}",
        mib(rss0),
        mib(hwm0),
        mib(etcd_rss0)
    );
    let start = counts(&c.lab, &node, "flannel.1")?;
    ensure!(
        start
            == Counts {
                routes: 0,
                neigh: 0,
                fdb: 0
            },
        "flannel.1 is not empty before the test: {start:?}"
    );

    let peers = make_peers(n, own.network())?;
    let files = batch_files(&c.lab, &peers)?;
    let mut put = String::from("\n");
    let mut del = String::from("\n");
    for p in &peers {
        let value = serde_json::to_string(&p.value())?;
        let _ = writeln!(put, "put \"{}\" {value}", p.key());
        let _ = writeln!(del, "del \"{}\"", p.key());
    }
    put.push_str("\n\n");
    del.push_str("\n\n");
    let put_file = c.lab.dir().join("txn-put.txt");
    let del_file = c.lab.dir().join("txn-del.txt");
    std::fs::write(&put_file, put).context("writing txn file")?;
    std::fs::write(&del_file, del).context("writing txn file")?;
    let full = Counts {
        routes: n,
        neigh: n,
        fdb: n,
    };
    let empty = Counts {
        routes: 0,
        neigh: 0,
        fdb: 0,
    };

    // Kernel floor: the same entries with ip -batch on an identical device in node 2.
    let n2 = c.lab.node_ns(2);
    if do_conv {
        c.lab.sh(
            &n2,
            &format!(
                "ip link add flannel.1 type vxlan id 1 local {} dev eth0 dstport 8472 nolearning \
                 && ip link set flannel.1 mtu 1450 up",
                Lab::node_ip(2)
            ),
        )?;
    }
    let log_ctx = |c: &Cluster| format!("flanneld log:\n{}", tail(&c.log(1, "a"), 20));
    let adding = (empty, full);
    let deleting = (full, empty);
    let add_files = (files.add_ip.as_str(), files.add_fdb.as_str());
    let del_files = (files.del_ip.as_str(), files.del_fdb.as_str());
    let mut floor_add = Vec::new();
    let mut floor_del = Vec::new();
    let mut fl_add = Vec::new();
    let mut fl_del = Vec::new();
    let mut writes = Vec::new();
    let mut rss_n = Vec::new();
    let mut hwm_n = 0u64;
    let mut etcd_rss = 0u64;
    for round in 1..=rounds {
        println!("   round {round}/{rounds}");
        if do_conv {
            let add = sampler.sample("ip -batch add", || {
                floor_step(&c.lab, &n2, adding, del_files, add_files)
            })?;
            floor_add.push(add.value.as_secs_f64());
            println!(
                "   kernel floor (node 2): ip -batch + bridge -batch add {} for {} entries (steal {:.1}%)",
                secs(add.value),
                3 * n,
                add.steal
            );
        }
        let add = sampler.sample("flanneld add", || {
            flanneld_step(&mut c.lab, &node, adding, (&del_file, &put_file), n, fl)
                .with_context(|| log_ctx(&c))
        })?;
        let (took, write, poll) = add.value;
        let leases = lease_count(&c.lab)?;
        ensure!(
            leases == n as u64 + 1,
            "etcd holds {leases} leases after the write, want {}",
            n + 1
        );
        fl_add.push(took.as_secs_f64());
        writes.push(write.as_secs_f64());
        println!(
            "   flanneld add {n} peers: {} (etcd write {}; poll every 20 ms, one poll takes {:.0} ms; steal {:.1}%)",
            secs(took),
            secs(write),
            poll.as_secs_f64() * 1000.0,
            add.steal
        );

        // Memory with n peers.
        std::thread::sleep(Duration::from_millis(500));
        let fl_pid = pid_of(&mut c.lab, fl, "flanneld")?;
        let (rss, hwm) = mem_kib(fl_pid)?;
        rss_n.push(rss as f64);
        hwm_n = hwm_n.max(hwm);
        etcd_rss = mem_kib(etcd_pid)?.0;
        println!(
            "   flanneld VmRSS with {n} peers: {} (VmHWM {})",
            mib(rss),
            mib(hwm)
        );

        if do_conv {
            let del = sampler.sample("ip -batch delete", || {
                floor_step(&c.lab, &n2, deleting, add_files, del_files)
            })?;
            floor_del.push(del.value.as_secs_f64());
            println!(
                "   kernel floor (node 2): delete {} (steal {:.1}%)",
                secs(del.value),
                del.steal
            );
        }
        let del = sampler.sample("flanneld delete", || {
            flanneld_step(&mut c.lab, &node, deleting, (&put_file, &del_file), n, fl)
                .with_context(|| log_ctx(&c))
        })?;
        let leases = lease_count(&c.lab)?;
        ensure!(
            leases == 1,
            "etcd holds {leases} leases after the delete, want 1"
        );
        fl_del.push(del.value.0.as_secs_f64());
        println!(
            "   flanneld delete {n} peers: {} (etcd write {}; steal {:.1}%)",
            secs(del.value.0),
            secs(del.value.1),
            del.steal
        );
    }
    let fs = |v: f64| format!("{v:.3} s");
    let target = TARGET_CONVERGENCE.as_secs_f64();
    if do_conv {
        let ok = Spread::of(&fl_add).is_some_and(|s| s.median < target);
        println!(
            "convergence add {n} peers: flanneld {}, ip -batch floor {}, ratio {}, target median < {target} s: {}",
            spread(&fl_add, fs),
            spread(&floor_add, fs),
            ratio_spread(&fl_add, &floor_add),
            pass(ok)
        );
        rows.push(Row {
            what: format!("convergence add {n} peers ({} entries)", 3 * n),
            ours: format!(
                "{} (etcd write {})",
                spread(&fl_add, fs),
                spread(&writes, fs)
            ),
            baseline: format!("{} ip -batch", spread(&floor_add, fs)),
            ratio: ratio_spread(&fl_add, &floor_add),
            target: format!("median < {target} s"),
            result: pass(ok),
        });
        let ok = Spread::of(&fl_del).is_some_and(|s| s.median < target);
        println!(
            "convergence delete {n} peers: flanneld {}, ip -batch floor {}, ratio {}: {}",
            spread(&fl_del, fs),
            spread(&floor_del, fs),
            ratio_spread(&fl_del, &floor_del),
            pass(ok)
        );
        rows.push(Row {
            what: format!("convergence delete {n} peers"),
            ours: spread(&fl_del, fs),
            baseline: format!("{} ip -batch", spread(&floor_del, fs)),
            ratio: ratio_spread(&fl_del, &floor_del),
            target: format!("median < {target} s (same as add)"),
            result: pass(ok),
        });
    }
    if do_mem {
        let rss = Spread::of(&rss_n).map_or(0, |s| s.max as u64);
        let ok = rss < TARGET_RSS_KIB;
        let kib = |v: f64| mib(v as u64);
        println!(
            "memory: flanneld VmRSS {} (VmHWM {}) with {n} peers, {} with 0 peers; etcd VmRSS {} \
             (was {}); target VmRSS < {}: {}",
            spread(&rss_n, kib),
            mib(hwm_n),
            mib(rss0),
            mib(etcd_rss),
            mib(etcd_rss0),
            mib(TARGET_RSS_KIB),
            pass(ok)
        );
        rows.push(Row {
            what: format!("flanneld VmRSS, {n} peers"),
            ours: format!("{} (VmHWM {})", spread(&rss_n, kib), mib(hwm_n)),
            baseline: format!("{} with 0 peers", mib(rss0)),
            ratio: format!("{:.2}x", rss as f64 / rss0.max(1) as f64),
            target: format!("max < {}", mib(TARGET_RSS_KIB)),
            result: pass(ok),
        });
        let mut r = Row::new(format!("etcd VmRSS (reference), {n} leases"));
        r.ours = "n/a".into();
        r.baseline = format!("{} (0 leases: {})", mib(etcd_rss), mib(etcd_rss0));
        rows.push(r);
    }
    ensure!(
        c.lab.is_running(fl),
        "flanneld exited:\n{}",
        tail(&c.log(1, "a"), 20)
    );
    Ok(())
}

// ------------------------------------------------------------------------------ throughput

/// A 2-node cluster with a pod on each node, for the throughput step.
struct Pair {
    c: Cluster,
    pods: PodPair,
}

fn pair(backend: &str) -> Result<Pair> {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", backend))?;
    println!("   {backend} lab {}", c.lab.prefix());
    let inst = Instance {
        env: vec![("FLANNELD_LOG".into(), FLANNELD_LOG.into())],
        ..Default::default()
    };
    let pods = c.start_pod_pair(&inst, Duration::from_secs(20))?;
    Ok(Pair { c, pods })
}

impl Pair {
    /// One single-stream iperf3 run from pod 1 to pod 2 under the steal check.
    fn sample(&mut self, sampler: &mut Sampler, tag: &str, secs: u32) -> Result<f64> {
        let opts = iperf::Opts {
            secs,
            ..iperf::Opts::default()
        };
        let PodPair { p1, p2, ip2, .. } = &self.pods;
        let r = sampler.sample(tag, || {
            iperf::run(&mut self.c.lab, p1, p2, *ip2, tag, &opts)?.received_bps()
        })?;
        println!("   {tag}: {} (steal {:.1}%)", gbit(r.value), r.steal);
        Ok(r.value)
    }

    fn set_mtu(&self, mtu: u32) -> Result<()> {
        for pod in [&self.pods.p1, &self.pods.p2] {
            self.c.lab.sh(pod, &format!("ip link set eth0 mtu {mtu}"))?;
        }
        Ok(())
    }
}

/// vxlan, plain (at vxlan's pod MTU), host-gw, plain (at host-gw's), in every round.
fn throughput(opts: &Opts, sampler: &mut Sampler, rows: &mut Vec<Row>) -> Result<()> {
    let secs = opts.secs;
    println!(
        "\n== throughput: 2-node vxlan, host-gw and plain clusters, pod to pod, iperf3 single \
         stream {secs} s, alternated"
    );
    let mut vxlan = pair("vxlan")?;
    let mut hostgw = pair("host-gw")?;
    let mut plain = pair("host-gw")?;
    // Plain routed path: flanneld stopped (SIGTERM leaves its state), hand-set routes via eth0.
    plain.c.plain_routes(&plain.pods.p1, plain.pods.ip2)?;
    let plain_mtu = plain.pods.mtu;
    let mut got: [Vec<f64>; 4] = Default::default();
    for round in 1..=opts.rounds {
        println!("   round {round}/{}", opts.rounds);
        got[0].push(vxlan.sample(sampler, &format!("vxlan-r{round}"), secs)?);
        plain.set_mtu(vxlan.pods.mtu)?;
        got[1].push(plain.sample(
            sampler,
            &format!("plain-mtu{}-r{round}", vxlan.pods.mtu),
            secs,
        )?);
        got[2].push(hostgw.sample(sampler, &format!("host-gw-r{round}"), secs)?);
        plain.set_mtu(hostgw.pods.mtu)?;
        got[3].push(plain.sample(
            sampler,
            &format!("plain-mtu{}-r{round}", hostgw.pods.mtu),
            secs,
        )?);
    }
    plain.set_mtu(plain_mtu)?;
    for (label, ours, base, mtu) in [
        (
            "throughput vxlan (kernel vxlan)",
            &got[0],
            &got[1],
            vxlan.pods.mtu,
        ),
        ("throughput host-gw", &got[2], &got[3], hostgw.pods.mtu),
    ] {
        println!(
            "{label}: {}, plain routing {}, ratio {}",
            spread(ours, gbit),
            spread(base, gbit),
            ratio_spread(ours, base)
        );
        rows.push(Row {
            what: format!("{label}, pod MTU {mtu}"),
            ours: spread(ours, gbit),
            baseline: format!("{} plain route", spread(base, gbit)),
            ratio: ratio_spread(ours, base),
            target: "-".into(),
            result: "-".into(),
        });
    }
    Ok(())
}
