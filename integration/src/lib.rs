//! Namespace lab harness for the flannel-rs integration tests.
//!
//! A [`Lab`] builds an isolated topology out of Linux network namespaces (an
//! underlay "fabric" with a router, an external host, N nodes and pods on the
//! nodes' `cni0` bridges), runs etcd and the daemons under test inside it and
//! tears everything down on drop. Nothing is configured in the root network
//! namespace. The tests need root (see [`require_root`]).
//!
//! Modules: `lab` (topology, etcd, processes and probes as seen by tests;
//! split by what it owns), `cluster` (flanneld instances and their pods on a
//! lab), `cni` (running CNI plugins like a runtime), `procs` (tracked child
//! processes in their own sessions, and their logs), `netns` (listing and
//! deleting namespaces by prefix, used by `Drop` and `lab-cleanup`),
//! `prereq` (root check, locating workspace binaries), `cmd` (running
//! external commands with useful errors), `services` (the Services file,
//! sync lines and probes used to test `kube-proxy-lite`), `iperf` (iperf3 runs between lab
//! namespaces for the benchmarks).

pub mod bench;
pub mod cluster;
mod cmd;
pub mod cni;
pub mod iperf;
mod lab;
mod netns;
mod prereq;
mod procs;
pub mod services;

pub use lab::apiserver::{ApiServer, ApiServerOptions, APISERVER_PORT, APISERVER_PROC, SA_ISSUER};
pub use lab::{
    Lab, LabOptions, PingStats, SteadyPing, TcpHold, ETCD_ENDPOINT, EXT_GATEWAY, EXT_IP, FABRIC_IP,
    FABRIC_IP2, MAX_NODES, POD_NETWORK,
};
pub use netns::{cleanup, cleanup_dirs, list_namespaces, namespace_pids, PREFIX_ROOT};
pub use prereq::{require_root, try_workspace_bin, workspace_bin};
pub use procs::{tail, ProcId};
