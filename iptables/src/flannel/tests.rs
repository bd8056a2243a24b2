use super::*;
use crate::render::render_restore;

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("test network")
}

#[test]
fn masq_payload_is_exact() {
    let rules = masq_rules(net("10.244.0.0/16"), net("10.244.1.0/24"), true);
    let expected = r#"*nat
:FLANNEL-POSTRTG - [0:0]
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-I POSTROUTING 1 -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
COMMIT
"#;
    assert_eq!(render_restore(&rules, &rules.jumps), expected);
}

#[test]
fn masq_without_random_fully() {
    let rules = masq_rules(net("10.244.0.0/16"), net("10.244.1.0/24"), false);
    let payload = render_restore(&rules, &[]);
    assert!(!payload.contains("random-fully"));
    assert!(!payload.contains("-I POSTROUTING"));
    assert!(payload.contains(
        "-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE\n"
    ));
    assert!(payload.contains(
        "-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j MASQUERADE\n"
    ));
}

#[test]
fn forward_payload_is_exact() {
    let rules = forward_rules(net("10.244.0.0/16"));
    let expected = r#"*filter
:FLANNEL-FWD - [0:0]
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
-I FORWARD 1 -m comment --comment "flanneld forward" -j FLANNEL-FWD
COMMIT
"#;
    assert_eq!(render_restore(&rules, &rules.jumps), expected);
}
