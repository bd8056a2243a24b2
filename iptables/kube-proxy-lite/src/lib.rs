//! kube-proxy-lite: the daemon that programs Kubernetes Services into
//! iptables with `flannel_iptables`' sync engine. This crate holds what only
//! the daemon needs, so that the rule library stays free of its command-line
//! and logging dependencies:
//! - [`watch`]: noticing changes of the services file, and stop signals;
//! - [`daemon`]: the loop (batching, periodic and canary full syncs, retries).
//!
//! The binary (`src/main.rs`) parses the command line and sets up logging.

pub mod daemon;
pub mod watch;
