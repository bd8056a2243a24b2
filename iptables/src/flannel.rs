//! The rule sets flanneld installs: masquerading of pod traffic leaving the
//! overlay (table nat) and accepting overlay traffic in FORWARD (table
//! filter). Tokens are in the order `iptables-save` prints them back, so that
//! a freshly applied state compares equal.

use crate::model::{OwnedChain, Rule, Table, TableRules};
use ipnet::Ipv4Net;

/// The chain holding the masquerade rules, jumped to from POSTROUTING.
pub const MASQ_CHAIN: &str = "FLANNEL-POSTRTG";
/// The chain holding the forward rules, jumped to from FORWARD.
pub const FORWARD_CHAIN: &str = "FLANNEL-FWD";
/// Comment on every masquerade rule.
pub const MASQ_COMMENT: &str = "flanneld masq";
/// Comment on every forward rule.
pub const FORWARD_COMMENT: &str = "flanneld forward";
/// Packets marked by kube-proxy for masquerading are left to it.
pub const KUBE_MASQ_MARK: &str = "0x4000/0x4000";
const MULTICAST: &str = "224.0.0.0/4";

/// Builds the tokens of one rule, appending the comment match before `-j`.
fn rule(matches: &[&str], comment: &str, target: &[&str]) -> Vec<String> {
    matches
        .iter()
        .copied()
        .chain(["-m", "comment", "--comment", comment, "-j"])
        .chain(target.iter().copied())
        .map(str::to_string)
        .collect()
}

/// Table nat: the masquerade rules for `network` (the whole overlay) and
/// `pod_subnet` (this node's lease); `--random-fully` only when `random_fully`.
pub fn masq_rules(network: Ipv4Net, pod_subnet: Ipv4Net, random_fully: bool) -> TableRules {
    let net = network.to_string();
    let sub = pod_subnet.to_string();
    let c = MASQ_COMMENT;
    let masq: &[&str] = if random_fully {
        &["MASQUERADE", "--random-fully"]
    } else {
        &["MASQUERADE"]
    };
    let rules = vec![
        rule(&["-m", "mark", "--mark", KUBE_MASQ_MARK], c, &["RETURN"]),
        rule(&["-s", &sub, "-d", &net], c, &["RETURN"]),
        rule(&["-s", &net, "-d", &sub], c, &["RETURN"]),
        rule(&["!", "-s", &net, "-d", &sub], c, &["RETURN"]),
        rule(&["-s", &net, "!", "-d", MULTICAST], c, masq),
        rule(&["!", "-s", &net, "-d", &net], c, masq),
    ];
    TableRules {
        table: Table::Nat,
        chains: vec![OwnedChain {
            name: MASQ_CHAIN.to_string(),
            rules,
        }],
        jumps: vec![Rule {
            chain: "POSTROUTING".to_string(),
            args: rule(&[], c, &[MASQ_CHAIN]),
        }],
    }
}

/// Table filter: accept forwarded traffic from and to `network`.
pub fn forward_rules(network: Ipv4Net) -> TableRules {
    let net = network.to_string();
    let c = FORWARD_COMMENT;
    let rules = vec![
        rule(&["-s", &net], c, &["ACCEPT"]),
        rule(&["-d", &net], c, &["ACCEPT"]),
    ];
    TableRules {
        table: Table::Filter,
        chains: vec![OwnedChain {
            name: FORWARD_CHAIN.to_string(),
            rules,
        }],
        jumps: vec![Rule {
            chain: "FORWARD".to_string(),
            args: rule(&[], c, &[FORWARD_CHAIN]),
        }],
    }
}

#[cfg(test)]
mod tests;
