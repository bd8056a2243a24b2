//! Kernel tests: every test runs in its own network namespace `fl-ipt-*`,
//! deleted by a Drop guard, so the host's rules are never touched.

mod common;
use common::Netns;
use flannel_iptables::flannel::{forward_rules, masq_rules};
use flannel_iptables::{ensure, parse_save, remove};
use ipnet::Ipv4Net;

impl Netns {
    fn new() -> Netns {
        Netns::create("ipt")
    }

    /// The `-A` lines of `iptables [-t table] -S`.
    fn rules(&self, table: &str) -> Vec<String> {
        let out = self.iptables(&["-t", table, "-S"]);
        out.lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_string)
            .collect()
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("network")
}

fn nat_contract(network: &str, sub: &str, masq: &str) -> Vec<String> {
    let c = "-m comment --comment \"flanneld masq\"";
    let p = "-A FLANNEL-POSTRTG";
    vec![
        format!("-A POSTROUTING {c} -j FLANNEL-POSTRTG"),
        format!("{p} -m mark --mark 0x4000/0x4000 {c} -j RETURN"),
        format!("{p} -s {sub} -d {network} {c} -j RETURN"),
        format!("{p} -s {network} -d {sub} {c} -j RETURN"),
        format!("{p} ! -s {network} -d {sub} {c} -j RETURN"),
        format!("{p} -s {network} ! -d 224.0.0.0/4 {c} -j {masq}"),
        format!("{p} ! -s {network} -d {network} {c} -j {masq}"),
    ]
}

fn filter_contract(network: &str) -> Vec<String> {
    let c = "-m comment --comment \"flanneld forward\"";
    vec![
        format!("-A FORWARD {c} -j FLANNEL-FWD"),
        format!("-A FLANNEL-FWD -s {network} {c} -j ACCEPT"),
        format!("-A FLANNEL-FWD -d {network} {c} -j ACCEPT"),
    ]
}

#[test]
fn flannel_rules_lifecycle() {
    let ns = Netns::new();
    let ipt = ns.ipt();
    assert!(
        ipt.random_fully_supported(),
        "iptables 1.8.9 supports --random-fully"
    );
    let network = net("10.244.0.0/16");
    let masq = masq_rules(network, net("10.244.1.0/24"), true);
    let fwd = forward_rules(network);

    assert!(ensure(&ipt, &masq).expect("ensure masq"));
    assert!(ensure(&ipt, &fwd).expect("ensure forward"));
    let nat = nat_contract(
        "10.244.0.0/16",
        "10.244.1.0/24",
        "MASQUERADE --random-fully",
    );
    assert_eq!(ns.rules("nat"), nat);
    assert_eq!(ns.rules("filter"), filter_contract("10.244.0.0/16"));

    // The kernel prints back exactly our tokens (no normalisation needed).
    for desired in [&masq, &fwd] {
        let saved = parse_save(&ipt.save(desired.table).expect("save")).expect("parse");
        let table = saved.table(desired.table.name()).expect("table");
        assert_eq!(
            table.chain_rules(&desired.chains[0].name),
            desired.chains[0].rules.as_slice()
        );
        assert_eq!(
            table.chain_rules(&desired.jumps[0].chain),
            [desired.jumps[0].args.clone()]
        );
    }

    // Idempotent: nothing applied, jump not duplicated.
    assert!(!ensure(&ipt, &masq).expect("ensure masq again"));
    assert!(!ensure(&ipt, &fwd).expect("ensure forward again"));
    assert_eq!(ns.rules("nat"), nat);
    assert_eq!(ns.rules("filter"), filter_contract("10.244.0.0/16"));

    // A rule deleted by hand is restored, in order.
    ns.iptables(&["-t", "nat", "-D", "FLANNEL-POSTRTG", "3"]);
    assert_ne!(ns.rules("nat"), nat);
    assert!(ensure(&ipt, &masq).expect("repair"));
    assert_eq!(ns.rules("nat"), nat);

    // A deleted jump is restored without touching the chain.
    ns.iptables(&["-D", "FORWARD", "1"]);
    assert!(ensure(&ipt, &fwd).expect("repair jump"));
    assert_eq!(ns.rules("filter"), filter_contract("10.244.0.0/16"));

    // A new pod subnet rewrites the chain; the old subnet's rules disappear.
    let masq2 = masq_rules(network, net("10.244.7.0/24"), true);
    assert!(ensure(&ipt, &masq2).expect("new subnet"));
    let nat2 = nat_contract(
        "10.244.0.0/16",
        "10.244.7.0/24",
        "MASQUERADE --random-fully",
    );
    assert_eq!(ns.rules("nat"), nat2);
    assert!(!ns.iptables(&["-t", "nat", "-S"]).contains("10.244.1.0/24"));

    remove(&ipt, &masq2).expect("remove masq");
    remove(&ipt, &fwd).expect("remove forward");
    assert!(ns.rules("nat").is_empty());
    assert!(ns.rules("filter").is_empty());
    assert!(!ns.iptables(&["-t", "nat", "-S"]).contains("FLANNEL"));
    assert!(!ns.iptables(&["-S"]).contains("FLANNEL"));
    remove(&ipt, &masq2).expect("remove is idempotent");
}

#[test]
fn without_random_fully_and_with_foreign_rules() {
    let ns = Netns::new();
    let ipt = ns.ipt();
    ns.iptables(&["-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "RETURN"]);
    let masq = masq_rules(net("10.1.0.0/16"), net("10.1.2.0/24"), false);
    assert!(ensure(&ipt, &masq).expect("ensure"));
    let mut expected = nat_contract("10.1.0.0/16", "10.1.2.0/24", "MASQUERADE");
    expected.insert(1, "-A POSTROUTING -o lo -j RETURN".to_string());
    assert_eq!(
        ns.rules("nat"),
        expected,
        "jump inserted first, foreign rule kept"
    );
    assert!(!ensure(&ipt, &masq).expect("ensure again"));
    remove(&ipt, &masq).expect("remove");
    assert_eq!(ns.rules("nat"), ["-A POSTROUTING -o lo -j RETURN"]);
}

#[test]
fn failing_payload_quotes_the_line() {
    let ns = Netns::new();
    let bad = "-A FL-BAD -m no-such-match-xyz -j RETURN";
    let payload = format!("*filter\n:FL-BAD - [0:0]\n{bad}\nCOMMIT\n");
    let err = ns.ipt().restore_noflush(&payload).expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains(bad), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    // Nothing was applied.
    assert!(!ns.iptables(&["-S"]).contains("FL-BAD"));
}
