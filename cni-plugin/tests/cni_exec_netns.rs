//! The exec path for real: `flannel` (execDelegate) -> Debian's bridge -> host-local, run in
//! test namespaces (see `common`). ADD / CHECK / DEL per CNI version, idempotent DEL, the saved
//! file's life cycle, errors passed through. Needs root and /usr/lib/cni.

mod common;

use common::{require_namespaces, require_reference, Lab};
use serde_json::{json, Value};

const DELEGATE: &str = r#"{"hairpinMode":true,"isDefaultGateway":true}"#;
const EXEC: &str = r#","execDelegate":true"#;
const CHAIN: &str = "CNI-"; // + sha512(name + containerID)[..24]

/// Root, `ip` and the reference plugins: the test fails without them.
fn ready() {
    require_namespaces();
    require_reference();
}

/// The configuration flannel saves (and hands to bridge) for these tests.
fn saved_conf(lab: &Lab, version: &str) -> String {
    format!(
        r#"{{"cniVersion":"{version}","hairpinMode":true,"ipMasq":true,"ipam":{{"dataDir":"{}","ranges":[[{{"subnet":"10.1.17.0/24"}}]],"routes":[{{"dst":"10.1.0.0/16"}}],"type":"host-local"}},"isDefaultGateway":true,"isGateway":true,"mtu":1472,"name":"cbr0","type":"bridge"}}"#,
        lab.p("ipam").display()
    )
}

fn check_result(lab: &Lab, r: &Value, version: &str) {
    assert_eq!(r["cniVersion"], version);
    let ifs = r["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifs.len(), 3, "{r}");
    assert_eq!(ifs[0]["name"], "cni0");
    assert!(ifs[1]["name"].as_str().unwrap().starts_with("veth"));
    assert_eq!(ifs[2]["name"], "eth0");
    assert_eq!(ifs[2]["sandbox"], lab.pod_path().as_str());
    for i in ifs {
        assert_eq!(i["mac"].as_str().map(str::len), Some(17), "{i}");
    }
    let mut ip = json!({"interface": 2, "address": "10.1.17.2/24", "gateway": "10.1.17.1"});
    if !version.starts_with('1') {
        ip["version"] = json!("4");
    }
    assert_eq!(r["ips"], json!([ip]));
    assert_eq!(
        r["routes"],
        json!([{"dst": "10.1.0.0/16"}, {"dst": "0.0.0.0/0", "gw": "10.1.17.1"}])
    );
    assert_eq!(r["dns"], json!({}));
}

fn cycle(tag: &str, version: &str) {
    ready();
    let lab = Lab::new(tag);
    let conf = lab.conf(version, DELEGATE, EXEC);
    let cid = format!("ctr-{tag}");
    let add = lab.plugin("ADD", &cid, Some(&lab.pod_path()), &conf);
    add.success();
    check_result(&lab, &add.json(), version);
    // Debian's bridge speaks up to 1.0.0: a 1.1.0 request is delegated as 1.0.0.
    let spoken = if version == "1.1.0" { "1.0.0" } else { version };
    let saved = std::fs::read_to_string(lab.p(&format!("flannel/{cid}"))).expect("saved file");
    assert_eq!(saved, saved_conf(&lab, spoken));
    let record = std::fs::read(lab.p("ipam/cbr0/10.1.17.2")).expect("host-local record");
    assert_eq!(record, format!("{cid}\r\neth0").into_bytes());
    assert_eq!(lab.pod_addrs("eth0"), vec!["10.1.17.2/24"]);
    let routes = lab.pod_routes();
    assert!(
        routes.contains(&"default via 10.1.17.1 dev eth0".to_string()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"10.1.0.0/16 via 10.1.17.1 dev eth0".to_string()),
        "{routes:?}"
    );
    let nat = lab.nat();
    assert!(nat.contains(&format!("-A POSTROUTING -s 10.1.17.2/32 -m comment --comment \"name: \\\"cbr0\\\" id: \\\"{cid}\\\"\" -j {CHAIN}")), "{nat}");

    // CHECK with the ADD result as prevResult.
    let with_prev = lab.conf(
        version,
        DELEGATE,
        &format!(r#"{EXEC},"prevResult":{}"#, add.stdout),
    );
    let check = lab.plugin("CHECK", &cid, Some(&lab.pod_path()), &with_prev);
    if version.starts_with("0.3") {
        assert_eq!(check.code(), 1, "CHECK needs 0.4.0");
    } else {
        check.success();
        // Something missing: the route to the network.
        lab.ip_pod("route del 10.1.0.0/16");
        let e = lab.plugin("CHECK", &cid, Some(&lab.pod_path()), &with_prev);
        assert!(!e.ok);
        assert!(e.stdout.contains("10.1.0.0"), "{}", e.stdout);
        lab.ip_pod("route add 10.1.0.0/16 via 10.1.17.1 dev eth0");
    }

    // DEL: everything goes, the saved file last; a second DEL succeeds.
    let del = lab.plugin("DEL", &cid, Some(&lab.pod_path()), &conf);
    assert_eq!(del.success(), "");
    assert!(!lab.p(&format!("flannel/{cid}")).exists());
    assert!(!lab.p("ipam/cbr0/10.1.17.2").exists());
    assert!(lab.pod_addrs("eth0").is_empty());
    assert!(!lab.nat().contains(CHAIN), "{}", lab.nat());
    assert_eq!(
        lab.plugin("DEL", &cid, Some(&lab.pod_path()), &conf)
            .success(),
        ""
    );
}

#[test]
fn exec_cycle_0_3_0() {
    cycle("x030", "0.3.0");
}

#[test]
fn exec_cycle_0_3_1() {
    cycle("x031", "0.3.1");
}

#[test]
fn exec_cycle_0_4_0() {
    cycle("x040", "0.4.0");
}

#[test]
fn exec_cycle_1_0_0() {
    cycle("x100", "1.0.0");
}

#[test]
fn exec_cycle_1_1_0() {
    cycle("x110", "1.1.0");
}

#[test]
fn exec_del_edge_cases() {
    ready();
    let lab = Lab::new("xdel");
    let conf = lab.conf("0.4.0", DELEGATE, EXEC);
    // Never added: success, nothing printed, nothing created.
    assert_eq!(
        lab.plugin("DEL", "never", Some(&lab.pod_path()), &conf)
            .success(),
        ""
    );
    assert_eq!(lab.plugin("DEL", "never", None, &conf).success(), "");
    lab.plugin("ADD", "c1", Some(&lab.pod_path()), &conf)
        .success();
    let saved = lab.p("flannel/c1");
    // The delegate cannot be found: DEL fails and the saved file stays for a retry.
    let e = lab.plugin_with("DEL", "c1", Some(&lab.pod_path()), &conf, "/nonexistent");
    assert_eq!(e.code(), 103);
    assert!(saved.exists());
    lab.plugin("DEL", "c1", Some(&lab.pod_path()), &conf)
        .success();
    assert!(!saved.exists());
    // A second ADD of the same container fails in bridge; the first one's state is intact.
    lab.plugin("ADD", "c2", Some(&lab.pod_path()), &conf)
        .success();
    let before = std::fs::read(lab.p("flannel/c2")).unwrap();
    let again = lab.plugin("ADD", "c2", Some(&lab.pod_path()), &conf);
    assert!(!again.ok, "{}", again.stdout);
    assert_eq!(std::fs::read(lab.p("flannel/c2")).unwrap(), before);
    let records: Vec<_> = std::fs::read_dir(lab.p("ipam/cbr0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("10."))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    lab.plugin("DEL", "c2", Some(&lab.pod_path()), &conf)
        .success();
}

#[test]
fn exec_errors_through_the_binary() {
    ready();
    let lab = Lab::new("xerr");
    let pod = lab.pod_path();
    assert_eq!(lab.plugin("ADD", "c1", Some(&pod), "garbage").code(), 6);
    assert_eq!(
        lab.plugin("ADD", "", Some(&pod), &lab.conf("1.0.0", "{}", EXEC))
            .code(),
        4
    );
    assert_eq!(
        lab.plugin(
            "ADD",
            "c1",
            Some(&pod),
            &lab.conf("1.0.0", r#"{"name":"x"}"#, EXEC)
        )
        .code(),
        7
    );
    assert_eq!(
        lab.plugin("ADD", "c1", Some(&pod), &lab.conf("0.2.0", "{}", EXEC))
            .code(),
        1
    );
    let v = lab.plugin("VERSION", "", None, "");
    assert_eq!(
        v.json()["supportedVersions"],
        json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    );
    // Nothing was created by the failures.
    assert!(!lab.p("flannel").exists());
    assert!(lab.pod_addrs("eth0").is_empty());
}
