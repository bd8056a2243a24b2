//! Processes a lab starts inside its namespaces: spawning them with
//! `ip netns exec` (which execs the program, so the child pid *is* the
//! program) in a session of their own, as a service manager or a container
//! runtime would run a daemon, sending output to a per-process log file,
//! signalling and reaping them, and killing whatever is left (the whole
//! process group) when the lab is dropped; optionally handing one listening
//! socket to the program as fd 3 (systemd's `LISTEN_FDS`). Also [`tail`] of
//! those logs.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first inherited socket of the systemd socket-passing protocol (`LISTEN_FDS`).
pub(crate) const LISTEN_FDS_START: RawFd = 3;

/// How long [`Procs::signal_and_wait`] waits for a process to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Handle of a process started by [`crate::Lab::spawn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId(usize);

pub(crate) struct Tracked {
    pub(crate) name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl Tracked {
    /// Exit status if the process has exited (reaping it if needed).
    fn poll(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for process {}", self.name))?;
        }
        Ok(self.status)
    }
}

#[derive(Default)]
pub(crate) struct Procs {
    list: Vec<Tracked>,
}

impl Procs {
    /// Starts `ip netns exec ns program args...` (see the module doc). With `listen_fd`, that
    /// descriptor (an already-listening socket of the parent) becomes fd 3 of the program,
    /// systemd-style; the caller sets `LISTEN_FDS=1` in `env`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn(
        &mut self,
        ns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_path: &Path,
        listen_fd: Option<RawFd>,
    ) -> Result<ProcId> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening log {}", log_path.display()))?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        writeln!(
            log,
            "=== lab: started at {secs:.3} in netns {ns}: {}",
            crate::cmd::display(&program.to_string_lossy(), args)
        )?;
        let stderr = log.try_clone()?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent. The
        // child leads a new session and process group (pgid = its pid), with no controlling
        // terminal: like a daemon under a service manager, not a job of the test's shell.
        // With `listen_fd`, dup2(2) (or fcntl(2) when it already is fd 3) leave the socket as fd
        // 3 without FD_CLOEXEC, so `ip netns exec` and then the program inherit it; both calls
        // are async-signal-safe. stdio is set up before this runs, so fds 0-2 are not touched.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = listen_fd {
                    let ok = if fd == LISTEN_FDS_START {
                        let flags = libc::fcntl(fd, libc::F_GETFD);
                        flags != -1
                            && libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) != -1
                    } else {
                        libc::dup2(fd, LISTEN_FDS_START) != -1
                    };
                    if !ok {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| {
            format!("spawning {name}: ip netns exec {ns} {}", program.display())
        })?;
        self.list.push(Tracked {
            name: name.to_string(),
            child,
            status: None,
        });
        Ok(ProcId(self.list.len() - 1))
    }

    fn get(&mut self, id: ProcId) -> Result<&mut Tracked> {
        self.list
            .get_mut(id.0)
            .ok_or_else(|| anyhow!("unknown process id {id:?}"))
    }

    pub(crate) fn pid(&mut self, id: ProcId) -> Option<u32> {
        let t = self.get(id).ok()?;
        match t.poll() {
            Ok(None) => Some(t.child.id()),
            _ => None,
        }
    }

    pub(crate) fn status(&mut self, id: ProcId) -> Result<Option<ExitStatus>> {
        self.get(id)?.poll()
    }

    /// True if a process with this name is still running.
    pub(crate) fn running_named(&mut self, name: &str) -> bool {
        self.list
            .iter_mut()
            .any(|t| t.name == name && matches!(t.poll(), Ok(None)))
    }

    /// Sends `signal` and waits for the process to exit. If it is still
    /// running after [`EXIT_TIMEOUT`] it is SIGKILLed and an error returned.
    /// A process that had already exited before the signal is an error too
    /// (it usually means it crashed; see its log).
    pub(crate) fn signal_and_wait(&mut self, id: ProcId, signal: i32) -> Result<ExitStatus> {
        let t = self.get(id)?;
        if let Some(st) = t.poll()? {
            bail!("process {} had already exited ({st})", t.name);
        }
        let pid = libc::pid_t::try_from(t.child.id())?;
        // SAFETY: kill(2) on our own, not yet reaped, child.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!(
                "kill({pid}, {signal}) for {}: {}",
                t.name,
                std::io::Error::last_os_error()
            );
        }
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(st) = t.poll()? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                kill_group(pid);
                let st = t.child.wait()?;
                t.status = Some(st);
                bail!(
                    "process {} did not exit within {EXIT_TIMEOUT:?} after signal {signal}; SIGKILLed",
                    t.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the process group of every process still running (the process and whatever
    /// it forked that stayed in its group) and reaps the process.
    pub(crate) fn kill_all(&mut self) {
        for t in &mut self.list {
            if matches!(t.poll(), Ok(None)) {
                match libc::pid_t::try_from(t.child.id()) {
                    Ok(pid) => kill_group(pid),
                    Err(_) => {
                        let _ = t.child.kill();
                    }
                }
                if let Ok(st) = t.child.wait() {
                    t.status = Some(st);
                }
            }
        }
    }
}

/// SIGKILLs process group `pgid` (a tracked child is its group's leader, see
/// [`Procs::spawn`]), falling back to the process alone.
fn kill_group(pgid: libc::pid_t) {
    // SAFETY: kill(2) on the group led by our own, not yet reaped, child: the pgid cannot have
    // been reused while the leader is unreaped.
    if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
        // SAFETY: as above, the process itself.
        unsafe {
            libc::kill(pgid, libc::SIGKILL);
        }
    }
}

/// Last `n` lines of `s` (of a log, for error messages).
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
