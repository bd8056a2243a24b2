//! Shared by the kernel tests: a network namespace per test (`fl-<tag>-<pid>-<n>`), deleted by
//! a Drop guard, and a command runner. Tests never touch the host's rules.

#![allow(dead_code)]

use flannel_iptables::Iptables;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number unique within this test process.
pub fn next_id() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

pub struct Netns(pub String);

impl Netns {
    /// A fresh namespace `fl-<tag>-<pid>-<n>`, or `None` when not root (panics when `CI` is
    /// set: these tests must not be skipped there).
    pub fn create(tag: &str) -> Option<Netns> {
        if !is_root() {
            let msg = "netns tests need root (they create network namespaces)";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI is set, refusing to skip");
            }
            eprintln!("skipping: {msg}");
            return None;
        }
        let n = next_id();
        let name = format!("fl-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        Some(Netns(name))
    }

    pub fn ipt(&self) -> Iptables {
        Iptables::in_netns(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let status = Command::new("ip").args(["netns", "del", &self.0]).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("warning: could not delete namespace {}", self.0);
        }
    }
}

pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// Runs a command that must succeed; returns stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
