//! The namespace lab: what a lab is (its prefix, directory, nodes and the
//! processes it started), its names and addresses, and its teardown on drop.
//! The parts live in submodules: `fabric` (building the underlay, the external
//! host and the nodes), `commands` (running commands inside the lab's
//! namespaces), `process` (daemons and their logs), `etcd`, `pods`, and
//! `probes` (ping, TCP checks, steady pings, held connections, waiting).
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

pub mod apiserver;
mod commands;
mod etcd;
mod fabric;
mod pods;
mod probes;
mod process;

pub use probes::{PingStats, SteadyPing, TcpHold};

use crate::netns;
use crate::prereq::require_root;
use crate::procs::{ProcId, Procs};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

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

/// A namespace lab. Dropping it kills every process it started (each runs in
/// a session and process group of its own, which is killed as a whole),
/// deletes all of its namespaces and removes [`Lab::dir`] (kept if
/// `FLANNEL_LAB_KEEP` is set). Because the processes are in their own
/// sessions, a Ctrl-C of the test does not reach them and a test process
/// killed before its drop guards ran leaves them behind: use `lab-cleanup`.
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
        crate::cmd::require_tool("ip", "iproute2")?;
        crate::cmd::require_tool("sysctl", "procps")?;
        crate::cmd::require_tool("ping", "iputils-ping")?;
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

    /// `ns` without the lab prefix (`n1-pod-a`), for log names.
    fn ns_suffix<'a>(&self, ns: &'a str) -> &'a str {
        ns.strip_prefix(self.prefix.as_str())
            .unwrap_or(ns)
            .trim_start_matches('-')
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
