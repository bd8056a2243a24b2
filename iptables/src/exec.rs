//! The applier: runs `iptables`, `iptables-restore` and `iptables-save` as
//! child processes (optionally behind a command prefix such as
//! `ip netns exec NS`, used by tests; [`crate::conntrack`] builds its
//! commands the same way) and turns their failures into [`Error`].

use crate::model::Table;
use crate::parse::ParseError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Errors of the applier.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{cmd} failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("iptables-restore failed ({status}){}: {stderr}", failing_line(*.line, .text.as_deref()))]
    Restore {
        status: String,
        line: Option<usize>,
        text: Option<String>,
        stderr: String,
    },
    #[error("{cmd} printed non UTF-8 output")]
    NotUtf8 { cmd: String },
    #[error("cannot parse iptables-save output: {0}")]
    Parse(#[from] ParseError),
}

fn failing_line(line: Option<usize>, text: Option<&str>) -> String {
    match (line, text) {
        (Some(n), Some(t)) => format!(" at payload line {n} `{t}`"),
        (Some(n), None) => format!(" at payload line {n}"),
        _ => String::new(),
    }
}

/// Runs the iptables tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iptables {
    prefix: Vec<String>,
    iptables: PathBuf,
    restore: PathBuf,
    save: PathBuf,
}

impl Default for Iptables {
    fn default() -> Self {
        Self::new()
    }
}

impl Iptables {
    /// Uses `iptables`, `iptables-restore` and `iptables-save` from `PATH`.
    pub fn new() -> Self {
        Self::with_paths("iptables", "iptables-restore", "iptables-save")
    }

    /// Uses the given binaries.
    pub fn with_paths(
        iptables: impl Into<PathBuf>,
        restore: impl Into<PathBuf>,
        save: impl Into<PathBuf>,
    ) -> Self {
        Iptables {
            prefix: Vec::new(),
            iptables: iptables.into(),
            restore: restore.into(),
            save: save.into(),
        }
    }

    /// Runs every command as `ip netns exec <name> <command>` (for tests).
    pub fn in_netns(name: &str) -> Self {
        Self::new().with_prefix(["ip", "netns", "exec", name])
    }

    /// Runs every command behind `prefix` (e.g. `["ip","netns","exec","NS"]`).
    pub fn with_prefix<S: AsRef<str>>(mut self, prefix: impl IntoIterator<Item = S>) -> Self {
        self.prefix = prefix.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// The command prefix (empty unless set with [`Iptables::with_prefix`]).
    pub fn prefix(&self) -> &[String] {
        &self.prefix
    }

    /// `iptables-save -t <table>`.
    pub fn save(&self, table: Table) -> Result<String, Error> {
        self.stdout(&self.save, &["-t", table.name()])
    }

    /// `iptables-save` of every table in one call (with the nf_tables
    /// backend one call costs about as much as one `-t` call, as both read
    /// the whole ruleset).
    pub fn save_all(&self) -> Result<String, Error> {
        self.stdout(&self.save, &[])
    }

    /// `iptables-restore --noflush --wait` with `payload` on stdin.
    pub fn restore_noflush(&self, payload: &str) -> Result<(), Error> {
        self.restore_with(&["--noflush", "--wait"], payload)
    }

    /// `iptables-restore --wait` (no `--noflush`) with `payload` on stdin:
    /// every table in the payload is replaced whole, atomically.
    pub fn restore_replace(&self, payload: &str) -> Result<(), Error> {
        self.restore_with(&["--wait"], payload)
    }

    fn restore_with(&self, args: &[&str], payload: &str) -> Result<(), Error> {
        let (_, out) = self.run(&self.restore, args, Some(payload))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let line = failed_line(&stderr);
        let text = line
            .and_then(|n| payload.lines().nth(n.checked_sub(1)?))
            .map(str::to_string);
        Err(Error::Restore {
            status: out.status.to_string(),
            line,
            text,
            stderr,
        })
    }

    /// Whether `chain` exists in `table` (`iptables -w -t T -S CHAIN`, cheap
    /// even with a large table). Any failure counts as "missing".
    pub fn chain_exists(&self, table: Table, chain: &str) -> bool {
        self.run(
            &self.iptables,
            &["-w", "-t", table.name(), "-S", chain],
            None,
        )
        .is_ok_and(|(_, out)| out.status.success())
    }

    /// Whether the kernel accepts an SCTP port match: loads a rule with
    /// `-p sctp -m sctp` into a probe chain and deletes both in the same
    /// `iptables-restore --noflush` transaction, so no chain or rule is left
    /// behind (the filter table itself is created if it did not exist).
    pub fn sctp_supported(&self) -> bool {
        let chain = "KUBE-PROXY-SCTP-PROBE";
        let payload = format!(
            "*filter\n:{chain} - [0:0]\n-A {chain} -p sctp -m sctp --dport 1 -j RETURN\n\
             -F {chain}\n-X {chain}\nCOMMIT\n"
        );
        self.restore_noflush(&payload).is_ok()
    }

    /// `iptables -w -t <table> -S <chain>`: the chain's policy (`-P`) or
    /// declaration (`-N`) and its rules (`-A`), as `iptables-save` prints them.
    pub fn list_chain(&self, table: Table, chain: &str) -> Result<String, Error> {
        self.stdout(&self.iptables, &["-w", "-t", table.name(), "-S", chain])
    }

    /// Chain names of the iptables-nft tables (`ip` family), by table, from
    /// `nft list chains` (which, unlike `iptables-save`, prints no rules and
    /// is fast with tens of thousands of chains). `None` when `nft` cannot
    /// be run or fails, or when iptables uses the legacy backend.
    pub fn nft_chain_names(&self) -> Option<std::collections::BTreeMap<String, Vec<String>>> {
        let version = self.stdout_lossy(&self.iptables, &["--version"])?;
        if !version.contains("nf_tables") {
            return None;
        }
        let chains = self.stdout_lossy(Path::new("nft"), &["list", "chains"])?;
        Some(parse_nft_chains(&chains))
    }

    /// Whether `--random-fully` is supported (iptables >= 1.6.2).
    pub fn random_fully_supported(&self) -> bool {
        self.version().is_some_and(|v| v >= (1, 6, 2))
    }

    /// The version printed by `iptables --version`, if it can be read.
    pub fn version(&self) -> Option<(u32, u32, u32)> {
        parse_version(&self.stdout_lossy(&self.iptables, &["--version"])?)
    }

    /// Runs `bin args` and returns its stdout; a failure status is an error.
    fn stdout(&self, bin: &Path, args: &[&str]) -> Result<String, Error> {
        let (cmd, out) = self.run(bin, args, None)?;
        check(&cmd, &out)?;
        String::from_utf8(out.stdout).map_err(|_| Error::NotUtf8 { cmd })
    }

    /// Like [`Iptables::stdout`], any failure being `None` and invalid
    /// UTF-8 replaced.
    fn stdout_lossy(&self, bin: &Path, args: &[&str]) -> Option<String> {
        let (cmd, out) = self.run(bin, args, None).ok()?;
        check(&cmd, &out).ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn run(
        &self,
        bin: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(String, Output), Error> {
        let (mut command, cmd) = prefixed_command(&self.prefix, bin, args);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_err = |source| Error::Spawn {
            cmd: cmd.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_err)?;
        let output = std::thread::scope(|s| {
            if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
                // A write error means the child exited early; its status and stderr tell why.
                s.spawn(move || pipe.write_all(data.as_bytes()));
            }
            child.wait_with_output()
        });
        tracing::debug!(%cmd, "ran iptables command");
        Ok((cmd.clone(), output.map_err(spawn_err)?))
    }
}

/// `bin args` behind `prefix` (e.g. `ip netns exec NS`), and the command
/// line as errors and logs show it.
pub(crate) fn prefixed_command(prefix: &[String], bin: &Path, args: &[&str]) -> (Command, String) {
    let mut command = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    command.args(args);
    let cmd = prefix
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(bin.to_string_lossy().as_ref()))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    (command, cmd)
}

fn check(cmd: &str, out: &Output) -> Result<(), Error> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Command {
        cmd: cmd.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The payload line `iptables-restore` blames: nf_tables builds print
/// `Error occurred at line: N`, legacy ones `iptables-restore: line N failed`.
pub fn failed_line(stderr: &str) -> Option<usize> {
    stderr.lines().find_map(|l| {
        if let Some(rest) = l.split("Error occurred at line:").nth(1) {
            return rest.trim().parse().ok();
        }
        let rest = l.split("line ").nth(1)?;
        let (num, tail) = rest.split_once(' ')?;
        if tail.starts_with("failed") {
            num.parse().ok()
        } else {
            None
        }
    })
}

/// Parses `nft list chains` output into chain names per `ip` table.
pub fn parse_nft_chains(text: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut table: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("table ") {
            let mut words = rest.split_whitespace();
            table = match (words.next(), words.next()) {
                (Some("ip"), Some(name)) => {
                    out.entry(name.to_string()).or_default();
                    Some(name.to_string())
                }
                _ => None,
            };
        } else if let (Some(tbl), Some(rest)) = (&table, t.strip_prefix("chain ")) {
            if let Some(name) = rest.split_whitespace().next().filter(|n| *n != "{") {
                out.entry(tbl.clone()).or_default().push(name.to_string());
            }
        }
    }
    out
}

/// Parses `iptables v1.8.9 (nf_tables)` into `(1, 8, 9)`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests;
