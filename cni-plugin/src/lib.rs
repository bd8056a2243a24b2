//! The `flannel` CNI plugin: pure core (config, versions, results, delegate config, host-local
//! compatible IPAM) with thin edges (`kernel` = netlink in host and pod namespaces, iptables for
//! ipMasq, executing delegate plugins).
//!
//! Entry point: [`plugin::run`] (environment map + stdin -> stdout text + exit code).

pub mod bridge;
pub mod builtin;
pub mod config;
pub mod dataplane;
pub mod delegate;
pub mod env;
pub mod error;
pub mod exec;
pub mod gc;
pub mod gojson;
pub mod ipam;
pub mod kernel;
pub mod masq;
mod netlink;
pub mod plugin;
pub mod result;
pub mod saved;
pub mod subnet_env;
pub mod teardown;
pub mod version;

pub use error::CniError;
pub use plugin::{run, Outcome};
