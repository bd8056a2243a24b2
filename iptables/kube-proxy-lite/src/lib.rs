//! kube-proxy-lite: the daemon that programs Kubernetes Services into
//! iptables with `flannel_iptables`' sync engine. This crate holds what only
//! the daemon needs, so that the rule library stays free of its command-line
//! and logging dependencies:
//! - [`watch`]: noticing changes of the services file, and stop signals;
//! - [`daemon`]: the loop (batching, periodic and canary full syncs, retries)
//!   over a [`daemon::Source`]: the file, or [`api`] (Services and
//!   EndpointSlices from the API server);
//! - [`metrics`]: `/healthz`, `/metrics` and `/proxyMode` as kube-proxy serves them.
//!
//! The binary (`src/main.rs`) parses the command line and sets up logging.

pub mod api;
pub mod daemon;
pub mod metrics;
pub mod watch;
