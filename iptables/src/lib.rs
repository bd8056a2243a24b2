//! flannel-iptables: declarative management of the iptables chains one owner
//! (flanneld today, kube-proxy-lite later) is responsible for.
//!
//! The crate is split into a pure core and a thin applier:
//! - [`model`]: tables, rules, owned chains and the desired state of a table;
//! - [`render`]: turns a desired state into `iptables-restore` input;
//! - [`parse`]: parses `iptables-save` output into tokenised rules;
//! - [`diff`]: compares the desired state with a parsed kernel state;
//! - [`exec`]: runs `iptables`, `iptables-restore` and `iptables-save`;
//! - [`sync`]: `ensure`/`remove`, gluing the above together;
//! - [`flannel`]: the rule sets flanneld installs.

pub mod diff;
pub mod exec;
pub mod flannel;
pub mod model;
pub mod parse;
pub mod render;
pub mod sync;

pub use diff::{plan, Plan};
pub use exec::{Error, Iptables};
pub use model::{OwnedChain, Rule, Table, TableRules};
pub use parse::{parse_save, ParseError, SavedTable, SavedTables};
pub use render::render_restore;
pub use sync::{ensure, remove};
