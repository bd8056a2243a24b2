//! The flannel CNI plugin against Debian's reference plugins on the namespace lab: mixed life
//! cycles (our ADD + reference DEL, reference ADD + our DEL), 100 parallel ADDs and DELs, STATUS,
//! and bad input. Plugins run inside the node namespace with the node's private /run/flannel
//! and /var/lib/cni, the way a runtime executes them.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use flannel_integration::cni::{self, exec_plugin, Invocation, NodeFs, PluginOutput};
use flannel_integration::Lab;
use serde_json::Value;

const ENV: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";
/// The flannel entry of upstream's conflist, as the runtime hands it to the plugin.
const CONF: &str = r#"{"cniVersion":"0.3.1","name":"cbr0","type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}}"#;
/// What upstream's flannel plugin saves (and hands to bridge) for CONF and ENV.
const UPSTREAM_DELEGATE: &str = r#"{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}"#;

struct Node {
    lab: Lab,
    fs: NodeFs,
}

impl Node {
    fn new(env: &str) -> Node {
        let lab = Lab::new(1).unwrap();
        let fs = NodeFs::new(&lab, 1).unwrap();
        std::fs::write(fs.subnet_env(), env).unwrap();
        Node { lab, fs }
    }

    fn ns(&self) -> String {
        self.lab.node_ns(1)
    }

    fn run(&self, kind: &str, cmd: &str, pod: &str, netns: bool, conf: &str) -> PluginOutput {
        let inv = Invocation::new(cmd, pod, netns.then_some(pod));
        exec_plugin(&self.lab, &self.ns(), Some(&self.fs), kind, &inv, conf).unwrap()
    }

    fn pod(&self, name: &str) -> String {
        self.lab.add_pod_ns(1, name).unwrap()
    }

    fn saved(&self, cid: &str) -> std::path::PathBuf {
        self.fs.var_lib_cni.join("flannel").join(cid)
    }

    /// The host-local store of network cbr0.
    fn ipam_dir(&self) -> std::path::PathBuf {
        self.fs.var_lib_cni.join("networks/cbr0")
    }

    /// The names in the host-local store; fails the test when it cannot be listed (a missing
    /// or wrong directory must not look like an empty store).
    fn ipam_files(&self) -> BTreeSet<String> {
        let dir = self.ipam_dir();
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list the IPAM store {}: {e}", dir.display()))
            .map(|e| {
                let e = e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
                e.file_name().to_string_lossy().into_owned()
            })
            .collect()
    }

    fn veths(&self) -> usize {
        // The node's own underlay eth0 is a veth too: count the pods' host ends.
        self.lab
            .sh(&self.ns(), "ip -o link show type veth")
            .unwrap()
            .lines()
            .filter(|l| l.split(": ").nth(1).is_some_and(|n| n.starts_with("veth")))
            .count()
    }

    fn nat(&self) -> String {
        self.lab.sh(&self.ns(), "iptables-save -t nat").unwrap()
    }

    /// Whether the pod has `eth0`, from its link list (the probe itself must succeed).
    fn pod_has_eth0(&self, pod: &str) -> bool {
        let links = self
            .lab
            .sh(pod, "ip -o link show")
            .unwrap_or_else(|e| panic!("ip -o link show in {pod}: {e}"));
        links.lines().any(|l| {
            l.split(": ")
                .nth(1)
                .is_some_and(|n| n == "eth0" || n.starts_with("eth0@"))
        })
    }

    /// Nothing of the pod left: interface, veth, IPAM record, masquerade chain, saved file.
    fn assert_clean(&self, pod: &str) {
        assert!(!self.pod_has_eth0(pod), "pod interface left");
        assert_eq!(self.veths(), 0, "veth left");
        let files = self.ipam_files();
        assert!(
            files
                .iter()
                .all(|f| f == "lock" || f.starts_with("last_reserved_ip")),
            "IPAM records left: {files:?}"
        );
        assert!(
            !self.nat().contains("CNI-"),
            "masquerade rules left:\n{}",
            self.nat()
        );
        assert!(!self.saved(pod).exists(), "saved delegate file left");
    }
}

#[test]
fn our_add_then_reference_del_leaves_nothing() {
    let n = Node::new(ENV);
    let pod = n.pod("p1");
    let r = n.run("flannel", "ADD", &pod, true, CONF).ok().unwrap();
    assert_eq!(cni::result_ip(&r).unwrap().to_string(), "10.244.1.2");
    assert_eq!(r["ips"][0]["version"], "4", "0.3.1 result");
    // Saved exactly as upstream saves it, with upstream's modes.
    let saved = n.saved(&pod);
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), UPSTREAM_DELEGATE);
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(saved.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert!(n.nat().contains("CNI-"), "ipMasq rules installed");
    assert!(
        n.lab.ping(&pod, "10.244.1.1".parse().unwrap()),
        "pod reaches its gateway"
    );
    // Upstream's DEL: the saved config goes to the reference bridge plugin, then the file goes.
    let conf = std::fs::read_to_string(&saved).unwrap();
    n.run("bridge", "DEL", &pod, true, &conf).ok().unwrap();
    std::fs::remove_file(&saved).unwrap();
    n.assert_clean(&pod);
}

#[test]
fn reference_add_then_our_del_leaves_nothing() {
    let n = Node::new(ENV);
    let pod = n.pod("p1");
    // Upstream's ADD: save the delegate config, run the reference bridge with it.
    let saved = n.saved(&pod);
    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
    std::fs::write(&saved, UPSTREAM_DELEGATE).unwrap();
    let r = n
        .run("bridge", "ADD", &pod, true, UPSTREAM_DELEGATE)
        .ok()
        .unwrap();
    assert_eq!(cni::result_ip(&r).unwrap().to_string(), "10.244.1.2");
    assert!(n.nat().contains("CNI-"));
    let out = n.run("flannel", "DEL", &pod, true, CONF);
    assert!(out.success(), "{out:?}");
    n.assert_clean(&pod);
    // A repeated DEL, and a DEL for a container never added, succeed.
    assert!(n.run("flannel", "DEL", &pod, true, CONF).success());
    assert!(n
        .run("flannel", "DEL", "never-added", false, CONF)
        .success());
}

#[test]
fn hundred_parallel_adds_get_distinct_addresses_and_dels_leave_empty_ipam() {
    let n = Node::new(ENV);
    let pods: Vec<String> = (0..100).map(|i| n.pod(&format!("q{i}"))).collect();
    let run_all = |cmd: &str| -> Vec<PluginOutput> {
        std::thread::scope(|s| {
            let handles: Vec<_> = pods
                .iter()
                .map(|p| s.spawn(|| n.run("flannel", cmd, p, true, CONF)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let adds = run_all("ADD");
    let ips: BTreeSet<String> = adds
        .into_iter()
        .map(|o| cni::result_ip(&o.ok().unwrap()).unwrap().to_string())
        .collect();
    assert_eq!(ips.len(), 100, "distinct addresses");
    assert_eq!(
        n.ipam_files().len(),
        102,
        "100 records + lock + last_reserved_ip.0"
    );
    assert_eq!(n.veths(), 100);
    for o in run_all("DEL") {
        assert!(o.success(), "{o:?}");
    }
    let files = n.ipam_files();
    assert_eq!(
        files,
        BTreeSet::from(["lock".to_string(), "last_reserved_ip.0".to_string()])
    );
    assert_eq!(n.veths(), 0);
    let saved_dir = n.fs.var_lib_cni.join("flannel");
    assert_eq!(
        std::fs::read_dir(saved_dir).unwrap().count(),
        0,
        "saved files left"
    );
}

#[test]
fn status_follows_the_subnet_file() {
    let n = Node::new(ENV);
    let conf = CONF.replace("0.3.1", "1.1.0");
    let out = n.run("flannel", "STATUS", "x", false, &conf);
    assert!(out.success(), "{out:?}");
    std::fs::remove_file(n.fs.subnet_env()).unwrap();
    let out = n.run("flannel", "STATUS", "x", false, &conf);
    assert_eq!(out.json().unwrap()["code"], 50, "{out:?}");
}

fn error(out: &PluginOutput) -> Value {
    assert!(!out.success(), "expected an error: {out:?}");
    out.json().unwrap()
}

#[test]
fn bad_input_gets_the_right_codes_and_leaks_nothing() {
    let n = Node::new(ENV);
    let pod = n.pod("p1");
    // Missing environment: code 4 naming the variables.
    let plugin = flannel_integration::workspace_bin("flannel");
    let env = vec![("CNI_COMMAND".to_string(), "ADD".to_string())];
    let out = n
        .lab
        .exec_with(&n.ns(), &[plugin.to_str().unwrap()], &env, CONF.as_bytes())
        .unwrap();
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["code"], 4);
    let text = e.to_string();
    for var in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        assert!(text.contains(var), "{text}");
    }
    // Unsupported version, garbage, a delegate with `name`.
    assert_eq!(
        error(&n.run(
            "flannel",
            "ADD",
            &pod,
            true,
            &CONF.replace("0.3.1", "0.2.0")
        ))["code"],
        1
    );
    assert_eq!(
        error(&n.run("flannel", "ADD", &pod, true, "{nope"))["code"],
        6
    );
    let named = CONF.replace(r#""delegate":{"#, r#""delegate":{"name":"x","#);
    assert_eq!(
        error(&n.run("flannel", "ADD", &pod, true, &named))["code"],
        7
    );
    // Missing subnet.env: names the file and flanneld.
    std::fs::remove_file(n.fs.subnet_env()).unwrap();
    let e = error(&n.run("flannel", "ADD", &pod, true, CONF)).to_string();
    assert!(
        e.contains("/run/flannel/subnet.env") && e.contains("flanneld"),
        "{e}"
    );
    assert!(!n.pod_has_eth0(&pod));
    // Nothing allocated: no store yet, or only its lock.
    assert!(
        !n.ipam_dir().exists() || n.ipam_files().iter().all(|f| f == "lock"),
        "{:?}",
        n.ipam_files()
    );

    // Exhausted range: a /30 has one pod address; the second ADD fails and leaks nothing.
    std::fs::write(
        n.fs.subnet_env(),
        ENV.replace("10.244.1.1/24", "10.244.1.1/30"),
    )
    .unwrap();
    let r = n.run("flannel", "ADD", &pod, true, CONF).ok().unwrap();
    assert_eq!(cni::result_ip(&r).unwrap().to_string(), "10.244.1.2");
    let pod2 = n.pod("p2");
    let e = error(&n.run("flannel", "ADD", &pod2, true, CONF));
    assert_eq!(e["code"], 101, "{e}");
    assert!(e.to_string().contains("no IP addresses available"), "{e}");
    assert!(!n.pod_has_eth0(&pod2));
    assert_eq!(n.veths(), 1, "only the first pod's veth");
    assert!(!n.saved(&pod2).exists(), "no saved file for the failed ADD");
    assert_eq!(
        n.ipam_files()
            .iter()
            .filter(|f| f.starts_with("10."))
            .count(),
        1
    );
    n.run("flannel", "DEL", &pod, true, CONF).ok().unwrap();
    n.assert_clean(&pod);
}
