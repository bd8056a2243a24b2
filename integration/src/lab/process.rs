//! The processes a lab runs (daemons, servers, clients): starting them inside
//! a lab namespace with a per-process log in [`Lab::dir`], signalling them,
//! their state, their logs, and the `labtool` servers that announce when they
//! listen.

use super::{validate_name, Lab};
use crate::prereq::try_workspace_bin;
use crate::procs::{tail, ProcId};
use anyhow::{bail, Result};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

impl Lab {
    /// Starts `ip netns exec ns program args...` with `env` added to the
    /// environment, in a session and process group of its own; stdout and
    /// stderr are appended to `dir()/<name>.log`. The process (its whole
    /// process group) is killed when the lab is dropped.
    pub fn spawn(
        &mut self,
        ns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<ProcId> {
        self.spawn_inner(ns, name, program, args, env, None)
    }

    /// Like [`Lab::spawn`], and `listen_fd` (a listening socket this process holds, e.g. bound
    /// in the root namespace on 127.0.0.1) becomes fd 3 of the program; `LISTEN_FDS=1` is added
    /// to its environment (systemd's socket passing), so it serves that socket as well.
    pub fn spawn_with_listener(
        &mut self,
        ns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        listen_fd: RawFd,
    ) -> Result<ProcId> {
        let mut env = env.to_vec();
        env.push(("LISTEN_FDS".to_string(), "1".to_string()));
        self.spawn_inner(ns, name, program, args, &env, Some(listen_fd))
    }

    fn spawn_inner(
        &mut self,
        ns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        listen_fd: Option<RawFd>,
    ) -> Result<ProcId> {
        self.check_ns(ns)?;
        validate_name("process name", name)?;
        if program.components().count() > 1 && !program.is_file() {
            bail!("spawn {name}: program {} does not exist", program.display());
        }
        if self.procs.running_named(name) {
            bail!(
                "a process named {name} is already running in lab {}",
                self.prefix
            );
        }
        let log = self.log_path(name);
        self.procs
            .spawn(ns, name, program, args, env, &log, listen_fd)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGKILL`) and waits for the
    /// process to exit (SIGKILL after 15 s, reported as an error). Signalling a
    /// process that had already exited is an error (it probably crashed).
    pub fn kill(&mut self, id: ProcId, signal: i32) -> Result<()> {
        self.procs.signal_and_wait(id, signal).map(|_| ())
    }

    /// Pid of a tracked process, `None` once it has exited.
    pub fn pid(&mut self, id: ProcId) -> Option<u32> {
        self.procs.pid(id)
    }

    /// Exit status of a tracked process, `None` while it runs.
    pub fn exit_status(&mut self, id: ProcId) -> Result<Option<ExitStatus>> {
        self.procs.status(id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self, id: ProcId) -> bool {
        self.procs.pid(id).is_some()
    }

    pub(super) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Contents of `dir()/<name>.log` (empty if there is none). Every start
    /// of a process appends a `=== lab: started ...` header line.
    pub fn log(&self, name: &str) -> String {
        std::fs::read(self.log_path(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// What the latest start of the process wrote to `dir()/<name>.log`:
    /// everything after its `=== lab: started` header line.
    pub fn latest_log(&self, name: &str) -> String {
        let log = self.log(name);
        let Some(header) = log.rfind("=== lab: started") else {
            return log;
        };
        match log[header..].find('\n') {
            Some(end) => log[header + end + 1..].to_string(),
            None => String::new(),
        }
    }

    /// Waits until the latest run of process `id` (logging as `name`) printed
    /// a line containing `needle`; an error (with the log's tail) if it exits
    /// first or nothing comes within `timeout`.
    pub fn wait_log_line(
        &mut self,
        id: ProcId,
        name: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<()> {
        let mut exited = None;
        let waited = Lab::wait_until(timeout, &format!("{name} to print {needle:?}"), || {
            if self.latest_log(name).contains(needle) {
                return true;
            }
            if let Ok(Some(st)) = self.procs.status(id) {
                exited = Some(st);
                return true;
            }
            false
        });
        if let Some(st) = exited {
            // It may have printed the line just before exiting.
            if !self.latest_log(name).contains(needle) {
                bail!(
                    "{name} exited ({st}) before printing {needle:?}:\n{}",
                    tail(&self.latest_log(name), 20)
                );
            }
        }
        waited.map_err(|e| e.context(tail(&self.latest_log(name), 20)))
    }

    /// Starts `labtool tcp-echo port` in `ns` (log `tcp-echo-<ns suffix>-<port>`)
    /// and waits until it listens.
    pub fn start_tcp_echo(&mut self, ns: &str, port: u16) -> Result<ProcId> {
        self.start_labtool_server(ns, "tcp-echo", port, &[])
    }

    /// Starts the labtool server `labtool <kind> <port> <extra>...` in `ns` (log
    /// `<kind>-<ns suffix>-<port>`) and waits until it listens.
    pub(crate) fn start_labtool_server(
        &mut self,
        ns: &str,
        kind: &str,
        port: u16,
        extra: &[String],
    ) -> Result<ProcId> {
        self.check_ns(ns)?;
        let labtool = try_workspace_bin("labtool")?;
        let name = format!("{kind}-{}-{port}", self.ns_suffix(ns));
        let mut args = vec![kind.to_string(), port.to_string()];
        args.extend_from_slice(extra);
        let id = self.spawn(ns, &name, &labtool, &args, &[])?;
        self.wait_log_line(id, &name, "listening on", Duration::from_secs(5))?;
        Ok(id)
    }
}
