//! Preconditions of the harness: the root check and locating the binaries
//! built by the workspace (`flanneld`, the CNI plugin, `labtool`, ...).

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Panics unless running as root (never skips, with or without `CI`); see `flannel_testkit`.
pub use flannel_testkit::require_root;

/// Candidate directories for workspace binaries, in lookup order.
fn bin_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("FLANNEL_BIN_DIR") {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    // The profile directory of the running executable: test binaries live in
    // <target>/debug/deps, other binaries in <target>/debug.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(parent) = exe.parent() {
            if parent.file_name().is_some_and(|n| n == "deps") {
                if let Some(profile) = parent.parent() {
                    dirs.push(profile.to_path_buf());
                }
            } else {
                dirs.push(parent.to_path_buf());
            }
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(Path::new(&target).join("debug"));
    }
    dirs.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("debug"),
    );
    dirs.dedup();
    dirs
}

/// Like [`workspace_bin`] but returns an error instead of panicking.
pub fn try_workspace_bin(name: &str) -> Result<PathBuf> {
    let dirs = bin_dirs();
    if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "binary `{name}` not found (looked in: {}); run `cargo build --workspace` first, \
         or set FLANNEL_BIN_DIR to the directory holding it",
        looked.join(", ")
    )
}

/// Path of a binary built by the workspace.
///
/// `$FLANNEL_BIN_DIR/<name>` if that variable is set; otherwise the first
/// existing of: the profile directory of the running executable (so tests
/// built with a custom `CARGO_TARGET_DIR` find their siblings),
/// `$CARGO_TARGET_DIR/debug/<name>`, `<workspace root>/target/debug/<name>`.
/// Panics with a hint to run `cargo build --workspace` if it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    match try_workspace_bin(name) {
        Ok(p) => p,
        Err(e) => panic!("{e:#}"),
    }
}
