use super::*;
use crate::service::{Endpoint, Protocol, ServicePortName};
use std::net::Ipv4Addr;

fn ep(ip: &str, port: u16) -> Endpoint {
    Endpoint {
        ip: ip.parse().expect("ip"),
        port,
    }
}

fn svc(
    ns: &str,
    name: &str,
    port_name: &str,
    proto: Protocol,
    vip: &str,
    port: u16,
) -> ServicePort {
    ServicePort {
        name: ServicePortName::new(ns, name, port_name, proto),
        cluster_ip: vip.parse::<Ipv4Addr>().expect("vip"),
        port,
        node_port: None,
        affinity_timeout: None,
        endpoints: vec![],
    }
}

fn with_eps(mut sp: ServicePort, n: usize) -> ServicePort {
    sp.endpoints = (1..=n).map(|i| ep(&format!("10.180.0.{i}"), 80)).collect();
    sp
}

fn cfg() -> ProxyConfig {
    ProxyConfig::default()
}

fn cfg_cidr() -> ProxyConfig {
    ProxyConfig {
        cluster_cidr: Some("10.0.0.0/8".parse().expect("cidr")),
        ..ProxyConfig::default()
    }
}

fn line(chain: &str, args: &[String]) -> String {
    let mut out = String::new();
    crate::payload::push_rule(&mut out, chain, args);
    out.trim_end().to_string()
}

#[test]
fn probabilities_for_one_to_five_endpoints() {
    let expected: [&[&str]; 5] = [
        &[],
        &["0.5000000000"],
        &["0.3333333333", "0.5000000000"],
        &["0.2500000000", "0.3333333333", "0.5000000000"],
        &[
            "0.2000000000",
            "0.2500000000",
            "0.3333333333",
            "0.5000000000",
        ],
    ];
    for (i, want) in expected.iter().enumerate() {
        let n = i + 1;
        let sp = with_eps(
            svc("ns1", "svc1", "p80", Protocol::Tcp, "172.30.0.41", 80),
            n,
        );
        let rules = service_rules(&sp, &cfg());
        let svc_chain = &rules.chains[0];
        assert_eq!(svc_chain.rules.len(), n);
        let got: Vec<&str> = svc_chain
            .rules
            .iter()
            .filter_map(|r| {
                r.iter()
                    .position(|a| a == "--probability")
                    .map(|p| r[p + 1].as_str())
            })
            .collect();
        assert_eq!(got, *want, "{n} endpoints");
        // The last rule has no statistic match.
        assert!(!svc_chain.rules[n - 1].iter().any(|a| a == "statistic"));
    }
    assert_eq!(probability(3), "0.3333333333");
}

#[test]
fn spec_example_rule_is_exact() {
    let sp = with_eps(
        svc("ns1", "svc1", "p80", Protocol::Tcp, "172.30.0.41", 80),
        1,
    );
    let rules = service_rules(&sp, &cfg());
    let dispatch = rules
        .dispatch_rule(Dispatch::NatServices)
        .expect("cluster IP rule");
    assert_eq!(
        line("KUBE-SERVICES", dispatch),
        "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp \
         -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O"
    );
    let sep = &rules.chains[1];
    assert_eq!(sep.name, "KUBE-SEP-SXIVWICOYRO3J4NJ");
    assert_eq!(
        line(&sep.name, &sep.rules[0]),
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ"
    );
    assert_eq!(
        line(&sep.name, &sep.rules[1]),
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp \
         -j DNAT --to-destination 10.180.0.1:80"
    );
}

/// (chains, rules) of one service port.
fn shape(sp: &ServicePort, cfg: &ProxyConfig) -> (usize, usize) {
    let r = service_rules(sp, cfg);
    (r.chains.len(), r.rule_count())
}

#[test]
fn rule_counts_per_service_shape() {
    let base = svc("ns", "s", "p", Protocol::Tcp, "172.30.0.1", 80);
    // ClusterIP: 1 dispatch + n in KUBE-SVC + 2n in KUBE-SEPs; chains 1 + n.
    assert_eq!(shape(&with_eps(base.clone(), 1), &cfg()), (2, 4));
    assert_eq!(shape(&with_eps(base.clone(), 2), &cfg()), (3, 7));
    assert_eq!(shape(&with_eps(base.clone(), 3), &cfg()), (4, 10));
    // --cluster-cidr adds the off-cluster masquerade rule to KUBE-SVC.
    assert_eq!(shape(&with_eps(base.clone(), 3), &cfg_cidr()), (4, 11));

    // NodePort: + KUBE-NODEPORTS rule + KUBE-EXT (2 rules).
    let mut np = with_eps(base.clone(), 1);
    np.node_port = Some(30080);
    assert_eq!(shape(&np, &cfg()), (3, 7));
    let r = service_rules(&np, &cfg());
    assert_eq!(
        r.chains[1].name,
        r.chains[0].name.replace("KUBE-SVC-", "KUBE-EXT-")
    );
    assert_eq!(r.chains[1].rules[1], tokens(&["-j", &r.chains[0].name]));

    // Affinity: + one `recent --rcheck` rule per endpoint; SEP rule count unchanged.
    let mut aff = with_eps(base.clone(), 2);
    aff.affinity_timeout = Some(10800);
    assert_eq!(shape(&aff, &cfg()), (3, 9));
    let r = service_rules(&aff, &cfg());
    let sep = r.chains[1].name.clone();
    assert_eq!(
        r.chains[0].rules[0][4..],
        tokens(&[
            "-m",
            "recent",
            "--name",
            &sep,
            "--rcheck",
            "--seconds",
            "10800",
            "--reap",
            "-j",
            &sep
        ])[..]
    );
    assert!(r.chains[1].rules[1]
        .windows(5)
        .any(|w| w == tokens(&["-m", "recent", "--name", &sep, "--set"]).as_slice()));

    // No endpoints: only the REJECT in filter KUBE-SERVICES (+ KUBE-EXTERNAL-SERVICES for a node port).
    assert_eq!(shape(&base, &cfg()), (0, 1));
    let r = service_rules(&base, &cfg());
    assert!(r.dispatch_rule(Dispatch::NatServices).is_none());
    assert_eq!(
        line("KUBE-SERVICES", r.dispatch_rule(Dispatch::FilterServices).expect("reject")),
        "-A KUBE-SERVICES -m comment --comment \"ns/s:p has no endpoints\" -m tcp -p tcp -d 172.30.0.1 --dport 80 -j REJECT"
    );
    let mut np0 = base.clone();
    np0.node_port = Some(30081);
    assert_eq!(shape(&np0, &cfg()), (0, 2));
    assert_eq!(
        line(
            "KUBE-EXTERNAL-SERVICES",
            service_rules(&np0, &cfg()).dispatch_rule(Dispatch::FilterExternal).expect("reject")
        ),
        "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns/s:p has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j REJECT"
    );

    // UDP: same shape, udp matches.
    let udp = with_eps(svc("ns", "dns", "dns", Protocol::Udp, "172.30.0.10", 53), 1);
    assert_eq!(shape(&udp, &cfg()), (2, 4));
    let r = service_rules(&udp, &cfg());
    assert!(
        line("X", r.dispatch_rule(Dispatch::NatServices).expect("rule"))
            .contains("-m udp -p udp -d 172.30.0.10 --dport 53")
    );

    // Multi-port: each port is its own service port with its own chains.
    let state = ProxyState::from_ports([
        with_eps(svc("ns", "m", "http", Protocol::Tcp, "172.30.0.5", 80), 1),
        with_eps(svc("ns", "m", "https", Protocol::Tcp, "172.30.0.5", 443), 1),
    ]);
    let (nat, _) = desired_tables(&state, &cfg());
    let svc_chains: Vec<_> = nat
        .chains
        .iter()
        .filter(|c| c.name.starts_with("KUBE-SVC-"))
        .collect();
    assert_eq!(svc_chains.len(), 2);
    assert_ne!(svc_chains[0].name, svc_chains[1].name);
    let total: usize = state.services.values().map(|sp| shape(sp, &cfg()).1).sum();
    assert_eq!(total, 8);
}

#[test]
fn unnamed_port_uses_namespace_and_name_only() {
    let sp = with_eps(
        svc("default", "web", "", Protocol::Tcp, "10.96.0.10", 80),
        1,
    );
    let r = service_rules(&sp, &cfg());
    assert_eq!(
        r.chains[0].name,
        crate::names::service_chain("default/web", "tcp")
    );
    assert!(
        line("X", r.dispatch_rule(Dispatch::NatServices).expect("rule"))
            .contains("\"default/web cluster IP\"")
    );
}

#[test]
fn static_chains_follow_the_masquerade_bit() {
    let cfg = ProxyConfig {
        masquerade_bit: 13,
        random_fully: false,
        ..ProxyConfig::default()
    };
    assert_eq!(cfg.mark(), "0x2000");
    let nat = static_nat_chains(&cfg);
    assert_eq!(
        nat[0].rules[0],
        tokens(&["-m", "mark", "!", "--mark", "0x2000/0x2000", "-j", "RETURN"])
    );
    assert_eq!(
        nat[0].rules[1],
        tokens(&["-j", "MARK", "--xor-mark", "0x2000"])
    );
    assert_eq!(
        nat[0].rules[2].last().map(String::as_str),
        Some("MASQUERADE")
    );
    assert_eq!(
        nat[1].rules[0],
        tokens(&["-j", "MARK", "--or-mark", "0x2000"])
    );
    assert_eq!(ProxyConfig::default().mark(), "0x4000");
    let filter = static_filter_chains(&ProxyConfig::default());
    assert_eq!(filter[0].name, "KUBE-FORWARD");
    assert!(filter[0].rules[0].contains(&"0x4000/0x4000".to_string()));
    assert!(filter[0].rules[1].contains(&"RELATED,ESTABLISHED".to_string()));
}

#[test]
fn nodeports_rule_is_last_in_kube_services() {
    let state = ProxyState::from_ports([
        with_eps(svc("a", "x", "p", Protocol::Tcp, "172.30.0.1", 80), 1),
        with_eps(svc("b", "y", "p", Protocol::Tcp, "172.30.0.2", 80), 2),
    ]);
    let (nat, filter) = desired_tables(&state, &cfg());
    let services = &nat.chains[0];
    assert_eq!(services.name, "KUBE-SERVICES");
    assert_eq!(services.rules.len(), 3);
    assert_eq!(services.rules.last(), Some(&nodeports_rule()));
    assert_eq!(nat.jumps.len(), 3);
    assert_eq!(filter.jumps.len(), 5);
}
