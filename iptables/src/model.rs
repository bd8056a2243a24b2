//! The data model: tables, rules and the desired state of the chains one
//! owner manages in one table. Rules are kept as argument tokens (what follows
//! `-A <chain>`), exactly as `iptables-save` prints them back, so that the
//! desired state can be compared with the kernel state token by token.

use std::fmt;

/// An iptables table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Filter,
    Nat,
    Mangle,
    Raw,
}

impl Table {
    /// The table name as used by `-t` and in `iptables-save` output.
    pub fn name(&self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
            Table::Mangle => "mangle",
            Table::Raw => "raw",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule's arguments after `-A <chain>`, as tokens, e.g.
/// `["-s","10.244.1.0/24","-m","comment","--comment","flanneld masq","-j","RETURN"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub chain: String,
    pub args: Vec<String>,
}

impl Rule {
    /// Builds a rule from string slices.
    pub fn new<S: AsRef<str>>(chain: &str, args: &[S]) -> Self {
        Rule {
            chain: chain.to_string(),
            args: tokens(args),
        }
    }
}

/// A chain owned entirely by us: its content is exactly `rules`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedChain {
    pub name: String,
    pub rules: Vec<Vec<String>>,
}

/// The desired state of the chains one owner manages in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRules {
    pub table: Table,
    /// Chains owned entirely by us, in order; each rewritten in full when it differs.
    pub chains: Vec<OwnedChain>,
    /// Rules in built-in chains (e.g. POSTROUTING) that must exist, jumping into
    /// our chains; inserted at position 1 when missing, never duplicated.
    pub jumps: Vec<Rule>,
}

/// Converts a list of string slices into owned tokens.
pub fn tokens<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_string()).collect()
}
