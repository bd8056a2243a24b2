//! A flannel cluster on top of the lab: etcd with a network config, one or more flanneld
//! instances per node, and a pod per node wired to the node's subnet. Used by the flanneld tests,
//! the demo and the benchmarks.
//!
//! Waiting for an instance means waiting for *that* process: its subnet file is the one it
//! wrote after it was started (flanneld replaces the file atomically, so a new write is a new
//! file) and its status socket answers.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::cni::{self, Invocation, NodeFs, UPSTREAM_CONFLIST};
use crate::lab::Lab;
use crate::prereq::workspace_bin;
use crate::procs::{tail, ProcId};

/// How long [`Cluster::wait_subnet_file`] waits for a starting instance.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One flanneld instance's identity on a node (several may share a node).
#[derive(Clone, Debug)]
pub struct Instance {
    /// Short name, used for files ("a" by default).
    pub name: String,
    pub prefix: String,
    /// Extra flags.
    pub args: Vec<String>,
    /// Extra environment (e.g. `FLANNELD_*` fallbacks).
    pub env: Vec<(String, String)>,
}

impl Default for Instance {
    fn default() -> Self {
        Instance {
            name: "a".into(),
            prefix: "/coreos.com/network".into(),
            args: vec![],
            env: vec![],
        }
    }
}

/// Two pods on a 2-node cluster, as the benchmarks use them.
#[derive(Debug, Clone)]
pub struct PodPair {
    /// Pod namespace on node 1 (the client side).
    pub p1: String,
    /// Pod namespace on node 2 (the server side) and its address.
    pub p2: String,
    pub ip2: Ipv4Addr,
    /// FLANNEL_MTU, set on both pods' eth0.
    pub mtu: u32,
}

pub struct Cluster {
    pub lab: Lab,
    procs: Vec<Started>,
}

/// A flanneld instance started by [`Cluster::start`].
struct Started {
    node: usize,
    inst: String,
    id: ProcId,
    /// The subnet file as it was before this process started (`None`: there was none).
    file_before: Option<FileStamp>,
}

/// Identity of one version of a file: a rewrite (new inode by rename, or new contents in
/// place) changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    len: u64,
}

impl FileStamp {
    /// The stamp of `path`, `None` if it does not exist.
    fn of(path: &Path) -> Result<Option<FileStamp>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                len: m.len(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("stat {}", path.display())),
        }
    }
}

/// The network config for `network` and `backend`. In the lab's pod network nodes lease from
/// the lower half (up to 10.244.127.0/24): tests put fake peers, reservations of other nodes
/// and unleased destinations in the upper half, where no node's random subnet can collide.
pub fn net_config(network: &str, backend: &str) -> String {
    let max = if network == crate::POD_NETWORK {
        r#","SubnetMax":"10.244.127.0""#
    } else {
        ""
    };
    format!(r#"{{"Network":"{network}"{max},"Backend":{{"Type":"{backend}"}}}}"#)
}

impl Cluster {
    /// A lab with `nodes` nodes, etcd running, and `config` stored under the default prefix.
    pub fn new(nodes: usize, config: &str) -> Result<Cluster> {
        let mut lab = Lab::new(nodes)?;
        lab.start_etcd()?;
        lab.etcdctl(&["put", "/coreos.com/network/config", config])?;
        Ok(Cluster { lab, procs: vec![] })
    }

    /// Instance "a" writes the node's default `/run/flannel/subnet.env` (the node's private
    /// copy, see [`NodeFs`]); other instances write beside it.
    pub fn subnet_file(&self, node: usize, inst: &str) -> PathBuf {
        let fs = self.node_fs(node);
        if inst == "a" {
            fs.subnet_env()
        } else {
            fs.run_flannel.join(format!("subnet-{inst}.env"))
        }
    }

    /// The node's private /run/flannel and /var/lib/cni.
    pub fn node_fs(&self, node: usize) -> NodeFs {
        NodeFs::paths(&self.lab, node)
    }

    /// The CNI conflist for an instance: upstream's manifest unchanged for "a"; for other
    /// instances the same with their own network name, subnet file, state directories and
    /// bridge (`cni<n>`).
    pub fn conflist(&self, node: usize, inst: &str, bridge: &str) -> String {
        if inst == "a" {
            return UPSTREAM_CONFLIST.to_string();
        }
        let fs = self.node_fs(node);
        serde_json::json!({
            "name": format!("net-{inst}"),
            "cniVersion": "1.0.0",
            "plugins": [{
                "type": "flannel",
                "subnetFile": self.subnet_file(node, inst),
                "dataDir": fs.var_lib_cni.join(format!("flannel-{inst}")),
                "ipam": {"dataDir": fs.var_lib_cni.join(format!("networks-{inst}"))},
                "delegate": {"bridge": bridge, "hairpinMode": true, "isDefaultGateway": true}
            }]
        })
        .to_string()
    }

    pub fn socket(&self, node: usize, inst: &str) -> PathBuf {
        self.lab.dir().join(format!("n{node}-{inst}.sock"))
    }

    pub fn log_name(node: usize, inst: &str) -> String {
        format!("flanneld-n{node}-{inst}")
    }

    /// The flags a test instance runs with.
    pub fn flanneld_args(&self, node: usize, inst: &Instance) -> Vec<String> {
        let mut args = vec![
            format!("--etcd-endpoints={}", self.lab.etcd_endpoint()),
            format!("--etcd-prefix={}", inst.prefix),
            format!(
                "--subnet-file={}",
                self.subnet_file(node, &inst.name).display()
            ),
            format!(
                "--status-socket={}",
                self.socket(node, &inst.name).display()
            ),
        ];
        // The underlay unless the instance chooses its interface itself.
        if !inst.args.iter().any(|a| a.starts_with("--iface")) {
            args.push("--iface=eth0".into());
        }
        args.extend(inst.args.iter().cloned());
        args
    }

    /// Start flanneld on a node (does not wait; see [`Cluster::wait_subnet_file`]).
    pub fn start(&mut self, node: usize, inst: &Instance) -> Result<ProcId> {
        let ns = self.lab.node_ns(node);
        let file_before = FileStamp::of(&self.subnet_file(node, &inst.name))?;
        let args = self.flanneld_args(node, inst);
        let mut env = vec![(
            "FLANNELD_LOG".to_string(),
            "info,flanneld=debug".to_string(),
        )];
        env.extend(inst.env.iter().cloned());
        let id = self.lab.spawn(
            &ns,
            &Self::log_name(node, &inst.name),
            &workspace_bin("flanneld"),
            &args,
            &env,
        )?;
        self.procs
            .retain(|s| !(s.node == node && s.inst == inst.name));
        self.procs.push(Started {
            node,
            inst: inst.name.clone(),
            id,
            file_before,
        });
        Ok(id)
    }

    fn started(&self, node: usize, inst: &str) -> Option<&Started> {
        self.procs.iter().find(|s| s.node == node && s.inst == inst)
    }

    /// The latest flanneld started for this node and instance.
    pub fn proc(&self, node: usize, inst: &str) -> Option<ProcId> {
        self.started(node, inst).map(|s| s.id)
    }

    /// Stop flanneld on a node with a signal and wait for it.
    pub fn stop(&mut self, node: usize, inst: &str, signal: i32) -> Result<()> {
        let id = self.proc(node, inst).context("no such flanneld")?;
        self.lab.kill(id, signal)
    }

    /// Waits until the latest process started for the instance is up: it has written its
    /// subnet file (a new version of the file, not the one that was there before it started)
    /// and answers `flanneld routes` on its status socket. Returns the file's contents. An
    /// error, with the log's tail, if the process exits first or takes longer than 20 s.
    pub fn wait_subnet_file(&mut self, node: usize, inst: &str) -> Result<String> {
        let path = self.subnet_file(node, inst);
        let (id, before) = match self.started(node, inst) {
            Some(s) => (s.id, s.file_before),
            None => bail!("no flanneld instance {inst} was started on node {node}"),
        };
        let mut text = String::new();
        let mut outcome: Result<bool> = Ok(false);
        let waited = Lab::wait_until(
            START_TIMEOUT,
            &format!(
                "flanneld n{node}-{inst} to write {} and serve its status socket",
                path.display()
            ),
            || {
                outcome = self.instance_up(node, inst, id, &path, before, &mut text);
                !matches!(outcome, Ok(false))
            },
        );
        let log = || tail(&self.lab.latest_log(&Self::log_name(node, inst)), 30);
        if let Err(e) = waited {
            bail!("{e:#}; flanneld log:\n{}", log());
        }
        match outcome {
            Ok(_) => Ok(text),
            Err(e) => bail!("{e:#}; flanneld log:\n{}", log()),
        }
    }

    /// One look at a starting instance: `Ok(true)` once it is up (`text` then holds its subnet
    /// file), `Ok(false)` while not yet, an error if it exited or its file cannot be read.
    fn instance_up(
        &mut self,
        node: usize,
        inst: &str,
        id: ProcId,
        path: &Path,
        before: Option<FileStamp>,
        text: &mut String,
    ) -> Result<bool> {
        if let Some(st) = self.lab.exit_status(id)? {
            bail!("flanneld n{node}-{inst} exited ({st})");
        }
        let now = FileStamp::of(path)?;
        if now.is_none() || now == before {
            return Ok(false);
        }
        *text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        // The socket answering proves the process that wrote the file is the one serving.
        Ok(text.contains("FLANNEL_IPMASQ=") && self.routes(node, inst, true).is_ok())
    }

    /// Start the default instance on every node and wait for their subnet files.
    pub fn start_all(&mut self, inst: &Instance) -> Result<()> {
        for n in 1..=self.lab.nodes() {
            self.start(n, inst)?;
        }
        for n in 1..=self.lab.nodes() {
            self.wait_subnet_file(n, &inst.name)?;
        }
        Ok(())
    }

    /// Our subnet (network address form) from the subnet file.
    pub fn subnet(&self, node: usize, inst: &str) -> Result<ipnet::Ipv4Net> {
        let v = self.subnet_var(node, inst, "FLANNEL_SUBNET")?;
        Ok(v.parse::<ipnet::Ipv4Net>()?.trunc())
    }

    /// The value of `key` (e.g. `FLANNEL_MTU`) in the instance's subnet file.
    fn subnet_var(&self, node: usize, inst: &str, key: &str) -> Result<String> {
        let path = self.subnet_file(node, inst);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
            .with_context(|| format!("no {key} in {}", path.display()))
    }

    /// Host `host` (e.g. 2) of a node's subnet.
    pub fn host_ip(&self, node: usize, inst: &str, host: u32) -> Result<Ipv4Addr> {
        let s = self.subnet(node, inst)?;
        Ok(Ipv4Addr::from(u32::from(s.network()) + host))
    }

    /// A pod `pod-<inst>` on a node, wired by the flannel CNI plugin through the instance's
    /// conflist, executed like a runtime executes it. Returns the pod namespace and address.
    pub fn add_pod(&mut self, node: usize, inst: &str, bridge: &str) -> Result<(String, Ipv4Addr)> {
        self.add_named_pod(node, &format!("pod-{inst}"), inst, bridge)
    }

    /// Like [`Cluster::add_pod`] for a pod named `name`.
    pub fn add_named_pod(
        &self,
        node: usize,
        name: &str,
        inst: &str,
        bridge: &str,
    ) -> Result<(String, Ipv4Addr)> {
        let ns = self.lab.add_pod_ns(node, name)?;
        let fs = NodeFs::new(&self.lab, node)?;
        let inv = Invocation::new("ADD", &ns, Some(&ns));
        let list = self.conflist(node, inst, bridge);
        let result = cni::add_conflist(&self.lab, &self.lab.node_ns(node), Some(&fs), &list, &inv)
            .with_context(|| format!("wiring pod {ns}"))?;
        Ok((ns, cni::result_ip(&result)?))
    }

    /// `flanneld routes --json` on a node, parsed.
    pub fn routes_json(&self, node: usize, inst: &str) -> Result<Vec<Value>> {
        let out = self.routes(node, inst, true)?;
        let v: Value =
            serde_json::from_str(&out).with_context(|| format!("routes --json: {out}"))?;
        v.as_array()
            .cloned()
            .context("routes --json is not an array")
    }

    /// `flanneld routes [--json]` output.
    pub fn routes(&self, node: usize, inst: &str, json: bool) -> Result<String> {
        let bin = workspace_bin("flanneld");
        let sock = format!("--status-socket={}", self.socket(node, inst).display());
        let mut cmd = vec![bin.to_str().context("path")?, "routes", sock.as_str()];
        if json {
            cmd.push("--json");
        }
        let out = self.lab.exec(&self.lab.node_ns(node), &cmd)?;
        if !out.status.success() {
            bail!(
                "flanneld routes failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// True when every peer row has kernel state "ok" and there are `peers` rows.
    pub fn all_ok(&self, node: usize, inst: &str, peers: usize) -> bool {
        match self.routes_json(node, inst) {
            Ok(rows) => rows.len() == peers && rows.iter().all(|r| r["kernel"] == "ok"),
            Err(_) => false,
        }
    }

    /// The benchmarks' setup on a 2-node cluster: flanneld started everywhere with `inst`, one
    /// pod per node with eth0 at FLANNEL_MTU (as the CNI plugin sets it), both nodes' routes
    /// ok and a ping across.
    pub fn start_pod_pair(&mut self, inst: &Instance, timeout: Duration) -> Result<PodPair> {
        self.start_all(inst)?;
        let (p1, _) = self.add_pod(1, "a", "cni0")?;
        let (p2, ip2) = self.add_pod(2, "a", "cni0")?;
        let v = self.subnet_var(1, "a", "FLANNEL_MTU")?;
        let mtu: u32 = v.trim().parse().with_context(|| {
            format!(
                "bad FLANNEL_MTU {v:?} in {}",
                self.subnet_file(1, "a").display()
            )
        })?;
        for pod in [&p1, &p2] {
            self.lab.sh(pod, &format!("ip link set eth0 mtu {mtu}"))?;
        }
        Lab::wait_until(timeout, "both nodes' routes ok", || {
            self.all_ok(1, "a", 1) && self.all_ok(2, "a", 1)
        })?;
        if !self.lab.ping(&p1, ip2) {
            bail!("pod on node 1 cannot ping {ip2}");
        }
        Ok(PodPair { p1, p2, ip2, mtu })
    }

    /// The plain-routing baseline of the benchmarks on a 2-node cluster: flanneld stopped with
    /// SIGTERM (which leaves its state) and routes between the node subnets set by hand via
    /// eth0; checked with a ping from `pod` to `ip` on node 2.
    pub fn plain_routes(&mut self, pod: &str, ip: Ipv4Addr) -> Result<()> {
        for n in 1..=2 {
            self.stop(n, "a", libc::SIGTERM)
                .with_context(|| format!("stopping flanneld on node {n}"))?;
        }
        let s1 = self.subnet(1, "a")?;
        let s2 = self.subnet(2, "a")?;
        self.ip(
            1,
            &format!("route replace {s2} via {} dev eth0", Lab::node_ip(2)),
        )?;
        self.ip(
            2,
            &format!("route replace {s1} via {} dev eth0", Lab::node_ip(1)),
        )?;
        let got = self.ip(1, &format!("route get {ip}"))?;
        if !got.contains("dev eth0") {
            bail!("plain route not in effect on node 1: {got}");
        }
        if !self.lab.ping(pod, ip) {
            bail!("pod {pod} cannot ping {ip} over the plain route");
        }
        Ok(())
    }

    /// `ip <args>` in a node namespace.
    pub fn ip(&self, node: usize, args: &str) -> Result<String> {
        self.lab.sh(&self.lab.node_ns(node), &format!("ip {args}"))
    }

    pub fn log(&self, node: usize, inst: &str) -> String {
        self.lab.log(&Self::log_name(node, inst))
    }
}

impl Cluster {
    /// Wrap a lab whose etcd and configs the caller set up.
    pub fn from_lab(lab: Lab) -> Cluster {
        Cluster { lab, procs: vec![] }
    }
}
