//! Comparison of a desired [`TableRules`] with the kernel state parsed from
//! `iptables-save`: which owned chains must be rewritten and which jumps must
//! be inserted. Rules are compared token by token after a light normalisation
//! of the spellings iptables prints differently from how they may be written
//! (long option names, addresses without a prefix length, host bits).

use crate::model::{OwnedChain, Rule, TableRules};
use crate::parse::{SavedTable, SavedTables};
use ipnet::IpNet;
use std::net::IpAddr;

/// What must be applied to reach the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The desired state restricted to the owned chains that differ (missing,
    /// extra or reordered rules); `jumps` holds only the missing jumps.
    pub changes: TableRules,
}

impl Plan {
    /// Whether the kernel already matches the desired state.
    pub fn is_empty(&self) -> bool {
        self.changes.chains.is_empty() && self.changes.jumps.is_empty()
    }

    /// The owned chains that must be rewritten.
    pub fn changed_chains(&self) -> &[OwnedChain] {
        &self.changes.chains
    }

    /// The jumps that must be inserted.
    pub fn missing_jumps(&self) -> &[Rule] {
        &self.changes.jumps
    }
}

/// Compares `desired` with `saved` (the output of `iptables-save`).
pub fn plan(desired: &TableRules, saved: &SavedTables) -> Plan {
    let empty = SavedTable::default();
    let table = saved.table(desired.table.name()).unwrap_or(&empty);
    let chains = desired
        .chains
        .iter()
        .filter(|c| !table.has_chain(&c.name) || !same_rules(&c.rules, table.chain_rules(&c.name)))
        .cloned()
        .collect();
    let jumps = desired
        .jumps
        .iter()
        .filter(|j| !has_rule(table, j))
        .cloned()
        .collect();
    Plan {
        changes: TableRules {
            table: desired.table,
            chains,
            jumps,
        },
    }
}

/// The rules of `table` equal to `rule`, as the kernel printed them (there may
/// be several copies).
pub fn find_rules<'a>(table: &'a SavedTable, rule: &Rule) -> Vec<&'a Vec<String>> {
    let want = normalize(&rule.args);
    table
        .chain_rules(&rule.chain)
        .iter()
        .filter(|r| normalize(r) == want)
        .collect()
}

fn has_rule(table: &SavedTable, rule: &Rule) -> bool {
    !find_rules(table, rule).is_empty()
}

fn same_rules(want: &[Vec<String>], have: &[Vec<String>]) -> bool {
    want.len() == have.len()
        && want
            .iter()
            .zip(have)
            .all(|(w, h)| normalize(w) == normalize(h))
}

/// Normalises rule tokens for comparison.
pub fn normalize(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut address_next = false;
    for arg in args {
        let tok = if address_next {
            normalize_address(arg)
        } else {
            long_to_short(arg).to_string()
        };
        address_next = matches!(tok.as_str(), "-s" | "-d") && !address_next;
        out.push(tok);
    }
    out
}

fn long_to_short(opt: &str) -> &str {
    match opt {
        "--source" | "--src" => "-s",
        "--destination" | "--dst" => "-d",
        "--protocol" => "-p",
        "--in-interface" => "-i",
        "--out-interface" => "-o",
        "--jump" => "-j",
        "--goto" => "-g",
        "--match" => "-m",
        other => other,
    }
}

/// `10.0.0.1` -> `10.0.0.1/32`, `10.0.0.1/24` -> `10.0.0.0/24`; anything else
/// (host names, lists) is left alone.
fn normalize_address(addr: &str) -> String {
    if let Ok(net) = addr.parse::<IpNet>() {
        return net.trunc().to_string();
    }
    match addr.parse::<IpAddr>() {
        Ok(ip) => IpNet::from(ip).to_string(),
        Err(_) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests;
