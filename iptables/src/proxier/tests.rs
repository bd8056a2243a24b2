use super::*;
use crate::names::{endpoint_chain, external_chain, service_chain};
use crate::service::Endpoint;
use std::net::Ipv4Addr;

fn sp(name: &str, vip: &str, eps: &[&str]) -> ServicePort {
    ServicePort {
        name: ServicePortName::new("ns", name, "p", Protocol::Tcp),
        cluster_ip: vip.parse::<Ipv4Addr>().expect("vip"),
        port: 80,
        node_port: None,
        affinity_timeout: None,
        endpoints: eps
            .iter()
            .map(|ip| Endpoint {
                ip: ip.parse().expect("ip"),
                port: 8080,
            })
            .collect(),
    }
}

/// Names of the nat chains rewritten, nat chains deleted, filter chains rewritten.
type Planned = (Vec<String>, Vec<String>, Vec<String>);

/// An engine that has programmed `state` (recorded as a successful sync
/// would; nothing runs: the binaries do not exist).
fn programmed(state: &ProxyState) -> Proxier {
    let ipt = Iptables::with_paths("/nonexistent/iptables", "/nonexistent/r", "/nonexistent/s");
    let mut p = Proxier::new(ipt, ProxyConfig::default());
    let updates = p.updates(state);
    p.finish(updates);
    p
}

/// The engine's own plan for old -> new: the service ports it found changed
/// (its change detection) and the nat chains rewritten, nat chains deleted
/// and filter chains rewritten.
fn detect(old: &[ServicePort], new: &[ServicePort]) -> (Vec<ServicePortName>, Planned) {
    let p = programmed(&ProxyState::from_ports(old.iter().cloned()));
    let (updates, [nat, filter]) = p.plan(&ProxyState::from_ports(new.iter().cloned()));
    let names = |c: &TableChanges| c.rewrite.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    (
        updates.into_keys().collect(),
        (names(&nat), nat.delete.clone(), names(&filter)),
    )
}

/// The engine's plan for old -> new (see [`detect`]), without the changed set.
fn plan(old: &[ServicePort], new: &[ServicePort]) -> Planned {
    detect(old, new).1
}

fn svc(name: &str) -> String {
    service_chain(&format!("ns/{name}:p"), "tcp")
}

fn sep(name: &str, ip: &str) -> String {
    endpoint_chain(&format!("ns/{name}:p"), "tcp", &format!("{ip}:8080"))
}

const A1: &str = "10.244.1.1";
const A2: &str = "10.244.1.2";
const A3: &str = "10.244.1.3";

#[test]
fn dispatch_chains_are_built_only_when_needed() {
    let a = service_rules(&sp("a", "10.96.0.1", &[A1]), &ProxyConfig::default());
    let b = service_rules(&sp("a", "10.96.0.1", &[A2]), &ProxyConfig::default());
    let [nat, _] = plan_partial(
        &[ServiceChange {
            old: Some(&a),
            new: Some(&b),
        }],
        || panic!("an endpoint change needs no dispatch chain"),
    );
    assert_eq!(nat.chain_count(), 3);
}

#[test]
fn nothing_changed_plans_nothing() {
    let s = [sp("a", "10.96.0.1", &[A1, A2]), sp("b", "10.96.0.2", &[A3])];
    assert_eq!(detect(&s, &s), (vec![], (vec![], vec![], vec![])));
}

fn name(n: &str) -> ServicePortName {
    ServicePortName::new("ns", n, "p", Protocol::Tcp)
}

#[test]
fn change_detection_finds_exactly_the_service_ports_whose_input_changed() {
    let old = [
        sp("a", "10.96.0.1", &[A1, A2]),
        sp("b", "10.96.0.2", &[A3]),
        sp("c", "10.96.0.3", &[A1]),
    ];
    // One endpoint of b changes: only b, and only b's chains.
    let mut new = old.clone();
    new[1] = sp("b", "10.96.0.2", &[A2]);
    assert_eq!(
        detect(&old, &new),
        (
            vec![name("b")],
            (vec![svc("b"), sep("b", A2)], vec![sep("b", A3)], vec![])
        )
    );
    // The same state built again (equal, not the same values): nothing.
    let rebuilt = [
        sp("a", "10.96.0.1", &[A1, A2]),
        sp("b", "10.96.0.2", &[A3]),
        sp("c", "10.96.0.3", &[A1]),
    ];
    assert_eq!(detect(&old, &rebuilt).0, Vec::<ServicePortName>::new());
    // Endpoints are kept sorted, so the order they were listed in is no change.
    let mut reordered = old.clone();
    reordered[0].endpoints.reverse();
    assert_eq!(detect(&old, &reordered).0, Vec::<ServicePortName>::new());
    // A removed and an added service port are both found; the unchanged ones are not.
    let new = [
        sp("a", "10.96.0.1", &[A1, A2]),
        sp("c", "10.96.0.3", &[A1]),
        sp("d", "10.96.0.4", &[A2]),
    ];
    assert_eq!(detect(&old, &new).0, vec![name("b"), name("d")]);
    // A node port change alone is a change of that port only.
    let mut np = old.clone();
    np[2].node_port = Some(30080);
    assert_eq!(detect(&old, &np).0, vec![name("c")]);
}

#[test]
fn a_sync_records_the_state_so_the_next_change_set_is_relative_to_it() {
    let s0 = [sp("a", "10.96.0.1", &[A1]), sp("b", "10.96.0.2", &[A2])];
    let mut s1 = s0.clone();
    s1[0].endpoints.push(Endpoint {
        ip: A3.parse().expect("ip"),
        port: 8080,
    });
    let mut p = programmed(&ProxyState::from_ports(s0.iter().cloned()));
    let (updates, _) = p.plan(&ProxyState::from_ports(s1.iter().cloned()));
    assert_eq!(updates.keys().cloned().collect::<Vec<_>>(), vec![name("a")]);
    p.finish(updates);
    // s1 is now programmed: s1 again is no change, going back to s0 changes a only.
    assert!(p
        .plan(&ProxyState::from_ports(s1.iter().cloned()))
        .0
        .is_empty());
    let (back, _) = p.plan(&ProxyState::from_ports(s0.iter().cloned()));
    assert_eq!(back.keys().cloned().collect::<Vec<_>>(), vec![name("a")]);
}

#[test]
fn endpoint_added_rewrites_the_service_chain_and_adds_one_endpoint_chain() {
    let old = [sp("a", "10.96.0.1", &[A1, A2]), sp("b", "10.96.0.2", &[A3])];
    let new = [
        sp("a", "10.96.0.1", &[A1, A2, A3]),
        sp("b", "10.96.0.2", &[A3]),
    ];
    assert_eq!(
        plan(&old, &new),
        (vec![svc("a"), sep("a", A3)], vec![], vec![])
    );
}

#[test]
fn endpoint_removed_rewrites_the_service_chain_and_deletes_its_chain() {
    let old = [sp("a", "10.96.0.1", &[A1, A2, A3])];
    let new = [sp("a", "10.96.0.1", &[A1, A3])];
    assert_eq!(
        plan(&old, &new),
        (vec![svc("a")], vec![sep("a", A2)], vec![])
    );
}

#[test]
fn endpoint_replaced() {
    let old = [sp("a", "10.96.0.1", &[A1, A2])];
    let new = [sp("a", "10.96.0.1", &[A1, A3])];
    assert_eq!(
        plan(&old, &new),
        (vec![svc("a"), sep("a", A3)], vec![sep("a", A2)], vec![])
    );
}

#[test]
fn service_added_and_removed_rewrite_the_dispatch_chain() {
    let old = [sp("a", "10.96.0.1", &[A1])];
    let new = [sp("a", "10.96.0.1", &[A1]), sp("b", "10.96.0.2", &[A2, A3])];
    assert_eq!(
        plan(&old, &new),
        (
            vec!["KUBE-SERVICES".into(), svc("b"), sep("b", A2), sep("b", A3)],
            vec![],
            vec![]
        )
    );
    assert_eq!(
        plan(&new, &old),
        (
            vec!["KUBE-SERVICES".into()],
            vec![svc("b"), sep("b", A2), sep("b", A3)],
            vec![]
        )
    );
}

#[test]
fn last_endpoint_gone_moves_the_service_to_the_filter_reject() {
    let old = [sp("a", "10.96.0.1", &[A1])];
    let new = [sp("a", "10.96.0.1", &[])];
    assert_eq!(
        plan(&old, &new),
        (
            vec!["KUBE-SERVICES".into()],
            vec![svc("a"), sep("a", A1)],
            vec!["KUBE-SERVICES".into()]
        )
    );
    // And back.
    assert_eq!(
        plan(&new, &old),
        (
            vec!["KUBE-SERVICES".into(), svc("a"), sep("a", A1)],
            vec![],
            vec!["KUBE-SERVICES".into()]
        )
    );
}

#[test]
fn node_port_changes_touch_kube_nodeports_and_the_external_chain() {
    let old = [sp("a", "10.96.0.1", &[A1])];
    let mut with_np = sp("a", "10.96.0.1", &[A1]);
    with_np.node_port = Some(30080);
    let ext = external_chain("ns/a:p", "tcp");
    assert_eq!(
        plan(&old, std::slice::from_ref(&with_np)),
        (vec!["KUBE-NODEPORTS".into(), ext.clone()], vec![], vec![])
    );
    // A NodePort service losing its endpoints: REJECTs in both filter dispatch chains.
    let mut empty_np = with_np.clone();
    empty_np.endpoints.clear();
    assert_eq!(
        plan(std::slice::from_ref(&with_np), &[empty_np]),
        (
            vec!["KUBE-SERVICES".into(), "KUBE-NODEPORTS".into()],
            vec![svc("a"), ext, sep("a", A1)],
            vec!["KUBE-SERVICES".into(), "KUBE-EXTERNAL-SERVICES".into()]
        )
    );
}

#[test]
fn affinity_rewrites_service_and_endpoint_chains_but_not_dispatch() {
    let old = [sp("a", "10.96.0.1", &[A1, A2])];
    let mut aff = sp("a", "10.96.0.1", &[A1, A2]);
    aff.affinity_timeout = Some(60);
    assert_eq!(
        plan(&old, &[aff]),
        (vec![svc("a"), sep("a", A1), sep("a", A2)], vec![], vec![])
    );
}

#[test]
fn cluster_ip_change_rewrites_dispatch_and_service_chain_only() {
    let old = [sp("a", "10.96.0.1", &[A1])];
    let new = [sp("a", "10.96.0.9", &[A1])];
    assert_eq!(
        plan(&old, &new),
        (vec!["KUBE-SERVICES".into()], vec![], vec![])
    );
    // With --cluster-cidr the KUBE-SVC masquerade rule names the VIP too.
    let cfg = ProxyConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().expect("cidr")),
        ..ProxyConfig::default()
    };
    let o = service_rules(&old[0], &cfg);
    let n = service_rules(&new[0], &cfg);
    let [nat, _] = plan_partial(
        &[ServiceChange {
            old: Some(&o),
            new: Some(&n),
        }],
        || vec![&n],
    );
    let names: Vec<_> = nat.rewrite.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, vec!["KUBE-SERVICES".to_string(), svc("a")]);
}

#[test]
fn log_line_format() {
    let r = SyncReport {
        kind: SyncKind::Partial,
        services: 10000,
        chains: 2,
        deleted_chains: 0,
        render: Duration::from_micros(1250),
        apply: Duration::from_micros(21500),
        applied_at: Instant::now(),
        noop: false,
        conntrack_deleted: 0,
    };
    assert_eq!(
        r.log_line(Duration::from_micros(30001)),
        "sync kind=partial services=10000 chains=2 render_ms=1.250 apply_ms=21.500 total_ms=30.001"
    );
}

#[test]
fn dry_run_payload_has_both_tables() {
    let state = ProxyState::from_ports([sp("a", "10.96.0.1", &[A1])]);
    let text = dry_run_payload(&state, &ProxyConfig::default());
    assert!(text.starts_with("*nat\n"));
    assert!(text.contains("\nCOMMIT\n*filter\n"));
    assert!(text.contains(&format!(":{} - [0:0]", svc("a"))));
    assert!(text.contains(":KUBE-PROXY-CANARY - [0:0]"));
}
