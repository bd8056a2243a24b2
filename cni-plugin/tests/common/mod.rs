//! Namespace harness for running the `flannel` binary for real. Each `Lab` owns a temp dir
//! (subnet file, saved configurations, host-local store) and two network namespaces,
//! `fl-cnic-<pid>-<tag>-host` (the node: the plugin runs there through `ip netns exec`) and
//! `fl-cnic-<pid>-<tag>-pod` (passed as CNI_NETNS), deleted on drop. Nothing runs in the root
//! namespace except `ip netns add|del|exec`.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// `ip netns add` mounts /run/netns on first use: serialise namespace creation and deletion.
static NS_LOCK: Mutex<()> = Mutex::new(());

/// Debian's reference plugins.
pub const REF_DIR: &str = "/usr/lib/cni";

/// The plugin under test.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_flannel");

/// Namespace tests need root and `ip`: the test fails when either is missing, never skips.
pub fn require_namespaces() {
    flannel_testkit::require_root();
    flannel_testkit::require_tool("ip", "iproute2");
}

/// Debian's reference plugins, for the comparison tests: the test fails when they are missing.
pub fn require_reference() {
    flannel_testkit::require_reference_plugins(&["bridge", "host-local"]);
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -n <ns> <args>` (`args` split at whitespace): its stdout; panics when it fails.
pub fn ip_in(ns: &str, args: &str) -> String {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    sh("ip", &all)
}

/// A plugin invocation's outcome.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("bad JSON ({e}): {:?}\nstderr: {}", self.stdout, self.stderr)
        })
    }

    /// Asserts success and returns stdout.
    pub fn success(&self) -> &str {
        assert!(
            self.ok,
            "plugin failed: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts failure and returns the error code.
    pub fn code(&self) -> u64 {
        assert!(!self.ok, "plugin succeeded unexpectedly: {}", self.stdout);
        self.json()["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no code: {}", self.stdout))
    }
}

pub struct Lab {
    pub host: String,
    pub pod: String,
    /// A second pod namespace.
    pub pod2: String,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// Namespaces and a temp dir with `subnet.env` (FLANNEL_IPMASQ=false, so the bridge
    /// masquerades).
    pub fn new(tag: &str) -> Lab {
        let base = format!("fl-cnic-{}-{tag}", std::process::id());
        let (host, pod, pod2) = (
            format!("{base}-host"),
            format!("{base}-pod"),
            format!("{base}-pod2"),
        );
        {
            let _g = NS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            for ns in [&host, &pod, &pod2] {
                let _ = Command::new("ip").args(["netns", "del", ns]).output();
                sh("ip", &["netns", "add", ns]);
            }
        }
        ip_in(&host, "link set lo up");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("subnet.env"),
            "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
        )
        .expect("subnet.env");
        Lab {
            host,
            pod,
            pod2,
            dir,
        }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn pod_path(&self) -> String {
        format!("/run/netns/{}", self.pod)
    }

    pub fn pod2_path(&self) -> String {
        format!("/run/netns/{}", self.pod2)
    }

    /// The flannel configuration: `delegate` as given, our files in the temp dir.
    pub fn conf(&self, version: &str, delegate: &str, extra: &str) -> String {
        format!(
            r#"{{"name":"cbr0","type":"flannel","cniVersion":"{version}","subnetFile":"{}","dataDir":"{}","ipam":{{"dataDir":"{}"}},"delegate":{delegate}{extra}}}"#,
            self.p("subnet.env").display(),
            self.p("flannel").display(),
            self.p("ipam").display(),
        )
    }

    /// Runs the plugin in the host namespace.
    pub fn plugin(&self, cmd: &str, cid: &str, netns: Option<&str>, stdin: &str) -> Run {
        self.plugin_with(cmd, cid, netns, stdin, REF_DIR)
    }

    pub fn plugin_with(
        &self,
        cmd: &str,
        cid: &str,
        netns: Option<&str>,
        stdin: &str,
        cni_path: &str,
    ) -> Run {
        self.exec(cmd, cid, "eth0", netns, stdin, cni_path)
    }

    /// Runs the plugin in the host namespace with any interface name and CNI_PATH.
    pub fn exec(
        &self,
        cmd: &str,
        cid: &str,
        ifname: &str,
        netns: Option<&str>,
        stdin: &str,
        cni_path: &str,
    ) -> Run {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host, PLUGIN])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CNI_COMMAND", cmd)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !cid.is_empty() {
            c.env("CNI_CONTAINERID", cid);
        }
        if let Some(ns) = netns {
            c.env("CNI_NETNS", ns);
        }
        let mut child = c.spawn().expect("spawn plugin");
        if let Some(mut pipe) = child.stdin.take() {
            let _ = pipe.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("wait plugin");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `ip -n <pod> <args>`
    pub fn ip_pod(&self, args: &str) -> String {
        ip_in(&self.pod, args)
    }

    /// `ip -n <host> <args>`
    pub fn ip_host(&self, args: &str) -> String {
        ip_in(&self.host, args)
    }

    /// The nat table of the host namespace, without comments and counters.
    pub fn nat(&self) -> String {
        sh(
            "ip",
            &["netns", "exec", &self.host, "iptables-save", "-t", "nat"],
        )
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
    }

    /// The pod's IPv4 addresses on `ifname` (empty when the interface is gone).
    pub fn pod_addrs(&self, ifname: &str) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-n", &self.pod, "-j", "-4", "addr", "show", "dev", ifname])
            .output()
            .expect("ip addr");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect()
    }

    /// `ip -4 route` in the pod, one line per route.
    pub fn pod_routes(&self) -> Vec<String> {
        self.ip_pod("-4 route")
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _g = NS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for ns in [&self.pod, &self.pod2, &self.host] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
