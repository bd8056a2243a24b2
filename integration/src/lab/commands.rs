//! Running commands inside the lab's namespaces: creating them, `ip -n`,
//! `sysctl`, `ip netns exec` with or without stdin, `sh -c`, and sockets
//! opened inside a namespace. Every entry point first checks that the
//! namespace belongs to the lab.

use super::Lab;
use crate::cmd;
use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};

impl Lab {
    pub(super) fn add_ns(&self, ns: &str) -> Result<()> {
        self.check_ns(ns)?;
        cmd::checked("ip", &["netns", "add", ns])?;
        self.ipn(ns, &["link", "set", "lo", "up"])?;
        Ok(())
    }

    /// `ip -n NS args...` (only for namespaces of this lab).
    pub(super) fn ipn(&self, ns: &str, args: &[&str]) -> Result<String> {
        self.check_ns(ns)?;
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        cmd::checked("ip", &full)
    }

    /// `ip netns exec NS sysctl -q -w key=value`.
    pub(super) fn sysctl(&self, ns: &str, kv: &str) -> Result<()> {
        self.check_ns(ns)?;
        cmd::checked("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", kv])?;
        Ok(())
    }

    /// Runs `ip netns exec ns cmd...` to completion (stdin closed) and returns
    /// its output whatever the exit status.
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<Output> {
        self.check_ns(ns)?;
        if cmd.is_empty() {
            bail!("exec in {ns}: empty command");
        }
        let mut full = vec!["netns", "exec", ns];
        full.extend_from_slice(cmd);
        cmd::output("ip", &full)
    }

    /// Runs `cmd` in `ns` with extra environment variables and `stdin` fed to it.
    pub fn exec_with(
        &self,
        ns: &str,
        cmd: &[&str],
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Output> {
        self.check_ns(ns)?;
        if cmd.is_empty() {
            bail!("exec in {ns}: empty command");
        }
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {cmd:?} in {ns}"))?;
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write;
            input
                .write_all(stdin)
                .with_context(|| format!("writing stdin of {cmd:?}"))?;
        }
        child
            .wait_with_output()
            .with_context(|| format!("waiting for {cmd:?} in {ns}"))
    }

    /// Runs `sh -c script` in `ns`; returns stdout, or an error carrying
    /// stderr on non-zero exit.
    pub fn sh(&self, ns: &str, script: &str) -> Result<String> {
        let out = self.exec(ns, &["sh", "-c", script])?;
        cmd::ensure_success(&out, &format!("ip netns exec {ns} sh -c {script:?}"))
    }

    /// A UDP socket bound to `addr` inside the lab namespace `ns` (created on a short-lived
    /// thread that enters the namespace; the socket stays in it). Lets a test play a peer
    /// with nothing but a plain socket.
    pub fn udp_socket(
        &self,
        ns: &str,
        addr: std::net::SocketAddrV4,
    ) -> Result<std::net::UdpSocket> {
        self.check_ns(ns)?;
        let path = format!("/var/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| -> Result<std::net::UdpSocket> {
                let f = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                // SAFETY: setns on a valid namespace fd; only this thread changes namespace.
                if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }
                    != 0
                {
                    bail!("setns {ns}: {}", std::io::Error::last_os_error());
                }
                std::net::UdpSocket::bind(addr).with_context(|| format!("binding {addr} in {ns}"))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("namespace thread for {ns} panicked"))?
        })
    }
}
