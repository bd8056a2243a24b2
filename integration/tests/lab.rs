//! Tests of the namespace lab harness itself (need root).

use flannel_integration::{
    cleanup, list_namespaces, workspace_bin, Lab, LabOptions, EXT_IP, FABRIC_IP, FABRIC_IP2,
};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn lab_namespaces(prefix: &str) -> Vec<String> {
    let own = format!("{prefix}-");
    list_namespaces()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&own))
        .collect()
}

fn pid_alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would still show "Z".
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn underlay_and_external_connectivity() {
    let lab = Lab::new(3).unwrap();
    assert!(lab.prefix().starts_with("fl-"));
    assert_eq!(lab_namespaces(lab.prefix()).len(), 5);
    for i in 1..=3 {
        let ns = lab.node_ns(i);
        for j in 1..=3 {
            if i != j {
                assert!(lab.ping(&ns, Lab::node_ip(j)), "node{i} -> node{j}");
            }
        }
        assert!(lab.ping(&ns, FABRIC_IP), "node{i} -> fabric");
        assert!(lab.ping(&ns, EXT_IP), "node{i} -> external");
        let addrs = lab.sh(&ns, "ip -4 -o addr show dev eth0").unwrap();
        assert!(addrs.contains(&format!("inet 198.18.0.{i}/24")), "{addrs}");
    }
    // The external host has no way back to the pod network.
    let routes = lab.sh(&lab.fabric_ns(), "ip route").unwrap();
    assert!(!routes.contains("10.244."), "{routes}");
    // sh reports failures with stderr.
    let err = lab.sh(&lab.ext_ns(), "echo oops >&2; exit 3").unwrap_err();
    assert!(format!("{err:#}").contains("oops"), "{err:#}");
    // Namespaces of other labs / the root namespace are refused.
    assert!(lab.exec("fl-000000-n1", &["true"]).is_err());
    assert!(lab.exec("", &["true"]).is_err());
    let misuse = std::panic::catch_unwind(|| lab.ping("fl-000000-n1", EXT_IP));
    assert!(misuse.is_err(), "probing a foreign namespace must panic");
}

#[test]
fn second_underlay() {
    let lab = Lab::with_options(LabOptions {
        nodes: 2,
        second_underlay: true,
    })
    .unwrap();
    assert!(lab.ping(&lab.node_ns(1), Lab::node_ip2(2)));
    assert!(lab.ping(&lab.node_ns(2), FABRIC_IP2));
    let addrs = lab
        .sh(&lab.node_ns(2), "ip -4 -o addr show dev eth1")
        .unwrap();
    assert!(addrs.contains("inet 198.18.1.2/24"), "{addrs}");
}

#[test]
fn pods_with_manual_routes() {
    let mut lab = Lab::new(2).unwrap();
    let p1 = lab.add_pod(1, "a", "10.244.1.2/24", "10.244.1.1").unwrap();
    let p1b = lab.add_pod(1, "b", "10.244.1.3/24", "10.244.1.1").unwrap();
    let p2 = lab.add_pod(2, "a", "10.244.2.2/24", "10.244.2.1").unwrap();
    assert_eq!(p1, lab.pod_ns(1, "a"));
    let n1 = lab.node_ns(1);
    let n2 = lab.node_ns(2);
    lab.sh(&n1, "ip route add 10.244.2.0/24 via 198.18.0.2")
        .unwrap();
    lab.sh(&n2, "ip route add 10.244.1.0/24 via 198.18.0.1")
        .unwrap();

    assert!(lab.ping(&p1, ip("10.244.1.1")), "pod -> its gateway");
    assert!(lab.ping(&p1, ip("10.244.1.3")), "pod -> pod on same node");
    assert!(lab.ping(&p1, ip("10.244.2.2")), "pod -> pod on other node");
    assert!(lab.ping(&p2, ip("10.244.1.2")));

    lab.start_tcp_echo(&p2, 7000).unwrap();
    lab.start_tcp_echo(&p1b, 7000).unwrap();
    assert!(lab.tcp_check(&p1, ip("10.244.2.2"), 7000));
    assert!(lab.tcp_check(&p2, ip("10.244.1.3"), 7000));
    assert!(
        !lab.tcp_check(&p1, ip("10.244.2.2"), 7001),
        "nothing listens on 7001"
    );
    // Pods cannot reach the external host: it has no route back to 10.244/16.
    assert!(!lab.ping(&p1, EXT_IP));

    // tcp-hold keeps one connection and counts its exchanges.
    let labtool = workspace_bin("labtool");
    let out = lab
        .exec(
            &p1,
            &[
                labtool.to_str().unwrap(),
                "tcp-hold",
                "10.244.2.2",
                "7000",
                "--seconds",
                "1",
            ],
        )
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("connected "), "{stdout}");
    let count: u32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("exchanges: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 5, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(" ok")).count(),
        count as usize,
        "{stdout}"
    );

    // The harness's held connection: connected when start_tcp_hold returns, carries data
    // until told to finish.
    let hold = lab
        .start_tcp_hold(&p1, ip("10.244.2.2"), 7000, Duration::from_secs(5))
        .unwrap();
    assert!(lab.latest_log(hold.log_name()).starts_with("connected "));
    hold.wait_exchanges(&mut lab, 3, Duration::from_secs(10))
        .unwrap();
    assert!(hold.finish(&mut lab).unwrap() >= 3);
    // No connection: start_tcp_hold fails instead of pretending.
    assert!(lab
        .start_tcp_hold(&p1, ip("10.244.2.2"), 7001, Duration::from_secs(1))
        .is_err());

    // A steady ping counts every request; one to an address nobody has loses all of them.
    let steady = lab
        .start_steady_ping(&p1, ip("10.244.2.2"), Duration::from_millis(50))
        .unwrap();
    let stats = steady.stop().unwrap();
    assert_eq!(stats.transmitted, 20, "{stats:?}");
    assert_eq!(stats.lost(), 0, "{stats:?}");
    let steady = lab
        .start_steady_ping(&p1, ip("10.244.2.99"), Duration::from_millis(50))
        .unwrap();
    let stats = steady.stop().unwrap();
    assert_eq!(stats.lost(), stats.transmitted, "{stats:?}");
    assert!(stats.transmitted > 0, "{stats:?}");

    lab.del_pod(1, "b").unwrap();
    assert!(!lab_namespaces(lab.prefix()).contains(&p1b));
    assert!(!lab.ping(&p1, ip("10.244.1.3")));

    // Bad input is an error, not a panic.
    assert!(lab.add_pod(3, "x", "10.244.3.2/24", "10.244.3.1").is_err());
    assert!(lab.add_pod(1, "x", "10.244.1.9", "10.244.1.1").is_err());
    assert!(lab.add_pod(1, "x", "10.244.1.9/24", "10.244.9.1").is_err());
    assert!(lab
        .add_pod(1, "../x", "10.244.1.9/24", "10.244.1.1")
        .is_err());
}

#[test]
fn etcd_data_survives_restart() {
    let mut lab = Lab::new(1).unwrap();
    assert_eq!(lab.etcd_endpoint(), "http://198.18.0.254:2379");
    lab.start_etcd().unwrap();
    assert!(lab.start_etcd().is_err(), "second start while running");
    lab.etcdctl(&["put", "/lab/key", "value-1"]).unwrap();
    assert_eq!(
        lab.etcdctl(&["get", "--print-value-only", "/lab/key"])
            .unwrap()
            .trim(),
        "value-1"
    );
    // Reachable from a node over the underlay.
    assert!(etcd_reachable_from_node(&lab));
    let pid = lab.etcd_pid().unwrap();
    lab.stop_etcd().unwrap();
    assert!(!pid_alive(pid));
    assert!(lab
        .etcdctl(&["--dial-timeout=500ms", "get", "/lab/key"])
        .is_err());
    lab.start_etcd().unwrap();
    assert_eq!(
        lab.etcdctl(&["get", "--print-value-only", "/lab/key"])
            .unwrap()
            .trim(),
        "value-1"
    );
    assert!(lab.log("etcd").contains("=== lab: started"));
    assert!(lab.dir().join("etcd-data").is_dir());
}

/// etcd answers a client running in node 1's namespace (over the underlay).
fn etcd_reachable_from_node(lab: &Lab) -> bool {
    lab.exec(
        &lab.node_ns(1),
        &[
            "etcdctl",
            "--endpoints=http://198.18.0.254:2379",
            "--dial-timeout=2s",
            "endpoint",
            "health",
        ],
    )
    .is_ok_and(|o| o.status.success())
}

#[test]
fn spawn_kill_and_logs() {
    let mut lab = Lab::new(1).unwrap();
    let ns = lab.node_ns(1);
    let id = lab
        .spawn(
            &ns,
            "sleeper",
            Path::new("sh"),
            &["-c".into(), "echo hello $LAB_VAR; exec sleep 600".into()],
            &[("LAB_VAR".into(), "world".into())],
        )
        .unwrap();
    Lab::wait_until(Duration::from_secs(5), "sleeper output", || {
        lab.log("sleeper").contains("hello world")
    })
    .unwrap();
    assert!(lab.is_running(id));
    // Run like a daemon: leader of its own session and process group.
    let pid = lab.pid(id).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(fields[2], pid.to_string(), "process group of {stat}");
    assert_eq!(fields[3], pid.to_string(), "session of {stat}");
    assert!(lab
        .spawn(&ns, "sleeper", Path::new("true"), &[], &[])
        .is_err());
    lab.kill(id, libc::SIGTERM).unwrap();
    assert!(!lab.is_running(id));
    assert!(lab.kill(id, libc::SIGTERM).is_err(), "already exited");
    let err = Lab::wait_until(Duration::from_millis(120), "never", || false).unwrap_err();
    assert!(err.to_string().contains("never"));
}

#[test]
fn drop_removes_namespaces_and_processes() {
    let (prefix, dir, etcd_pid, other_pid) = {
        let mut lab = Lab::new(2).unwrap();
        lab.add_pod(1, "p", "10.244.1.2/24", "10.244.1.1").unwrap();
        lab.start_etcd().unwrap();
        // An untracked process (double fork) must be found via `ip netns pids`.
        lab.sh(
            &lab.node_ns(2),
            "setsid sleep 600 >/dev/null 2>&1 < /dev/null &",
        )
        .unwrap();
        let pids = flannel_integration::namespace_pids(&lab.node_ns(2)).unwrap();
        assert_eq!(pids.len(), 1, "{pids:?}");
        assert_eq!(lab_namespaces(lab.prefix()).len(), 5);
        (
            lab.prefix().to_string(),
            lab.dir().to_path_buf(),
            lab.etcd_pid().unwrap(),
            pids[0] as u32,
        )
    };
    assert!(lab_namespaces(&prefix).is_empty());
    assert!(!dir.exists());
    assert!(!pid_alive(etcd_pid), "etcd still running");
    Lab::wait_until(Duration::from_secs(5), "orphan to be reaped", || {
        !pid_alive(other_pid)
    })
    .unwrap();
}

#[test]
fn drop_cleans_up_after_panic() {
    let mut prefix = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = Lab::new(1).unwrap();
        prefix = lab.prefix().to_string();
        let ns = lab.node_ns(1);
        lab.spawn(&ns, "sleeper", Path::new("sleep"), &["600".into()], &[])
            .unwrap();
        panic!("test failure inside a lab");
    }));
    assert!(result.is_err());
    assert!(!prefix.is_empty());
    assert!(lab_namespaces(&prefix).is_empty());
}

#[test]
fn cleanup_by_prefix() {
    let mut lab = Lab::new(1).unwrap();
    let ns = lab.node_ns(1);
    let id = lab
        .spawn(&ns, "sleeper", Path::new("sleep"), &["600".into()], &[])
        .unwrap();
    assert!(cleanup("").is_err());
    assert!(cleanup("other").is_err());
    let prefix = format!("{}-", lab.prefix());
    assert_eq!(cleanup(&prefix).unwrap(), 3);
    assert!(lab_namespaces(lab.prefix()).is_empty());
    Lab::wait_until(Duration::from_secs(5), "sleeper killed", || {
        !lab.is_running(id)
    })
    .unwrap();
    assert_eq!(cleanup(&prefix).unwrap(), 0);
    // Leftover temp directories are matched by the namespace prefix too.
    assert!(lab.dir().is_dir());
    assert_eq!(flannel_integration::cleanup_dirs(&prefix).unwrap(), 1);
    assert!(!lab.dir().exists());
}
