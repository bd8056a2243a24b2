//! Kernel tests of the Services sync engine ([`Proxier`]): every test runs in
//! its own network namespace `fl-kpl-<pid>-<n>`, deleted by a Drop guard, so
//! the host's rules are never touched. The kube-proxy-lite binary's tests are
//! in the `kube-proxy-lite` crate (`kube-proxy-lite/tests/binary.rs`).

mod common;
use common::Netns;
use flannel_iptables::conntrack::Conntrack;
use flannel_iptables::flannel::{forward_rules, masq_rules};
use flannel_iptables::names::{endpoint_chain, is_owned_chain, service_chain, KUBE_PROXY_CANARY};
use flannel_iptables::parse_save;
use flannel_iptables::proxier::foreign_rules;
use flannel_iptables::{
    ensure, Endpoint, Protocol, Proxier, ProxyConfig, ProxyState, ServicePort, ServicePortName,
    SyncKind,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

impl Netns {
    fn new() -> Netns {
        Netns::create("kpl")
    }

    fn proxier(&self, cfg: ProxyConfig) -> Proxier {
        Proxier::new(self.ipt(), cfg)
            .with_conntrack(Conntrack::new().with_prefix(["ip", "netns", "exec", &self.0]))
    }

    /// nft rule handles per chain of `ip <table>`: a chain rewritten by a
    /// restore gets new handles, an untouched one keeps them.
    fn handles(&self, table: &str) -> BTreeMap<String, Vec<u64>> {
        flannel_testkit::require_tool("nft", "nftables");
        let text = self.exec(&["nft", "-a", "list", "table", "ip", table]);
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut chain = String::new();
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("chain ") {
                chain = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_else(|| panic!("nft: chain line without a name: {t:?}"))
                    .to_string();
                out.entry(chain.clone()).or_default();
            } else if let Some((_, h)) = t.rsplit_once("# handle ") {
                if !t.starts_with("table ") {
                    let h = h
                        .trim()
                        .parse()
                        .unwrap_or_else(|e| panic!("nft: bad rule handle in {t:?}: {e}"));
                    out.entry(chain.clone()).or_default().push(h);
                }
            }
        }
        out
    }
}

fn port(name: &str, vip: &str, proto: Protocol, port: u16, eps: &[&str]) -> ServicePort {
    ServicePort {
        name: ServicePortName::new("ns", name, "p", proto),
        cluster_ip: vip.parse::<Ipv4Addr>().expect("vip"),
        port,
        node_port: None,
        affinity_timeout: None,
        endpoints: eps
            .iter()
            .map(|ip| Endpoint {
                ip: ip.parse().expect("ip"),
                port,
            })
            .collect(),
    }
}

fn svc_chain(name: &str, proto: &str) -> String {
    service_chain(&format!("ns/{name}:p"), proto)
}

fn sep_chain(name: &str, proto: &str, ep: &str) -> String {
    endpoint_chain(&format!("ns/{name}:p"), proto, ep)
}

/// Three services: web (NodePort, 2 endpoints), api (1 endpoint), dead (none).
fn base_state() -> ProxyState {
    let mut web = port(
        "web",
        "10.96.0.10",
        Protocol::Tcp,
        80,
        &["10.244.1.2", "10.244.2.3"],
    );
    web.node_port = Some(30080);
    ProxyState::from_ports([
        web,
        port("api", "10.96.0.11", Protocol::Tcp, 443, &["10.244.1.9"]),
        port("dead", "10.96.0.12", Protocol::Tcp, 80, &[]),
    ])
}

fn cfg() -> ProxyConfig {
    ProxyConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().expect("cidr")),
        ..ProxyConfig::default()
    }
}

#[test]
fn full_sync_programs_the_layout() {
    let ns = Netns::new();
    let mut p = ns.proxier(cfg());
    let report = p.sync(&base_state()).expect("full sync");
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(report.services, 3);

    let mut nat = ns.chains("nat");
    nat.sort();
    let mut want = vec![
        "KUBE-EXT-".to_string() + &svc_chain("web", "tcp")[9..],
        "KUBE-MARK-MASQ".into(),
        "KUBE-NODEPORTS".into(),
        "KUBE-POSTROUTING".into(),
        KUBE_PROXY_CANARY.into(),
        sep_chain("web", "tcp", "10.244.1.2:80"),
        sep_chain("web", "tcp", "10.244.2.3:80"),
        sep_chain("api", "tcp", "10.244.1.9:443"),
        "KUBE-SERVICES".into(),
        svc_chain("web", "tcp"),
        svc_chain("api", "tcp"),
    ];
    want.sort();
    assert_eq!(nat, want);
    let mut filter = ns.chains("filter");
    filter.sort();
    assert_eq!(
        filter,
        vec![
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-FORWARD",
            KUBE_PROXY_CANARY,
            "KUBE-SERVICES"
        ]
    );
    let listing = ns.listing("nat");
    for jump in [
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
    ] {
        assert!(listing.iter().any(|l| l == jump), "missing {jump}\n{listing:#?}");
    }
    let web_svc = ns.chain_rules("nat", &svc_chain("web", "tcp"));
    assert_eq!(web_svc.len(), 3, "{web_svc:#?}");
    assert!(web_svc[0].contains("! -s 10.244.0.0/16") && web_svc[0].ends_with("-j KUBE-MARK-MASQ"));
    assert!(web_svc[1].contains("--probability 0.5"));
    assert!(ns
        .chain_rules("nat", "KUBE-SERVICES")
        .last()
        .is_some_and(|l| l.contains("KUBE-NODEPORTS")));
    let reject = ns.chain_rules("filter", "KUBE-SERVICES");
    assert_eq!(reject.len(), 1);
    assert!(reject[0].contains("ns/dead:p has no endpoints") && reject[0].contains("-j REJECT"));
    let filter_listing = ns.listing("filter");
    assert_eq!(
        filter_listing
            .iter()
            .filter(|l| l.starts_with("-A FORWARD"))
            .count(),
        3
    );

    // A second full sync changes nothing visible and duplicates no jump.
    let before = ns.save_all();
    p.full_sync(&base_state()).expect("second full sync");
    assert_eq!(ns.save_all(), before);
    // Unchanged desired state: the partial path applies nothing.
    let report = p.sync(&base_state()).expect("noop");
    assert!(report.noop);
}

#[test]
fn partial_sync_rewrites_only_the_intended_chains() {
    let ns = Netns::new();
    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");
    let nat_before = ns.handles("nat");
    let filter_before = ns.handles("filter");

    // One endpoint added to api.
    let mut state = base_state();
    let api = ServicePortName::new("ns", "api", "p", Protocol::Tcp);
    state
        .services
        .get_mut(&api)
        .expect("api")
        .endpoints
        .push(Endpoint {
            ip: "10.244.3.3".parse().expect("ip"),
            port: 443,
        });
    let report = p.sync(&state).expect("partial sync");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.chains, 2);

    let api_svc = svc_chain("api", "tcp");
    let new_sep = sep_chain("api", "tcp", "10.244.3.3:443");
    let nat_after = ns.handles("nat");
    for (chain, handles) in &nat_before {
        if *chain == api_svc {
            assert_ne!(nat_after.get(chain), Some(handles), "{chain} rewritten");
        } else {
            assert_eq!(nat_after.get(chain), Some(handles), "{chain} untouched");
        }
    }
    assert!(nat_after.contains_key(&new_sep));
    assert_eq!(nat_after.len(), nat_before.len() + 1);
    assert_eq!(ns.handles("filter"), filter_before, "filter untouched");
    let rules = ns.chain_rules("nat", &api_svc);
    assert_eq!(rules.len(), 3, "{rules:#?}");
    assert!(rules[1].contains("--probability 0.5") && rules[1].contains("10.244.1.9:443"));
    assert!(rules[2].ends_with(&format!("-j {new_sep}")));

    // The endpoint goes away again: the chain is deleted, the SVC rewritten.
    let report = p.sync(&base_state()).expect("partial sync back");
    assert_eq!(
        (report.kind, report.chains, report.deleted_chains),
        (SyncKind::Partial, 2, 1)
    );
    assert!(!ns.chains("nat").contains(&new_sep));

    // The last endpoint of api goes: nat dispatch, SVC and SEP go, filter gets the REJECT.
    let mut state = base_state();
    state.services.get_mut(&api).expect("api").endpoints.clear();
    let before = ns.handles("nat");
    let report = p.sync(&state).expect("partial to no endpoints");
    assert_eq!(report.kind, SyncKind::Partial);
    let after = ns.handles("nat");
    assert!(!after.contains_key(&api_svc));
    assert_ne!(after.get("KUBE-SERVICES"), before.get("KUBE-SERVICES"));
    assert_eq!(after.get("KUBE-NODEPORTS"), before.get("KUBE-NODEPORTS"));
    assert_eq!(ns.chain_rules("filter", "KUBE-SERVICES").len(), 2);

    // The partial result equals what a full sync of the same state produces.
    let partial = ns.save_all();
    p.full_sync(&state).expect("full sync");
    assert_eq!(sorted_lines(&ns.save_all()), sorted_lines(&partial));
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn chain_deleted_by_hand_is_restored() {
    let ns = Netns::new();
    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");
    let expected = ns.save_all();
    let web_svc = svc_chain("web", "tcp");
    let sep = sep_chain("web", "tcp", "10.244.2.3:80");
    ns.iptables(&["-t", "nat", "-F", &web_svc]);
    ns.iptables(&["-t", "nat", "-F", &sep]);
    ns.iptables(&["-t", "nat", "-X", &sep]);
    assert!(!ns.chains("nat").contains(&sep));

    // A partial sync that refers to the deleted chain fails; the engine then
    // knows it must do a full sync, which restores everything.
    let mut state = base_state();
    let web = ServicePortName::new("ns", "web", "p", Protocol::Tcp);
    state
        .services
        .get_mut(&web)
        .expect("web")
        .endpoints
        .push(Endpoint {
            ip: "10.244.9.9".parse().expect("ip"),
            port: 80,
        });
    let err = p.sync(&state).expect_err("references a missing chain");
    assert!(err.to_string().contains(&sep), "{err}");
    assert!(p.needs_full_sync());
    let report = p.sync(&base_state()).expect("full sync repairs");
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(ns.save_all(), expected);

    // The periodic full sync also repairs damage a partial would not notice.
    ns.iptables(&["-t", "nat", "-F", "KUBE-SERVICES"]);
    ns.iptables(&["-t", "nat", "-D", "PREROUTING", "1"]);
    p.full_sync(&base_state()).expect("periodic full sync");
    assert_eq!(ns.save_all(), expected);
}

#[test]
fn flanneld_rules_survive_full_and_partial_syncs() {
    let ns = Netns::new();
    let ipt = ns.ipt();
    let network = "10.244.0.0/16".parse().expect("net");
    let masq = masq_rules(network, "10.244.1.0/24".parse().expect("subnet"), true);
    let fwd = forward_rules(network);
    assert!(ensure(&ipt, &masq).expect("flannel masq"));
    assert!(ensure(&ipt, &fwd).expect("flannel forward"));
    // Someone else's rules and a non-default policy too.
    ns.iptables(&["-t", "nat", "-N", "OTHER"]);
    ns.iptables(&[
        "-t",
        "nat",
        "-A",
        "OTHER",
        "-p",
        "udp",
        "-m",
        "comment",
        "--comment",
        "keep me",
        "-j",
        "RETURN",
    ]);
    ns.iptables(&["-t", "nat", "-A", "PREROUTING", "-j", "OTHER"]);
    ns.iptables(&["-P", "FORWARD", "DROP"]);
    let flannel_nat = ns.chain_rules("nat", "FLANNEL-POSTRTG");
    let flannel_fwd = ns.chain_rules("filter", "FLANNEL-FWD");

    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");

    // The cheap listing of foreign chains equals the foreign part of iptables-save.
    let listed = parse_save(&foreign_rules(&ipt).expect("nft listing works here")).expect("parses");
    let saved = parse_save(&ipt.save_all().expect("save")).expect("parses");
    for table in ["nat", "filter"] {
        let l = listed.table(table).expect("listed table");
        let s = saved.table(table).expect("saved table");
        // iptables-save also prints built-in chains nft has not created (empty, ACCEPT).
        let foreign: Vec<&String> = s
            .declared
            .iter()
            .filter(|c| !is_owned_chain(c) && (l.has_chain(c) || !s.chain_rules(c).is_empty()))
            .collect();
        assert_eq!(
            l.declared.iter().collect::<Vec<_>>(),
            foreign,
            "{table} chains"
        );
        for chain in &foreign {
            assert_eq!(
                l.chain_rules(chain),
                s.chain_rules(chain),
                "{table} {chain}"
            );
        }
    }
    let check = |what: &str| {
        assert!(
            !ensure(&ipt, &masq).expect("ensure"),
            "{what}: flannel nat rules intact"
        );
        assert!(
            !ensure(&ipt, &fwd).expect("ensure"),
            "{what}: flannel filter rules intact"
        );
        assert_eq!(
            ns.chain_rules("nat", "FLANNEL-POSTRTG"),
            flannel_nat,
            "{what}"
        );
        assert_eq!(
            ns.chain_rules("filter", "FLANNEL-FWD"),
            flannel_fwd,
            "{what}"
        );
        assert_eq!(
            ns.chain_rules("nat", "OTHER"),
            ["-A OTHER -p udp -m comment --comment \"keep me\" -j RETURN"],
            "{what}"
        );
        assert!(
            ns.listing("nat")
                .iter()
                .any(|l| l == "-A PREROUTING -j OTHER"),
            "{what}"
        );
        assert!(
            ns.listing("filter").iter().any(|l| l == "-P FORWARD DROP"),
            "{what}"
        );
        let post = ns.chain_rules("nat", "POSTROUTING");
        assert_eq!(post.len(), 2, "{what}: {post:#?}");
    };
    check("after full sync");

    let mut state = base_state();
    state
        .services
        .remove(&ServicePortName::new("ns", "api", "p", Protocol::Tcp));
    let report = p.sync(&state).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    check("after partial sync");
    p.full_sync(&state).expect("full sync again");
    check("after second full sync");
    // The same with the rules to keep read by iptables-save.
    let mut p = ns.proxier(cfg()).with_full_save();
    p.full_sync(&base_state())
        .expect("full sync with iptables-save");
    check("after full sync with iptables-save");
}

#[test]
fn sctp_probe_leaves_nothing_behind() {
    let ns = Netns::new();
    // The kernels we run on match SCTP; the probe must leave no chain or rule
    // (it may create the empty filter table).
    assert!(ns.ipt().sctp_supported());
    let after = ns.save_all();
    assert!(
        !after.contains("PROBE") && !after.lines().any(|l| l.starts_with("-A")),
        "{after}"
    );
    let mut p = ns.proxier(cfg());
    let state =
        ProxyState::from_ports([port("s", "10.96.0.30", Protocol::Sctp, 9, &["10.244.1.1"])]);
    p.sync(&state).expect("sctp service");
    let rules = ns.chain_rules("nat", "KUBE-SERVICES");
    assert!(
        rules[0].contains("-p sctp") && rules[0].contains("--dport 9"),
        "{rules:#?}"
    );
}

impl Netns {
    /// Loopback up, `addr` on it, and routes to the Service and endpoint
    /// ranges through it, so that locally sent datagrams pass nat OUTPUT
    /// (DNAT) and get a confirmed conntrack entry.
    fn udp_setup(&self, addr: &str) {
        flannel_testkit::require_tool("conntrack", "conntrack");
        flannel_testkit::require_tool("bash", "bash");
        self.exec(&["ip", "link", "set", "lo", "up"]);
        self.exec(&["ip", "addr", "add", addr, "dev", "lo"]);
        self.exec(&["ip", "route", "add", "172.30.0.0/16", "dev", "lo"]);
        self.exec(&["ip", "route", "add", "10.180.0.0/24", "dev", "lo"]);
    }

    /// Sends `n` datagrams to `dst:port`, each from a fresh source port (one flow each).
    fn udp_send(&self, dst: &str, port: u16, n: usize) {
        let script =
            format!("for i in $(seq {n}); do echo x > /dev/udp/{dst}/{port} || true; done");
        self.exec(&["bash", "-c", &script]);
    }

    /// How many UDP conntrack entries match `filter` (`conntrack -L` options).
    fn flows(&self, filter: &[&str]) -> usize {
        let mut args = vec!["conntrack", "-L", "-p", "udp"];
        args.extend_from_slice(filter);
        self.exec(&args).lines().count()
    }
}

#[test]
fn udp_conntrack_entries_of_removed_endpoints_are_deleted() {
    let ns = Netns::new();
    ns.udp_setup("192.168.77.1/32");
    let state = ProxyState::from_ports([port(
        "dns",
        "172.30.0.53",
        Protocol::Udp,
        53,
        &["10.180.0.1", "10.180.0.2"],
    )]);
    let mut p = ns.proxier(cfg());
    p.sync(&state).expect("full sync");
    // Flows from many source ports so both endpoints get some.
    ns.udp_send("172.30.0.53", 53, 20);
    let flows = |ep: &str| ns.flows(&["--dst-nat", ep]);
    let (f1, f2) = (flows("10.180.0.1"), flows("10.180.0.2"));
    assert!(f1 + f2 >= 20, "flows created: {f1} + {f2}");
    assert!(f1 > 0 && f2 > 0, "both endpoints got flows: {f1}, {f2}");
    // Endpoint 10.180.0.2 goes away: its flows are deleted, the other's kept.
    let state = ProxyState::from_ports([port(
        "dns",
        "172.30.0.53",
        Protocol::Udp,
        53,
        &["10.180.0.1"],
    )]);
    let report = p.sync(&state).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.conntrack_deleted, f2 as u64);
    assert_eq!(flows("10.180.0.2"), 0);
    assert_eq!(flows("10.180.0.1"), f1);
}

/// A UDP NodePort endpoint removed: the flows that reached it through the
/// node port (`--orig-port-dst <node port> --dst-nat <endpoint>`) are
/// deleted, those of the remaining endpoint kept.
#[test]
fn udp_node_port_flows_of_a_removed_endpoint_are_deleted() {
    let ns = Netns::new();
    ns.udp_setup("192.168.77.1/32");
    let dns = |eps: &[&str]| {
        let mut sp = port("dns", "172.30.0.53", Protocol::Udp, 53, eps);
        sp.node_port = Some(30053);
        ProxyState::from_ports([sp])
    };
    let mut p = ns.proxier(cfg());
    p.sync(&dns(&["10.180.0.1", "10.180.0.2"]))
        .expect("full sync");
    ns.udp_send("192.168.77.1", 30053, 20);
    let via_node_port = |ep: &str| ns.flows(&["--orig-port-dst", "30053", "--dst-nat", ep]);
    let (f1, f2) = (via_node_port("10.180.0.1"), via_node_port("10.180.0.2"));
    assert!(
        f1 + f2 >= 20 && f1 > 0 && f2 > 0,
        "node port flows to both endpoints: {f1} + {f2}\n{}",
        ns.exec(&["conntrack", "-L"])
    );
    assert_eq!(
        ns.flows(&["--orig-dst", "172.30.0.53"]),
        0,
        "no cluster IP flows"
    );

    let report = p.sync(&dns(&["10.180.0.1"])).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.conntrack_deleted, f2 as u64);
    assert_eq!(via_node_port("10.180.0.2"), 0);
    assert_eq!(via_node_port("10.180.0.1"), f1);
}

/// A UDP Service that had no endpoint (REJECT) and now has one: every flow to
/// its cluster IP and node port is deleted, so clients holding an entry that
/// bypasses the new DNAT (created before the rules, or while it had none)
/// reach the endpoint with their next datagram. Other Services' flows stay.
#[test]
fn udp_flows_of_a_service_that_had_no_endpoint_are_deleted_when_it_gets_one() {
    let ns = Netns::new();
    ns.udp_setup("192.168.77.1/32");
    let other = port("other", "172.30.0.54", Protocol::Udp, 53, &["10.180.0.9"]);
    let state = |dns_eps: Option<&[&str]>| {
        let mut ports = vec![other.clone()];
        if let Some(eps) = dns_eps {
            let mut dns = port("dns", "172.30.0.53", Protocol::Udp, 53, eps);
            dns.node_port = Some(30053);
            ports.push(dns);
        }
        ProxyState::from_ports(ports)
    };
    // Only the other Service at first (its rules also turn conntrack on in
    // the namespace); clients of dns send before dns exists: entries without DNAT.
    let mut p = ns.proxier(cfg());
    p.sync(&state(None)).expect("full sync");
    ns.udp_send("172.30.0.54", 53, 3);
    ns.udp_send("172.30.0.53", 53, 5);
    ns.udp_send("192.168.77.1", 30053, 5);
    let to_vip = || ns.flows(&["--orig-dst", "172.30.0.53", "--orig-port-dst", "53"]);
    let to_node_port = || ns.flows(&["--orig-port-dst", "30053"]);
    let other_flows = || ns.flows(&["--dst-nat", "10.180.0.9"]);
    // (Each datagram comes from a random source port; two may share one.)
    let (stale_vip, stale_np, others) = (to_vip(), to_node_port(), other_flows());
    assert!(
        stale_vip > 0 && stale_np > 0 && others > 0,
        "flows created: {stale_vip} to the VIP, {stale_np} to the node port, {others} DNATed \
         for the other Service\n{}",
        ns.exec(&["conntrack", "-L"])
    );

    // dns appears without endpoints: REJECTed; nothing is deleted.
    let report = p.sync(&state(Some(&[]))).expect("partial, no endpoint");
    assert_eq!(report.conntrack_deleted, 0);
    assert!(
        ns.chain_rules("filter", "KUBE-SERVICES")
            .iter()
            .any(|r| r.contains("172.30.0.53/32") && r.contains("-j REJECT")),
        "REJECT for the Service without endpoints"
    );
    assert_eq!((to_vip(), to_node_port()), (stale_vip, stale_np));

    // It gets an endpoint: every flow to its VIP and node port is deleted.
    let report = p.sync(&state(Some(&["10.180.0.1"]))).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.conntrack_deleted, (stale_vip + stale_np) as u64);
    assert_eq!((to_vip(), to_node_port()), (0, 0));
    assert_eq!(other_flows(), others, "other Service's flows kept");
    // New datagrams are DNATed to the endpoint.
    ns.udp_send("172.30.0.53", 53, 2);
    assert!(
        ns.flows(&["--dst-nat", "10.180.0.1"]) > 0,
        "DNATed to the endpoint"
    );
}

#[test]
fn table_with_rules_iptables_cannot_print_is_not_replaced() {
    let ns = Netns::new();
    ns.iptables(&["-t", "nat", "-N", "FOO"]);
    ns.exec(&[
        "nft", "add", "rule", "ip", "nat", "FOO", "meta", "mark", "set", "numgen", "inc", "mod",
        "2",
    ]);
    let before = ns.exec(&["nft", "list", "table", "ip", "nat"]);
    let mut p = ns.proxier(cfg());
    let err = p.sync(&base_state()).expect_err("refuses");
    assert!(
        err.to_string().contains("cannot represent table nat"),
        "{err}"
    );
    assert!(p.needs_full_sync());
    assert_eq!(
        ns.exec(&["nft", "list", "table", "ip", "nat"]),
        before,
        "nat untouched"
    );
}
