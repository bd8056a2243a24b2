//! Pods of the lab: namespaces on a node, either empty (for a CNI plugin to
//! wire) or wired here with a veth onto a node bridge, and their removal.

use super::{random_hex, validate_name, Lab};
use crate::{cmd, netns};
use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::time::Duration;

impl Lab {
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

    /// Kills the processes in a pod namespace and deletes it, then waits until
    /// its veth is gone from the node: the kernel tears a deleted namespace
    /// down asynchronously, and until then the pod still answers.
    pub fn del_pod(&mut self, node: usize, name: &str) -> Result<()> {
        let ns = self.pod_ns(node, name);
        self.check_ns(&ns)?;
        // The ifindex, in the node namespace, of the peer of the pod's eth0 (if it has one).
        let out = self.exec(&ns, &["cat", "/sys/class/net/eth0/iflink"])?;
        let peer: Option<u32> = if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            Some(
                text.trim()
                    .parse()
                    .with_context(|| format!("iflink of eth0 in {ns}: {text:?}"))?,
            )
        } else {
            None
        };
        netns::kill_namespace_processes(&ns)?;
        cmd::checked("ip", &["netns", "del", ns.as_str()])?;
        let Some(peer) = peer else {
            return Ok(());
        };
        let node_ns = self.node_ns(node);
        let needle = format!("{peer}: ");
        let mut probe = Ok(());
        Lab::wait_until(
            Duration::from_secs(20),
            &format!("the veth of deleted pod {ns} (ifindex {peer}) to leave {node_ns}"),
            || match self.ipn(&node_ns, &["-o", "link", "show"]) {
                Ok(links) => !links.lines().any(|l| l.starts_with(&needle)),
                Err(e) => {
                    probe = Err(e);
                    true
                }
            },
        )?;
        probe
    }
}
