//! flannel-iptables: declarative management of the iptables chains one owner
//! is responsible for: flanneld's masquerade and forward rules, and
//! kube-proxy-lite's Service rules in kube-proxy's iptables layout.
//!
//! The crate is split into a pure core and thin appliers:
//! - [`model`]: tables, rules, owned chains and the desired state of a table;
//! - [`render`]: turns a desired state into `iptables-restore` input;
//! - [`parse`]: parses `iptables-save` output into tokenised rules;
//! - [`diff`]: compares the desired state with a parsed kernel state;
//! - [`exec`]: runs `iptables`, `iptables-restore` and `iptables-save`;
//! - [`sync`]: `ensure`/`remove`, gluing the above together;
//! - [`flannel`]: the rule sets flanneld installs.
//!
//! kube-proxy-lite (Services):
//! - [`service`]: service ports, endpoints and proxy settings;
//! - [`kube`]: reads them from a Kubernetes `List` of Services and Endpoints;
//! - [`names`]: kube-proxy's chain names and hashes, and which chains are ours;
//! - [`rules`]: the chains and rules of each service port, pure;
//! - [`payload`]: full (merged with `iptables-save`) and partial payloads;
//! - [`proxier`]: the sync engine (full and partial syncs, conntrack cleanup);
//! - [`conntrack`]: the `conntrack` tool.
//!
//! The kube-proxy-lite daemon itself (file watcher, stop signals, the loop,
//! the command line) is the `kube-proxy-lite` crate, so that flanneld and the
//! CNI plugin do not build its command-line and logging dependencies.

pub mod conntrack;
pub mod diff;
pub mod exec;
pub mod flannel;
pub mod kube;
pub mod model;
pub mod names;
pub mod parse;
pub mod payload;
pub mod proxier;
pub mod render;
pub mod rules;
pub mod service;
pub mod sync;

pub use diff::{plan, Plan};
pub use exec::{Error, Iptables};
pub use model::{OwnedChain, Rule, Table, TableRules};
pub use parse::{parse_save, ParseError, SavedTable, SavedTables};
pub use proxier::{Proxier, SyncError, SyncKind, SyncReport};
pub use render::render_restore;
pub use service::{Endpoint, Protocol, ProxyConfig, ProxyState, ServicePort, ServicePortName};
pub use sync::{ensure, remove};
