//! Kernel adapter tests. Every test creates its own network namespaces (`fl-cnik-<pid>-<tag>`)
//! and runs the `Kernel` calls inside the test "host" namespace from a child process: the test
//! binary re-executes itself under `ip netns exec` with `FLANNEL_CNIK_SCENARIO` set, and the
//! `child` test runs that scenario (after checking it is inside one of our namespaces). The
//! parent checks the exit status and inspects the namespaces with `ip -n` / `bridge -n`.
//! Nothing here touches the root namespace; the namespaces are deleted by drop guards.
//!
//! Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip`: fails otherwise (flannel-testkit), never skips.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{ip_in, require_namespaces, require_reference, sh};
use flannel_cni::dataplane::{BridgeConfig, Dataplane, KernelError, LinkInfo, PodIface, PodRoute};
use flannel_cni::kernel::Kernel;
use ipnet::Ipv4Net;
use serde_json::Value;

const SCENARIO: &str = "FLANNEL_CNIK_SCENARIO";
const POD: &str = "FLANNEL_CNIK_POD";
const POD2: &str = "FLANNEL_CNIK_POD2";
const EXPECT: &str = "FLANNEL_CNIK_EXPECT";
const NS_PREFIX: &str = "fl-cnik-";

/// `ip netns add` mounts /run/netns on first use: serialize namespace creation.
static NS_LOCK: Mutex<()> = Mutex::new(());

// ------------------------------------------------------------------ parent side

struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("{NS_PREFIX}{}-{tag}", std::process::id());
        let _g = NS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // Leftover from a crashed earlier run with the same pid: remove it.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh("ip", &["netns", "add", &name]);
        Netns { name }
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    fn path_str(&self) -> String {
        self.path().display().to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _g = NS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn json(cmd: &str, args: &[&str]) -> Value {
    let out = sh(cmd, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{cmd} {args:?}: bad JSON {e}: {out}"))
}

/// Run `scenario` in the child, inside `host`; returns the `CNIK key=value` lines it printed.
fn run_child(host: &Netns, scenario: &str, env: &[(&str, String)]) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let out: Output = Command::new("ip")
        .args(["netns", "exec", &host.name])
        .arg(exe)
        .args([
            "child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, scenario)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("run child {scenario}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child scenario {scenario} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    eprint!(
        "{}",
        stderr
            .lines()
            .filter(|l| l.starts_with("CNIK"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    stdout
        .lines()
        // libtest may print "test child ... " on the same line before the first report.
        .filter_map(|l| l.find("CNIK ").map(|i| &l[i + 5..]))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    m.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("child did not report {k}: {m:?}"))
}

fn link_json(ns: &Netns, dev: &str) -> Value {
    let v = json(
        "ip",
        &["-n", &ns.name, "-j", "-d", "link", "show", "dev", dev],
    );
    v.get(0)
        .cloned()
        .unwrap_or_else(|| panic!("no link {dev} in {}", ns.name))
}

fn has_flag(link: &Value, flag: &str) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == flag))
}

fn link_exists(ns: &Netns, dev: &str) -> bool {
    Command::new("ip")
        .args(["-n", &ns.name, "link", "show", "dev", dev])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn inet_addrs(ns: &Netns, dev: &str) -> Vec<String> {
    let v = json(
        "ip",
        &["-n", &ns.name, "-j", "-4", "addr", "show", "dev", dev],
    );
    let mut addrs = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            addrs.push(format!(
                "{}/{}",
                a["local"].as_str().unwrap_or("?"),
                a["prefixlen"]
            ));
        }
    }
    addrs
}

fn veth_names(ns: &Netns) -> Vec<String> {
    let v = json(
        "ip",
        &["-n", &ns.name, "-j", "link", "show", "type", "veth"],
    );
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

fn sysctl_in(ns: &Netns, file: &str) -> String {
    sh("ip", &["netns", "exec", &ns.name, "cat", file])
        .trim()
        .to_string()
}

// ------------------------------------------------------------------ child side

/// Ok when the current network namespace is one of ours (`ip netns identify` names only
/// `fl-cnik-*` namespaces).
fn in_test_netns() -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "identify"])
        .output()
        .map_err(|e| format!("ip netns identify: {e}"))?;
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    let names: Vec<&str> = names.split_whitespace().collect();
    if out.status.success() && !names.is_empty() && names.iter().all(|n| n.starts_with(NS_PREFIX)) {
        Ok(())
    } else {
        Err(format!(
            "refusing to touch the kernel outside a {NS_PREFIX}* test namespace (current: {names:?})"
        ))
    }
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"))
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_else(|e| panic!("bad net {s}: {e}"))
}

fn bridge_cfg(gw: &str) -> BridgeConfig {
    BridgeConfig {
        name: "cni0".into(),
        mtu: 1450,
        promisc: false,
        gateway: Some(net(gw)),
        force_address: false,
    }
}

fn pod_iface() -> PodIface {
    PodIface {
        name: "eth0".into(),
        addrs: vec![net("10.1.17.2/24")],
        routes: vec![
            PodRoute {
                dst: net("10.1.0.0/16"),
                gw: Some(Ipv4Addr::new(10, 1, 17, 1)),
            },
            PodRoute {
                dst: net("192.168.5.0/24"),
                gw: None,
            },
        ],
    }
}

fn ok<T>(what: &str, r: Result<T, KernelError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn report(kv: &[(&str, String)]) {
    let line: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("CNIK {}", line.join(" "));
}

fn report_link(prefix: &str, l: &LinkInfo) {
    report(&[
        (&format!("{prefix}_name"), l.name.clone()),
        (&format!("{prefix}_index"), l.index.to_string()),
        (&format!("{prefix}_mac"), l.mac.clone()),
    ]);
}

/// The child: run only by a parent test (`run_child`, with `--ignored` and
/// `FLANNEL_CNIK_SCENARIO`); run any other way it fails.
#[test]
#[ignore = "the child process of the namespace tests; they run it"]
fn child() {
    let scenario = std::env::var(SCENARIO).unwrap_or_else(|_| {
        panic!("{SCENARIO} is not set: `child` runs only inside a parent test")
    });
    if let Err(e) = in_test_netns() {
        panic!("{e}");
    }
    let k = ok("Kernel::new", Kernel::new());
    match scenario.as_str() {
        "bridge" => {
            let cfg = bridge_cfg("10.1.17.1/24");
            let b1 = ok("ensure_bridge (create)", k.ensure_bridge(&cfg));
            let b2 = ok("ensure_bridge (reuse)", k.ensure_bridge(&cfg));
            assert_eq!(b1, b2, "reuse returns the same bridge");
            assert_eq!(b1.name, "cni0");
            assert_eq!(b1.mac.len(), 17, "mac {:?}", b1.mac);
            report_link("br", &b1);
            ok("enable_ip_forward", k.enable_ip_forward());
            ok("enable_ip_forward again", k.enable_ip_forward());

            let other = bridge_cfg("10.1.18.1/24");
            match k.ensure_bridge(&other) {
                Err(KernelError::Op { reason, .. }) => {
                    assert!(reason.contains("10.1.17.1/24"), "{reason}")
                }
                r => panic!("other gateway without forceAddress: {r:?}"),
            }
            let forced = BridgeConfig {
                force_address: true,
                ..other
            };
            let b3 = ok("ensure_bridge (force)", k.ensure_bridge(&forced));
            assert_eq!(b3.index, b1.index);

            let notbr = BridgeConfig {
                name: "notbr".into(),
                gateway: None,
                ..bridge_cfg("10.1.17.1/24")
            };
            match k.ensure_bridge(&notbr) {
                Err(e) => assert!(e.to_string().contains("not a bridge"), "{e}"),
                Ok(l) => panic!("non-bridge link accepted as bridge: {l:?}"),
            }

            let promisc = BridgeConfig {
                name: "cni1".into(),
                mtu: 0,
                promisc: true,
                gateway: None,
                force_address: false,
            };
            ok("ensure_bridge (promisc)", k.ensure_bridge(&promisc));
            ok("ensure_bridge (promisc, reuse)", k.ensure_bridge(&promisc));
        }
        "veth" => {
            let pod = PathBuf::from(env(POD));
            let pod2 = PathBuf::from(env(POD2));
            let br = ok(
                "ensure_bridge",
                k.ensure_bridge(&bridge_cfg("10.1.17.1/24")),
            );
            let (h, p) = ok("add_veth", k.add_veth(&pod, "eth0", &br, 1450, true));
            assert!(
                h.name.starts_with("veth") && h.name.len() == 12,
                "{}",
                h.name
            );
            assert!(h.name[4..].bytes().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(p.name, "eth0");
            report_link("host", &h);
            report_link("pod", &p);

            match k.add_veth(&pod, "eth0", &br, 1450, true) {
                Err(KernelError::AlreadyExists { ifname, netns }) => {
                    assert_eq!(ifname, "eth0");
                    assert_eq!(netns, pod.display().to_string());
                }
                r => panic!("second add_veth with the same ifname: {r:?}"),
            }
            // Bridge that does not exist: creation fails, nothing is left.
            let bogus = LinkInfo {
                name: "nobridge".into(),
                index: 999_999,
                mac: String::new(),
            };
            match k.add_veth(&pod, "eth1", &bogus, 1450, true) {
                Err(e @ KernelError::Failed { .. }) => {
                    assert!(e.to_string().contains("eth1"), "{e}");
                    assert!(e.errno().is_some(), "the kernel's errno is kept: {e:?}");
                }
                r => panic!("add_veth to a missing bridge: {r:?}"),
            }
            // Missing namespace.
            match k.add_veth(
                Path::new("/run/netns/fl-cnik-missing"),
                "eth0",
                &br,
                0,
                true,
            ) {
                Err(KernelError::Netns { .. }) => {}
                r => panic!("add_veth into a missing netns: {r:?}"),
            }
            let (h2, p2) = ok(
                "add_veth (no hairpin)",
                k.add_veth(&pod2, "eth0", &br, 0, false),
            );
            report_link("host2", &h2);
            report_link("pod2", &p2);
        }
        "configure" => {
            let pod = PathBuf::from(env(POD));
            let br = ok(
                "ensure_bridge",
                k.ensure_bridge(&bridge_cfg("10.1.17.1/24")),
            );
            let (h, _) = ok("add_veth", k.add_veth(&pod, "eth0", &br, 1450, true));
            report_link("host", &h);
            ok("configure_pod", k.configure_pod(&pod, &pod_iface()));
            ok("check_pod", k.check_pod(&pod, &pod_iface(), "cni0"));
            let mut missing = pod_iface();
            missing.name = "eth9".into();
            match k.check_pod(&pod, &missing, "cni0") {
                Err(KernelError::Check(m)) => assert!(m.contains("eth9 missing"), "{m}"),
                r => panic!("check_pod of a missing interface: {r:?}"),
            }
            let mut extra = pod_iface();
            extra.addrs.push(net("10.1.17.3/24"));
            match k.check_pod(&pod, &extra, "cni0") {
                Err(KernelError::Check(m)) => {
                    assert!(m.contains("address 10.1.17.3/24 missing on eth0"), "{m}")
                }
                r => panic!("check_pod with an extra address: {r:?}"),
            }
            match k.check_pod(&pod, &pod_iface(), "cni1") {
                Err(KernelError::Check(m)) => assert!(m.contains("bridge cni1 missing"), "{m}"),
                r => panic!("check_pod with another bridge: {r:?}"),
            }
        }
        "check" => {
            let pod = PathBuf::from(env(POD));
            let expect = env(EXPECT);
            match k.check_pod(&pod, &pod_iface(), "cni0") {
                Ok(()) => assert_eq!(expect, "ok", "check_pod passed"),
                Err(KernelError::Check(m)) => {
                    println!("CNIK-ERROR {m}");
                    assert!(
                        expect != "ok" && m.contains(&expect),
                        "{m} (expected {expect})"
                    )
                }
                Err(e) => panic!("check_pod: unexpected error kind: {e}"),
            }
        }
        "del" => {
            let pod = PathBuf::from(env(POD));
            let br = ok(
                "ensure_bridge",
                k.ensure_bridge(&bridge_cfg("10.1.17.1/24")),
            );
            let (h, _) = ok("add_veth", k.add_veth(&pod, "eth0", &br, 1450, true));
            report_link("host", &h);
            ok("configure_pod", k.configure_pod(&pod, &pod_iface()));
            let addrs = ok("del_pod_iface", k.del_pod_iface(&pod, "eth0"));
            assert_eq!(addrs, Some(vec![net("10.1.17.2/24")]));
            assert_eq!(
                ok("del_pod_iface again", k.del_pod_iface(&pod, "eth0")),
                None
            );
            let gone = Path::new("/run/netns/fl-cnik-does-not-exist");
            assert_eq!(
                ok("del_pod_iface (no netns)", k.del_pod_iface(gone, "eth0")),
                None
            );
            // Re-adding after DEL works (nothing left behind).
            ok(
                "add_veth after del",
                k.add_veth(&pod, "eth0", &br, 1450, true),
            );
            assert_eq!(
                ok(
                    "del_pod_iface (unconfigured)",
                    k.del_pod_iface(&pod, "eth0")
                ),
                Some(vec![])
            );
        }
        "full" => {
            // Same as the reference run in `matches_reference_bridge_plugin`, for two pods (the
            // first creates the bridge, the second reuses it); each must pass CHECK.
            let pod = PathBuf::from(env(POD));
            let pod2 = PathBuf::from(env(POD2));
            let k2 = ok("Kernel::new", Kernel::new());
            for (i, pod) in [pod, pod2].iter().enumerate() {
                let br = ok(
                    "ensure_bridge",
                    k2.ensure_bridge(&bridge_cfg("10.1.17.1/24")),
                );
                ok("enable_ip_forward", k2.enable_ip_forward());
                let (h, p) = ok("add_veth", k2.add_veth(pod, "eth0", &br, 1450, true));
                assert_eq!(p.name, "eth0");
                let mut iface = pod_iface();
                iface.addrs = vec![net(&format!("10.1.17.{}/24", i + 2))];
                iface.routes.truncate(1);
                ok("configure_pod", k2.configure_pod(pod, &iface));
                ok("check_pod", k2.check_pod(pod, &iface, "cni0"));
                report(&[(&format!("host{}", i + 1), h.name.clone())]);
            }
        }
        other => panic!("unknown scenario {other}"),
    }
}

// ------------------------------------------------------------------------ tests

/// A parent test: needs root and `ip` (fails without them). The child process runs `child` only.
fn parent() {
    require_namespaces();
}

#[test]
fn guard_refuses_outside_test_namespaces() {
    parent();
    // The test process itself runs in whatever namespace cargo runs in: not one of ours.
    assert!(
        in_test_netns().is_err(),
        "guard accepted a namespace that is not ours"
    );
}

#[test]
fn ensure_bridge_create_reuse_gateway_errors() {
    parent();
    let host = Netns::new("br-host");
    ip_in(&host.name, "link add notbr type veth peer name notbr-peer");
    let r = run_child(&host, "bridge", &[]);

    let br = link_json(&host, "cni0");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["mtu"], 1450);
    assert!(has_flag(&br, "UP"), "{br}");
    assert!(!has_flag(&br, "PROMISC"), "{br}");
    assert_eq!(br["ifindex"].to_string(), get(&r, "br_index"));
    assert_eq!(br["address"], get(&r, "br_mac"));
    // forceAddress replaced the old gateway.
    assert_eq!(inet_addrs(&host, "cni0"), vec!["10.1.18.1/24"]);
    // MAC pinned (NET_ADDR_SET), like the bridge plugin does after adding the address.
    assert_eq!(
        sysctl_in(&host, "/sys/class/net/cni0/addr_assign_type"),
        "3"
    );
    assert_eq!(sysctl_in(&host, "/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(
        sysctl_in(&host, "/proc/sys/net/ipv6/conf/cni0/accept_ra"),
        "0"
    );
    // The dummy was left alone.
    assert_eq!(link_json(&host, "notbr")["linkinfo"]["info_kind"], "veth");
    let br1 = link_json(&host, "cni1");
    assert_eq!(br1["linkinfo"]["info_kind"], "bridge");
    assert!(has_flag(&br1, "PROMISC") && has_flag(&br1, "UP"), "{br1}");
    assert_eq!(br1["mtu"], 1500);
}

#[test]
fn add_veth_pair_hairpin_mtu_master_and_already_exists() {
    parent();
    let host = Netns::new("veth-host");
    let pod = Netns::new("veth-pod1");
    let pod2 = Netns::new("veth-pod2");
    let r = run_child(
        &host,
        "veth",
        &[(POD, pod.path_str()), (POD2, pod2.path_str())],
    );
    let host_name = get(&r, "host_name");
    let host2_name = get(&r, "host2_name");
    let mut veths = veth_names(&host);
    veths.sort();
    let mut want = vec![host_name.to_string(), host2_name.to_string()];
    want.sort();
    assert_eq!(veths, want, "exactly the two host ends, nothing leaked");

    let h = link_json(&host, host_name);
    assert_eq!(h["linkinfo"]["info_kind"], "veth");
    assert_eq!(h["master"], "cni0");
    assert_eq!(h["mtu"], 1450);
    assert!(has_flag(&h, "UP"), "{h}");
    assert_eq!(h["ifindex"].to_string(), get(&r, "host_index"));
    assert_eq!(h["address"], get(&r, "host_mac"));
    assert_eq!(h["linkinfo"]["info_slave_kind"], "bridge");
    assert_eq!(h["linkinfo"]["info_slave_data"]["hairpin"], true);
    let bl = sh(
        "bridge",
        &["-n", &host.name, "-d", "link", "show", "dev", host_name],
    );
    assert!(bl.contains("hairpin on"), "{bl}");
    assert_eq!(h["link_index"].to_string(), get(&r, "pod_index"));

    let p = link_json(&pod, "eth0");
    assert_eq!(p["linkinfo"]["info_kind"], "veth");
    assert_eq!(p["mtu"], 1450);
    assert!(has_flag(&p, "UP"), "{p}");
    assert_eq!(p["ifindex"].to_string(), get(&r, "pod_index"));
    assert_eq!(p["address"], get(&r, "pod_mac"));
    assert_eq!(p["link_index"].to_string(), get(&r, "host_index"));
    assert!(
        !link_exists(&pod, "eth1"),
        "failed add_veth left eth1 behind"
    );

    let h2 = link_json(&host, host2_name);
    assert_eq!(h2["master"], "cni0");
    assert_eq!(h2["mtu"], 1500);
    assert_eq!(h2["linkinfo"]["info_slave_data"]["hairpin"], false);
    let p2 = link_json(&pod2, "eth0");
    assert_eq!(p2["mtu"], 1500);
    assert!(has_flag(&p2, "UP"), "{p2}");
}

#[test]
fn configure_pod_then_check_pod() {
    parent();
    let host = Netns::new("cfg-host");
    let pod = Netns::new("cfg-pod1");
    let pod_env = [(POD, pod.path_str())];
    let r = run_child(&host, "configure", &pod_env);
    let host_name = get(&r, "host_name").to_string();

    assert_eq!(inet_addrs(&pod, "eth0"), vec!["10.1.17.2/24"]);
    let routes = ip_in(&pod.name, "route show");
    assert!(
        routes.contains("10.1.0.0/16 via 10.1.17.1 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("192.168.5.0/24 dev eth0 scope link"),
        "{routes}"
    );
    assert!(has_flag(&link_json(&pod, "lo"), "UP"));
    assert!(has_flag(&link_json(&pod, "eth0"), "UP"));

    let check = |expect: &str| {
        let mut e = pod_env.to_vec();
        e.push((EXPECT, expect.to_string()));
        run_child(&host, "check", &e);
    };
    ip_in(&pod.name, "route del 10.1.0.0/16");
    check(&format!(
        "route 10.1.0.0/16 via 10.1.17.1 missing on eth0 in {}",
        pod.path_str()
    ));
    ip_in(&pod.name, "route add 10.1.0.0/16 via 10.1.17.5 dev eth0");
    check("route 10.1.0.0/16 via 10.1.17.1 missing on eth0");
    ip_in(
        &pod.name,
        "route replace 10.1.0.0/16 via 10.1.17.1 dev eth0",
    );
    check("ok");
    ip_in(&pod.name, "route del 192.168.5.0/24");
    check("route 192.168.5.0/24 missing on eth0");
    ip_in(&pod.name, "route add 192.168.5.0/24 dev eth0");
    check("ok");
    ip_in(&host.name, &format!("link set {host_name} nomaster"));
    check(&format!("host end {host_name} of eth0"));
    ip_in(&host.name, &format!("link set {host_name} master cni0"));
    check("ok");
    ip_in(&pod.name, "link set eth0 down");
    check("eth0");
    ip_in(&pod.name, "link set eth0 up");
    ip_in(
        &pod.name,
        "route replace 10.1.0.0/16 via 10.1.17.1 dev eth0",
    );
    ip_in(&pod.name, "route replace 192.168.5.0/24 dev eth0");
    check("ok");
    ip_in(&pod.name, "addr del 10.1.17.2/24 dev eth0");
    check("address 10.1.17.2/24 missing on eth0");
}

#[test]
fn del_pod_iface_returns_addresses_and_is_idempotent() {
    parent();
    let host = Netns::new("del-host");
    let pod = Netns::new("del-pod1");
    let r = run_child(&host, "del", &[(POD, pod.path_str())]);
    let host_name = get(&r, "host_name");
    assert!(
        !link_exists(&host, host_name),
        "host end {host_name} left behind"
    );
    assert!(!link_exists(&pod, "eth0"), "eth0 left behind");
    assert!(veth_names(&host).is_empty(), "{:?}", veth_names(&host));
}

/// Remove what differs between two otherwise identical setups (names, MACs, indices, timers,
/// IPv6 link-local addresses), recursively.
fn scrub(v: &mut Value) {
    const DROP: &[&str] = &[
        "ifindex",
        "link_index",
        "ifname",
        "address",
        "bridge_id",
        "root_id",
        "id",
        "no",
        "designated_port",
        "link_netnsid",
        "operstate",
        "valid_life_time",
        "preferred_life_time",
    ];
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !DROP.contains(&k.as_str()) && !k.ends_with("_timer"));
            if let Some(Value::Array(addrs)) = map.get_mut("addr_info") {
                addrs.retain(|a| a["family"] == "inet");
            }
            if let Some(Value::Array(flags)) = map.get_mut("flags") {
                // Carrier propagation is asynchronous for the bridge.
                flags.retain(|f| f != "LOWER_UP");
            }
            map.values_mut().for_each(scrub);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// Everything `ip`/`bridge` show about one setup, normalised for comparison.
fn snapshot(host: &Netns, pod: &Netns) -> Value {
    let mut host_links = json("ip", &["-n", &host.name, "-j", "-d", "addr", "show"]);
    if let Value::Array(links) = &mut host_links {
        links.retain(|l| l["ifname"] != "lo");
        links.sort_by_key(|l| l["linkinfo"]["info_kind"].as_str().map(str::to_string));
    }
    let mut pod_link = json(
        "ip",
        &["-n", &pod.name, "-j", "-d", "addr", "show", "dev", "eth0"],
    );
    let mut v = serde_json::json!({
        "host_links": host_links,
        "host_routes": json("ip", &["-n", &host.name, "-j", "-d", "route", "show", "table", "all"]),
        "bridge_ports": json("bridge", &["-n", &host.name, "-j", "-d", "link", "show"]),
        "pod_link": pod_link.take(),
        "pod_routes": json("ip", &["-n", &pod.name, "-j", "-d", "route", "show"]),
        "ip_forward": sysctl_in(host, "/proc/sys/net/ipv4/ip_forward"),
        "bridge_accept_ra": sysctl_in(host, "/proc/sys/net/ipv6/conf/cni0/accept_ra"),
        "bridge_addr_assign_type": sysctl_in(host, "/sys/class/net/cni0/addr_assign_type"),
    });
    scrub(&mut v);
    // IPv6 routes (link-local of random MACs) and local-table entries of them.
    for key in ["host_routes", "pod_routes"] {
        if let Value::Array(routes) = &mut v[key] {
            routes.retain(|r| !r["dst"].as_str().is_some_and(|d| d.contains(':')));
        }
    }
    v
}

#[test]
fn matches_reference_bridge_plugin() {
    parent();
    require_reference();
    flannel_testkit::require_tool("bridge", "iproute2");
    let reference = Path::new("/usr/lib/cni/bridge");
    let ref_host = Netns::new("ref-host");
    let ref_pod = Netns::new("ref-pod1");
    let host = Netns::new("full-host");
    let pod = Netns::new("full-pod1");
    let pod2 = Netns::new("full-pod2");

    let data_dir = std::env::temp_dir().join(format!("fl-cnik-{}-ipam", std::process::id()));
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "cbr0", "type": "bridge", "bridge": "cni0",
        "isGateway": true, "hairpinMode": true, "mtu": 1450,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.17.0/24"}]],
                 "routes": [{"dst": "10.1.0.0/16"}], "dataDir": data_dir},
    });
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ref_host.name])
        .arg(reference)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "cnik-ref")
        .env("CNI_NETNS", ref_pod.path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut proc = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run reference bridge: {e}"));
    {
        use std::io::Write as _;
        let mut stdin = proc.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        stdin
            .write_all(conf.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("write conf: {e}"));
    }
    let out = proc
        .wait_with_output()
        .unwrap_or_else(|e| panic!("reference bridge: {e}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(
        out.status.success(),
        "reference bridge failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    run_child(
        &host,
        "full",
        &[(POD, pod.path_str()), (POD2, pod2.path_str())],
    );
    // Compare with the first pod only: remove the second one's pair.
    ip_in(&pod2.name, "link del eth0");

    let theirs = snapshot(&ref_host, &ref_pod);
    let ours = snapshot(&host, &pod);
    if std::env::var_os("FLANNEL_CNIK_DUMP").is_some() {
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&ours).unwrap_or_default()
        );
    }
    // The reference leaves lo down in the pod; we bring it up (the loopback plugin's job
    // there) — not part of the snapshot. Everything else must match.
    if theirs != ours {
        let t = serde_json::to_string_pretty(&theirs).unwrap_or_default();
        let o = serde_json::to_string_pretty(&ours).unwrap_or_default();
        let diff: Vec<String> = t
            .lines()
            .zip(o.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("reference: {a}\n     ours: {b}"))
            .collect();
        panic!(
            "setup differs from the reference bridge plugin:\n{}\n(reference {} lines, ours {} lines)",
            diff.join("\n"),
            t.lines().count(),
            o.lines().count()
        );
    }
}
