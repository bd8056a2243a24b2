//! flanneld: the per-node daemon of flannel-rs. Pure core (config, lease, alloc, backend,
//! status, subnet_env, iface) with thin adapters (registry = etcd, netlink = kernel,
//! flannel-iptables = rules) and the daemon's tasks (watch, keeper, reconcile, server).

pub mod alloc;
pub mod backend;
pub mod config;
pub mod daemon;
pub mod flags;
pub mod iface;
pub mod keeper;
pub mod kernel;
pub mod kube_subnet;
pub mod lease;
pub mod netlink;
pub mod reconcile;
pub mod registry;
pub mod server;
pub mod state;
pub mod status;
pub mod subnet_env;
pub mod udp;
pub mod watch;
