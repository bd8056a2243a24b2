//! Shared by the kernel tests (also by the kube-proxy-lite crate's tests, through `#[path]`): a
//! network namespace per test (`fl-<tag>-<pid>-<n>`), deleted by a Drop guard, commands run
//! inside it, and a command runner. Tests never touch the host's rules. Creating a namespace
//! needs root, `ip` and `iptables`: without them the test fails (flannel_testkit), it never
//! skips.

#![allow(dead_code)]

use flannel_iptables::Iptables;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number unique within this test process.
pub fn next_id() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

pub struct Netns(pub String);

impl Netns {
    /// A fresh namespace `fl-<tag>-<pid>-<n>`. Fails the test unless running as root with `ip`
    /// and `iptables` installed.
    pub fn create(tag: &str) -> Netns {
        flannel_testkit::require_root();
        flannel_testkit::require_tool("ip", "iproute2");
        flannel_testkit::require_tool("iptables", "iptables");
        flannel_testkit::require_tool("iptables-restore", "iptables");
        let n = next_id();
        let name = format!("fl-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    pub fn ipt(&self) -> Iptables {
        Iptables::in_netns(&self.0)
    }

    /// Runs a command in the namespace and returns stdout (must succeed).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command in the namespace; returns whether it succeeded.
    pub fn try_exec(&self, args: &[&str]) -> bool {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {args:?}: {e}"));
        status.success()
    }

    /// `iptables -w <args>` in the namespace; returns stdout (must succeed).
    pub fn iptables(&self, args: &[&str]) -> String {
        let mut full = vec!["iptables", "-w"];
        full.extend_from_slice(args);
        self.exec(&full)
    }

    /// `iptables -t <table> -S` lines.
    pub fn listing(&self, table: &str) -> Vec<String> {
        self.iptables(&["-t", table, "-S"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Chains declared in `table` (`-N` lines).
    pub fn chains(&self, table: &str) -> Vec<String> {
        self.listing(table)
            .iter()
            .filter_map(|l| l.strip_prefix("-N "))
            .map(str::to_string)
            .collect()
    }

    /// `-A` lines of one chain.
    pub fn chain_rules(&self, table: &str, chain: &str) -> Vec<String> {
        let prefix = format!("-A {chain} ");
        self.listing(table)
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect()
    }

    /// `iptables-save` without its comment lines.
    pub fn save_all(&self) -> String {
        self.exec(&["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
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

/// Runs a command that must succeed; returns stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
