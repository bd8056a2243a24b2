//! kube-proxy-lite kernel tests: every test runs in its own network
//! namespace `fl-kpl-<pid>-<n>`, deleted by a Drop guard, so the host's
//! rules are never touched.

mod common;
use common::{run, Netns};
use flannel_iptables::conntrack::Conntrack;
use flannel_iptables::flannel::{forward_rules, masq_rules};
use flannel_iptables::names::{endpoint_chain, is_owned_chain, service_chain, KUBE_PROXY_CANARY};
use flannel_iptables::parse_save;
use flannel_iptables::proxier::foreign_rules;
use flannel_iptables::{
    ensure, Endpoint, Protocol, Proxier, ProxyConfig, ProxyState, ServicePort, ServicePortName,
    SyncKind,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

impl Netns {
    fn new() -> Option<Netns> {
        Netns::create("kpl")
    }

    fn proxier(&self, cfg: ProxyConfig) -> Proxier {
        Proxier::new(self.ipt(), cfg)
            .with_conntrack(Conntrack::new().with_prefix(["ip", "netns", "exec", &self.0]))
    }

    /// Runs a command in the namespace and returns stdout (must succeed).
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command in the namespace; returns whether it succeeded.
    fn try_exec(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn iptables(&self, args: &[&str]) -> String {
        let mut full = vec!["iptables", "-w"];
        full.extend_from_slice(args);
        self.exec(&full)
    }

    /// `iptables -t <table> -S` lines.
    fn listing(&self, table: &str) -> Vec<String> {
        self.iptables(&["-t", table, "-S"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Chains declared in `table` (`-N` lines).
    fn chains(&self, table: &str) -> Vec<String> {
        self.listing(table)
            .iter()
            .filter_map(|l| l.strip_prefix("-N "))
            .map(str::to_string)
            .collect()
    }

    /// `-A` lines of one chain.
    fn chain_rules(&self, table: &str, chain: &str) -> Vec<String> {
        let prefix = format!("-A {chain} ");
        self.listing(table)
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect()
    }

    /// nft rule handles per chain of `ip <table>`: a chain rewritten by a
    /// restore gets new handles, an untouched one keeps them.
    fn handles(&self, table: &str) -> BTreeMap<String, Vec<u64>> {
        let text = self.exec(&["nft", "-a", "list", "table", "ip", table]);
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut chain = String::new();
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("chain ") {
                chain = rest.split_whitespace().next().unwrap_or("").to_string();
                out.entry(chain.clone()).or_default();
            } else if let Some((_, h)) = t.rsplit_once("# handle ") {
                if !t.starts_with("table ") {
                    if let Ok(h) = h.trim().parse() {
                        out.entry(chain.clone()).or_default().push(h);
                    }
                }
            }
        }
        out
    }

    fn save_all(&self) -> String {
        self.exec(&["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn port(name: &str, vip: &str, proto: Protocol, port: u16, eps: &[&str]) -> ServicePort {
    ServicePort {
        name: ServicePortName::new("ns", name, "p", proto),
        cluster_ip: vip.parse::<Ipv4Addr>().expect("vip"),
        port,
        node_port: None,
        affinity_timeout: None,
        endpoints: eps
            .iter()
            .map(|ip| Endpoint {
                ip: ip.parse().expect("ip"),
                port,
            })
            .collect(),
    }
}

fn svc_chain(name: &str, proto: &str) -> String {
    service_chain(&format!("ns/{name}:p"), proto)
}

fn sep_chain(name: &str, proto: &str, ep: &str) -> String {
    endpoint_chain(&format!("ns/{name}:p"), proto, ep)
}

/// Three services: web (NodePort, 2 endpoints), api (1 endpoint), dead (none).
fn base_state() -> ProxyState {
    let mut web = port(
        "web",
        "10.96.0.10",
        Protocol::Tcp,
        80,
        &["10.244.1.2", "10.244.2.3"],
    );
    web.node_port = Some(30080);
    ProxyState::from_ports([
        web,
        port("api", "10.96.0.11", Protocol::Tcp, 443, &["10.244.1.9"]),
        port("dead", "10.96.0.12", Protocol::Tcp, 80, &[]),
    ])
}

fn cfg() -> ProxyConfig {
    ProxyConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().expect("cidr")),
        ..ProxyConfig::default()
    }
}

#[test]
fn full_sync_programs_the_layout() {
    let Some(ns) = Netns::new() else { return };
    let mut p = ns.proxier(cfg());
    let report = p.sync(&base_state()).expect("full sync");
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(report.services, 3);

    let mut nat = ns.chains("nat");
    nat.sort();
    let mut want = vec![
        "KUBE-EXT-".to_string() + &svc_chain("web", "tcp")[9..],
        "KUBE-MARK-MASQ".into(),
        "KUBE-NODEPORTS".into(),
        "KUBE-POSTROUTING".into(),
        KUBE_PROXY_CANARY.into(),
        sep_chain("web", "tcp", "10.244.1.2:80"),
        sep_chain("web", "tcp", "10.244.2.3:80"),
        sep_chain("api", "tcp", "10.244.1.9:443"),
        "KUBE-SERVICES".into(),
        svc_chain("web", "tcp"),
        svc_chain("api", "tcp"),
    ];
    want.sort();
    assert_eq!(nat, want);
    let mut filter = ns.chains("filter");
    filter.sort();
    assert_eq!(
        filter,
        vec![
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-FORWARD",
            KUBE_PROXY_CANARY,
            "KUBE-SERVICES"
        ]
    );
    let listing = ns.listing("nat");
    for jump in [
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
    ] {
        assert!(listing.iter().any(|l| l == jump), "missing {jump}\n{listing:#?}");
    }
    let web_svc = ns.chain_rules("nat", &svc_chain("web", "tcp"));
    assert_eq!(web_svc.len(), 3, "{web_svc:#?}");
    assert!(web_svc[0].contains("! -s 10.244.0.0/16") && web_svc[0].ends_with("-j KUBE-MARK-MASQ"));
    assert!(web_svc[1].contains("--probability 0.5"));
    assert!(ns
        .chain_rules("nat", "KUBE-SERVICES")
        .last()
        .is_some_and(|l| l.contains("KUBE-NODEPORTS")));
    let reject = ns.chain_rules("filter", "KUBE-SERVICES");
    assert_eq!(reject.len(), 1);
    assert!(reject[0].contains("ns/dead:p has no endpoints") && reject[0].contains("-j REJECT"));
    let filter_listing = ns.listing("filter");
    assert_eq!(
        filter_listing
            .iter()
            .filter(|l| l.starts_with("-A FORWARD"))
            .count(),
        3
    );

    // A second full sync changes nothing visible and duplicates no jump.
    let before = ns.save_all();
    p.full_sync(&base_state()).expect("second full sync");
    assert_eq!(ns.save_all(), before);
    // Unchanged desired state: the partial path applies nothing.
    let report = p.sync(&base_state()).expect("noop");
    assert!(report.noop);
}

#[test]
fn partial_sync_rewrites_only_the_intended_chains() {
    let Some(ns) = Netns::new() else { return };
    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");
    let nat_before = ns.handles("nat");
    let filter_before = ns.handles("filter");

    // One endpoint added to api.
    let mut state = base_state();
    let api = ServicePortName::new("ns", "api", "p", Protocol::Tcp);
    state
        .services
        .get_mut(&api)
        .expect("api")
        .endpoints
        .push(Endpoint {
            ip: "10.244.3.3".parse().expect("ip"),
            port: 443,
        });
    let report = p.sync(&state).expect("partial sync");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.chains, 2);

    let api_svc = svc_chain("api", "tcp");
    let new_sep = sep_chain("api", "tcp", "10.244.3.3:443");
    let nat_after = ns.handles("nat");
    for (chain, handles) in &nat_before {
        if *chain == api_svc {
            assert_ne!(nat_after.get(chain), Some(handles), "{chain} rewritten");
        } else {
            assert_eq!(nat_after.get(chain), Some(handles), "{chain} untouched");
        }
    }
    assert!(nat_after.contains_key(&new_sep));
    assert_eq!(nat_after.len(), nat_before.len() + 1);
    assert_eq!(ns.handles("filter"), filter_before, "filter untouched");
    let rules = ns.chain_rules("nat", &api_svc);
    assert_eq!(rules.len(), 3, "{rules:#?}");
    assert!(rules[1].contains("--probability 0.5") && rules[1].contains("10.244.1.9:443"));
    assert!(rules[2].ends_with(&format!("-j {new_sep}")));

    // The endpoint goes away again: the chain is deleted, the SVC rewritten.
    let report = p.sync(&base_state()).expect("partial sync back");
    assert_eq!(
        (report.kind, report.chains, report.deleted_chains),
        (SyncKind::Partial, 2, 1)
    );
    assert!(!ns.chains("nat").contains(&new_sep));

    // The last endpoint of api goes: nat dispatch, SVC and SEP go, filter gets the REJECT.
    let mut state = base_state();
    state.services.get_mut(&api).expect("api").endpoints.clear();
    let before = ns.handles("nat");
    let report = p.sync(&state).expect("partial to no endpoints");
    assert_eq!(report.kind, SyncKind::Partial);
    let after = ns.handles("nat");
    assert!(!after.contains_key(&api_svc));
    assert_ne!(after.get("KUBE-SERVICES"), before.get("KUBE-SERVICES"));
    assert_eq!(after.get("KUBE-NODEPORTS"), before.get("KUBE-NODEPORTS"));
    assert_eq!(ns.chain_rules("filter", "KUBE-SERVICES").len(), 2);

    // The partial result equals what a full sync of the same state produces.
    let partial = ns.save_all();
    p.full_sync(&state).expect("full sync");
    assert_eq!(sorted_lines(&ns.save_all()), sorted_lines(&partial));
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn chain_deleted_by_hand_is_restored() {
    let Some(ns) = Netns::new() else { return };
    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");
    let expected = ns.save_all();
    let web_svc = svc_chain("web", "tcp");
    let sep = sep_chain("web", "tcp", "10.244.2.3:80");
    ns.iptables(&["-t", "nat", "-F", &web_svc]);
    ns.iptables(&["-t", "nat", "-F", &sep]);
    ns.iptables(&["-t", "nat", "-X", &sep]);
    assert!(!ns.chains("nat").contains(&sep));

    // A partial sync that refers to the deleted chain fails; the engine then
    // knows it must do a full sync, which restores everything.
    let mut state = base_state();
    let web = ServicePortName::new("ns", "web", "p", Protocol::Tcp);
    state
        .services
        .get_mut(&web)
        .expect("web")
        .endpoints
        .push(Endpoint {
            ip: "10.244.9.9".parse().expect("ip"),
            port: 80,
        });
    let err = p.sync(&state).expect_err("references a missing chain");
    assert!(err.to_string().contains(&sep), "{err}");
    assert!(p.needs_full_sync());
    let report = p.sync(&base_state()).expect("full sync repairs");
    assert_eq!(report.kind, SyncKind::Full);
    assert_eq!(ns.save_all(), expected);

    // The periodic full sync also repairs damage a partial would not notice.
    ns.iptables(&["-t", "nat", "-F", "KUBE-SERVICES"]);
    ns.iptables(&["-t", "nat", "-D", "PREROUTING", "1"]);
    p.full_sync(&base_state()).expect("periodic full sync");
    assert_eq!(ns.save_all(), expected);
}

#[test]
fn flanneld_rules_survive_full_and_partial_syncs() {
    let Some(ns) = Netns::new() else { return };
    let ipt = ns.ipt();
    let network = "10.244.0.0/16".parse().expect("net");
    let masq = masq_rules(network, "10.244.1.0/24".parse().expect("subnet"), true);
    let fwd = forward_rules(network);
    assert!(ensure(&ipt, &masq).expect("flannel masq"));
    assert!(ensure(&ipt, &fwd).expect("flannel forward"));
    // Someone else's rules and a non-default policy too.
    ns.iptables(&["-t", "nat", "-N", "OTHER"]);
    ns.iptables(&[
        "-t",
        "nat",
        "-A",
        "OTHER",
        "-p",
        "udp",
        "-m",
        "comment",
        "--comment",
        "keep me",
        "-j",
        "RETURN",
    ]);
    ns.iptables(&["-t", "nat", "-A", "PREROUTING", "-j", "OTHER"]);
    ns.iptables(&["-P", "FORWARD", "DROP"]);
    let flannel_nat = ns.chain_rules("nat", "FLANNEL-POSTRTG");
    let flannel_fwd = ns.chain_rules("filter", "FLANNEL-FWD");

    let mut p = ns.proxier(cfg());
    p.sync(&base_state()).expect("full sync");

    // The cheap listing of foreign chains equals the foreign part of iptables-save.
    let listed = parse_save(&foreign_rules(&ipt).expect("nft listing works here")).expect("parses");
    let saved = parse_save(&ipt.save_all().expect("save")).expect("parses");
    for table in ["nat", "filter"] {
        let l = listed.table(table).expect("listed table");
        let s = saved.table(table).expect("saved table");
        // iptables-save also prints built-in chains nft has not created (empty, ACCEPT).
        let foreign: Vec<&String> = s
            .declared
            .iter()
            .filter(|c| !is_owned_chain(c) && (l.has_chain(c) || !s.chain_rules(c).is_empty()))
            .collect();
        assert_eq!(
            l.declared.iter().collect::<Vec<_>>(),
            foreign,
            "{table} chains"
        );
        for chain in &foreign {
            assert_eq!(
                l.chain_rules(chain),
                s.chain_rules(chain),
                "{table} {chain}"
            );
        }
    }
    let check = |what: &str| {
        assert!(
            !ensure(&ipt, &masq).expect("ensure"),
            "{what}: flannel nat rules intact"
        );
        assert!(
            !ensure(&ipt, &fwd).expect("ensure"),
            "{what}: flannel filter rules intact"
        );
        assert_eq!(
            ns.chain_rules("nat", "FLANNEL-POSTRTG"),
            flannel_nat,
            "{what}"
        );
        assert_eq!(
            ns.chain_rules("filter", "FLANNEL-FWD"),
            flannel_fwd,
            "{what}"
        );
        assert_eq!(
            ns.chain_rules("nat", "OTHER"),
            ["-A OTHER -p udp -m comment --comment \"keep me\" -j RETURN"],
            "{what}"
        );
        assert!(
            ns.listing("nat")
                .iter()
                .any(|l| l == "-A PREROUTING -j OTHER"),
            "{what}"
        );
        assert!(
            ns.listing("filter").iter().any(|l| l == "-P FORWARD DROP"),
            "{what}"
        );
        let post = ns.chain_rules("nat", "POSTROUTING");
        assert_eq!(post.len(), 2, "{what}: {post:#?}");
    };
    check("after full sync");

    let mut state = base_state();
    state
        .services
        .remove(&ServicePortName::new("ns", "api", "p", Protocol::Tcp));
    let report = p.sync(&state).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    check("after partial sync");
    p.full_sync(&state).expect("full sync again");
    check("after second full sync");
    // The same with the rules to keep read by iptables-save.
    let mut p = ns.proxier(cfg()).with_full_save();
    p.full_sync(&base_state())
        .expect("full sync with iptables-save");
    check("after full sync with iptables-save");
}

#[test]
fn sctp_probe_leaves_nothing_behind() {
    let Some(ns) = Netns::new() else { return };
    // The kernels we run on match SCTP; the probe must leave no chain or rule
    // (it may create the empty filter table).
    assert!(ns.ipt().sctp_supported());
    let after = ns.save_all();
    assert!(
        !after.contains("PROBE") && !after.lines().any(|l| l.starts_with("-A")),
        "{after}"
    );
    let mut p = ns.proxier(cfg());
    let state =
        ProxyState::from_ports([port("s", "10.96.0.30", Protocol::Sctp, 9, &["10.244.1.1"])]);
    p.sync(&state).expect("sctp service");
    let rules = ns.chain_rules("nat", "KUBE-SERVICES");
    assert!(
        rules[0].contains("-p sctp") && rules[0].contains("--dport 9"),
        "{rules:#?}"
    );
}

#[test]
fn udp_conntrack_entries_of_removed_endpoints_are_deleted() {
    let Some(ns) = Netns::new() else { return };
    // Routes to the VIP and the endpoints through lo, so that locally sent
    // datagrams pass nat OUTPUT (DNAT) and get a confirmed conntrack entry.
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    ns.exec(&["ip", "route", "add", "172.30.0.0/16", "dev", "lo"]);
    ns.exec(&["ip", "route", "add", "10.180.0.0/24", "dev", "lo"]);
    let state = ProxyState::from_ports([port(
        "dns",
        "172.30.0.53",
        Protocol::Udp,
        53,
        &["10.180.0.1", "10.180.0.2"],
    )]);
    let mut p = ns.proxier(cfg());
    p.sync(&state).expect("full sync");
    // Generate flows from many source ports so both endpoints get some.
    for _ in 0..20 {
        ns.exec(&["bash", "-c", "echo x > /dev/udp/172.30.0.53/53 || true"]);
    }
    let flows = |ep: &str| {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "conntrack",
                "-L",
                "-p",
                "udp",
                "--dst-nat",
                ep,
            ])
            .output()
            .expect("conntrack -L");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let (f1, f2) = (flows("10.180.0.1"), flows("10.180.0.2"));
    assert!(f1 + f2 >= 20, "flows created: {f1} + {f2}");
    // Endpoint 10.180.0.2 goes away: its flows are deleted, the other's kept.
    let state = ProxyState::from_ports([port(
        "dns",
        "172.30.0.53",
        Protocol::Udp,
        53,
        &["10.180.0.1"],
    )]);
    let report = p.sync(&state).expect("partial");
    assert_eq!(report.kind, SyncKind::Partial);
    assert_eq!(report.conntrack_deleted, f2 as u64);
    assert_eq!(flows("10.180.0.2"), 0);
    assert_eq!(flows("10.180.0.1"), f1);
}

// ---- the kube-proxy-lite binary ----

const BIN: &str = env!("CARGO_BIN_EXE_kube-proxy-lite");

fn services_json(web_endpoints: &[&str]) -> String {
    let addrs: Vec<String> = web_endpoints
        .iter()
        .map(|ip| format!(r#"{{"ip":"{ip}"}}"#))
        .collect();
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[
{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"web","namespace":"default"}},"spec":{{"clusterIP":"10.96.0.10","type":"NodePort","sessionAffinity":"ClientIP","sessionAffinityConfig":{{"clientIP":{{"timeoutSeconds":10800}}}},"ports":[{{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}}]}}}},
{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"web","namespace":"default"}},"subsets":[{{"addresses":[{}],"ports":[{{"name":"http","port":8080,"protocol":"TCP"}}]}}]}},
{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"bad","namespace":"default"}},"spec":{{"clusterIP":"10.96.0.300","ports":[{{"port":80}}]}}}}
]}}"#,
        addrs.join(",")
    )
}

fn temp_dir(tag: &str) -> PathBuf {
    let n = common::next_id();
    let dir = std::env::temp_dir().join(format!("fl-kpl-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes the file by rename, as a tool replacing it atomically would.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(ns: &Netns, file: &Path, extra: &[&str]) -> Daemon {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0, BIN, "--services"])
            .arg(file)
            .args(["--cluster-cidr", "10.244.0.0/16"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kube-proxy-lite");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines: rx }
    }

    /// The next stderr line containing `needle`, within `timeout`.
    fn expect_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?} within {timeout:?}; saw {seen:#?}");
    }

    fn stop(mut self) -> std::process::ExitStatus {
        // `ip netns exec` execs the program: the child pid is kube-proxy-lite's.
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "kube-proxy-lite did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `key=value` fields of a sync line.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn binary_syncs_on_change_and_canary_loss_and_stops_on_sigterm() {
    let Some(ns) = Netns::new() else { return };
    let dir = temp_dir("bin");
    let file = dir.join("services.json");
    write_atomic(&file, &services_json(&["10.244.1.2"]));
    let d = Daemon::start(
        &ns,
        &file,
        &["--min-sync-period", "0.05", "--sync-period", "3600"],
    );

    let warn = d.expect_line("default/bad", Duration::from_secs(10));
    assert!(warn.contains("10.96.0.300"), "{warn}");
    let line = d.expect_line("sync kind=full", Duration::from_secs(10));
    let f = fields(&line);
    assert!(
        line.starts_with("sync kind=full services=1 chains="),
        "{line}"
    );
    for key in ["render_ms", "apply_ms", "total_ms"] {
        let v: f64 = f[key].parse().expect("f64");
        assert!(v >= 0.0, "{line}");
    }
    let svc = service_chain("default/web:http", "tcp");
    assert_eq!(
        ns.chain_rules("nat", &svc).len(),
        3,
        "masq + rcheck + endpoint"
    );

    // One endpoint added: a partial sync of 2 chains.
    write_atomic(&file, &services_json(&["10.244.1.2", "10.244.2.3"]));
    let line = d.expect_line("sync kind=", Duration::from_secs(10));
    assert!(
        line.starts_with("sync kind=partial services=1 chains=2 "),
        "{line}"
    );
    assert_eq!(ns.chain_rules("nat", &svc).len(), 5);

    // A half-written file is not applied; the complete one is.
    let full = services_json(&["10.244.1.2"]);
    std::fs::write(&file, &full[..full.len() / 2]).expect("half write");
    d.expect_line("not applied", Duration::from_secs(10));
    assert_eq!(
        ns.chain_rules("nat", &svc).len(),
        5,
        "half-written file not applied"
    );
    std::fs::write(&file, &full).expect("complete write");
    let line = d.expect_line("sync kind=", Duration::from_secs(10));
    assert!(
        line.starts_with("sync kind=partial services=1 chains=2 "),
        "{line}"
    );
    assert_eq!(ns.chain_rules("nat", &svc).len(), 3);

    // Rules flushed by someone and the canary gone: a full sync restores them.
    ns.iptables(&["-t", "nat", "-F", "KUBE-SERVICES"]);
    ns.iptables(&["-t", "nat", "-X", KUBE_PROXY_CANARY]);
    let line = d.expect_line("sync kind=", Duration::from_secs(10));
    assert!(line.starts_with("sync kind=full "), "{line}");
    assert!(ns.chains("nat").iter().any(|c| c == KUBE_PROXY_CANARY));
    assert_eq!(ns.chain_rules("nat", "KUBE-SERVICES").len(), 2);

    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    assert_eq!(ns.chain_rules("nat", &svc).len(), 3, "rules left in place");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

impl Netns {
    /// Runs `kube-proxy-lite <mode> --services <file>` in the namespace to
    /// its end; it must succeed.
    fn run_bin(&self, mode: &str, file: &Path) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, BIN, mode, "--services"])
            .arg(file)
            .output()
            .expect(mode);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

#[test]
fn binary_dry_run_changes_nothing_and_once_exits() {
    let Some(ns) = Netns::new() else { return };
    let dir = temp_dir("dry");
    let file = dir.join("services.json");
    write_atomic(&file, &services_json(&["10.244.1.2"]));
    ns.iptables(&["-t", "nat", "-N", "SOMETHING"]);
    let before = ns.save_all();

    let out = ns.run_bin("--dry-run", &file);
    let payload = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        payload.starts_with("*nat\n:KUBE-SERVICES - [0:0]\n"),
        "{payload}"
    );
    assert!(payload.contains("-j DNAT --to-destination 10.244.1.2:8080"));
    assert!(payload.ends_with("COMMIT\n"));
    assert_eq!(ns.save_all(), before, "dry run changed nothing");

    // The dry-run payload is valid input for iptables-restore (--test only parses).
    let mut restore = Command::new("ip")
        .args(["netns", "exec", &ns.0, "iptables-restore", "--test"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        restore
            .stdin
            .take()
            .expect("stdin")
            .write_all(payload.as_bytes())
            .expect("write");
    }
    assert!(restore.wait().expect("wait").success());
    assert_eq!(ns.save_all(), before);

    let out = ns.run_bin("--once", &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("sync kind=full services=1 ")),
        "{stderr}"
    );
    assert!(
        ns.chains("nat").iter().any(|c| c == "SOMETHING"),
        "foreign chain kept"
    );
    assert!(ns.try_exec(&["iptables", "-t", "nat", "-S", "KUBE-SERVICES"]));

    // --api-server is refused with a clear message.
    let out = Command::new(BIN)
        .args(["--api-server", "https://127.0.0.1:6443"])
        .output()
        .expect("api server");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("API server does not exist yet"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn table_with_rules_iptables_cannot_print_is_not_replaced() {
    let Some(ns) = Netns::new() else { return };
    ns.iptables(&["-t", "nat", "-N", "FOO"]);
    ns.exec(&[
        "nft", "add", "rule", "ip", "nat", "FOO", "meta", "mark", "set", "numgen", "inc", "mod",
        "2",
    ]);
    let before = ns.exec(&["nft", "list", "table", "ip", "nat"]);
    let mut p = ns.proxier(cfg());
    let err = p.sync(&base_state()).expect_err("refuses");
    assert!(
        err.to_string().contains("cannot represent table nat"),
        "{err}"
    );
    assert!(p.needs_full_sync());
    assert_eq!(
        ns.exec(&["nft", "list", "table", "ip", "nat"]),
        before,
        "nat untouched"
    );
}
