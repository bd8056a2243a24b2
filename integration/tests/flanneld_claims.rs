//! README claims about flanneld that no other test covered, checked with a real flanneld and a
//! real etcd in the namespace lab: watch resume from the last revision without a compaction,
//! `/readyz` before ready and after a failed reconcile, exit when another node took our subnet,
//! `--ip-masq-fully-random-disable`, exit status 0 on SIGINT and SIGTERM, and a dead task
//! stopping flanneld.

use flannel_integration::cluster::{net_config, Cluster};

mod common;
use common::{inst, key, wait};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const HEALTH_PORT: u16 = 8471;
/// Rejects node 1's connections to etcd (the lab's etcd listens on the fabric router).
const CUT_ETCD: &str =
    "OUTPUT -p tcp -d 198.18.0.254 --dport 2379 -j REJECT --reject-with tcp-reset";

fn vxlan_lease(c: &Cluster, subnet: &str, ip: &str, mac: &str) {
    let value = format!(
        r#"{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}"#
    );
    c.lab.etcdctl(&["put", &key(subnet), &value]).unwrap();
}

/// The kernel routes of a node (a failed probe fails the test).
fn routes(c: &Cluster, node: usize) -> String {
    c.ip(node, "route show").unwrap()
}

/// The log of instance "a" on `node` written after `mark` bytes.
fn log_since(c: &Cluster, node: usize, mark: usize) -> String {
    c.log(node, "a").get(mark..).unwrap_or_default().to_string()
}

#[test]
fn watch_resumes_from_the_last_revision_and_gets_what_happened_while_cut() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    c.start_all(&inst(&[])).unwrap();
    vxlan_lease(&c, "10.244.201.0/24", "198.18.0.201", "aa:bb:cc:00:00:01");
    wait("node 1 routes the lease added before the cut", 15, || {
        routes(&c, 1).contains("10.244.201.0/24")
    });

    let ns1 = c.lab.node_ns(1);
    let mark = c.log(1, "a").len();
    c.lab.sh(&ns1, &format!("iptables -I {CUT_ETCD}")).unwrap();
    wait("node 1 notices the broken watch", 30, || {
        log_since(&c, 1, mark).contains("lease watch broken")
    });
    // Written while node 1's watch is cut; no compaction, so the watch must replay them.
    vxlan_lease(&c, "10.244.202.0/24", "198.18.0.202", "aa:bb:cc:00:00:02");
    c.lab.etcdctl(&["del", &key("10.244.201.0/24")]).unwrap();
    c.lab.sh(&ns1, &format!("iptables -D {CUT_ETCD}")).unwrap();
    wait(
        "node 1 gets the add and the delete made while cut",
        30,
        || {
            let r = routes(&c, 1);
            r.contains("10.244.202.0/24") && !r.contains("10.244.201.0/24")
        },
    );
    let log = log_since(&c, 1, mark);
    assert!(
        !log.contains("compacted") && !log.contains("lease snapshot applied"),
        "the events must come from the resumed watch, not a re-list:\n{log}"
    );
    assert!(
        log.contains("lease added or changed subnet=10.244.202.0/24")
            && log.contains("lease removed subnet=10.244.201.0/24"),
        "both events arrive through the watch:\n{log}"
    );
    assert!(c.lab.is_running(c.proc(1, "a").unwrap()));
}

/// HTTP status of `GET path` on the node's health endpoint ("000" when nothing answers).
fn http_code(c: &Cluster, node: usize, path: &str) -> String {
    c.lab
        .sh(
            &c.lab.node_ns(node),
            &format!("curl -s -m 5 -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{HEALTH_PORT}{path} || true"),
        )
        .unwrap()
}

/// A host-gw lease whose public IP is not on the node's link: its route cannot be added, so
/// every reconcile pass fails while it exists.
fn unroutable_lease(c: &Cluster) {
    c.lab
        .etcdctl(&[
            "put",
            &key("10.244.99.0/24"),
            r#"{"PublicIP":"203.0.113.5","PublicIPv6":null,"BackendType":"host-gw"}"#,
        ])
        .unwrap();
}

#[test]
fn readyz_is_503_until_a_reconcile_succeeded_and_again_after_one_failed() {
    let mut c = Cluster::new(1, &net_config("10.244.0.0/16", "host-gw")).unwrap();
    unroutable_lease(&c);
    let port = format!("--healthz-port={HEALTH_PORT}");
    c.start_all(&inst(&[&port, "--reconcile-interval=1"]))
        .unwrap();
    wait("healthz answers", 15, || {
        http_code(&c, 1, "/healthz") == "200"
    });
    wait("a failing reconcile pass is logged", 15, || {
        c.log(1, "a").contains("kernel reconciled with failures")
    });
    assert_eq!(http_code(&c, 1, "/readyz"), "503", "{}", c.log(1, "a"));
    // Passes keep failing: still not ready one interval later.
    let failures = |c: &Cluster| {
        c.log(1, "a")
            .matches("kernel reconciled with failures")
            .count()
    };
    let seen = failures(&c);
    wait("another failing pass", 15, || failures(&c) > seen);
    assert_eq!(http_code(&c, 1, "/readyz"), "503");

    c.lab.etcdctl(&["del", &key("10.244.99.0/24")]).unwrap();
    wait("ready once a pass succeeded", 15, || {
        http_code(&c, 1, "/readyz") == "200"
    });

    unroutable_lease(&c);
    wait("not ready again after a failed pass", 15, || {
        http_code(&c, 1, "/readyz") == "503"
    });
    assert_eq!(http_code(&c, 1, "/healthz"), "200");
    assert!(c.lab.is_running(c.proc(1, "a").unwrap()));
}

#[test]
fn flanneld_exits_non_zero_when_another_node_took_its_revoked_subnet() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    c.start_all(&inst(&[])).unwrap();
    let s1 = c.subnet(1, "a").unwrap().to_string();
    let id = c.proc(1, "a").unwrap();
    // Revoked, and another node's lease is written in its place (whichever of flanneld's
    // re-acquire and this put wins, the key ends up held by 198.18.0.77).
    c.lab.etcdctl(&["del", &key(&s1)]).unwrap();
    vxlan_lease(&c, &s1, "198.18.0.77", "aa:bb:cc:00:00:77");
    wait("node 1 exits", 20, || !c.lab.is_running(id));
    let st = c.lab.exit_status(id).unwrap().unwrap();
    let log = c.log(1, "a");
    assert!(!st.success(), "{st}\n{log}");
    assert!(
        log.contains("our subnet is now leased by another node")
            && log.contains(&format!(
                "lease for {s1} was revoked and is now held by 198.18.0.77"
            )),
        "{log}"
    );
    // The other node is not affected.
    assert!(c.lab.is_running(c.proc(2, "a").unwrap()));
}

/// The MASQUERADE rules of a node's nat table. Errors while flanneld is still creating its
/// chain (iptables-nft may call a half-made chain "incompatible").
fn try_masquerade_rules(c: &Cluster, node: usize) -> anyhow::Result<Vec<String>> {
    Ok(c.lab
        .sh(&c.lab.node_ns(node), "iptables -t nat -S")?
        .lines()
        .filter(|l| l.starts_with("-A FLANNEL-POSTRTG") && l.contains("-j MASQUERADE"))
        .map(str::to_string)
        .collect())
}

#[test]
fn ip_masq_fully_random_disable_drops_random_fully() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    c.start(1, &inst(&["--ip-masq", "--ip-masq-fully-random-disable"]))
        .unwrap();
    c.start(2, &inst(&["--ip-masq"])).unwrap();
    for n in 1..=2 {
        c.wait_subnet_file(n, "a").unwrap();
    }
    for n in 1..=2 {
        // A failing probe is retried until the deadline; the probes below must succeed.
        wait(
            &format!("node {n} masquerade rules"),
            15,
            || matches!(try_masquerade_rules(&c, n), Ok(r) if r.len() == 2),
        );
    }
    let without = try_masquerade_rules(&c, 1).unwrap();
    assert!(
        without.iter().all(|r| !r.contains("--random-fully")),
        "{without:?}"
    );
    let with = try_masquerade_rules(&c, 2).unwrap();
    assert!(
        with.iter()
            .all(|r| r.ends_with("-j MASQUERADE --random-fully")),
        "{with:?}"
    );
}

#[test]
fn sigint_and_sigterm_exit_zero() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    c.start_all(&inst(&[])).unwrap();
    for (node, signal, name) in [(1, SIGINT, "SIGINT"), (2, SIGTERM, "SIGTERM")] {
        let id = c.proc(node, "a").unwrap();
        c.stop(node, "a", signal).unwrap();
        let st = c.lab.exit_status(id).unwrap().unwrap();
        let log = c.log(node, "a");
        assert!(st.success(), "{name}: {st}\n{log}");
        assert!(log.contains(&format!("{name}: exiting")), "{log}");
    }
}

#[test]
fn a_task_that_dies_stops_flanneld_naming_it() {
    let mut c = Cluster::new(1, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    let ns1 = c.lab.node_ns(1);
    // The health endpoint's port is taken, so its task fails right after it starts.
    c.lab.start_tcp_echo(&ns1, HEALTH_PORT).unwrap();
    let port = format!("--healthz-port={HEALTH_PORT}");
    let id = c.start(1, &inst(&[&port])).unwrap();
    wait("flanneld exits", 20, || !c.lab.is_running(id));
    let st = c.lab.exit_status(id).unwrap().unwrap();
    let log = c.log(1, "a");
    assert!(!st.success(), "{st}\n{log}");
    assert!(
        log.contains(&format!(
            "task health endpoint failed: binding health endpoint 0.0.0.0:{HEALTH_PORT}"
        )),
        "{log}"
    );
}
