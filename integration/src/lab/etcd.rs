//! The lab's etcd: one member in the fabric namespace on 198.18.0.254:2379
//! with its data dir in the lab directory, started and stopped by tests
//! (outages), and `etcdctl` against it.

use super::{Lab, ETCD_ENDPOINT};
use crate::cmd;
use crate::procs::{tail, ProcId};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ETCD_START_TIMEOUT: Duration = Duration::from_secs(20);

impl Lab {
    /// etcd client URL: `http://198.18.0.254:2379`.
    pub fn etcd_endpoint(&self) -> String {
        ETCD_ENDPOINT.to_string()
    }

    /// Starts etcd (Debian `etcd-server`, 3.4) in the fabric namespace with
    /// data dir `dir()/etcd-data` and log `dir()/etcd.log`, and waits (20 s)
    /// until `etcdctl endpoint health` succeeds. Starting it again after
    /// [`Lab::stop_etcd`] reuses the data dir.
    pub fn start_etcd(&mut self) -> Result<()> {
        self.start_etcd_with(&[])
    }

    /// Like [`Lab::start_etcd`], with extra etcd flags (e.g. `--max-txn-ops=2000`).
    pub fn start_etcd_with(&mut self, extra: &[String]) -> Result<()> {
        cmd::require_tool("etcd", "etcd-server")?;
        cmd::require_tool("etcdctl", "etcd-client")?;
        if let Some(id) = self.etcd {
            if self.is_running(id) {
                bail!("etcd is already running in lab {}", self.prefix);
            }
        }
        let data = self.dir.join("etcd-data");
        let args: Vec<String> = [
            "--name",
            "lab",
            "--data-dir",
            &data.to_string_lossy(),
            "--listen-client-urls",
            ETCD_ENDPOINT,
            "--advertise-client-urls",
            ETCD_ENDPOINT,
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "lab=http://127.0.0.1:2380",
            "--initial-cluster-state",
            "new",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(extra.iter().cloned())
        .collect();
        let fab = self.fabric_ns();
        let id = self.spawn(&fab, "etcd", Path::new("etcd"), &args, &[])?;
        self.etcd = Some(id);
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        loop {
            if let Some(st) = self.procs.status(id)? {
                bail!(
                    "etcd exited during startup ({st}); log {}:\n{}",
                    self.log_path("etcd").display(),
                    tail(&self.log("etcd"), 30)
                );
            }
            if self
                .etcdctl(&[
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                    "endpoint",
                    "health",
                ])
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "etcd not healthy after {ETCD_START_TIMEOUT:?}; log {}:\n{}",
                    self.log_path("etcd").display(),
                    tail(&self.log("etcd"), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id of the running etcd.
    pub fn etcd_proc(&self) -> Option<ProcId> {
        self.etcd
    }

    /// Stops etcd with SIGTERM and waits for it to exit (no-op if not running).
    pub fn stop_etcd(&mut self) -> Result<()> {
        match self.etcd.take() {
            Some(id) if self.is_running(id) => self.kill(id, libc::SIGTERM),
            _ => Ok(()),
        }
    }

    /// Pid of the running etcd, if any.
    pub fn etcd_pid(&mut self) -> Option<u32> {
        let id = self.etcd?;
        self.pid(id)
    }

    /// `ETCDCTL_API=3 etcdctl --endpoints=<endpoint> args...` in the fabric
    /// namespace; returns stdout, the error includes stderr.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String> {
        let fab = self.fabric_ns();
        self.check_ns(&fab)?;
        let endpoints = format!("--endpoints={ETCD_ENDPOINT}");
        let mut full = vec!["netns", "exec", fab.as_str(), "etcdctl", endpoints.as_str()];
        full.extend_from_slice(args);
        let out = Command::new("ip")
            .args(&full)
            .env("ETCDCTL_API", "3")
            .stdin(Stdio::null())
            .output()
            .context("failed to start etcdctl")?;
        cmd::ensure_success(&out, &cmd::display("ip", &full))
    }
}
