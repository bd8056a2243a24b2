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

type Rendered = BTreeMap<ServicePortName, ServiceRules>;

fn render_state(state: &ProxyState) -> Rendered {
    let cfg = ProxyConfig::default();
    state
        .services
        .iter()
        .map(|(n, p)| (n.clone(), service_rules(p, &cfg)))
        .collect()
}

/// Plans `old` -> `new` for the given changed names.
fn plan_maps(
    old: &Rendered,
    new: &Rendered,
    changed: &BTreeSet<ServicePortName>,
) -> [TableChanges; 2] {
    let changes: Vec<ServiceChange<'_>> = changed
        .iter()
        .map(|n| ServiceChange {
            old: old.get(n),
            new: new.get(n),
        })
        .collect();
    plan_partial(&changes, || new.values().collect())
}

/// Plans old -> new the way the engine does (changed = inputs differ).
fn plan(old: &[ServicePort], new: &[ServicePort]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let old = ProxyState::from_ports(old.iter().cloned());
    let new = ProxyState::from_ports(new.iter().cloned());
    let mut changed: BTreeSet<ServicePortName> = new
        .services
        .iter()
        .filter(|(n, p)| old.services.get(*n) != Some(*p))
        .map(|(n, _)| n.clone())
        .collect();
    changed.extend(
        old.services
            .keys()
            .filter(|n| !new.services.contains_key(*n))
            .cloned(),
    );
    let [nat, filter] = plan_maps(&render_state(&old), &render_state(&new), &changed);
    let names = |c: &TableChanges| c.rewrite.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    (names(&nat), nat.delete.clone(), names(&filter))
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
    assert_eq!(plan(&s, &s), (vec![], vec![], vec![]));
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
