//! Running external commands (`ip`, `sh`, `etcdctl`, ...) for the harness.
//!
//! This module owns the uniform error reporting of the harness: every failing
//! command becomes an error that names the full command line, its exit status
//! and its stderr, so a failing test says what went wrong without re-running.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Human-readable command line, used in error messages.
pub(crate) fn display<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// Runs a command to completion with stdin closed; fails only if it cannot be started.
pub(crate) fn output<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to start `{}`", display(program, args)))
}

/// Turns a finished command into its stdout, or an error carrying status and stderr.
pub(crate) fn ensure_success(out: &Output, cmdline: &str) -> Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut msg = format!("`{cmdline}` failed ({})", out.status);
    if !stderr.trim().is_empty() {
        msg.push_str(&format!("; stderr: {}", stderr.trim()));
    }
    if !stdout.trim().is_empty() {
        msg.push_str(&format!("; stdout: {}", stdout.trim()));
    }
    bail!(msg)
}

/// Runs a command and returns its stdout; non-zero exit is an error.
pub(crate) fn checked<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String> {
    let out = output(program, args)?;
    ensure_success(&out, &display(program, args))
}

/// Looks a program up in `PATH` (like `which`).
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Errors out with an installation hint when a required tool is missing.
pub(crate) fn require_tool(name: &str, debian_package: &str) -> Result<()> {
    if find_in_path(name).is_none() {
        bail!("`{name}` not found in PATH; install the Debian package `{debian_package}`");
    }
    Ok(())
}
