//! What tests observe through the lab: single pings and TCP checks, a steady
//! ping that counts every lost packet over a period, a TCP connection held
//! open across an event, and polling for a state with a deadline.
//!
//! Probes panic on harness misuse (a namespace of another lab, `labtool` not
//! built, a probe that cannot run) so that a negative check cannot pass by
//! accident.

use super::Lab;
use crate::prereq::{try_workspace_bin, workspace_bin};
use crate::procs::{tail, ProcId};
use anyhow::{anyhow, bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Echo requests per `ping` run of a [`SteadyPing`].
const STEADY_ROUND: u32 = 20;

impl Lab {
    /// `ping -c 1 -W 1 to` from `from_ns`, up to 3 attempts. Panics if
    /// `from_ns` is not a namespace of this lab or ping cannot be run.
    pub fn ping(&self, from_ns: &str, to: Ipv4Addr) -> bool {
        self.probe_ns(from_ns);
        let to = to.to_string();
        (0..3).any(
            |_| match self.exec(from_ns, &["ping", "-n", "-q", "-c", "1", "-W", "1", &to]) {
                Ok(o) => o.status.success(),
                Err(e) => panic!("ping {from_ns} -> {to}: {e:#}"),
            },
        )
    }

    /// Connects from `from_ns` to `to:port` (a `start_tcp_echo` server) and
    /// exchanges one line (`labtool tcp-check`, 2 s timeout). Panics on harness
    /// misuse (unknown namespace, `labtool` not built) so that a negative
    /// check cannot pass by accident.
    pub fn tcp_check(&self, from_ns: &str, to: Ipv4Addr, port: u16) -> bool {
        self.probe_ns(from_ns);
        let labtool = workspace_bin("labtool");
        let labtool = labtool.to_string_lossy();
        let (to, port) = (to.to_string(), port.to_string());
        let out = match self.exec(
            from_ns,
            &[&labtool, "tcp-check", &to, &port, "--timeout-ms", "2000"],
        ) {
            Ok(o) => o,
            Err(e) => panic!("tcp_check {from_ns} -> {to}:{port}: {e:#}"),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => true,
            Some(1) => {
                eprintln!(
                    "tcp_check {from_ns} -> {to}:{port} failed: {}",
                    stderr.trim()
                );
                false
            }
            _ => panic!(
                "tcp_check {from_ns} -> {to}:{port}: labtool failed ({}): {}",
                out.status,
                stderr.trim()
            ),
        }
    }

    /// Probes run from this lab's namespaces only; anything else is a bug in
    /// the test, reported loudly rather than as "unreachable".
    fn probe_ns(&self, ns: &str) {
        if let Err(e) = self.check_ns(ns) {
            panic!("{e:#}");
        }
    }

    /// Starts pinging `to` from `from_ns` every `interval` (root may go below
    /// 200 ms) until [`SteadyPing::stop`], which returns how many echo requests
    /// were sent and answered. Pings run in rounds of 20 (`ping -c 20 -w ..`,
    /// which waits for every answer of its round), so the count is exact: no
    /// request is still in flight when it is read.
    pub fn start_steady_ping(
        &self,
        from_ns: &str,
        to: Ipv4Addr,
        interval: Duration,
    ) -> Result<SteadyPing> {
        self.check_ns(from_ns)?;
        if interval < Duration::from_millis(2) {
            bail!("steady ping interval {interval:?} below ping's minimum of 2 ms");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let what = format!("steady ping {from_ns} -> {to} every {interval:?}");
        let ns = from_ns.to_string();
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || steady_rounds(&ns, to, interval, &flag));
        Ok(SteadyPing { stop, handle, what })
    }

    /// Starts `labtool tcp-hold` from `from_ns` to a `start_tcp_echo` server at
    /// `to:port` and waits until it has connected. It then exchanges a line
    /// every 100 ms on that one connection, each allowed `exchange_timeout`,
    /// until [`TcpHold::finish`].
    pub fn start_tcp_hold(
        &mut self,
        from_ns: &str,
        to: Ipv4Addr,
        port: u16,
        exchange_timeout: Duration,
    ) -> Result<TcpHold> {
        self.check_ns(from_ns)?;
        let labtool = try_workspace_bin("labtool")?;
        let name = format!("tcp-hold-{}-{to}-{port}", self.ns_suffix(from_ns));
        let stop_file = self.dir.join(format!("{name}.stop"));
        match std::fs::remove_file(&stop_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", stop_file.display()));
            }
            _ => {}
        }
        let args = vec![
            "tcp-hold".to_string(),
            to.to_string(),
            port.to_string(),
            "--until-file".into(),
            stop_file.to_string_lossy().into_owned(),
            "--timeout-ms".into(),
            exchange_timeout.as_millis().to_string(),
        ];
        let id = self.spawn(from_ns, &name, &labtool, &args, &[])?;
        self.wait_log_line(id, &name, "connected ", Duration::from_secs(10))?;
        Ok(TcpHold {
            id,
            name,
            stop_file,
            exchange_timeout,
        })
    }

    /// Polls `f` every 50 ms until it returns true; error naming `what` after
    /// `timeout`.
    pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Echo requests sent and answered by a [`SteadyPing`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingStats {
    pub transmitted: u64,
    pub received: u64,
    /// `ping` runs (of 20 requests each).
    pub rounds: u64,
    /// The rounds that lost something: seconds since the start, sent, answered.
    pub lossy_rounds: Vec<(f64, u64, u64)>,
}

impl PingStats {
    /// Requests without an answer.
    pub fn lost(&self) -> u64 {
        self.transmitted.saturating_sub(self.received)
    }
}

/// A ping running in the background; see [`Lab::start_steady_ping`].
pub struct SteadyPing {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<PingStats>>,
    what: String,
}

impl SteadyPing {
    /// Lets the current round finish (every answer of it awaited) and returns
    /// the counts of all rounds; an error if a round could not run.
    pub fn stop(self) -> Result<PingStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| anyhow!("{} panicked", self.what))?
            .with_context(|| self.what.clone())
    }
}

/// The rounds of a steady ping until `stop` is set.
fn steady_rounds(
    ns: &str,
    to: Ipv4Addr,
    interval: Duration,
    stop: &AtomicBool,
) -> Result<PingStats> {
    let start = Instant::now();
    let secs = format!("{:.3}", interval.as_secs_f64());
    let count = STEADY_ROUND.to_string();
    // Long enough for the round plus late answers; ping exits as soon as all have come.
    let deadline = (interval * STEADY_ROUND).as_secs() + 10;
    let deadline = deadline.to_string();
    let to = to.to_string();
    let args = [
        "netns", "exec", ns, "ping", "-n", "-q", "-i", &secs, "-c", &count, "-w", &deadline, &to,
    ];
    let mut stats = PingStats::default();
    loop {
        let at = start.elapsed().as_secs_f64();
        let out = crate::cmd::output("ip", &args)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (sent, got) = ping_summary(&stdout).with_context(|| {
            format!(
                "`ip {}` printed no summary ({}): {} {}",
                args.join(" "),
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        stats.transmitted += sent;
        stats.received += got;
        stats.rounds += 1;
        if got < sent {
            stats.lossy_rounds.push((at, sent, got));
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(stats);
        }
    }
}

/// `(transmitted, received)` from ping's `N packets transmitted, M received` line.
fn ping_summary(out: &str) -> Option<(u64, u64)> {
    let line = out.lines().find(|l| l.contains(" packets transmitted, "))?;
    let mut parts = line.split(", ");
    let sent = parts.next()?.split_whitespace().next()?.parse().ok()?;
    let got = parts.next()?.split_whitespace().next()?.parse().ok()?;
    Some((sent, got))
}

/// A TCP connection held open by `labtool tcp-hold`; see [`Lab::start_tcp_hold`].
pub struct TcpHold {
    id: ProcId,
    name: String,
    stop_file: PathBuf,
    exchange_timeout: Duration,
}

impl TcpHold {
    /// Name of its log in the lab directory.
    pub fn log_name(&self) -> &str {
        &self.name
    }

    /// Exchanges completed so far.
    pub fn exchanges(&self, lab: &Lab) -> usize {
        lab.latest_log(&self.name)
            .lines()
            .filter(|l| l.starts_with("exchange ") && l.ends_with(" ok"))
            .count()
    }

    /// Waits until `more` exchanges beyond those done so far have completed
    /// (the connection carries data now); an error if it fails first.
    pub fn wait_exchanges(&self, lab: &mut Lab, more: usize, timeout: Duration) -> Result<()> {
        let target = self.exchanges(lab) + more;
        let mut exited = None;
        Lab::wait_until(
            timeout,
            &format!("{} to complete {more} more exchanges", self.name),
            || {
                if self.exchanges(lab) >= target {
                    return true;
                }
                if let Ok(Some(st)) = lab.exit_status(self.id) {
                    exited = Some(st);
                    return true;
                }
                false
            },
        )?;
        if let Some(st) = exited {
            if self.exchanges(lab) < target {
                bail!(
                    "{} exited ({st}):\n{}",
                    self.name,
                    tail(&lab.latest_log(&self.name), 20)
                );
            }
        }
        Ok(())
    }

    /// Tells it to stop after its next exchange and waits for it: the number
    /// of exchanges if every one succeeded on the one connection, else an
    /// error with its log.
    pub fn finish(self, lab: &mut Lab) -> Result<usize> {
        std::fs::write(&self.stop_file, b"stop")
            .with_context(|| format!("writing {}", self.stop_file.display()))?;
        // One exchange may still be retransmitted for its whole timeout.
        let timeout = self.exchange_timeout * 2 + Duration::from_secs(10);
        let id = self.id;
        Lab::wait_until(timeout, &format!("{} to finish", self.name), || {
            !lab.is_running(id)
        })
        .map_err(|e| e.context(tail(&lab.latest_log(&self.name), 20)))?;
        let st = lab
            .exit_status(id)?
            .context("tcp-hold has no exit status")?;
        let log = lab.latest_log(&self.name);
        if !st.success() {
            bail!(
                "{} failed ({st}): the connection did not survive:\n{}",
                self.name,
                tail(&log, 20)
            );
        }
        log.lines()
            .find_map(|l| l.strip_prefix("exchanges: "))
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| {
                format!(
                    "{} printed no exchange count:\n{}",
                    self.name,
                    tail(&log, 20)
                )
            })
    }
}
