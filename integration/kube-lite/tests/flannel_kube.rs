//! flanneld with `--kube-subnet-mgr` against kube-lite (API server and controller-manager on the
//! lab's etcd, in the fabric namespace), on lab nodes registered as Node objects by the test
//! (before kubelets exist): podCIDRs from the node IPAM controller, subnet.env from them,
//! annotations and the NetworkUnavailable condition as upstream writes them for each backend,
//! pods across nodes, a node annotated the way upstream's flanneld annotates it programmed on
//! ours and removed on delete, the user's public-IP annotations, a missing podCIDR waited for,
//! and an API server restart that loses no route.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use flannel_integration::cluster::{Cluster, Instance};
use flannel_integration::ApiServer;
use flannel_integration::{Lab, LabOptions};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};

const PREFIX: &str = "flannel.alpha.coreos.com";
const CLUSTER_CIDR: &str = "10.244.0.0/16";

struct KubeLab {
    c: Cluster,
    /// Logs quoted when a wait times out, besides the control plane's.
    logs: Vec<String>,
    api: ApiServer,
    rt: tokio::runtime::Runtime,
    client: Client,
    conf: std::path::PathBuf,
}

impl KubeLab {
    /// A lab with `nodes` nodes, the API server, and (unless `ipam` is false) the
    /// controller-manager allocating node CIDRs; Node objects n1..nN registered.
    fn new(nodes: usize, backend: &str, ipam: bool) -> KubeLab {
        Self::with_underlays(nodes, backend, ipam, false)
    }

    fn with_underlays(nodes: usize, backend: &str, ipam: bool, second_underlay: bool) -> KubeLab {
        flannel_testkit::require_root();
        let mut lab = Lab::with_options(LabOptions {
            nodes,
            second_underlay,
        })
        .expect("lab");
        lab.start_etcd().expect("etcd");
        let mut c = Cluster::from_lab(lab);
        let api = c.lab.start_apiserver().expect("API server");
        let conf = c.lab.dir().join("net-conf.json");
        std::fs::write(
            &conf,
            format!(r#"{{"Network":"{CLUSTER_CIDR}","EnableNFTables":false,"Backend":{{"Type":"{backend}"}}}}"#),
        )
        .expect("net-conf.json");
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        let client = rt.block_on(async {
            let kc = Kubeconfig::read_from(api.kubeconfig()).expect("kubeconfig");
            let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .expect("kube config");
            Client::try_from(cfg).expect("client")
        });
        let mut k = KubeLab {
            c,
            logs: vec![],
            api,
            rt,
            client,
            conf,
        };
        for n in 1..=nodes {
            k.register(n);
        }
        if ipam {
            k.start_ipam();
        }
        k
    }

    fn start_ipam(&mut self) {
        self.api
            .start_controller_manager(
                &mut self.c.lab,
                &["--allocate-node-cidrs", "--cluster-cidr", CLUSTER_CIDR],
            )
            .expect("controller-manager");
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Registers lab node `n` as kubelets do (address, one condition of another owner).
    fn register(&self, n: usize) {
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("n{n}"), "labels": {"kubernetes.io/hostname": format!("n{n}")}},
            "status": {
                "addresses": [{"type": "InternalIP", "address": Lab::node_ip(n).to_string()}],
                "conditions": [{"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                    "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
            }
        }))
        .expect("Node literal");
        self.rt
            .block_on(self.nodes().create(&PostParams::default(), &node))
            .unwrap_or_else(|e| panic!("registering n{n}: {e}"));
    }

    fn node(&self, name: &str) -> Value {
        let n = self
            .rt
            .block_on(self.nodes().get(name))
            .unwrap_or_else(|e| panic!("get node {name}: {e}"));
        serde_json::to_value(n).expect("node JSON")
    }

    fn wait<T>(&self, what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let extra: String = self
                    .logs
                    .iter()
                    .map(|l| {
                        format!(
                            "\n--- {l}:\n{}",
                            flannel_integration::tail(&self.c.lab.log(l), 30)
                        )
                    })
                    .collect();
                panic!(
                    "timed out after {secs}s waiting for {what}\n{}\n--- controller-manager:\n{}{extra}",
                    self.api.log_tail(&self.c.lab, 30),
                    flannel_integration::tail(&self.c.lab.log("controller-manager"), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pod_cidr(&self, n: usize) -> Option<String> {
        self.node(&format!("n{n}"))
            .pointer("/spec/podCIDR")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    fn instance(&self, n: usize, extra: &[&str]) -> Instance {
        let mut args = vec![
            "--kube-subnet-mgr".to_string(),
            format!(
                "--kubeconfig-file={}",
                self.api.fabric_kubeconfig().display()
            ),
            format!("--net-config-path={}", self.conf.display()),
            "--ip-masq".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Instance {
            args,
            env: vec![("NODE_NAME".into(), format!("n{n}"))],
            ..Instance::default()
        }
    }

    fn start_flanneld(&mut self, n: usize, extra: &[&str]) -> String {
        let inst = self.instance(n, extra);
        self.c.start(n, &inst).expect("start flanneld");
        self.c.wait_subnet_file(n, "a").expect("flanneld up")
    }

    fn has_route(&self, node: usize, subnet: &str) -> bool {
        self.c
            .ip(node, &format!("route show {subnet}"))
            .is_ok_and(|out| out.contains(subnet))
    }

    fn annotations(&self, name: &str) -> serde_json::Map<String, Value> {
        let v = self.node(name);
        let mut out = serde_json::Map::new();
        if let Some(a) = v
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (k, val) in a {
                if let Some(short) = k.strip_prefix(&format!("{PREFIX}/")) {
                    out.insert(short.to_string(), val.clone());
                }
            }
        }
        out
    }
}

fn vtep_mac(c: &Cluster, node: usize) -> String {
    let out = c.ip(node, "-j link show flannel.1").expect("ip link");
    let v: Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["address"].as_str().expect("address").to_string()
}

/// Three nodes get podCIDRs, run flanneld in kube mode, annotate as upstream and talk.
fn three_nodes(backend: &str) {
    let mut k = KubeLab::new(3, backend, true);
    let cidrs: Vec<String> = (1..=3)
        .map(|n| k.wait(&format!("n{n}'s podCIDR"), 20, || k.pod_cidr(n)))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = cidrs.iter().collect();
    assert_eq!(distinct.len(), 3, "podCIDRs {cidrs:?}");
    for c in &cidrs {
        assert!(
            c.starts_with("10.244.") && c.ends_with(".0/24"),
            "podCIDR {c}"
        );
    }
    let mut pods = vec![];
    for n in 1..=3 {
        let env = k.start_flanneld(n, &[]);
        let sub = cidrs[n - 1].replace(".0/24", ".1/24");
        assert!(
            env.contains(&format!("FLANNEL_SUBNET={sub}\n"))
                && env.contains("FLANNEL_NETWORK=10.244.0.0/16\n"),
            "n{n} subnet.env:\n{env}"
        );
        pods.push(k.c.add_pod(n, "a", "cni0").expect("pod"));
    }
    for n in 1..=3 {
        let name = format!("n{n}");
        let ip = Lab::node_ip(n).to_string();
        let (btype, data) = match backend {
            "vxlan" => (
                "vxlan".to_string(),
                format!(r#"{{"VNI":1,"VtepMAC":"{}"}}"#, vtep_mac(&k.c, n)),
            ),
            "host-gw" => ("host-gw".to_string(), "null".to_string()),
            _ => (String::new(), "null".to_string()),
        };
        let mut want = serde_json::Map::new();
        want.insert("backend-data".into(), json!(data));
        if !btype.is_empty() {
            want.insert("backend-type".into(), json!(btype));
        }
        want.insert("kube-subnet-manager".into(), json!("true"));
        want.insert("public-ip".into(), json!(ip));
        let got = k.wait(&format!("{name}'s annotations"), 10, || {
            let a = k.annotations(&name);
            (a == want).then_some(a)
        });
        assert_eq!(got, want);
        let node = k.node(&name);
        let conds = node
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let by_type = |t: &str| conds.iter().find(|c| c["type"] == t).cloned();
        let net = by_type("NetworkUnavailable")
            .unwrap_or_else(|| panic!("{name}: no NetworkUnavailable in {conds:?}"));
        assert_eq!(
            (net["status"].as_str(), net["reason"].as_str()),
            (Some("False"), Some("FlannelIsUp"))
        );
        assert_eq!(net["message"], "Flannel is running on this node");
        assert!(
            by_type("MemoryPressure").is_some(),
            "{name}: the kubelet's condition was lost: {conds:?}"
        );
    }
    for (from, _) in &pods {
        for (_, to) in &pods {
            assert!(k.c.lab.ping(from, *to), "ping {from} -> {to} ({backend})");
        }
    }
}

#[test]
fn vxlan_three_nodes_from_the_api() {
    three_nodes("vxlan");
}

#[test]
fn host_gw_three_nodes_from_the_api() {
    three_nodes("host-gw");
}

#[test]
fn udp_three_nodes_from_the_api() {
    three_nodes("udp");
}

/// An upstream flanneld's node (annotations in upstream's exact format) is programmed on ours,
/// deleting it removes the routes everywhere within 2 s, and an API server restart loses no
/// route while the watch resumes.
#[test]
fn upstream_node_programmed_deleted_and_api_restart() {
    let mut k = KubeLab::new(2, "host-gw", true);
    for n in 1..=2 {
        k.wait("podCIDR", 20, || k.pod_cidr(n));
        k.start_flanneld(n, &[]);
    }
    let upstream = |name: &str, cidr: &str, ip: &str| -> Node {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {
                "flannel.alpha.coreos.com/backend-data": "null",
                "flannel.alpha.coreos.com/backend-type": "host-gw",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
                "flannel.alpha.coreos.com/public-ip": ip}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}
        }))
        .expect("Node literal")
    };
    k.rt.block_on(k.nodes().create(
        &PostParams::default(),
        &upstream("up1", "10.244.200.0/24", "198.18.0.9"),
    ))
    .expect("create up1");
    for n in 1..=2 {
        k.wait("up1's route", 5, || {
            k.has_route(n, "10.244.200.0/24").then_some(())
        });
    }
    let t0 = Instant::now();
    k.rt.block_on(k.nodes().delete("up1", &DeleteParams::default()))
        .expect("delete up1");
    for n in 1..=2 {
        k.wait("up1's route gone", 2, || {
            (!k.has_route(n, "10.244.200.0/24")).then_some(())
        });
    }
    eprintln!(
        "node deleted -> routes gone on 2 nodes in {:?}",
        t0.elapsed()
    );

    // The API server goes away for a while: no route is lost; back, the watch resumes.
    let peer = k.pod_cidr(2).expect("n2 podCIDR");
    k.api.stop(&mut k.c.lab).expect("stop API server");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        k.has_route(1, &peer),
        "n1 lost its route to n2 while the API server was down"
    );
    k.api.start(&mut k.c.lab).expect("restart API server");
    k.rt.block_on(async {
        for _ in 0..50 {
            match k
                .nodes()
                .create(
                    &PostParams::default(),
                    &upstream("up2", "10.244.201.0/24", "198.18.0.9"),
                )
                .await
            {
                Ok(_) => return,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("creating up2 after the restart kept failing");
    });
    for n in 1..=2 {
        k.wait("up2's route after the restart", 15, || {
            k.has_route(n, "10.244.201.0/24").then_some(())
        });
    }
    assert!(k.has_route(1, &peer));
}

/// `node-public-ip` is used as --public-ip and `public-ip-overwrite` advertised; a node without a
/// podCIDR is waited for until the controller-manager runs.
#[test]
fn public_ip_annotations_and_missing_pod_cidr() {
    let mut k = KubeLab::with_underlays(2, "vxlan", false, true);
    k.rt.block_on(async {
        let nodes = k.nodes();
        let p = serde_json::json!({"metadata": {"annotations": {
            "flannel.alpha.coreos.com/public-ip-overwrite": "203.0.113.7"}}});
        nodes
            .patch(
                "n1",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&p),
            )
            .await
            .expect("annotate n1");
        let p = serde_json::json!({"metadata": {"annotations": {
            "flannel.alpha.coreos.com/node-public-ip": Lab::node_ip2(2).to_string()}}});
        nodes
            .patch(
                "n2",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&p),
            )
            .await
            .expect("annotate n2");
    });
    // No controller-manager yet: flanneld waits for the podCIDR.
    let inst = k.instance(1, &[]);
    k.c.start(1, &inst).expect("start n1");
    let log = |k: &KubeLab| k.c.log(1, "a");
    k.wait("the podCIDR wait log line", 15, || {
        log(&k).contains("pod cidr not assigned").then_some(())
    });
    k.start_ipam();
    k.c.wait_subnet_file(1, "a")
        .expect("n1 up after the podCIDR arrived");
    let a1 = k.wait("n1's annotations", 10, || {
        let a = k.annotations("n1");
        a.contains_key("public-ip").then_some(a)
    });
    assert_eq!(
        a1["public-ip"], "203.0.113.7",
        "public-ip-overwrite advertised: {a1:?}"
    );
    k.start_flanneld(2, &["--iface=eth1"]);
    let a2 = k.wait("n2's annotations", 10, || {
        let a = k.annotations("n2");
        a.contains_key("public-ip").then_some(a)
    });
    let ip2: Ipv4Addr = Lab::node_ip2(2);
    assert_eq!(
        a2["public-ip"],
        json!(ip2.to_string()),
        "node-public-ip used: {a2:?}"
    );
}

/// kube-proxy-lite reading Services and EndpointSlices from the API on both nodes: requests
/// spread over the three endpoints of a Service created through the API, a terminating
/// endpoint leaves the rules (time from the API write to the kernel printed), and the health
/// and metrics endpoints answer as kube-proxy's.
#[test]
fn kube_proxy_lite_from_the_api() {
    use flannel_integration::services::{add_pod, http_get, iptables_save, start_http_name, tally};
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    let mut k = KubeLab::new(2, "host-gw", true);
    for n in 1..=2 {
        k.wait("podCIDR", 20, || k.pod_cidr(n));
        k.start_flanneld(n, &[]);
    }
    for n in 1..=2 {
        k.wait("routes", 20, || k.c.all_ok(n, "a", 1).then_some(()));
    }
    let bin = flannel_integration::try_workspace_bin("kube-proxy-lite").expect("kube-proxy-lite");
    let kubeconfig = k.api.fabric_kubeconfig().display().to_string();
    let mut kp = vec![];
    for n in 1..=2 {
        let ns = k.c.lab.node_ns(n);
        let args: Vec<String> = [
            "--kubeconfig",
            &kubeconfig,
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--min-sync-period",
            "0.1",
            "--hostname-override",
            &format!("n{n}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        kp.push(
            k.c.lab
                .spawn(&ns, &format!("kpl-n{n}"), &bin, &args, &[])
                .expect("spawn"),
        );
        k.logs.push(format!("kpl-n{n}"));
    }
    let mut eps = vec![];
    for (i, n) in [(1, 1), (2, 1), (3, 2)] {
        let (ns, ip) = add_pod(&k.c, n, &format!("e{i}")).expect("pod");
        start_http_name(&mut k.c.lab, &ns, 8080, &format!("e{i}"), false).expect("server");
        eps.push(ip);
    }
    let (client, _) = add_pod(&k.c, 2, "client").expect("client pod");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.50", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("Service");
    let slice = |terminating: Option<Ipv4Addr>| -> EndpointSlice {
        let endpoints: Vec<Value> = eps
            .iter()
            .map(|ip| {
                let t = Some(*ip) == terminating;
                json!({"addresses": [ip.to_string()],
                       "conditions": {"ready": !t, "serving": true, "terminating": t}})
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web",
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .expect("EndpointSlice")
    };
    let svcs: Api<Service> = Api::namespaced(k.client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(k.client.clone(), "default");
    k.rt.block_on(svcs.create(&PostParams::default(), &svc))
        .expect("create Service");
    k.rt.block_on(slices.create(&PostParams::default(), &slice(None)))
        .expect("create EndpointSlice");
    let sep_count = |k: &KubeLab, n: usize| {
        iptables_save(&k.c.lab, &k.c.lab.node_ns(n), Some("nat"))
            .map(|s| {
                s.lines()
                    .filter(|l| l.starts_with("-A KUBE-SEP-") && l.contains(":8080"))
                    .count()
            })
            .unwrap_or(0)
    };
    for n in 1..=2 {
        k.wait("3 endpoints in the rules", 20, || {
            (sep_count(&k, n) == 3).then_some(())
        });
    }
    let bodies = http_get(
        &k.c.lab,
        &client,
        "10.96.0.50".parse().expect("ip"),
        80,
        150,
        2000,
    )
    .expect("requests through the Service");
    let names: Vec<String> = tally(&bodies).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["e1", "e2", "e3"], "answers by endpoint");

    // e3 starts terminating: it leaves the rules while e1 and e2 are ready.
    let mut current = k.rt.block_on(slices.get("web-abc")).expect("get slice");
    current.endpoints = slice(Some(eps[2])).endpoints;
    let t0 = Instant::now();
    k.rt.block_on(slices.replace("web-abc", &PostParams::default(), &current))
        .expect("update slice");
    for n in 1..=2 {
        k.wait("the terminating endpoint gone", 10, || {
            (sep_count(&k, n) == 2).then_some(())
        });
    }
    eprintln!(
        "EndpointSlice update -> rules on 2 nodes in {:?}",
        t0.elapsed()
    );
    let bodies = http_get(
        &k.c.lab,
        &client,
        "10.96.0.50".parse().expect("ip"),
        80,
        60,
        2000,
    )
    .expect("requests after the update");
    let names: Vec<String> = tally(&bodies).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["e1", "e2"],
        "answers after e3 started terminating"
    );

    // Health and metrics, from the node's own namespace.
    let ns = k.c.lab.node_ns(1);
    let curl = |url: &str| -> (String, String) {
        let out =
            k.c.lab
                .exec(&ns, &["curl", "-s", "-w", "\n%{http_code}", url])
                .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
        (body.to_string(), code.to_string())
    };
    let (body, code) = curl("http://127.0.0.1:10256/healthz");
    assert_eq!(code, "200", "healthz: {body}");
    let v: Value = serde_json::from_str(&body).expect("healthz JSON");
    assert!(
        v["lastUpdated"].as_str().is_some_and(|s| !s.is_empty()) && v["nodeEligible"] == true,
        "{body}"
    );
    let (body, code) = curl("http://127.0.0.1:10249/metrics");
    assert_eq!(code, "200");
    assert!(
        body.contains("kubeproxy_sync_proxy_rules_last_timestamp_seconds ")
            && body.contains("kubeproxy_sync_proxy_rules_duration_seconds_count "),
        "{body}"
    );
    assert_eq!(
        curl("http://127.0.0.1:10249/proxyMode"),
        ("iptables".to_string(), "200".to_string())
    );
    for id in kp {
        assert!(k.c.lab.is_running(id), "kube-proxy-lite exited");
    }
}
