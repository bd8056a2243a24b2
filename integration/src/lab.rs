//! The namespace lab: builds and tears down the test topology (fabric,
//! external host, nodes, pods), runs etcd and other processes inside it and
//! offers the probes tests use (ping, TCP checks, polling).
//!
//! Topology (all inside namespaces named `<prefix>-...`, prefix `fl-<6 hex>`):
//! - `<prefix>-fab`: bridge `br0` 198.18.0.254/24 (node underlay), optional
//!   `br1` 198.18.1.254/24, `ext0` 203.0.113.1/24 towards the external host,
//!   ip_forward=1. etcd listens here on 198.18.0.254:2379.
//! - `<prefix>-ext`: `eth0` 203.0.113.10/24, default via 203.0.113.1.
//! - `<prefix>-n<i>`: `eth0` 198.18.0.i/24 (peer `n<i>` on br0), optional
//!   `eth1` 198.18.1.i/24 (peer `n<i>-1` on br1), default via 198.18.0.254,
//!   ip_forward=1.
//! - `<prefix>-n<i>-<pod>`: `eth0` on the node's bridge `cni0` (peer
//!   `veth<8 hex>` in the node namespace), default via the pod gateway.
//!
//! Every `ip` command names its namespace (`ip -n NS`, `ip netns exec NS`) and
//! the namespace is checked to belong to this lab first; veth pairs are
//! created with both ends directly inside lab namespaces. Nothing is ever
//! configured in the root network namespace.

use crate::cmd;
use crate::netns;
use crate::prereq::{require_root, try_workspace_bin, workspace_bin};
use crate::procs::{ProcId, Procs};
use crate::services::tail;
use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Pod network used by the tests.
pub const POD_NETWORK: &str = "10.244.0.0/16";
/// Fabric address on the primary underlay (gateway of the nodes, etcd address).
pub const FABRIC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// Fabric address on the optional second underlay.
pub const FABRIC_IP2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 254);
/// Address of the external host.
pub const EXT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// Fabric address facing the external host (its default gateway).
pub const EXT_GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// etcd client URL.
pub const ETCD_ENDPOINT: &str = "http://198.18.0.254:2379";

/// Largest supported node count (198.18.0.254 is the fabric).
pub const MAX_NODES: usize = 250;

const ETCD_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Options for [`Lab::with_options`].
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// Number of nodes (1-based indices `1..=nodes`).
    pub nodes: usize,
    /// Also build the second underlay 198.18.1.0/24 (`br1`, node `eth1`).
    pub second_underlay: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            nodes: 2,
            second_underlay: false,
        }
    }
}

/// A namespace lab. Dropping it kills every process it started, deletes all
/// of its namespaces and removes [`Lab::dir`] (kept if `FLANNEL_LAB_KEEP` is
/// set). Processes are children of the test process; they get SIGINT with it
/// on Ctrl-C, but if the test process is SIGKILLed use `lab-cleanup`.
pub struct Lab {
    prefix: String,
    dir: PathBuf,
    nodes: usize,
    second_underlay: bool,
    procs: Procs,
    etcd: Option<ProcId>,
}

/// Random lowercase hex string of `bytes` bytes, from /dev/urandom.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        bail!("invalid {what} {name:?}: use 1-64 characters of [A-Za-z0-9._-]");
    }
    Ok(())
}

impl Lab {
    /// Builds a lab with the fabric, the external host and `nodes` nodes
    /// (indices `1..=nodes`), everything up. Panics if not root.
    pub fn new(nodes: usize) -> Result<Lab> {
        Lab::with_options(LabOptions {
            nodes,
            ..LabOptions::default()
        })
    }

    /// Like [`Lab::new`] with the extra options of [`LabOptions`].
    pub fn with_options(opts: LabOptions) -> Result<Lab> {
        require_root();
        if opts.nodes == 0 || opts.nodes > MAX_NODES {
            bail!("node count {} out of range 1..={MAX_NODES}", opts.nodes);
        }
        cmd::require_tool("ip", "iproute2")?;
        cmd::require_tool("sysctl", "procps")?;
        cmd::require_tool("ping", "iputils-ping")?;
        let existing = netns::list_namespaces()?;
        let mut attempt = 0;
        let (prefix, dir) = loop {
            attempt += 1;
            let prefix = format!("{}{}", netns::PREFIX_ROOT, random_hex(3)?);
            let dir = std::env::temp_dir().join(&prefix);
            let clash = existing.iter().any(|n| n.starts_with(&prefix));
            if !clash && std::fs::create_dir(&dir).is_ok() {
                break (prefix, dir);
            }
            if attempt >= 20 {
                bail!("could not find an unused lab prefix");
            }
        };
        // From here on Drop cleans up whatever part of the setup exists.
        let mut lab = Lab {
            prefix,
            dir,
            nodes: opts.nodes,
            second_underlay: opts.second_underlay,
            procs: Procs::default(),
            etcd: None,
        };
        lab.build()
            .with_context(|| format!("building lab {}", lab.prefix))?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        let fab = self.fabric_ns();
        self.add_ns(&fab)?;
        self.sysctl(&fab, "net.ipv4.ip_forward=1")?;
        self.ipn(&fab, &["link", "add", "br0", "type", "bridge"])?;
        self.ipn(&fab, &["addr", "add", "198.18.0.254/24", "dev", "br0"])?;
        self.ipn(&fab, &["link", "set", "br0", "up"])?;
        if self.second_underlay {
            self.ipn(&fab, &["link", "add", "br1", "type", "bridge"])?;
            self.ipn(&fab, &["addr", "add", "198.18.1.254/24", "dev", "br1"])?;
            self.ipn(&fab, &["link", "set", "br1", "up"])?;
        }

        let ext = self.ext_ns();
        self.add_ns(&ext)?;
        self.ipn(
            &ext,
            &[
                "link", "add", "eth0", "type", "veth", "peer", "name", "ext0", "netns", &fab,
            ],
        )?;
        self.ipn(&fab, &["addr", "add", "203.0.113.1/24", "dev", "ext0"])?;
        self.ipn(&fab, &["link", "set", "ext0", "up"])?;
        self.ipn(&ext, &["addr", "add", "203.0.113.10/24", "dev", "eth0"])?;
        self.ipn(&ext, &["link", "set", "eth0", "up"])?;
        self.ipn(&ext, &["route", "add", "default", "via", "203.0.113.1"])?;

        for i in 1..=self.nodes {
            self.build_node(i)?;
        }
        Ok(())
    }

    fn build_node(&mut self, i: usize) -> Result<()> {
        let fab = self.fabric_ns();
        let ns = self.node_ns(i);
        self.add_ns(&ns)?;
        self.sysctl(&ns, "net.ipv4.ip_forward=1")?;
        let mut links = vec![("eth0", format!("n{i}"), "br0", Lab::node_ip(i))];
        if self.second_underlay {
            links.push(("eth1", format!("n{i}-1"), "br1", Lab::node_ip2(i)));
        }
        for (dev, peer, bridge, ip) in links {
            self.ipn(
                &ns,
                &[
                    "link", "add", dev, "type", "veth", "peer", "name", &peer, "netns", &fab,
                ],
            )?;
            self.ipn(&fab, &["link", "set", &peer, "master", bridge, "up"])?;
            self.ipn(&ns, &["addr", "add", &format!("{ip}/24"), "dev", dev])?;
            self.ipn(&ns, &["link", "set", dev, "up"])?;
        }
        self.ipn(&ns, &["route", "add", "default", "via", "198.18.0.254"])?;
        Ok(())
    }

    // ----- names and addresses -----

    /// Unique prefix of this lab's namespaces (`fl-<6 hex>`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Namespace of node `i` (1-based).
    pub fn node_ns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    /// Namespace of the fabric (bridges, router, etcd).
    pub fn fabric_ns(&self) -> String {
        format!("{}-fab", self.prefix)
    }

    /// Namespace of the external host.
    pub fn ext_ns(&self) -> String {
        format!("{}-ext", self.prefix)
    }

    /// Namespace of pod `name` on node `node` (as created by [`Lab::add_pod`]).
    pub fn pod_ns(&self, node: usize, name: &str) -> String {
        format!("{}-n{node}-{name}", self.prefix)
    }

    /// Creates an empty pod namespace (only `lo`, up) for a CNI plugin to wire.
    pub fn add_pod_ns(&self, node: usize, name: &str) -> Result<String> {
        if node == 0 || node > self.nodes {
            bail!("add_pod_ns: node {node} out of range 1..={}", self.nodes);
        }
        validate_name("pod name", name)?;
        let ns = self.pod_ns(node, name);
        self.add_ns(&ns)?;
        Ok(ns)
    }

    /// Primary underlay address of node `i`: 198.18.0.i.
    pub fn node_ip(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, node_octet(i))
    }

    /// Second-underlay address of node `i`: 198.18.1.i.
    pub fn node_ip2(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 1, node_octet(i))
    }

    /// Per-lab temporary directory (`$TMPDIR/<prefix>`) for data dirs, subnet
    /// files, sockets and logs; removed on drop unless `FLANNEL_LAB_KEEP` is set.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Namespaces of this lab that currently exist.
    pub fn namespaces(&self) -> Result<Vec<String>> {
        let own = format!("{}-", self.prefix);
        Ok(netns::list_namespaces()?
            .into_iter()
            .filter(|n| n.starts_with(&own))
            .collect())
    }

    // ----- low-level helpers -----

    /// Errors unless `ns` is a namespace name of this lab.
    fn check_ns(&self, ns: &str) -> Result<()> {
        match ns.strip_prefix(self.prefix.as_str()) {
            Some(rest) if rest.len() > 1 && rest.starts_with('-') => Ok(()),
            _ => bail!(
                "namespace {ns:?} does not belong to lab {} (refusing to touch it)",
                self.prefix
            ),
        }
    }

    fn add_ns(&self, ns: &str) -> Result<()> {
        self.check_ns(ns)?;
        cmd::checked("ip", &["netns", "add", ns])?;
        self.ipn(ns, &["link", "set", "lo", "up"])?;
        Ok(())
    }

    /// `ip -n NS args...` (only for namespaces of this lab).
    fn ipn(&self, ns: &str, args: &[&str]) -> Result<String> {
        self.check_ns(ns)?;
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        cmd::checked("ip", &full)
    }

    /// `ip netns exec NS sysctl -q -w key=value`.
    fn sysctl(&self, ns: &str, kv: &str) -> Result<()> {
        self.check_ns(ns)?;
        cmd::checked("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", kv])?;
        Ok(())
    }

    /// Runs `ip netns exec ns cmd...` to completion (stdin closed) and returns
    /// its output whatever the exit status.
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<Output> {
        self.check_ns(ns)?;
        if cmd.is_empty() {
            bail!("exec in {ns}: empty command");
        }
        let mut full = vec!["netns", "exec", ns];
        full.extend_from_slice(cmd);
        cmd::output("ip", &full)
    }

    /// Runs `cmd` in `ns` with extra environment variables and `stdin` fed to it.
    pub fn exec_with(
        &self,
        ns: &str,
        cmd: &[&str],
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Output> {
        self.check_ns(ns)?;
        if cmd.is_empty() {
            bail!("exec in {ns}: empty command");
        }
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {cmd:?} in {ns}"))?;
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write;
            input
                .write_all(stdin)
                .with_context(|| format!("writing stdin of {cmd:?}"))?;
        }
        child
            .wait_with_output()
            .with_context(|| format!("waiting for {cmd:?} in {ns}"))
    }

    /// Runs `sh -c script` in `ns`; returns stdout, or an error carrying
    /// stderr on non-zero exit.
    pub fn sh(&self, ns: &str, script: &str) -> Result<String> {
        let out = self.exec(ns, &["sh", "-c", script])?;
        cmd::ensure_success(&out, &format!("ip netns exec {ns} sh -c {script:?}"))
    }

    // ----- processes -----

    /// Starts `ip netns exec ns program args...` with `env` added to the
    /// environment; stdout and stderr are appended to `dir()/<name>.log`.
    /// The process is killed when the lab is dropped.
    pub fn spawn(
        &mut self,
        ns: &str,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
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
        self.procs.spawn(ns, name, program, args, env, &log)
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

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Contents of `dir()/<name>.log` (empty if there is none). Every start
    /// of a process appends a `=== lab: started ...` header line.
    pub fn log(&self, name: &str) -> String {
        std::fs::read(self.log_path(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    // ----- etcd -----

    /// etcd client URL: `http://198.18.0.254:2379`.
    pub fn etcd_endpoint(&self) -> String {
        ETCD_ENDPOINT.to_string()
    }

    /// Starts etcd (Debian `etcd-server`, 3.4) in the fabric namespace with
    /// data dir `dir()/etcd-data` and log `dir()/etcd.log`, and waits (20 s)
    /// until `etcdctl endpoint health` succeeds. Starting it again after
    /// [`Lab::stop_etcd`] reuses the data dir.
    pub fn start_etcd(&mut self) -> Result<()> {
        self.start_etcd_with(&[])
    }

    /// Like [`Lab::start_etcd`], with extra etcd flags (e.g. `--max-txn-ops=2000`).
    pub fn start_etcd_with(&mut self, extra: &[String]) -> Result<()> {
        cmd::require_tool("etcd", "etcd-server")?;
        cmd::require_tool("etcdctl", "etcd-client")?;
        if let Some(id) = self.etcd {
            if self.is_running(id) {
                bail!("etcd is already running in lab {}", self.prefix);
            }
        }
        let data = self.dir.join("etcd-data");
        let args: Vec<String> = [
            "--name",
            "lab",
            "--data-dir",
            &data.to_string_lossy(),
            "--listen-client-urls",
            ETCD_ENDPOINT,
            "--advertise-client-urls",
            ETCD_ENDPOINT,
            "--listen-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
            "--initial-cluster",
            "lab=http://127.0.0.1:2380",
            "--initial-cluster-state",
            "new",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(extra.iter().cloned())
        .collect();
        let fab = self.fabric_ns();
        let id = self.spawn(&fab, "etcd", Path::new("etcd"), &args, &[])?;
        self.etcd = Some(id);
        let deadline = Instant::now() + ETCD_START_TIMEOUT;
        loop {
            if let Some(st) = self.procs.status(id)? {
                bail!(
                    "etcd exited during startup ({st}); log {}:\n{}",
                    self.log_path("etcd").display(),
                    tail(&self.log("etcd"), 30)
                );
            }
            if self
                .etcdctl(&[
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                    "endpoint",
                    "health",
                ])
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "etcd not healthy after {ETCD_START_TIMEOUT:?}; log {}:\n{}",
                    self.log_path("etcd").display(),
                    tail(&self.log("etcd"), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id of the running etcd.
    pub fn etcd_proc(&self) -> Option<ProcId> {
        self.etcd
    }

    /// Stops etcd with SIGTERM and waits for it to exit (no-op if not running).
    pub fn stop_etcd(&mut self) -> Result<()> {
        match self.etcd.take() {
            Some(id) if self.is_running(id) => self.kill(id, libc::SIGTERM),
            _ => Ok(()),
        }
    }

    /// Pid of the running etcd, if any.
    pub fn etcd_pid(&mut self) -> Option<u32> {
        let id = self.etcd?;
        self.pid(id)
    }

    /// `ETCDCTL_API=3 etcdctl --endpoints=<endpoint> args...` in the fabric
    /// namespace; returns stdout, the error includes stderr.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String> {
        let fab = self.fabric_ns();
        self.check_ns(&fab)?;
        let endpoints = format!("--endpoints={ETCD_ENDPOINT}");
        let mut full = vec!["netns", "exec", fab.as_str(), "etcdctl", endpoints.as_str()];
        full.extend_from_slice(args);
        let out = Command::new("ip")
            .args(&full)
            .env("ETCDCTL_API", "3")
            .stdin(Stdio::null())
            .output()
            .context("failed to start etcdctl")?;
        cmd::ensure_success(&out, &cmd::display("ip", &full))
    }

    // ----- pods -----

    /// Creates pod namespace `<prefix>-n<node>-<name>` with `eth0` = `addr`
    /// (e.g. "10.244.3.2/24") and a default route via `gateway` (e.g.
    /// "10.244.3.1"). The veth peer `veth<8 hex>` is created directly in the
    /// node namespace and attached to the bridge `cni0`; if `cni0` is missing
    /// it is created, and if it lacks `gateway` that address is added (with
    /// the prefix length of `addr`). Returns the pod namespace.
    pub fn add_pod(
        &mut self,
        node: usize,
        name: &str,
        addr: &str,
        gateway: &str,
    ) -> Result<String> {
        self.add_pod_on_bridge(node, name, addr, gateway, "cni0")
    }

    /// Like [`Lab::add_pod`], on a named bridge of the node (created when missing).
    pub fn add_pod_on_bridge(
        &mut self,
        node: usize,
        name: &str,
        addr: &str,
        gateway: &str,
        bridge: &str,
    ) -> Result<String> {
        if node == 0 || node > self.nodes {
            bail!("add_pod: node {node} out of range 1..={}", self.nodes);
        }
        validate_name("pod name", name)?;
        let net: Ipv4Net = addr
            .parse()
            .with_context(|| format!("{addr:?} is not an IPv4 CIDR like 10.244.3.2/24"))?;
        let (ip, len) = (net.addr(), net.prefix_len());
        let gw: Ipv4Addr = gateway
            .parse()
            .with_context(|| format!("bad gateway address {gateway:?}"))?;
        if !net.contains(&gw) || ip == gw {
            bail!("gateway {gw} is not a different address inside {addr}");
        }
        let node_ns = self.node_ns(node);
        let pod_ns = self.pod_ns(node, name);
        let veth = format!("veth{}", random_hex(4)?);
        self.add_ns(&pod_ns)?;
        self.ipn(
            &pod_ns,
            &[
                "link", "add", "eth0", "type", "veth", "peer", "name", &veth, "netns", &node_ns,
            ],
        )?;
        if self.ipn(&node_ns, &["link", "show", bridge]).is_err() {
            self.ipn(&node_ns, &["link", "add", bridge, "type", "bridge"])?;
        }
        let addrs = self.ipn(&node_ns, &["-4", "-o", "addr", "show", "dev", bridge])?;
        let needle = format!("inet {gw}/");
        if !addrs.contains(&needle) {
            self.ipn(
                &node_ns,
                &["addr", "add", &format!("{gw}/{len}"), "dev", bridge],
            )?;
        }
        self.ipn(&node_ns, &["link", "set", bridge, "up"])?;
        self.ipn(&node_ns, &["link", "set", &veth, "master", bridge, "up"])?;
        self.ipn(
            &pod_ns,
            &["addr", "add", &format!("{ip}/{len}"), "dev", "eth0"],
        )?;
        self.ipn(&pod_ns, &["link", "set", "eth0", "up"])?;
        self.ipn(&pod_ns, &["route", "add", "default", "via", gateway])?;
        Ok(pod_ns)
    }

    /// Kills the processes in a pod namespace and deletes it (its veth goes
    /// with it).
    pub fn del_pod(&mut self, node: usize, name: &str) -> Result<()> {
        let ns = self.pod_ns(node, name);
        self.check_ns(&ns)?;
        netns::kill_namespace_processes(&ns)?;
        cmd::checked("ip", &["netns", "del", ns.as_str()])?;
        Ok(())
    }

    // ----- probes -----

    /// `ping -c 1 -W 1 to` from `from_ns`, up to 3 attempts. Panics if
    /// `from_ns` is not a namespace of this lab.
    pub fn ping(&self, from_ns: &str, to: Ipv4Addr) -> bool {
        self.probe_ns(from_ns);
        let to = to.to_string();
        (0..3).any(|_| {
            self.exec(from_ns, &["ping", "-n", "-q", "-c", "1", "-W", "1", &to])
                .is_ok_and(|o| o.status.success())
        })
    }

    /// Connects from `from_ns` to `to:port` (a `start_tcp_echo` server) and
    /// exchanges one line (`labtool tcp-check`, 2 s timeout). Panics on harness
    /// misuse (unknown namespace, `labtool` not built) so that a negative
    /// check cannot pass by accident.
    pub fn tcp_check(&self, from_ns: &str, to: Ipv4Addr, port: u16) -> bool {
        self.probe_ns(from_ns);
        let labtool = workspace_bin("labtool");
        let labtool = labtool.to_string_lossy();
        let (to, port) = (to.to_string(), port.to_string());
        let out = match self.exec(
            from_ns,
            &[&labtool, "tcp-check", &to, &port, "--timeout-ms", "2000"],
        ) {
            Ok(o) => o,
            Err(e) => panic!("tcp_check {from_ns} -> {to}:{port}: {e:#}"),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => true,
            Some(1) => {
                eprintln!(
                    "tcp_check {from_ns} -> {to}:{port} failed: {}",
                    stderr.trim()
                );
                false
            }
            _ => panic!(
                "tcp_check {from_ns} -> {to}:{port}: labtool failed ({}): {}",
                out.status,
                stderr.trim()
            ),
        }
    }

    /// A UDP socket bound to `addr` inside the lab namespace `ns` (created on a short-lived
    /// thread that enters the namespace; the socket stays in it). Lets a test play a peer
    /// with nothing but a plain socket.
    pub fn udp_socket(
        &self,
        ns: &str,
        addr: std::net::SocketAddrV4,
    ) -> Result<std::net::UdpSocket> {
        self.check_ns(ns)?;
        let path = format!("/var/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| -> Result<std::net::UdpSocket> {
                let f = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                // SAFETY: setns on a valid namespace fd; only this thread changes namespace.
                if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }
                    != 0
                {
                    bail!("setns {ns}: {}", std::io::Error::last_os_error());
                }
                std::net::UdpSocket::bind(addr).with_context(|| format!("binding {addr} in {ns}"))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("namespace thread for {ns} panicked"))?
        })
    }

    /// Probes run from this lab's namespaces only; anything else is a bug in
    /// the test, reported loudly rather than as "unreachable".
    fn probe_ns(&self, ns: &str) {
        if let Err(e) = self.check_ns(ns) {
            panic!("{e:#}");
        }
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
        let suffix = ns
            .strip_prefix(self.prefix.as_str())
            .unwrap_or(ns)
            .trim_start_matches('-');
        let name = format!("{kind}-{suffix}-{port}");
        let mut args = vec![kind.to_string(), port.to_string()];
        args.extend_from_slice(extra);
        let id = self.spawn(ns, &name, &labtool, &args, &[])?;
        let mut failed = None;
        Lab::wait_until(Duration::from_secs(5), &format!("{name} to listen"), || {
            if let Ok(Some(st)) = self.procs.status(id) {
                failed = Some(st);
                return true;
            }
            self.log(&name).contains("listening on")
        })?;
        if let Some(st) = failed {
            bail!("{name} exited ({st}):\n{}", tail(&self.log(&name), 20));
        }
        Ok(id)
    }

    /// Polls `f` every 50 ms until it returns true; error naming `what` after
    /// `timeout`.
    pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if f() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Last octet of node `i`'s underlay addresses; panics on an index no lab
/// can have (a bug in the calling test).
fn node_octet(i: usize) -> u8 {
    match u8::try_from(i) {
        Ok(b) if (1..=MAX_NODES).contains(&i) => b,
        _ => panic!("node index {i} out of range 1..={MAX_NODES}"),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.procs.kill_all();
        if let Err(e) = netns::cleanup(&format!("{}-", self.prefix)) {
            eprintln!("lab {}: cleanup failed: {e:#}", self.prefix);
        }
        if std::env::var_os("FLANNEL_LAB_KEEP").is_some() {
            eprintln!(
                "lab {}: FLANNEL_LAB_KEEP set, keeping {}",
                self.prefix,
                self.dir.display()
            );
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return;
            }
            eprintln!("lab {}: removing {}: {e}", self.prefix, self.dir.display());
        }
    }
}
