//! Test prerequisites for the whole workspace: root, a tool in `PATH`, a file.
//!
//! Every check *fails the test* (panics) when the prerequisite is missing, with or without `CI`:
//! a test that cannot run for the reason it claims must never report ok. The message names what
//! is missing and how to get it (`bash scripts/deps.sh` installs every tool and file the suite
//! uses). Nothing here skips.

use std::path::{Path, PathBuf};

/// The effective user id, from `geteuid(2)`.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Panics unless running as root: namespace tests create network namespaces and kernel devices.
pub fn require_root() {
    let euid = euid();
    assert!(
        euid == 0,
        "this test needs root (euid is {euid}): it creates network namespaces and kernel \
         devices and cannot run unprivileged; run the suite as root (`sudo -E bash scripts/test.sh`)"
    );
}

/// Looks `name` up in `PATH`, like `command -v`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Panics unless `name` is in `PATH`; names the Debian package that provides it.
pub fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    find_in_path(name).unwrap_or_else(|| {
        panic!(
            "this test needs `{name}` in PATH (Debian package `{debian_package}`); \
             `bash scripts/deps.sh` installs it"
        )
    })
}

/// Panics unless `path` exists; names the Debian package that provides it.
pub fn require_file(path: impl AsRef<Path>, debian_package: &str) -> PathBuf {
    let path = path.as_ref();
    assert!(
        path.exists(),
        "this test needs {} (Debian package `{debian_package}`); `bash scripts/deps.sh` installs it",
        path.display()
    );
    path.to_path_buf()
}

/// Root plus Debian's reference CNI plugins (`/usr/lib/cni/<name>` for each name).
pub fn require_reference_plugins(names: &[&str]) -> PathBuf {
    let dir = Path::new("/usr/lib/cni");
    for name in names {
        require_file(dir.join(name), "containernetworking-plugins");
    }
    dir.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_in_path() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-tool-flannel-rs").is_none());
    }

    #[test]
    #[should_panic(expected = "Debian package `nopkg`")]
    fn missing_tool_fails_the_test() {
        require_tool("no-such-tool-flannel-rs", "nopkg");
    }

    #[test]
    #[should_panic(expected = "/no/such/file")]
    fn missing_file_fails_the_test() {
        require_file("/no/such/file", "nopkg");
    }
}
