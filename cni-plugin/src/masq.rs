//! The bridge plugin's ipMasq rules for one pod address, as the reference plugin installs them
//! (table nat): chain `CNI-<first 24 hex digits of sha512(name + containerID)>` holding
//! `-d <pod subnet> -j ACCEPT` and `! -d 224.0.0.0/4 -j MASQUERADE`, jumped to from POSTROUTING
//! by `-s <pod ip>/32`, every rule commented `name: "<name>" id: "<containerID>"`. Tokens are
//! in the order `iptables-save` prints them. Applied with `flannel_iptables::{ensure, remove}`.

use std::net::Ipv4Addr;

use flannel_iptables::{OwnedChain, Rule, Table, TableRules};
use ipnet::Ipv4Net;
use sha2::{Digest, Sha512};

const MULTICAST: &str = "224.0.0.0/4";

/// `CNI-` + the first 24 hex digits of sha512(name + containerID) (the bridge plugin's
/// `utils.FormatChainName`).
pub fn chain_name(name: &str, cid: &str) -> String {
    let digest = Sha512::digest(format!("{name}{cid}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("CNI-{}", &hex[..24])
}

/// `name: "<name>" id: "<containerID>"` (the bridge plugin's `utils.FormatComment`).
pub fn comment(name: &str, cid: &str) -> String {
    format!("name: \"{name}\" id: \"{cid}\"")
}

/// The rules for `addr` (pod IP with its subnet's prefix length).
pub fn rules(name: &str, cid: &str, addr: Ipv4Net) -> TableRules {
    let chain = chain_name(name, cid);
    let comment = comment(name, cid);
    let with = |head: &[&str], target: &str| -> Vec<String> {
        head.iter()
            .copied()
            .chain(["-m", "comment", "--comment", comment.as_str(), "-j", target])
            .map(str::to_string)
            .collect()
    };
    let subnet = addr.trunc().to_string();
    let source = Ipv4Net::from(addr.addr()).to_string();
    TableRules {
        table: Table::Nat,
        chains: vec![OwnedChain {
            name: chain.clone(),
            rules: vec![
                with(&["-d", &subnet], "ACCEPT"),
                with(&["!", "-d", MULTICAST], "MASQUERADE"),
            ],
        }],
        jumps: vec![Rule {
            chain: "POSTROUTING".into(),
            args: with(&["-s", &source], &chain),
        }],
    }
}

/// The rules to remove for a pod whose subnet is unknown (only its IP): the jump matches on the
/// IP, the chain by name; its content does not matter for removal.
pub fn rules_for_removal(name: &str, cid: &str, ip: Ipv4Addr) -> TableRules {
    rules(name, cid, Ipv4Net::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_name_matches_reference_bridge() {
        // Observed: Debian's bridge 1.1.1, name "cbr0", CNI_CONTAINERID "abc123".
        assert_eq!(chain_name("cbr0", "abc123"), "CNI-3e9a3d0f9583cdc0e7133af3");
        assert_eq!(comment("cbr0", "abc123"), r#"name: "cbr0" id: "abc123""#);
    }

    #[test]
    fn rules_in_iptables_save_form() {
        // iptables-save after the reference bridge's ADD (10.1.17.2/24, ipMasq true):
        // -A POSTROUTING -s 10.1.17.2/32 -m comment --comment "name: \"cbr0\" id: \"abc123\"" -j CNI-3e9a3d0f9583cdc0e7133af3
        // -A CNI-3e9a3d0f9583cdc0e7133af3 -d 10.1.17.0/24 -m comment --comment "name: \"cbr0\" id: \"abc123\"" -j ACCEPT
        // -A CNI-3e9a3d0f9583cdc0e7133af3 ! -d 224.0.0.0/4 -m comment --comment "name: \"cbr0\" id: \"abc123\"" -j MASQUERADE
        let r = rules("cbr0", "abc123", "10.1.17.2/24".parse().unwrap());
        let c = r#"name: "cbr0" id: "abc123""#;
        let chain = "CNI-3e9a3d0f9583cdc0e7133af3";
        assert_eq!(r.table, Table::Nat);
        assert_eq!(r.chains[0].name, chain);
        assert_eq!(
            r.chains[0].rules,
            vec![
                flannel_iptables::model::tokens(&[
                    "-d",
                    "10.1.17.0/24",
                    "-m",
                    "comment",
                    "--comment",
                    c,
                    "-j",
                    "ACCEPT"
                ]),
                flannel_iptables::model::tokens(&[
                    "!",
                    "-d",
                    "224.0.0.0/4",
                    "-m",
                    "comment",
                    "--comment",
                    c,
                    "-j",
                    "MASQUERADE"
                ]),
            ]
        );
        assert_eq!(
            r.jumps,
            vec![Rule::new(
                "POSTROUTING",
                &[
                    "-s",
                    "10.1.17.2/32",
                    "-m",
                    "comment",
                    "--comment",
                    c,
                    "-j",
                    chain
                ]
            )]
        );
        assert_eq!(
            rules_for_removal("cbr0", "abc123", "10.1.17.2".parse().unwrap()).jumps,
            r.jumps
        );
    }
}
