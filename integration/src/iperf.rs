//! iperf3 between two namespaces of a lab, for the benchmarks (`bench-flanneld`,
//! `bench-datapath`): a one-off server (`iperf3 -s -1`) in one namespace, the client with `-J`
//! in another, and the figures read from the client's JSON report (saved as
//! `<lab dir>/iperf3-<tag>.json`).
//!
//! Both run the way a pod's process does: started by us (`ip netns exec`) in a session of
//! their own (`setsid(2)` before exec, so each gets its own scheduler autogroup, as a
//! container's process would), not daemonised by iperf3's `-D` and not in the benchmark's
//! session. The server is waited for until it listens.
//!
//! The client runs under `timeout(1)`, so a datapath that stalls mid-test (e.g. a userspace
//! backend under development) turns into an error instead of a hung benchmark.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::lab::Lab;
use crate::services::tail;

/// iperf3's default port.
pub const DEFAULT_PORT: u16 = 5201;
/// Extra time the client gets beyond its test duration (connect, result exchange) before
/// `timeout(1)` stops it.
const GRACE_SECS: u32 = 30;

/// What one iperf3 run does.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Test duration (`-t`).
    pub secs: u32,
    /// Parallel streams (`-P`); 1 is a single stream.
    pub parallel: u32,
    /// UDP mode with this datagram payload length: `-u -b 0 -l LEN` (unlimited rate). `None`
    /// is TCP.
    pub udp_len: Option<u32>,
    pub port: u16,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            secs: 10,
            parallel: 1,
            udp_len: None,
            port: DEFAULT_PORT,
        }
    }
}

/// The client's JSON report (`iperf3 -J`) of a successful run.
#[derive(Clone, Debug)]
pub struct Report {
    pub json: Value,
    /// Datagram length of a UDP run.
    pub udp_len: Option<u32>,
}

/// Datagram counts of a UDP run.
///
/// iperf3's own `lost_packets` (`end.sum`, `end.sum_received`) comes from sequence-number gaps
/// seen by the server, so datagrams lost after the last one it received are not counted, and
/// `end.sum_received.packets` is the *sender's* count (3.12). The received count here is
/// therefore the bytes the server received divided by the datagram length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UdpStats {
    /// Datagrams the client sent (`end.sum_sent.packets`).
    pub sent: u64,
    /// Datagrams the server received (`end.sum_received.bytes` / datagram length).
    pub received: u64,
    /// iperf3's own loss count (`end.sum.lost_packets`), for reference.
    pub lost_reported: u64,
    /// Test duration (`end.sum.seconds`).
    pub seconds: f64,
}

impl UdpStats {
    /// Datagrams received per second.
    pub fn received_pps(&self) -> f64 {
        self.received as f64 / self.seconds.max(1e-9)
    }

    /// Datagrams sent per second.
    pub fn sent_pps(&self) -> f64 {
        self.sent as f64 / self.seconds.max(1e-9)
    }

    /// Datagrams not received, in percent of the sent ones.
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * self.sent.saturating_sub(self.received) as f64 / self.sent as f64
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .with_context(|| format!("iperf3 JSON lacks {}", path.join(".")))?;
    }
    Ok(cur)
}

fn f64_field(v: &Value, path: &[&str]) -> Result<f64> {
    field(v, path)?
        .as_f64()
        .with_context(|| format!("iperf3 JSON {} is not a number", path.join(".")))
}

fn u64_field(v: &Value, path: &[&str]) -> Result<u64> {
    field(v, path)?.as_u64().with_context(|| {
        format!(
            "iperf3 JSON {} is not a non-negative integer",
            path.join(".")
        )
    })
}

impl Report {
    /// TCP goodput seen by the receiver, bits/s (`end.sum_received.bits_per_second`).
    pub fn received_bps(&self) -> Result<f64> {
        f64_field(&self.json, &["end", "sum_received", "bits_per_second"])
    }

    /// Bytes the receiver got (`end.sum_received.bytes`).
    pub fn received_bytes(&self) -> Result<u64> {
        u64_field(&self.json, &["end", "sum_received", "bytes"])
    }

    /// TCP retransmits the sender counted (`end.sum_sent.retransmits`); an error for a UDP run.
    pub fn retransmits(&self) -> Result<u64> {
        ensure!(self.udp_len.is_none(), "a UDP run has no retransmits");
        u64_field(&self.json, &["end", "sum_sent", "retransmits"])
    }

    /// The MSS of iperf3's TCP connection as it read it after connecting
    /// (`start.tcp_mss_default`, `TCP_MAXSEG`: the segment size the peer's MSS option left).
    pub fn tcp_mss(&self) -> Result<u64> {
        u64_field(&self.json, &["start", "tcp_mss_default"])
    }

    /// Datagram counts of a UDP run (see [`UdpStats`]); an error for a TCP run.
    pub fn udp(&self) -> Result<UdpStats> {
        let len = self.udp_len.context("not a UDP run")?;
        ensure!(len > 0, "UDP datagram length 0");
        let j = &self.json;
        let stats = UdpStats {
            sent: u64_field(j, &["end", "sum_sent", "packets"])?,
            received: u64_field(j, &["end", "sum_received", "bytes"])? / u64::from(len),
            lost_reported: u64_field(j, &["end", "sum", "lost_packets"])?,
            seconds: f64_field(j, &["end", "sum", "seconds"])?,
        };
        ensure!(
            stats.seconds > 0.0,
            "iperf3 JSON end.sum.seconds is {}",
            stats.seconds
        );
        Ok(stats)
    }
}

/// `ip netns exec <ns> <args...>` as a pod's process: its own session, stdin closed.
fn pod_command(lab: &Lab, ns: &str, args: &[&str]) -> Result<Command> {
    ensure!(
        ns.starts_with(&format!("{}-", lab.prefix())),
        "namespace {ns} is not part of lab {}",
        lab.prefix()
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null());
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// The one-off server; killed and reaped when dropped if it has not exited.
struct Server {
    child: Child,
}

impl Server {
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs one iperf3 test from `client` to a one-off server in `server` listening on `ip`
/// (`tag` names the server's log, `<lab dir>/iperf3-<tag>.log`). The server is stopped before
/// returning, whatever the outcome.
pub fn run(
    lab: &mut Lab,
    client: &str,
    server: &str,
    ip: Ipv4Addr,
    tag: &str,
    opts: &Opts,
) -> Result<Report> {
    ensure!(opts.secs > 0, "iperf3 duration must be at least 1 s");
    ensure!(opts.parallel > 0, "iperf3 needs at least one stream");
    let name = format!("iperf3-{tag}");
    let port = opts.port.to_string();
    let log_path = lab.dir().join(format!("{name}.log"));
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let child = pod_command(lab, server, &["iperf3", "-s", "-1", "-p", &port])?
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the iperf3 server in {server}"))?;
    let mut srv = Server { child };
    let result = run_client(lab, client, server, ip, &name, &mut srv, opts);
    // The one-off server exits after the test; give it a moment, then stop it (drop).
    let _ = Lab::wait_until(Duration::from_secs(3), "iperf3 server exit", || {
        !srv.running()
    });
    drop(srv);
    result
}

fn run_client(
    lab: &mut Lab,
    client: &str,
    server: &str,
    ip: Ipv4Addr,
    name: &str,
    srv: &mut Server,
    opts: &Opts,
) -> Result<Report> {
    let port = opts.port.to_string();
    let filter = format!("sport = :{port}");
    let mut listening = false;
    for _ in 0..100 {
        if !srv.running() {
            bail!("iperf3 server exited:\n{}", tail(&lab.log(name), 10));
        }
        let out = lab.exec(server, &["ss", "-Hltn", &filter])?;
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            listening = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure!(listening, "iperf3 server in {server} does not listen");

    let limit = (opts.secs + GRACE_SECS).to_string();
    let ip_s = ip.to_string();
    let t = opts.secs.to_string();
    let parallel = opts.parallel.to_string();
    let mut cmd: Vec<&str> = vec![
        "timeout",
        "--kill-after=5",
        &limit,
        "iperf3",
        "-c",
        &ip_s,
        "-p",
        &port,
        "-t",
        &t,
        "-J",
        "--connect-timeout",
        "3000",
    ];
    if opts.parallel > 1 {
        cmd.extend(["-P", &parallel]);
    }
    let len = opts.udp_len.map(|l| l.to_string());
    if let Some(len) = &len {
        cmd.extend(["-u", "-b", "0", "-l", len]);
    }
    let out: Output = pod_command(lab, client, &cmd)?
        .output()
        .with_context(|| format!("running the iperf3 client in {client}"))?;
    if matches!(out.status.code(), Some(124 | 137)) {
        bail!(
            "iperf3 client did not finish within {limit} s (stopped by timeout); server log:\n{}",
            tail(&lab.log(name), 10)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Kept with the lab's logs (see `FLANNEL_LAB_KEEP`) for a look at every field.
    let saved = lab.dir().join(format!("{name}.json"));
    std::fs::write(&saved, text.as_bytes())
        .with_context(|| format!("writing {}", saved.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "iperf3 -J output is not JSON ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if let Some(err) = json.get("error").and_then(Value::as_str) {
        bail!("iperf3 client: {err}");
    }
    let report = Report {
        json,
        udp_len: opts.udp_len,
    };
    // Fail on a report without the figures before looking at the exit status, as it says more.
    if opts.udp_len.is_some() {
        report.udp()?;
    } else {
        report.received_bps()?;
    }
    ensure!(
        out.status.success(),
        "iperf3 client failed ({})",
        out.status
    );
    Ok(report)
}

/// Bits/s as "9.41 Gbit/s".
pub fn gbit(bps: f64) -> String {
    format!("{:.2} Gbit/s", bps / 1e9)
}
