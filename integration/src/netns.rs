//! Network-namespace bookkeeping shared by `Lab`'s `Drop` and the
//! `lab-cleanup` binary: listing namespaces, killing the processes that live
//! in them and deleting them by name prefix; also removing leftover lab
//! temp directories (`$TMPDIR/fl-<6 hex>`).
//!
//! Safety: only namespaces whose name starts with [`PREFIX_ROOT`] (`fl-`) are
//! ever touched; nothing here runs a command in the root network namespace
//! other than `ip netns list|pids|del`.

use crate::cmd;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// Every namespace created by the harness starts with this.
pub const PREFIX_ROOT: &str = "fl-";

/// Names of all named network namespaces (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = cmd::checked("ip", &["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Pids of the processes whose network namespace is `ns` (`ip netns pids`).
pub fn namespace_pids(ns: &str) -> Result<Vec<i32>> {
    let out = cmd::checked("ip", &["netns", "pids", ns])?;
    Ok(out
        .split_whitespace()
        .filter_map(|w| w.parse::<i32>().ok())
        .collect())
}

fn validate_prefix(prefix: &str) -> Result<()> {
    if !prefix.starts_with(PREFIX_ROOT) {
        bail!("refusing to clean up namespaces with prefix {prefix:?}: it must start with {PREFIX_ROOT:?}");
    }
    if prefix.contains(|c: char| c.is_whitespace() || c == '/') {
        bail!("invalid namespace prefix {prefix:?}");
    }
    Ok(())
}

/// SIGKILLs every process in `ns` and waits (up to 5 s) until none is left.
pub(crate) fn kill_namespace_processes(ns: &str) -> Result<()> {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i32> = namespace_pids(ns)?
            .into_iter()
            .filter(|&p| p > 1 && p != me)
            .collect();
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("processes {pids:?} in namespace {ns} survived SIGKILL");
        }
        for pid in pids {
            // SAFETY: plain kill(2) on a pid read from `ip netns pids`.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the processes in, and deletes, every namespace whose name starts
/// with `prefix` (which must start with `fl-`). Returns how many namespaces
/// were deleted. Continues past individual failures and reports them all.
pub fn cleanup(prefix: &str) -> Result<usize> {
    validate_prefix(prefix)?;
    let mut removed = 0;
    let mut errors = Vec::new();
    for ns in list_namespaces()?
        .into_iter()
        .filter(|n| n.starts_with(prefix))
    {
        if let Err(e) = kill_namespace_processes(&ns) {
            errors.push(format!("{e:#}"));
        }
        match cmd::checked("ip", &["netns", "del", ns.as_str()]) {
            Ok(_) => removed += 1,
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "cleanup of prefix {prefix} removed {removed} namespace(s) but hit errors: {}",
            errors.join("; ")
        );
    }
    Ok(removed)
}

/// True for the name of a lab temp directory: `fl-` followed by 6 hex digits.
fn is_lab_dir_name(name: &str) -> bool {
    name.strip_prefix(PREFIX_ROOT)
        .is_some_and(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Removes lab temp directories (`$TMPDIR/fl-<6 hex>`) matching `prefix`
/// (either `fl-...` or a lab's namespace prefix `fl-xxxxxx-`), e.g. those
/// left by a killed test run or kept with `FLANNEL_LAB_KEEP`. Returns how
/// many were removed.
pub fn cleanup_dirs(prefix: &str) -> Result<usize> {
    validate_prefix(prefix)?;
    let tmp = std::env::temp_dir();
    let mut removed = 0;
    let mut errors = Vec::new();
    for entry in std::fs::read_dir(&tmp)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let matches = name.starts_with(prefix) || prefix == format!("{name}-");
        if !matches || !is_lab_dir_name(&name) || !entry.file_type()?.is_dir() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) => errors.push(format!("{}: {e}", entry.path().display())),
        }
    }
    if !errors.is_empty() {
        bail!("removing lab directories: {}", errors.join("; "));
    }
    Ok(removed)
}
