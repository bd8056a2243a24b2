//! flanneld end-to-end on the namespace lab with a real etcd: data paths (vxlan, host-gw),
//! upstream compatibility of leases and files, convergence after deletes, restarts, etcd
//! outages and compaction, two instances per node, `flanneld routes`, and bad input.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use flannel_integration::cluster::{net_config, Cluster, Instance};
use flannel_integration::{workspace_bin, Lab};
use serde_json::Value;

mod common;
use common::{inst, key, wait};

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;
const PORT: u16 = 7000;

fn vtep_mac(c: &Cluster, node: usize) -> String {
    let out = c.ip(node, "-j link show flannel.1").unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

/// A cluster with `nodes` nodes running `backend`, a pod on each node and a TCP echo in each pod.
fn cluster_with_pods(
    nodes: usize,
    backend: &str,
    args: &[&str],
) -> (Cluster, Vec<(String, Ipv4Addr)>) {
    let mut c = Cluster::new(nodes, &net_config("10.244.0.0/16", backend)).unwrap();
    c.start_all(&inst(args)).unwrap();
    let mut pods = vec![];
    for n in 1..=nodes {
        let pod = c.add_pod(n, "a", "cni0").unwrap();
        c.lab.start_tcp_echo(&pod.0, PORT).unwrap();
        pods.push(pod);
    }
    for n in 1..=nodes {
        wait(&format!("node {n} routes ok"), 15, || {
            c.all_ok(n, "a", nodes - 1)
        });
    }
    (c, pods)
}

fn assert_full_mesh(c: &Cluster, pods: &[(String, Ipv4Addr)]) {
    for (i, (from, _)) in pods.iter().enumerate() {
        for (j, (_, to)) in pods.iter().enumerate() {
            if i != j {
                assert!(c.lab.ping(from, *to), "ping {from} -> {to}");
                assert!(c.lab.tcp_check(from, *to, PORT), "tcp {from} -> {to}");
            }
        }
    }
}

fn three_nodes(backend: &str, mtu: u32) {
    let (c, pods) = cluster_with_pods(3, backend, &["--ip-masq"]);
    assert_full_mesh(&c, &pods);
    for n in 1..=3 {
        let env = std::fs::read_to_string(c.subnet_file(n, "a")).unwrap();
        let gw = c.host_ip(n, "a", 1).unwrap();
        assert_eq!(
            env,
            format!("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET={gw}/24\nFLANNEL_MTU={mtu}\nFLANNEL_IPMASQ=true\n")
        );
        let subnet = c.subnet(n, "a").unwrap().to_string();
        let value = c
            .lab
            .etcdctl(&["get", &key(&subnet), "--print-value-only"])
            .unwrap();
        let expected = match backend {
            "vxlan" => format!(
                r#"{{"PublicIP":"198.18.0.{n}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{}"}}}}"#,
                vtep_mac(&c, n)
            ),
            _ => format!(
                r#"{{"PublicIP":"198.18.0.{n}","PublicIPv6":null,"BackendType":"{backend}"}}"#
            ),
        };
        assert_eq!(value.trim_end(), expected, "lease value of node {n}");
    }
    // Masquerade: the external host has no route to pods, so a reply proves SNAT.
    assert!(
        c.lab.ping(&pods[0].0, Ipv4Addr::new(203, 0, 113, 10)),
        "pod reaches the outside world"
    );
}

#[test]
fn vxlan_three_nodes_full_mesh_exact_files_and_leases() {
    three_nodes("vxlan", 1450);
}

#[test]
fn host_gw_three_nodes_full_mesh_exact_files_and_leases() {
    three_nodes("host-gw", 1500);
}

/// A node configured by hand exactly as upstream flanneld configures its kernel, with its lease
/// written in upstream's JSON: our nodes program it and pods talk across.
#[test]
fn upstream_lease_is_programmed_and_interoperates() {
    let mut c = Cluster::new(3, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    for n in 1..=2 {
        c.start(n, &Instance::default()).unwrap();
        c.wait_subnet_file(n, "a").unwrap();
    }
    // Node 3 plays an upstream node.
    let mac = "aa:bb:cc:00:02:00";
    let up = "10.244.200.0/24";
    c.ip(
        3,
        "link add flannel.1 type vxlan id 1 local 198.18.0.3 dev eth0 dstport 8472 nolearning",
    )
    .unwrap();
    c.ip(3, &format!("link set flannel.1 address {mac} mtu 1450 up"))
        .unwrap();
    c.ip(3, "addr add 10.244.200.0/32 dev flannel.1").unwrap();
    let lease_id = c.lab.etcdctl(&["lease", "grant", "86400"]).unwrap();
    let lease_id = lease_id.split_whitespace().nth(1).unwrap().to_string();
    let value = format!(
        r#"{{"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}"#
    );
    c.lab
        .etcdctl(&["put", &key(up), &value, &format!("--lease={lease_id}")])
        .unwrap();
    for n in 1..=2 {
        wait(&format!("node {n} programs the upstream lease"), 5, || {
            c.ip(n, "route show 10.244.200.0/24")
                .unwrap()
                .contains("via 10.244.200.0 dev flannel.1 onlink")
                && c.ip(n, "neigh show dev flannel.1")
                    .unwrap()
                    .contains(&format!("10.244.200.0 lladdr {mac} PERMANENT"))
                && c.lab
                    .sh(&c.lab.node_ns(n), "bridge fdb show dev flannel.1")
                    .unwrap()
                    .contains(&format!("{mac} dst 198.18.0.3 self permanent"))
        });
    }
    // Program node 3 for node 1 as upstream would, from node 1's lease in etcd.
    let s1 = c.subnet(1, "a").unwrap();
    let v1: Value = serde_json::from_str(
        c.lab
            .etcdctl(&["get", &key(&s1.to_string()), "--print-value-only"])
            .unwrap()
            .trim(),
    )
    .unwrap();
    let mac1 = v1["BackendData"]["VtepMAC"].as_str().unwrap();
    let vtep1 = s1.network();
    c.ip(
        3,
        &format!("neigh replace {vtep1} lladdr {mac1} dev flannel.1 nud permanent"),
    )
    .unwrap();
    c.lab
        .sh(
            &c.lab.node_ns(3),
            &format!("bridge fdb replace {mac1} dev flannel.1 dst 198.18.0.1 self permanent"),
        )
        .unwrap();
    c.ip(
        3,
        &format!("route replace {s1} via {vtep1} dev flannel.1 onlink"),
    )
    .unwrap();
    let (p1, ip1) = c.add_pod(1, "a", "cni0").unwrap();
    let p3 = c
        .lab
        .add_pod(3, "pod-up", "10.244.200.2/24", "10.244.200.1")
        .unwrap();
    c.lab.start_tcp_echo(&p3, PORT).unwrap();
    assert!(
        c.lab.ping(&p1, "10.244.200.2".parse().unwrap()),
        "our pod -> upstream pod"
    );
    assert!(c.lab.ping(&p3, ip1), "upstream pod -> our pod");
    assert!(c.lab.tcp_check(&p1, "10.244.200.2".parse().unwrap(), PORT));
}

#[test]
fn deleted_lease_is_removed_everywhere_and_malformed_keys_are_skipped() {
    let (mut c, _pods) = cluster_with_pods(3, "vxlan", &[]);
    // Garbage in the subnets prefix is skipped and logged.
    c.lab
        .etcdctl(&["put", "/coreos.com/network/subnets/garbage", "x"])
        .unwrap();
    c.lab
        .etcdctl(&["put", &key("10.244.177.0/24"), "{not json"])
        .unwrap();
    c.lab
        .etcdctl(&["put", &key("10.244.178.0/24"), r#"{"PublicIP":"nope"}"#])
        .unwrap();
    for n in 1..=3 {
        wait("malformed keys logged", 5, || {
            let log = c.log(n, "a");
            log.contains("subnets/garbage")
                && log.contains("10.244.177.0-24")
                && log.contains("10.244.178.0-24")
        });
        assert!(
            c.lab.is_running(c.proc(n, "a").unwrap()),
            "node {n} still running"
        );
        assert!(c.all_ok(n, "a", 2), "node {n} still ok");
    }
    // Stop node 3 (it would re-acquire its lease) and delete its key.
    let s3 = c.subnet(3, "a").unwrap();
    let mac3 = vtep_mac(&c, 3);
    c.stop(3, "a", SIGTERM).unwrap();
    let start = Instant::now();
    c.lab.etcdctl(&["del", &key(&s3.to_string())]).unwrap();
    for n in 1..=2 {
        wait(
            &format!("node {n} removes route, neighbour and fdb of {s3}"),
            20,
            || {
                !c.ip(n, "route show").unwrap().contains(&s3.to_string())
                    && !c.ip(n, "neigh show dev flannel.1").unwrap().contains(&mac3)
                    && !c
                        .lab
                        .sh(&c.lab.node_ns(n), "bridge fdb show dev flannel.1")
                        .unwrap()
                        .contains(&mac3)
            },
        );
    }
    // How fast is a figure of bench-flanneld (1000 leases deleted at once), not asserted here.
    eprintln!(
        "lease deletion converged on both nodes in {:?}",
        start.elapsed()
    );
}

#[test]
fn restart_keeps_subnet_and_tcp_connection_and_sigkill_converges() {
    let (mut c, pods) = cluster_with_pods(2, "vxlan", &["--reconcile-interval=2"]);
    let before: Vec<_> = (1..=2).map(|n| c.subnet(n, "a").unwrap()).collect();
    // Connected before the restart (start_tcp_hold waits for the connection).
    let hold = c
        .lab
        .start_tcp_hold(&pods[0].0, pods[1].1, PORT, Duration::from_secs(10))
        .unwrap();
    for n in 1..=2 {
        c.stop(n, "a", SIGTERM).unwrap();
    }
    // Devices and routes stay while the daemons are down, and the connection carries data.
    assert!(c
        .ip(1, "route show")
        .unwrap()
        .contains(&before[1].to_string()));
    hold.wait_exchanges(&mut c.lab, 3, Duration::from_secs(20))
        .unwrap();
    for n in 1..=2 {
        c.start(n, &inst(&["--reconcile-interval=2"])).unwrap();
        // The file the new process wrote, not the one its predecessor left.
        c.wait_subnet_file(n, "a").unwrap();
        assert_eq!(
            c.subnet(n, "a").unwrap(),
            before[n - 1],
            "node {n} keeps its subnet"
        );
    }
    for n in 1..=2 {
        wait(&format!("node {n} routes ok after restart"), 15, || {
            c.all_ok(n, "a", 1)
        });
    }
    hold.wait_exchanges(&mut c.lab, 3, Duration::from_secs(20))
        .unwrap();
    let exchanges = hold
        .finish(&mut c.lab)
        .expect("established TCP connection survived the restart");
    eprintln!("tcp-hold: {exchanges} exchanges on one connection across the restart");

    // SIGKILL, change things while it is down, start again: converges.
    c.stop(1, "a", SIGKILL).unwrap();
    c.ip(1, &format!("route del {}", before[1])).unwrap();
    c.ip(
        1,
        "route add 10.244.250.0/24 via 10.244.250.0 dev flannel.1 onlink",
    )
    .unwrap();
    c.start(1, &inst(&["--reconcile-interval=2"])).unwrap();
    c.wait_subnet_file(1, "a").unwrap();
    assert_eq!(c.subnet(1, "a").unwrap(), before[0]);
    wait("node 1 converges after SIGKILL", 10, || {
        let routes = c.ip(1, "route show").unwrap();
        c.all_ok(1, "a", 1) && !routes.contains("10.244.250.0")
    });
    assert!(c.lab.ping(&pods[0].0, pods[1].1));
}

fn fake_lease(c: &Cluster, subnet: &str, ip: &str, mac: &str) {
    let value = format!(
        r#"{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}"#
    );
    c.lab.etcdctl(&["put", &key(subnet), &value]).unwrap();
}

/// Whether `subnet` is in the node's routes; a failing `ip route` fails the test.
fn has_route(c: &Cluster, node: usize, subnet: &str) -> bool {
    match c.ip(node, "route show") {
        Ok(routes) => routes.contains(subnet),
        Err(e) => panic!("route probe on node {node}: {e:#}"),
    }
}

#[test]
fn etcd_outage_keeps_data_plane_and_watch_recovers_including_compaction() {
    let (mut c, pods) = cluster_with_pods(2, "vxlan", &[]);
    // A ping every 50 ms from before etcd goes until both nodes have recovered: not one lost.
    let steady = c
        .lab
        .start_steady_ping(&pods[0].0, pods[1].1, Duration::from_millis(50))
        .unwrap();
    c.lab.stop_etcd().unwrap();
    // The outage lasts 30 s: the daemons' etcd timeouts and retries all happen in it.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        for n in 1..=2 {
            assert!(
                c.lab.is_running(c.proc(n, "a").unwrap()),
                "node {n} flanneld exited while etcd was down:\n{}",
                c.log(n, "a")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    c.lab.start_etcd().unwrap();
    fake_lease(&c, "10.244.201.0/24", "198.18.0.201", "aa:bb:cc:00:00:01");
    for n in 1..=2 {
        wait(
            &format!("node {n} sees a change made after etcd came back"),
            15,
            || has_route(&c, n, "10.244.201.0/24"),
        );
        assert!(c.lab.is_running(c.proc(n, "a").unwrap()));
    }
    let stats = steady.stop().unwrap();
    eprintln!(
        "steady ping across the etcd outage: {} sent, {} answered in {} rounds",
        stats.transmitted, stats.received, stats.rounds
    );
    assert!(stats.transmitted >= 500, "{stats:?}");
    assert_eq!(
        stats.lost(),
        0,
        "pings lost around the etcd outage: {stats:?}"
    );

    // Cut node 1 off etcd, change leases and compact past its watch revision, reconnect.
    let ns1 = c.lab.node_ns(1);
    let broken = |c: &Cluster| c.log(1, "a").matches("lease watch broken").count();
    let before = broken(&c);
    c.lab.sh(&ns1, "iptables -I OUTPUT -p tcp -d 198.18.0.254 --dport 2379 -j REJECT --reject-with tcp-reset").unwrap();
    wait("node 1 notices the broken watch", 15, || {
        broken(&c) > before
    });
    fake_lease(&c, "10.244.202.0/24", "198.18.0.202", "aa:bb:cc:00:00:02");
    c.lab.etcdctl(&["del", &key("10.244.201.0/24")]).unwrap();
    let status = c
        .lab
        .etcdctl(&["endpoint", "status", "-w", "json"])
        .unwrap();
    let v: Value = serde_json::from_str(&status).unwrap();
    let rev = v[0]["Status"]["header"]["revision"].as_i64().unwrap();
    c.lab.etcdctl(&["compact", &rev.to_string()]).unwrap();
    c.lab.sh(&ns1, "iptables -D OUTPUT -p tcp -d 198.18.0.254 --dport 2379 -j REJECT --reject-with tcp-reset").unwrap();
    wait("node 1 re-lists after compaction and converges", 20, || {
        has_route(&c, 1, "10.244.202.0/24") && !has_route(&c, 1, "10.244.201.0/24")
    });
    assert!(c.log(1, "a").contains("compacted"), "{}", c.log(1, "a"));
}

#[test]
fn two_instances_per_node_route_both_networks() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_etcd().unwrap();
    lab.etcdctl(&[
        "put",
        "/a/network/config",
        &net_config("10.11.0.0/16", "vxlan"),
    ])
    .unwrap();
    lab.etcdctl(&[
        "put",
        "/b/network/config",
        &net_config("10.12.0.0/16", "host-gw"),
    ])
    .unwrap();
    let mut c = Cluster::from_lab(lab);
    let a = Instance {
        name: "a".into(),
        prefix: "/a/network".into(),
        args: vec!["--ip-masq".into()],
        env: vec![],
    };
    let b = Instance {
        name: "b".into(),
        prefix: "/b/network".into(),
        args: vec!["--iptables-forward-rules=false".into()],
        env: vec![],
    };
    c.start_all(&a).unwrap();
    c.start_all(&b).unwrap();
    let mut pods_a = vec![];
    let mut pods_b = vec![];
    for n in 1..=2 {
        pods_a.push(c.add_pod(n, "a", "cni0").unwrap());
        pods_b.push(c.add_pod(n, "b", "cni1").unwrap());
        assert!(c.subnet(n, "a").unwrap().to_string().starts_with("10.11."));
        assert!(c.subnet(n, "b").unwrap().to_string().starts_with("10.12."));
    }
    for n in 1..=2 {
        wait("both instances ok", 15, || {
            c.all_ok(n, "a", 1) && c.all_ok(n, "b", 1)
        });
    }
    let sb2 = c.subnet(2, "b").unwrap();
    assert!(c
        .ip(1, &format!("route show {sb2}"))
        .unwrap()
        .contains("via 198.18.0.2 dev eth0"));
    let sa2 = c.subnet(2, "a").unwrap();
    assert!(c
        .ip(1, &format!("route show {sa2}"))
        .unwrap()
        .contains("dev flannel.1 onlink"));
    assert!(c.lab.ping(&pods_a[0].0, pods_a[1].1), "vxlan network");
    assert!(c.lab.ping(&pods_b[0].0, pods_b[1].1), "host-gw network");
    assert!(c.lab.ping(&pods_a[1].0, pods_a[0].1));
    assert!(c.lab.ping(&pods_b[1].0, pods_b[0].1));
}

#[test]
fn routes_command_shows_kernel_state() {
    let (c, _pods) = cluster_with_pods(3, "vxlan", &["--reconcile-interval=3600"]);
    let rows = c.routes_json(1, "a").unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        for k in [
            "subnet",
            "public_ip",
            "backend",
            "vtep_mac",
            "next_hop",
            "device",
            "expires",
            "kernel",
        ] {
            assert!(r.get(k).is_some(), "key {k} in {r}");
        }
        assert_eq!(r["kernel"], "ok");
        assert_eq!(r["backend"], "vxlan");
        assert_eq!(r["device"], "flannel.1");
    }
    let text = c.routes(1, "a", false).unwrap();
    eprintln!("{text}");
    let s1 = c.subnet(1, "a").unwrap();
    assert!(
        text.starts_with(&format!(
            "node: subnet {s1}  public-ip 198.18.0.1  backend vxlan  device flannel.1"
        )),
        "{text}"
    );
    assert!(text.lines().nth(1).unwrap().starts_with("SUBNET"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.ends_with(" ok")).count(),
        2,
        "{text}"
    );

    // A route deleted by hand shows "missing" until the next reconcile restores it. The
    // periodic reconcile is an hour away, so nothing restores it before the check; then a
    // lease change (which wakes the reconciler for a full pass) brings it back.
    let s2 = c.subnet(2, "a").unwrap();
    c.ip(1, &format!("route del {s2}")).unwrap();
    let row = |c: &Cluster, subnet: &str| {
        c.routes_json(1, "a")
            .unwrap()
            .into_iter()
            .find(|r| r["subnet"] == subnet)
    };
    assert_eq!(row(&c, &s2.to_string()).unwrap()["kernel"], "missing");
    assert!(!c.ip(1, "route show").unwrap().contains(&s2.to_string()));
    fake_lease(&c, "10.244.203.0/24", "198.18.0.203", "aa:bb:cc:00:00:03");
    wait(
        "route restored by the reconcile a lease change starts",
        10,
        || {
            row(&c, "10.244.203.0/24").is_some_and(|r| r["kernel"] == "ok")
                && row(&c, &s2.to_string()).unwrap()["kernel"] == "ok"
        },
    );
    assert!(c.ip(1, "route show").unwrap().contains(&s2.to_string()));

    // No daemon listening: non-zero exit and a one-line message.
    let out = c
        .lab
        .exec(
            &c.lab.node_ns(1),
            &[
                workspace_bin("flanneld").to_str().unwrap(),
                "routes",
                "--status-socket=/nonexistent/fl.sock",
            ],
        )
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("no flanneld is listening on /nonexistent/fl.sock"),
        "{err}"
    );
}

#[test]
fn reservation_is_used_without_ttl_and_never_given_to_others() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "host-gw")).unwrap();
    let reserved = "10.244.50.0/24";
    c.lab
        .etcdctl(&[
            "put",
            &key(reserved),
            r#"{"PublicIP":"198.18.0.1","PublicIPv6":null,"BackendType":"host-gw"}"#,
        ])
        .unwrap();
    // Node 2's previous subnet file names the reserved subnet: it must not take it.
    std::fs::create_dir_all(c.subnet_file(2, "a").parent().unwrap()).unwrap();
    std::fs::write(c.subnet_file(2, "a"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.50.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n").unwrap();
    c.start(2, &Instance::default()).unwrap();
    c.wait_subnet_file(2, "a").unwrap();
    assert_ne!(
        c.subnet(2, "a").unwrap().to_string(),
        reserved,
        "node 2 picks a new subnet"
    );
    c.start(1, &Instance::default()).unwrap();
    c.wait_subnet_file(1, "a").unwrap();
    assert_eq!(c.subnet(1, "a").unwrap().to_string(), reserved);
    let no_ttl = |c: &Cluster| {
        let v: Value = serde_json::from_str(
            &c.lab
                .etcdctl(&["get", &key(reserved), "-w", "json"])
                .unwrap(),
        )
        .unwrap();
        v["kvs"][0].get("lease").is_none()
    };
    assert!(no_ttl(&c), "reservation keeps no TTL");
    c.stop(1, "a", SIGTERM).unwrap();
    c.start(1, &Instance::default()).unwrap();
    c.wait_subnet_file(1, "a").unwrap();
    assert_eq!(c.subnet(1, "a").unwrap().to_string(), reserved);
    assert!(no_ttl(&c), "still no TTL after restart");
}

#[test]
fn revoked_lease_is_reacquired_with_the_same_subnet() {
    let (c, pods) = cluster_with_pods(2, "vxlan", &[]);
    let s1 = c.subnet(1, "a").unwrap();
    c.lab.etcdctl(&["del", &key(&s1.to_string())]).unwrap();
    wait("node 1 re-acquires its subnet", 10, || {
        c.lab
            .etcdctl(&["get", &key(&s1.to_string()), "--print-value-only"])
            .unwrap()
            .contains("198.18.0.1")
    });
    assert!(c.log(1, "a").contains("re-acquired the same subnet"));
    wait("node 2 has node 1 again", 5, || c.all_ok(2, "a", 1));
    assert!(c.lab.ping(&pods[1].0, pods[0].1));
}

#[test]
fn missing_config_retries_and_bad_configs_fail_with_one_line() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_etcd().unwrap();
    let mut c = Cluster::from_lab(lab);
    let id = c.start(1, &Instance::default()).unwrap();
    wait("missing config logged twice", 10, || {
        c.log(1, "a")
            .matches("network config not found at etcd key /coreos.com/network/config")
            .count()
            >= 2
    });
    assert!(c
        .log(1, "a")
        .contains("etcdctl put /coreos.com/network/config"));
    assert!(c.lab.is_running(id));
    c.lab
        .etcdctl(&[
            "put",
            "/coreos.com/network/config",
            &net_config("10.244.0.0/16", "host-gw"),
        ])
        .unwrap();
    c.wait_subnet_file(1, "a").unwrap();

    let cases = [
        (
            r#"{"Network":"10.9.0.0/29","Backend":{"Type":"vxlan"}}"#,
            "too small, minimum /28",
        ),
        (
            r#"{"Network":"10.9.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}"#,
            "SubnetLen 31 is too large",
        ),
        (
            r#"{"Network":"10.9.0.0/16","Backend":{"Type":"carrier-pigeon"}}"#,
            "unknown backend type \"carrier-pigeon\"",
        ),
        ("{garbage", "not valid JSON"),
    ];
    for (i, (config, msg)) in cases.iter().enumerate() {
        let prefix = format!("/bad{i}/network");
        c.lab
            .etcdctl(&["put", &format!("{prefix}/config"), config])
            .unwrap();
        let name = format!("bad{i}");
        let id = c
            .start(
                1,
                &Instance {
                    name: name.clone(),
                    prefix,
                    ..Default::default()
                },
            )
            .unwrap();
        wait("flanneld exits on a bad config", 10, || {
            !c.lab.is_running(id)
        });
        let st = c.lab.exit_status(id).unwrap().unwrap();
        assert!(!st.success());
        let log = c.log(1, &name);
        let line = log
            .lines()
            .rev()
            .find(|l| l.starts_with("flanneld: "))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(line.contains(msg) && line.contains("config"), "{line}");
    }
    // A bad flag stops startup with a message naming it.
    let out = c
        .lab
        .exec(
            &c.lab.node_ns(1),
            &[
                workspace_bin("flanneld").to_str().unwrap(),
                "--public-ip=banana",
            ],
        )
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public-ip"));
}

#[test]
fn env_fallbacks_health_endpoints_and_rule_resync() {
    let mut c = Cluster::new(2, &net_config("10.244.0.0/16", "vxlan")).unwrap();
    let env = |k: &str, v: &str| (k.to_string(), v.to_string());
    let i = Instance {
        env: vec![
            env("FLANNELD_IP_MASQ", "true"),
            env("FLANNELD_HEALTHZ_PORT", "8471"),
            env("FLANNELD_IPTABLES_RESYNC", "1"),
            env("FLANNELD_IP_BLACKHOLE_ROUTE", "true"),
        ],
        ..Default::default()
    };
    c.start_all(&i).unwrap();
    let ns1 = c.lab.node_ns(1);
    let s1 = c.subnet(1, "a").unwrap();
    let expected = format!(
        "-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG\n\
         -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG -s {s1} -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d {s1} -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d {s1} -m comment --comment \"flanneld masq\" -j RETURN\n\
         -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully\n\
         -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully\n"
    );
    let nat = |c: &Cluster| -> String {
        c.lab
            .sh(&ns1, "iptables -t nat -S")
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("-A"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    wait("masquerade rules from FLANNELD_IP_MASQ", 5, || {
        nat(&c) == expected
    });
    let filter = c.lab.sh(&ns1, "iptables -S").unwrap();
    assert!(filter.contains("-A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n"), "{filter}");
    // Rules removed by hand come back in order at the next resync.
    c.lab
        .sh(
            &ns1,
            "iptables -t nat -D FLANNEL-POSTRTG 2 && iptables -t nat -D POSTROUTING 1",
        )
        .unwrap();
    assert_ne!(nat(&c), expected);
    wait("rules restored by resync", 5, || nat(&c) == expected);
    // Health endpoints (FLANNELD_HEALTHZ_PORT).
    // The HTTP status curl saw, "000" while nothing answers (curl exits non-zero then).
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:8471{path}");
        let out = c
            .lab
            .exec(
                &ns1,
                &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", &url],
            )
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait("healthz 200", 5, || get("/healthz") == "200");
    wait("readyz 200", 5, || get("/readyz") == "200");
    // --ip-blackhole-route (from FLANNELD_IP_BLACKHOLE_ROUTE)
    assert!(c
        .ip(1, "route show type blackhole")
        .unwrap()
        .contains(&format!("blackhole {s1}")));
    // --version
    let out = c
        .lab
        .exec(
            &ns1,
            &[workspace_bin("flanneld").to_str().unwrap(), "--version"],
        )
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("flanneld "));
}

#[test]
fn vxlan_options_direct_routing_mtu_port_vni_and_interface_selection() {
    let config = r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":4,"Port":4789,"DirectRouting":true,"MTU":1400}}"#;
    let mut lab = Lab::with_options(flannel_integration::LabOptions {
        nodes: 3,
        second_underlay: true,
    })
    .unwrap();
    lab.start_etcd().unwrap();
    lab.etcdctl(&["put", "/coreos.com/network/config", config])
        .unwrap();
    let mut c = Cluster::from_lab(lab);
    // Three ways to choose the interface: regex, can-reach, and by name (node 3 on the second segment).
    c.start(1, &inst(&[r"--iface-regex=^198\.18\.0\."]))
        .unwrap();
    c.start(2, &inst(&["--iface-can-reach=198.18.0.254"]))
        .unwrap();
    c.start(3, &inst(&["--iface=eth1"])).unwrap();
    let mut pods = vec![];
    for n in 1..=3 {
        let env = c.wait_subnet_file(n, "a").unwrap();
        assert!(env.contains("FLANNEL_MTU=1400\n"), "{env}");
        pods.push(c.add_pod(n, "a", "cni0").unwrap());
    }
    let dev = c.ip(1, "-d link show flannel.4").unwrap();
    assert!(
        dev.contains("mtu 1400") && dev.contains("vxlan id 4") && dev.contains("dstport 4789"),
        "{dev}"
    );
    for n in 1..=3 {
        wait("routes ok", 15, || c.all_ok(n, "a", 2));
    }
    let s2 = c.subnet(2, "a").unwrap();
    let s3 = c.subnet(3, "a").unwrap();
    // Node 2 shares node 1's segment: a plain route. Node 3 does not: through the VXLAN.
    assert!(c
        .ip(1, &format!("route show {s2}"))
        .unwrap()
        .contains("via 198.18.0.2 dev eth0"));
    assert!(c
        .ip(1, &format!("route show {s3}"))
        .unwrap()
        .contains(&format!("via {} dev flannel.4 onlink", s3.network())));
    let v3 = c
        .lab
        .etcdctl(&["get", &key(&s3.to_string()), "--print-value-only"])
        .unwrap();
    assert!(
        v3.contains(r#""PublicIP":"198.18.1.3""#) && v3.contains(r#""VNI":4"#),
        "{v3}"
    );
    for (i, (from, _)) in pods.iter().enumerate() {
        for (j, (_, to)) in pods.iter().enumerate() {
            if i != j {
                assert!(c.lab.ping(from, *to), "ping {from} -> {to}");
            }
        }
    }
}

#[test]
fn lease_is_renewed_before_expiry() {
    let mut c = Cluster::new(1, &net_config("10.244.0.0/16", "host-gw")).unwrap();
    // A margin of 1439 minutes renews the 24 h lease one minute after it was granted.
    c.start(1, &inst(&["--subnet-lease-renew-margin=1439"]))
        .unwrap();
    c.wait_subnet_file(1, "a").unwrap();
    let s = c.subnet(1, "a").unwrap().to_string();
    let lease_of = |c: &Cluster| -> i64 {
        let out = c.lab.etcdctl(&["get", &key(&s), "-w", "json"]).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        v["kvs"][0]["lease"].as_i64().unwrap_or(0)
    };
    let first = lease_of(&c);
    assert_ne!(first, 0);
    wait("lease renewed", 75, || lease_of(&c) != first);
    assert!(c.log(1, "a").contains("lease renewed"));
    // A minute on one etcd connection: keep-alive pings must respect etcd's minimum interval
    // (5 s), or etcd closes the connection and every watch breaks.
    assert!(
        !c.log(1, "a").contains("lease watch broken"),
        "{}",
        c.log(1, "a")
    );
    let ttl = c
        .lab
        .etcdctl(&["lease", "timetolive", &format!("{:x}", lease_of(&c))])
        .unwrap();
    assert!(
        ttl.contains("remaining(8639") || ttl.contains("remaining(8640"),
        "{ttl}"
    );
    assert_eq!(c.subnet(1, "a").unwrap().to_string(), s);
}

#[test]
fn host_gw_refuses_a_public_ip_that_is_not_on_the_interface() {
    let mut c = Cluster::new(1, &net_config("10.244.0.0/16", "host-gw")).unwrap();
    let id = c.start(1, &inst(&["--public-ip=198.18.0.77"])).unwrap();
    wait("flanneld exits", 10, || !c.lab.is_running(id));
    assert!(!c.lab.exit_status(id).unwrap().unwrap().success());
    let log = c.log(1, "a");
    assert!(
        log.contains("public IP 198.18.0.77 is not an address of interface eth0"),
        "{log}"
    );
}
