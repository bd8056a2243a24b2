//! The built-in path (bridge + host-local in-process) for real, in test namespaces (see
//! `common`), compared with the reference chain `flannel -> bridge -> host-local` run in a
//! second lab: same result (MACs and veth names aside), pod addresses and routes, bridge
//! address, ipMasq rules, host-local files and saved file; then DEL, CHECK, rollback and GC.
//! Needs root and /usr/lib/cni.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{require_namespaces, require_reference, sh, Lab};
use serde_json::{json, Value};

const DELEGATE: &str = r#"{"hairpinMode":true,"isDefaultGateway":true}"#;
const EXEC: &str = r#","execDelegate":true"#;

/// Root, `ip` and the reference plugins: the test fails without them.
fn ready() {
    require_namespaces();
    require_reference();
}

/// The result with MACs and the veth name replaced by placeholders.
fn normalized(mut r: Value) -> Value {
    for i in r["interfaces"].as_array_mut().into_iter().flatten() {
        i["mac"] = json!("MAC");
        if i["name"].as_str().is_some_and(|n| n.starts_with("veth")) {
            i["name"] = json!("VETH");
        }
    }
    r
}

/// Every host-local file: (name, mode, content).
fn store(lab: &Lab) -> Vec<(String, u32, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(lab.p("ipam/cbr0"))
        .map(|d| {
            d.map(|e| {
                let e = e.unwrap();
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                let content = std::fs::read(e.path()).unwrap();
                (e.file_name().into_string().unwrap(), mode, content)
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Observable kernel state of a lab, with generated names and MACs left out.
fn kernel_state(lab: &Lab) -> Value {
    let links: Value = serde_json::from_str(&lab.ip_host("-d -j link show")).unwrap();
    let mut host = Vec::new();
    for l in links.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap();
        let name = if name.starts_with("veth") {
            "VETH"
        } else {
            name
        };
        let slave = &l["linkinfo"]["info_slave_data"];
        host.push(json!({
            "name": name, "mtu": l["mtu"], "master": l["master"],
            "up": l["flags"].as_array().unwrap().contains(&json!("UP")),
            "hairpin": slave["hairpin"], "promisc": l["promiscuity"],
        }));
    }
    let addrs: Value = serde_json::from_str(&lab.ip_host("-4 -j addr show dev cni0")).unwrap();
    json!({
        "host_links": host,
        "bridge_addrs": addrs[0]["addr_info"].as_array().unwrap().iter()
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"])).collect::<Vec<_>>(),
        "ip_forward": sh("ip", &["netns", "exec", &lab.host, "cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "pod_addrs": lab.pod_addrs("eth0"),
        "pod_routes": lab.pod_routes(),
        "pod_mtu": serde_json::from_str::<Value>(&lab.ip_pod("-j link show eth0")).unwrap()[0]["mtu"],
        "nat": lab.nat(),
    })
}

#[test]
fn builtin_matches_reference_chain() {
    ready();
    let (reference, ours) = (Lab::new("bref"), Lab::new("bour"));
    let cid = "abc123";
    let r_ref = reference.plugin(
        "ADD",
        cid,
        Some(&reference.pod_path()),
        &reference.conf("1.0.0", DELEGATE, EXEC),
    );
    let r_our = ours.plugin(
        "ADD",
        cid,
        Some(&ours.pod_path()),
        &ours.conf("1.0.0", DELEGATE, ""),
    );
    r_ref.success();
    r_our.success();
    // Same text modulo names: compare normalized JSON and the line layout.
    let sandbox = |lab: &Lab, v: Value| {
        let text = v.to_string().replace(&lab.pod_path(), "POD");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    assert_eq!(
        sandbox(&ours, normalized(r_our.json())),
        sandbox(&reference, normalized(r_ref.json()))
    );
    assert_eq!(
        r_our.stdout.lines().count(),
        r_ref.stdout.lines().count(),
        "{}",
        r_our.stdout
    );
    let s_ref = kernel_state(&reference);
    let s_our = kernel_state(&ours);
    assert_eq!(s_our, s_ref);
    assert!(s_our["nat"]
        .as_str()
        .unwrap()
        .contains("CNI-3e9a3d0f9583cdc0e7133af3"));
    let fix = |lab: &Lab, s: String| s.replace(&lab.dir.path().display().to_string(), "TMP");
    let saved = |lab: &Lab| {
        fix(
            lab,
            std::fs::read_to_string(lab.p("flannel/abc123")).unwrap(),
        )
    };
    assert_eq!(saved(&ours), saved(&reference));
    assert_eq!(store(&ours), store(&reference));

    // CHECK passes on both; DEL leaves the same (empty) state.
    for (lab, exec) in [(&reference, EXEC), (&ours, "")] {
        let prev = if exec.is_empty() {
            &r_our.stdout
        } else {
            &r_ref.stdout
        };
        let conf = lab.conf("1.0.0", DELEGATE, &format!(r#"{exec},"prevResult":{prev}"#));
        lab.plugin("CHECK", cid, Some(&lab.pod_path()), &conf)
            .success();
        lab.plugin(
            "DEL",
            cid,
            Some(&lab.pod_path()),
            &lab.conf("1.0.0", DELEGATE, exec),
        )
        .success();
    }
    assert!(ours.pod_addrs("eth0").is_empty());
    assert_eq!(ours.nat(), reference.nat());
    assert!(!ours.nat().contains("CNI-"));
    assert_eq!(store(&ours), store(&reference));
    assert!(!ours.p("flannel/abc123").exists());
}

#[test]
fn builtin_cycle_every_version() {
    ready();
    let lab = Lab::new("bver");
    for (n, version) in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
        .iter()
        .enumerate()
    {
        let cid = format!("c{n}");
        let conf = lab.conf(version, DELEGATE, "");
        let add = lab.plugin("ADD", &cid, Some(&lab.pod_path()), &conf);
        let r = add.json();
        assert!(add.ok, "{}", add.stdout);
        assert_eq!(r["cniVersion"], *version);
        let addr = format!("10.1.17.{}/24", n + 2);
        assert_eq!(r["ips"][0]["address"], addr.as_str());
        assert_eq!(
            r["ips"][0].get("version").is_some(),
            !version.starts_with('1'),
            "{r}"
        );
        assert_eq!(lab.pod_addrs("eth0"), vec![addr.clone()]);
        let with_prev = lab.conf(
            version,
            DELEGATE,
            &format!(r#","prevResult":{}"#, add.stdout),
        );
        let check = lab.plugin("CHECK", &cid, Some(&lab.pod_path()), &with_prev);
        if version.starts_with("0.3") {
            assert_eq!(check.code(), 1);
        } else {
            check.success();
        }
        assert_eq!(
            lab.plugin("DEL", &cid, Some(&lab.pod_path()), &conf)
                .success(),
            ""
        );
        assert_eq!(
            lab.plugin("DEL", &cid, Some(&lab.pod_path()), &conf)
                .success(),
            ""
        );
        assert!(lab.pod_addrs("eth0").is_empty());
        assert!(!lab.p(&format!("flannel/{cid}")).exists());
    }
    assert!(!lab.nat().contains("CNI-"), "{}", lab.nat());
}

#[test]
fn builtin_check_detects_missing_pieces() {
    ready();
    let lab = Lab::new("bchk");
    let conf = lab.conf("1.0.0", DELEGATE, "");
    let add = lab.plugin("ADD", "c1", Some(&lab.pod_path()), &conf);
    add.success();
    let with_prev = lab.conf(
        "1.0.0",
        DELEGATE,
        &format!(r#","prevResult":{}"#, add.stdout),
    );
    lab.plugin("CHECK", "c1", Some(&lab.pod_path()), &with_prev)
        .success();
    lab.ip_pod("route del 10.1.0.0/16");
    assert!(
        !lab.plugin("CHECK", "c1", Some(&lab.pod_path()), &with_prev)
            .ok
    );
    lab.ip_pod("route add 10.1.0.0/16 via 10.1.17.1 dev eth0");
    std::fs::remove_file(lab.p("ipam/cbr0/10.1.17.2")).unwrap();
    let e = lab.plugin("CHECK", "c1", Some(&lab.pod_path()), &with_prev);
    assert!(e.stdout.contains("IPAM"), "{}", e.stdout);
    lab.plugin("DEL", "c1", Some(&lab.pod_path()), &conf)
        .success();
}

#[test]
fn builtin_add_failure_leaves_nothing() {
    ready();
    let lab = Lab::new("bfail");
    let conf = lab.conf("1.0.0", DELEGATE, "");
    // eth0 already exists in the pod (not ours): ADD fails, and nothing of it remains.
    lab.ip_pod("link add eth0 type veth peer name other");
    let e = lab.plugin("ADD", "c1", Some(&lab.pod_path()), &conf);
    assert!(!e.ok);
    assert!(e.stdout.contains("eth0"), "{}", e.stdout);
    assert!(
        store(&lab).iter().all(|(n, _, _)| !n.starts_with("10.")),
        "{:?}",
        store(&lab)
    );
    assert!(!lab.p("flannel/c1").exists());
    assert!(!lab.nat().contains("CNI-"));
    assert!(
        lab.ip_pod("link show eth0").contains("eth0@other"),
        "the pod's own eth0 stays"
    );
    // A missing netns is an error too, with nothing left behind.
    let e = lab.plugin(
        "ADD",
        "c2",
        Some("/run/netns/fl-cnic-does-not-exist"),
        &conf,
    );
    assert!(!e.ok);
    assert!(store(&lab).iter().all(|(n, _, _)| !n.starts_with("10.")));
    assert!(!lab.p("flannel/c2").exists());
}

#[test]
fn builtin_del_without_netns() {
    ready();
    let lab = Lab::new("bnons");
    let conf = lab.conf("1.1.0", DELEGATE, "");
    lab.plugin("ADD", "a", Some(&lab.pod_path()), &conf)
        .success();
    assert!(lab.nat().contains("CNI-"));
    // Without CNI_NETNS the masquerade rules and the IPAM record still go.
    assert_eq!(lab.plugin("DEL", "a", None, &conf).success(), "");
    assert!(!lab.nat().contains("CNI-"), "{}", lab.nat());
    assert!(store(&lab).iter().all(|(n, _, _)| !n.starts_with("10.")));
    assert!(!lab.p("flannel/a").exists());
    // The pod interface (netns unknown to DEL) is left as the reference plugin leaves it.
    assert_eq!(lab.pod_addrs("eth0"), vec!["10.1.17.2/24"]);
}

#[test]
fn builtin_gc_releases_unlisted_attachments() {
    ready();
    let lab = Lab::new("bgc");
    let conf = lab.conf("1.1.0", DELEGATE, "");
    let pod = lab.pod_path();
    lab.exec("ADD", "keep", "eth0", Some(&pod), &conf, common::REF_DIR)
        .success();
    lab.exec(
        "ADD",
        "stale",
        "net1",
        Some(&lab.pod2_path()),
        &conf,
        common::REF_DIR,
    )
    .success();
    assert!(lab.p("ipam/cbr0/10.1.17.3").exists());
    let list = r#","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#;
    let gc = lab.plugin("GC", "", None, &lab.conf("1.1.0", DELEGATE, list));
    assert_eq!(gc.success(), "");
    assert!(lab.p("flannel/keep").exists());
    assert!(!lab.p("flannel/stale").exists());
    assert!(lab.p("ipam/cbr0/10.1.17.2").exists());
    assert!(!lab.p("ipam/cbr0/10.1.17.3").exists());
    let nat = lab.nat();
    assert!(nat.contains("id: \\\"keep\\\""), "{nat}");
    assert!(!nat.contains("stale"), "{nat}");
    // GC needs 1.1.0 and the list.
    assert_eq!(
        lab.plugin("GC", "", None, &lab.conf("1.0.0", DELEGATE, list))
            .code(),
        1
    );
    assert_eq!(lab.plugin("GC", "", None, &conf).code(), 7);
    lab.plugin("DEL", "keep", Some(&pod), &conf).success();
}

#[test]
fn builtin_parallel_adds_on_a_fresh_node() {
    ready();
    for round in 0..3 {
        let lab = Lab::new(&format!("bpar{round}"));
        let conf = lab.conf("1.0.0", DELEGATE, "");
        let pods = [lab.pod_path(), lab.pod2_path()];
        let results: Vec<common::Run> = std::thread::scope(|s| {
            let handles: Vec<_> = pods
                .iter()
                .enumerate()
                .map(|(i, pod)| {
                    let (lab, conf) = (&lab, &conf);
                    s.spawn(move || lab.plugin("ADD", &format!("p{i}"), Some(pod), conf))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut addrs: Vec<String> = results
            .iter()
            .map(|r| {
                r.success();
                r.json()["ips"][0]["address"].as_str().unwrap().to_string()
            })
            .collect();
        addrs.sort();
        assert_eq!(addrs, vec!["10.1.17.2/24", "10.1.17.3/24"], "round {round}");
        for (i, pod) in pods.iter().enumerate() {
            lab.plugin("DEL", &format!("p{i}"), Some(pod), &conf)
                .success();
        }
        assert!(!lab.nat().contains("CNI-"));
    }
}
