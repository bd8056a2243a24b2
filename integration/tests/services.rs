//! kube-proxy-lite end-to-end on the namespace lab: flanneld (host-gw, `--ip-masq`) gives pod
//! connectivity, kube-proxy-lite runs on every node with the same Services file
//! (`--cluster-cidr 10.244.0.0/16 --min-sync-period 0.1`), and pods, the external host and the
//! nodes talk to Services through the rules it programs: ClusterIP load spreading, NodePort from
//! outside with masquerade exactly once, hairpin, REJECT without endpoints, ClientIP affinity,
//! conntrack flush for UDP endpoints that go away, repair of rules deleted by hand, bad input,
//! and the `--dry-run` / `--once` CLI contract. The layout checks follow
//! /work/shared/spec/service-rules.md.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use flannel_integration::cluster::{net_config, Cluster, Instance};
use flannel_integration::services::{
    self, add_pod, chain_rules, describe_tally, has_chain, http_get, iptables_save,
    malformed_sync_lines, spawn_kube_proxy, start_http_name, start_udp_name, tally, tcp_connect,
    write_services, KubeProxy, Service, SyncLine, KUBE_PROXY_BIN,
};
use flannel_integration::{try_workspace_bin, Lab, EXT_IP};

const HTTP_PORT: u16 = 8080;
const SYNC_TIMEOUT: Duration = Duration::from_secs(20);

/// A flannel cluster with kube-proxy-lite on every node, all reading `file`.
struct Env {
    c: Cluster,
    file: PathBuf,
    kp: Vec<KubeProxy>,
}

impl Env {
    /// `nodes` nodes with flanneld (host-gw, `--ip-masq`), routes converged, and kube-proxy-lite
    /// (`--min-sync-period 0.1` plus `extra`) on every node with an empty Services file, each
    /// past its first sync.
    fn new(nodes: usize, extra: &[&str]) -> Result<Env> {
        let mut c = Cluster::new(nodes, &net_config("10.244.0.0/16", "host-gw"))?;
        c.start_all(&Instance {
            args: vec!["--ip-masq".into()],
            ..Default::default()
        })?;
        for n in 1..=nodes {
            Lab::wait_until(
                Duration::from_secs(20),
                &format!("node {n} routes ok"),
                || c.all_ok(n, "a", nodes - 1),
            )?;
        }
        let file = c.lab.dir().join("services.json");
        write_services(&file, &[])?;
        let mut args = vec!["--min-sync-period", "0.1"];
        args.extend_from_slice(extra);
        let mut kp = Vec::new();
        for n in 1..=nodes {
            kp.push(spawn_kube_proxy(&mut c.lab, n, &file, &args)?);
        }
        for k in &kp {
            k.wait_sync_after(&mut c.lab, 0, SYNC_TIMEOUT)
                .context("first sync with an empty Services file")?;
        }
        Ok(Env { c, file, kp })
    }

    fn lab(&mut self) -> &mut Lab {
        &mut self.c.lab
    }

    /// Writes `list` atomically and waits until every node logged a new sync; returns them.
    fn set_services(&mut self, list: &[Service]) -> Result<Vec<SyncLine>> {
        let before: Vec<usize> = self.kp.iter().map(|k| k.syncs(&self.c.lab).len()).collect();
        write_services(&self.file, list)?;
        let mut lines = Vec::new();
        for (k, seen) in self.kp.iter().zip(before) {
            lines.push(k.wait_sync_after(&mut self.c.lab, seen, SYNC_TIMEOUT)?);
        }
        Ok(lines)
    }

    fn pod(&mut self, node: usize, name: &str) -> Result<(String, Ipv4Addr)> {
        add_pod(&self.c, node, name)
    }

    /// A pod running `labtool http-name 8080 <name>`.
    fn http_pod(&mut self, node: usize, name: &str, echo_peer: bool) -> Result<(String, Ipv4Addr)> {
        let (ns, ip) = self.pod(node, name)?;
        start_http_name(self.lab(), &ns, HTTP_PORT, name, echo_peer)?;
        Ok((ns, ip))
    }

    fn nat(&self, node: usize) -> Result<String> {
        iptables_save(&self.c.lab, &self.c.lab.node_ns(node), Some("nat"))
    }

    fn filter(&self, node: usize) -> Result<String> {
        iptables_save(&self.c.lab, &self.c.lab.node_ns(node), Some("filter"))
    }

    /// Tails of every kube-proxy-lite log, for error messages.
    fn logs(&self) -> String {
        self.kp
            .iter()
            .map(|k| {
                format!(
                    "--- {} ---\n{}",
                    k.log_name,
                    services::tail(&k.log(&self.c.lab), 25)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every kube-proxy-lite is still running and printed only well-formed sync lines.
    fn check_healthy(&mut self) -> Result<()> {
        for k in &self.kp {
            ensure!(
                self.c.lab.is_running(k.id),
                "kube-proxy-lite on node {} exited:\n{}",
                k.node,
                k.log(&self.c.lab)
            );
            let bad = malformed_sync_lines(&k.log(&self.c.lab));
            ensure!(
                bad.is_empty(),
                "node {}: sync lines not in the specified format \
                 `sync kind=<full|partial> services=N chains=M render_ms=F apply_ms=F total_ms=F`: {bad:?}",
                k.node
            );
        }
        Ok(())
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("valid IPv4 literal in the test")
}

/// The lines of table `table` (`*table` up to its `COMMIT`) in iptables-restore input.
fn table_section<'a>(text: &'a str, table: &str) -> Vec<&'a str> {
    let header = format!("*{table}");
    text.lines()
        .skip_while(|l| l.trim_end() != header)
        .skip(1)
        .take_while(|l| l.trim_end() != "COMMIT")
        .collect()
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// A pod reaches a ClusterIP whose three endpoints are on three nodes; 300 requests on fresh
/// connections spread over all of them (each 20-45 %). Also checks the KUBE-SERVICES and
/// KUBE-SVC layout in the kernel.
#[test]
fn cluster_ip_spreads_requests_over_endpoints_on_all_nodes() -> Result<()> {
    let mut e = Env::new(3, &[])?;
    let mut eps = Vec::new();
    for n in 1..=3 {
        eps.push(e.http_pod(n, &format!("e{n}"), false)?.1);
    }
    let (client, _) = e.pod(1, "client")?;
    let svc = Service::tcp("demo", "web", "10.96.0.10", 80, i64::from(HTTP_PORT))
        .with_endpoints(eps.iter());
    e.set_services(std::slice::from_ref(&svc))?;

    // Layout: the VIP rule in KUBE-SERVICES and the probabilities of the KUBE-SVC chain.
    let nat = e.nat(1)?;
    let chain = svc.svc_chain();
    let vip_rule = chain_rules(&nat, "KUBE-SERVICES")
        .into_iter()
        .find(|r| r.ends_with(&format!("-j {chain}")))
        .with_context(|| format!("no KUBE-SERVICES rule jumps to {chain}:\n{nat}"))?;
    ensure!(
        vip_rule.contains("--comment \"demo/web:http cluster IP\"")
            && vip_rule.contains("-d 10.96.0.10/32")
            && vip_rule.contains("--dport 80"),
        "unexpected VIP rule {vip_rule:?}"
    );
    let svc_rules = chain_rules(&nat, &chain);
    ensure!(
        svc_rules.len() == 4,
        "{chain} should hold the masquerade rule and 3 endpoint rules: {svc_rules:#?}"
    );
    ensure!(
        svc_rules[0].contains("! -s 10.244.0.0/16") && svc_rules[0].ends_with("-j KUBE-MARK-MASQ"),
        "first rule of {chain} must mark off-cluster sources: {:?}",
        svc_rules[0]
    );
    // iptables-save prints the kernel's 32-bit probability with 11 digits.
    ensure!(
        svc_rules[1].contains("--probability 0.33333333349")
            && svc_rules[2].contains("--probability 0.50000000000")
            && !svc_rules[3].contains("statistic"),
        "endpoint probabilities of {chain}: {svc_rules:#?}"
    );
    for ep in &eps {
        let sep = svc.sep_chain(&ep.to_string());
        ensure!(
            svc_rules.iter().any(|r| r.ends_with(&format!("-j {sep}"))),
            "{chain} has no jump to {sep} (endpoint {ep}): {svc_rules:#?}"
        );
        let sep_rules = chain_rules(&nat, &sep);
        ensure!(
            sep_rules.len() == 2
                && sep_rules[0].contains(&format!("-s {ep}/32"))
                && sep_rules[0].ends_with("-j KUBE-MARK-MASQ")
                && sep_rules[1].contains(&format!("--to-destination {ep}:{HTTP_PORT}")),
            "{sep}: {sep_rules:#?}"
        );
    }

    let bodies =
        http_get(&e.c.lab, &client, ip("10.96.0.10"), 80, 300, 2000).with_context(|| e.logs())?;
    let t = tally(&bodies);
    eprintln!("distribution over 300 requests: {}", describe_tally(&t));
    let names: Vec<&str> = t.iter().map(|(k, _)| k.as_str()).collect();
    ensure!(
        names == ["e1", "e2", "e3"],
        "answers came from {names:?}, want e1, e2, e3"
    );
    for (name, n) in &t {
        ensure!(
            (60..=135).contains(n),
            "{name} got {n}/300 requests, want 20-45 % ({})",
            describe_tally(&t)
        );
    }
    e.check_healthy()
}

/// NodePort from the external host through node 1 to an endpoint on node 2: the reply comes back
/// and the server sees node 1's address (masqueraded exactly once: not the external host, not
/// flanneld's masquerade on top). Through node 2 (local endpoint) it sees node 2's bridge
/// address. A pod going through the ClusterIP to the remote endpoint is not masqueraded.
#[test]
fn node_port_is_masqueraded_once_and_pod_traffic_not_at_all() -> Result<()> {
    let mut e = Env::new(2, &[])?;
    let (_, srv_ip) = e.http_pod(2, "srv", true)?;
    let (client, client_ip) = e.pod(1, "client")?;
    let svc = Service::tcp("demo", "np", "10.96.0.20", 80, i64::from(HTTP_PORT))
        .with_node_port(30080)
        .with_endpoints([srv_ip]);
    e.set_services(std::slice::from_ref(&svc))?;

    let nat = e.nat(1)?;
    ensure!(
        has_chain(&nat, &svc.ext_chain()),
        "no {} chain on node 1:\n{nat}",
        svc.ext_chain()
    );
    ensure!(
        chain_rules(&nat, "KUBE-NODEPORTS")
            .iter()
            .any(|r| r.contains("--dport 30080") && r.ends_with(&format!("-j {}", svc.ext_chain()))),
        "KUBE-NODEPORTS has no rule for 30080:\n{nat}"
    );
    ensure!(
        chain_rules(&nat, "FLANNEL-POSTRTG")
            .first()
            .is_some_and(|r| r.contains("--mark 0x4000/0x4000") && r.ends_with("-j RETURN")),
        "flanneld's masquerade chain does not start with the 0x4000 RETURN:\n{nat}"
    );

    let ext = e.c.lab.ext_ns();
    let via1 = http_get(&e.c.lab, &ext, Lab::node_ip(1), 30080, 3, 3000)
        .with_context(|| format!("external host -> 198.18.0.1:30080\n{}", e.logs()))?;
    let want1 = format!("srv {}", Lab::node_ip(1));
    ensure!(
        via1.iter().all(|b| *b == want1),
        "external host via node 1: server saw {via1:?}, want {want1:?} (masquerade exactly once to node 1's address; {EXT_IP} means no masquerade)"
    );
    let gw2 = e.c.host_ip(2, "a", 1)?;
    let via2 = http_get(&e.c.lab, &ext, Lab::node_ip(2), 30080, 3, 3000)
        .with_context(|| format!("external host -> 198.18.0.2:30080\n{}", e.logs()))?;
    let want2 = format!("srv {gw2}");
    ensure!(
        via2.iter().all(|b| *b == want2),
        "external host via node 2 (local endpoint): server saw {via2:?}, want {want2:?}"
    );

    let direct =
        http_get(&e.c.lab, &client, ip("10.96.0.20"), 80, 3, 3000).with_context(|| e.logs())?;
    let want = format!("srv {client_ip}");
    ensure!(
        direct.iter().all(|b| *b == want),
        "pod -> ClusterIP -> remote pod: server saw {direct:?}, want {want:?} (no masquerade inside the cluster)"
    );
    e.check_healthy()
}

/// A pod reaches itself through its own Service; the hairpin connection is masqueraded to the
/// node's bridge address (otherwise the reply would not come back through the NAT).
#[test]
fn hairpin_pod_reaches_itself_through_its_service() -> Result<()> {
    let mut e = Env::new(1, &[])?;
    let (pod, pod_ip) = e.http_pod(1, "self", true)?;
    let svc = Service::tcp("demo", "self", "10.96.0.30", 80, i64::from(HTTP_PORT))
        .with_endpoints([pod_ip]);
    e.set_services(&[svc])?;
    let bodies = http_get(&e.c.lab, &pod, ip("10.96.0.30"), 80, 5, 3000)
        .with_context(|| format!("hairpin {pod_ip} -> 10.96.0.30 -> {pod_ip}\n{}", e.logs()))?;
    let gw = e.c.host_ip(1, "a", 1)?;
    let want = format!("self {gw}");
    ensure!(
        bodies.iter().all(|b| *b == want),
        "hairpin: server saw {bodies:?}, want {want:?}"
    );
    e.check_healthy()
}

/// A Service without endpoints refuses connections at once (REJECT in filter KUBE-SERVICES),
/// starts working when an endpoint appears, and refuses again when it goes.
#[test]
fn service_without_endpoints_refuses_immediately() -> Result<()> {
    let mut e = Env::new(2, &[])?;
    let (_, srv_ip) = e.http_pod(2, "srv", false)?;
    let (client, _) = e.pod(1, "client")?;
    let empty = Service::tcp("demo", "empty", "10.96.0.40", 80, i64::from(HTTP_PORT));
    let empty_np = Service::tcp("demo", "empty-np", "10.96.0.41", 80, i64::from(HTTP_PORT))
        .with_node_port(30081);
    e.set_services(&[empty.clone(), empty_np.clone()])?;

    let filter = e.filter(1)?;
    ensure!(
        chain_rules(&filter, "KUBE-SERVICES").iter().any(|r| {
            r.contains("--comment \"demo/empty:http has no endpoints\"")
                && r.contains("-d 10.96.0.40/32")
                && r.contains("--dport 80")
                && r.contains("-j REJECT")
        }),
        "no REJECT rule for demo/empty in filter KUBE-SERVICES:\n{filter}"
    );
    ensure!(
        chain_rules(&filter, "KUBE-EXTERNAL-SERVICES")
            .iter()
            .any(|r| r.contains("--dport 30081") && r.contains("-j REJECT")),
        "no REJECT rule for NodePort 30081 in filter KUBE-EXTERNAL-SERVICES:\n{filter}"
    );

    // REJECT answers at once (refused) where no rule would leave the SYN unanswered (timeout
    // after 3 s); how long it took is printed, not asserted (timing is the benchmarks' job).
    let (outcome, ms) = tcp_connect(&e.c.lab, &client, ip("10.96.0.40"), 80, 3000)?;
    eprintln!("connect to a Service without endpoints: {outcome} after {ms} ms");
    ensure!(
        outcome == "refused",
        "connect to a Service without endpoints: {outcome} after {ms} ms, want refused\n{}",
        e.logs()
    );

    let with_ep = empty.clone().with_endpoints([srv_ip]);
    e.set_services(&[with_ep, empty_np.clone()])?;
    let bodies = http_get(&e.c.lab, &client, ip("10.96.0.40"), 80, 3, 3000)
        .context("after adding an endpoint")?;
    ensure!(bodies.iter().all(|b| b == "srv"), "got {bodies:?}");
    ensure!(
        !e.filter(1)?.contains("demo/empty:http has no endpoints"),
        "the REJECT rule stayed after an endpoint appeared"
    );

    e.set_services(&[empty, empty_np])?;
    let (outcome, ms) = tcp_connect(&e.c.lab, &client, ip("10.96.0.40"), 80, 3000)?;
    eprintln!("after removing the endpoint again: {outcome} after {ms} ms");
    ensure!(
        outcome == "refused",
        "after removing the endpoint again: {outcome} after {ms} ms, want refused"
    );
    e.check_healthy()
}

/// ClientIP affinity: 20 requests from one pod all land on the same endpoint (and so do 20
/// from a second pod); the rules carry `-m recent` with the configured timeout.
#[test]
fn client_ip_affinity_sticks_to_one_endpoint() -> Result<()> {
    let mut e = Env::new(3, &[])?;
    let mut eps = Vec::new();
    for n in 1..=3 {
        eps.push(e.http_pod(n, &format!("e{n}"), false)?.1);
    }
    let (c1, _) = e.pod(1, "client1")?;
    let (c2, _) = e.pod(2, "client2")?;
    let svc = Service::tcp("demo", "sticky", "10.96.0.50", 80, i64::from(HTTP_PORT))
        .with_affinity(10800)
        .with_endpoints(eps.iter());
    e.set_services(std::slice::from_ref(&svc))?;

    let nat = e.nat(1)?;
    let svc_rules = chain_rules(&nat, &svc.svc_chain());
    for ep in &eps {
        let sep = svc.sep_chain(&ep.to_string());
        ensure!(
            svc_rules.iter().any(|r| r.contains("-m recent")
                && r.contains("--rcheck")
                && r.contains("--seconds 10800")
                && r.contains("--reap")
                && r.contains(&format!("--name {sep}"))
                && r.ends_with(&format!("-j {sep}"))),
            "no affinity (recent --rcheck) rule for {sep} in {}: {svc_rules:#?}",
            svc.svc_chain()
        );
        ensure!(
            chain_rules(&nat, &sep)
                .iter()
                .any(|r| r.contains("-m recent") && r.contains("--set") && r.contains("DNAT")),
            "{sep} does not --set the recent list in its DNAT rule"
        );
    }

    for client in [&c1, &c2] {
        let bodies =
            http_get(&e.c.lab, client, ip("10.96.0.50"), 80, 20, 3000).with_context(|| e.logs())?;
        let t = tally(&bodies);
        ensure!(
            t.len() == 1,
            "{client}: 20 requests with ClientIP affinity went to {}",
            describe_tally(&t)
        );
        eprintln!("{client}: all 20 requests -> {}", t[0].0);
    }
    e.check_healthy()
}

/// UDP: a client sending from a fixed local port sticks to one endpoint through its conntrack
/// entry; when that endpoint is removed from the file (its server still answers!) the client's
/// datagrams go to the remaining endpoint while it keeps sending every 100 ms on the same
/// 5-tuple, which only happens if kube-proxy-lite deleted the conntrack entry (it would
/// otherwise live on, refreshed, for as long as the client sends). How long the switch took is
/// printed, not asserted.
#[test]
fn udp_endpoint_removal_flushes_conntrack() -> Result<()> {
    let mut e = Env::new(3, &[])?;
    let (a_ns, a_ip) = e.pod(2, "udpa")?;
    let (b_ns, b_ip) = e.pod(3, "udpb")?;
    start_udp_name(e.lab(), &a_ns, 5353, "A", false)?;
    start_udp_name(e.lab(), &b_ns, 5353, "B", false)?;
    let (client, _) = e.pod(1, "client")?;
    let svc = Service::udp("demo", "dns", "10.96.0.53", 53, 5353).with_endpoints([a_ip, b_ip]);
    e.set_services(std::slice::from_ref(&svc))?;

    let labtool = try_workspace_bin("labtool")?;
    let args: Vec<String> = [
        "udp-ask",
        "10.96.0.53",
        "53",
        "--count",
        "300",
        "--interval-ms",
        "100",
        "--local-port",
        "40053",
        "--stamp",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ask = e.lab().spawn(&client, "udp-ask", &labtool, &args, &[])?;
    let answers = |lab: &Lab| -> Vec<(u128, String)> {
        lab.log("udp-ask")
            .lines()
            .filter_map(|l| {
                let (ts, rest) = l.split_once(' ')?;
                Some((ts.parse().ok()?, rest.to_string()))
            })
            .collect()
    };
    Lab::wait_until(Duration::from_secs(5), "10 UDP answers", || {
        answers(&e.c.lab)
            .iter()
            .filter(|(_, a)| a == "A" || a == "B")
            .count()
            >= 10
    })
    .with_context(|| format!("udp-ask log:\n{}\n{}", e.c.lab.log("udp-ask"), e.logs()))?;
    let before = answers(&e.c.lab);
    let got: BTreeSet<&str> = before
        .iter()
        .map(|(_, a)| a.as_str())
        .filter(|a| *a != "timeout")
        .collect();
    ensure!(
        got.len() == 1,
        "one 5-tuple must stick to one endpoint, got answers {got:?}"
    );
    let (first, first_ip) = if got.contains("A") {
        ("A", a_ip)
    } else {
        ("B", b_ip)
    };
    let (other, other_ip) = if first == "A" {
        ("B", b_ip)
    } else {
        ("A", a_ip)
    };
    eprintln!("client sticks to {first} ({first_ip}); removing it from the Service");

    let t_rename = unix_ms();
    e.set_services(&[svc.clone().with_endpoints([other_ip])])?;
    let sync_ms = unix_ms() - t_rename;
    Lab::wait_until(
        Duration::from_secs(5),
        &format!("answers from {other}"),
        || {
            answers(&e.c.lab)
                .iter()
                .any(|(ts, a)| *ts > t_rename && a == other)
        },
    )
    .with_context(|| {
        let after: Vec<String> = answers(&e.c.lab)
            .iter()
            .filter(|(ts, _)| *ts > t_rename)
            .map(|(_, a)| a.clone())
            .collect();
        format!(
            "after removing {first} the client still got {after:?} (conntrack entry not flushed?)\n{}",
            e.logs()
        )
    })?;
    // Five more answers after the switch (an event, not a pause), then check that none came
    // from the removed endpoint since the switch.
    let switch = answers(&e.c.lab)
        .iter()
        .find(|(ts, a)| *ts > t_rename && a == other)
        .map(|(ts, _)| *ts)
        .context("switch vanished")?;
    Lab::wait_until(
        Duration::from_secs(5),
        "5 more answers after the switch",
        || {
            answers(&e.c.lab)
                .iter()
                .filter(|(ts, a)| *ts > switch && a != "timeout")
                .count()
                >= 5
        },
    )
    .with_context(|| format!("udp-ask log:\n{}", e.c.lab.log("udp-ask")))?;
    let all = answers(&e.c.lab);
    let late_old: Vec<u128> = all
        .iter()
        .filter(|(ts, a)| *ts > switch && a == first)
        .map(|(ts, _)| ts - t_rename)
        .collect();
    eprintln!(
        "switched to {other} {} ms after the rename (all nodes synced after {sync_ms} ms)",
        switch - t_rename
    );
    ensure!(
        late_old.is_empty(),
        "answers from the removed endpoint {first} after the switch, at +{late_old:?} ms"
    );
    if e.c.lab.is_running(ask) {
        e.c.lab.kill(ask, libc::SIGTERM)?;
    }
    e.check_healthy()
}

/// Rules deleted by hand (a KUBE-SVC chain flushed, the VIP jump in KUBE-SERVICES, the jump from
/// PREROUTING) are restored by the periodic sync (`--sync-period 2`) and traffic flows again;
/// chains and rules of other programs (made-up ones in nat and filter, flanneld's masquerade
/// chain) are left exactly as they were by those full syncs.
#[test]
fn rules_deleted_by_hand_are_restored_by_the_periodic_sync() -> Result<()> {
    let mut e = Env::new(2, &["--sync-period", "2"])?;
    let (_, srv_ip) = e.http_pod(2, "srv", false)?;
    let (client, _) = e.pod(1, "client")?;
    let svc = Service::tcp("demo", "web", "10.96.0.10", 80, i64::from(HTTP_PORT))
        .with_endpoints([srv_ip]);
    e.set_services(std::slice::from_ref(&svc))?;
    let chain = svc.svc_chain();
    let node_ns = e.c.lab.node_ns(1);
    // A periodic sync may have raced the file change; wait for the state itself.
    Lab::wait_until(Duration::from_secs(5), "service chain programmed", || {
        e.nat(1)
            .map(|n| chain_rules(&n, &chain).len() == 2)
            .unwrap_or(false)
    })?;
    http_get(&e.c.lab, &client, ip("10.96.0.10"), 80, 2, 2000)?;
    let good = e.nat(1)?;
    let svc_rules: Vec<String> = chain_rules(&good, &chain)
        .iter()
        .map(|s| s.to_string())
        .collect();
    let vip_rule = chain_rules(&good, "KUBE-SERVICES")
        .into_iter()
        .find(|r| r.ends_with(&format!("-j {chain}")))
        .context("no VIP rule")?
        .to_string();
    let pre_rule = chain_rules(&good, "PREROUTING")
        .into_iter()
        .find(|r| r.ends_with("-j KUBE-SERVICES"))
        .context("no PREROUTING -> KUBE-SERVICES jump")?
        .to_string();

    // Rules of other programs: ours, made up, and flanneld's; full syncs must keep them.
    e.c.lab.sh(
        &node_ns,
        "iptables -w -t nat -N LAB-FOREIGN && \
         iptables -w -t nat -A LAB-FOREIGN -s 192.0.2.1/32 -m comment --comment lab-foreign -j RETURN && \
         iptables -w -t nat -A POSTROUTING -m comment --comment lab-foreign-jump -j LAB-FOREIGN && \
         iptables -w -t filter -N LAB-FOREIGN && \
         iptables -w -t filter -A LAB-FOREIGN -s 192.0.2.1/32 -m comment --comment lab-foreign -j DROP && \
         iptables -w -t filter -A FORWARD -m comment --comment lab-foreign-jump -j LAB-FOREIGN",
    )?;
    let foreign = |nat: &str, filter: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for save in [nat, filter] {
            v.extend(
                save.lines()
                    .filter(|l| l.contains("lab-foreign") || l.starts_with(":LAB-FOREIGN"))
                    .map(|l| l.split(" [").next().unwrap_or(l).to_string()),
            );
        }
        v.extend(
            chain_rules(nat, "FLANNEL-POSTRTG")
                .iter()
                .map(|s| s.to_string()),
        );
        v.extend(
            chain_rules(nat, "POSTROUTING")
                .iter()
                .filter(|r| r.contains("FLANNEL"))
                .map(|s| s.to_string()),
        );
        v
    };
    let foreign_before = foreign(&e.nat(1)?, &e.filter(1)?);
    ensure!(
        foreign_before.len() >= 9,
        "foreign rules not set up: {foreign_before:#?}"
    );

    let tampering = [
        (
            format!("flush {chain}"),
            format!("iptables -w -t nat -F {chain}"),
        ),
        (
            "delete the VIP rule from KUBE-SERVICES".to_string(),
            format!("iptables -w -t nat {}", vip_rule.replacen("-A ", "-D ", 1)),
        ),
        (
            "delete the PREROUTING jump".to_string(),
            format!("iptables -w -t nat {}", pre_rule.replacen("-A ", "-D ", 1)),
        ),
    ];
    for (what, cmd) in &tampering {
        e.c.lab.sh(&node_ns, cmd).with_context(|| what.clone())?;
        let broken = e.nat(1)?;
        ensure!(
            chain_rules(&broken, &chain) != svc_rules
                || !broken.contains(&vip_rule)
                || !broken.contains(&pre_rule),
            "{what}: nothing changed"
        );
        let fulls_before = e.kp[0]
            .syncs(&e.c.lab)
            .iter()
            .filter(|s| s.kind == "full")
            .count();
        let t0 = Instant::now();
        Lab::wait_until(
            Duration::from_secs(6),
            &format!("repair after: {what}"),
            || {
                e.nat(1).is_ok_and(|n| {
                    chain_rules(&n, &chain) == svc_rules
                        && n.contains(&vip_rule)
                        && n.contains(&pre_rule)
                })
            },
        )
        .with_context(|| {
            format!(
                "node 1 nat now:\n{}\n{}",
                e.nat(1)
                    .unwrap_or_else(|err| format!("(iptables-save failed: {err:#})")),
                e.logs()
            )
        })?;
        let took = t0.elapsed();
        let fulls_after = e.kp[0]
            .syncs(&e.c.lab)
            .iter()
            .filter(|s| s.kind == "full")
            .count();
        eprintln!(
            "{what}: repaired after {:.1} s ({} full sync(s) logged meanwhile)",
            took.as_secs_f64(),
            fulls_after - fulls_before
        );
        http_get(&e.c.lab, &client, ip("10.96.0.10"), 80, 2, 2000)
            .with_context(|| format!("traffic after repairing: {what}"))?;
    }
    let fulls = e.kp[0]
        .syncs(&e.c.lab)
        .iter()
        .filter(|s| s.kind == "full")
        .count();
    ensure!(fulls >= 3, "only {fulls} full syncs logged");
    let foreign_after = foreign(&e.nat(1)?, &e.filter(1)?);
    ensure!(
        foreign_after == foreign_before,
        "rules of other programs changed across kube-proxy-lite's syncs:\nbefore: {foreign_before:#?}\nafter: {foreign_after:#?}"
    );
    e.check_healthy()
}

/// Services with an invalid ClusterIP or port are skipped with a warning naming them; the
/// others are programmed and work.
#[test]
fn bad_services_are_skipped_with_a_warning_and_the_rest_work() -> Result<()> {
    let mut e = Env::new(2, &[])?;
    let (_, srv_ip) = e.http_pod(2, "srv", false)?;
    let (client, _) = e.pod(1, "client")?;
    let t = i64::from(HTTP_PORT);
    let list = vec![
        Service::tcp("bad", "bad-ip", "10.96.0.999", 80, t).with_endpoints([srv_ip]),
        Service::tcp("bad", "port-zero", "10.96.0.61", 0, t).with_endpoints([srv_ip]),
        Service::tcp("bad", "port-huge", "10.96.0.62", 70000, t).with_endpoints([srv_ip]),
        Service::tcp("demo", "good", "10.96.0.60", 80, t).with_endpoints([srv_ip]),
    ];
    e.set_services(&list)?;
    for k in &e.kp {
        let log = k.log(&e.c.lab);
        for bad in ["bad/bad-ip", "bad/port-zero", "bad/port-huge"] {
            ensure!(
                log.lines().any(|l| l.contains(bad)),
                "node {}: no warning naming {bad}; log:\n{log}",
                k.node
            );
        }
    }
    let bodies =
        http_get(&e.c.lab, &client, ip("10.96.0.60"), 80, 3, 3000).with_context(|| e.logs())?;
    ensure!(bodies.iter().all(|b| b == "srv"), "got {bodies:?}");
    let nat = e.nat(1)?;
    for bad in ["bad/bad-ip", "bad/port-zero", "bad/port-huge"] {
        ensure!(
            !nat.contains(&format!("\"{bad}:")),
            "rules for skipped Service {bad} in nat:\n{nat}"
        );
    }
    // Fixing one of them later programs it.
    let mut fixed = list.clone();
    fixed[1] = Service::tcp("bad", "port-zero", "10.96.0.61", 81, t).with_endpoints([srv_ip]);
    e.set_services(&fixed)?;
    let bodies = http_get(&e.c.lab, &client, ip("10.96.0.61"), 81, 2, 3000)
        .with_context(|| format!("fixed Service\n{}", e.logs()))?;
    ensure!(bodies.iter().all(|b| b == "srv"), "got {bodies:?}");
    e.check_healthy()
}

/// `--dry-run` prints iptables-restore input in the specified layout and changes nothing;
/// `--once` applies it and exits with one full sync line; the daemon deletes the chains of a
/// removed Service and exits on SIGTERM.
#[test]
fn dry_run_once_and_daemon_cli_contract() -> Result<()> {
    let mut lab = Lab::new(1)?;
    let ns = lab.node_ns(1);
    let file = lab.dir().join("services.json");
    let mut web = Service::tcp("ns1", "svc1", "10.96.0.10", 80, 80).with_endpoints([
        "10.180.0.1",
        "10.180.0.2",
        "10.180.0.3",
    ]);
    web.ports[0].name = "p80".into();
    let np = Service::tcp("ns2", "svc2", "10.96.0.11", 80, 8080)
        .with_node_port(30080)
        .with_endpoints(["10.244.1.3"]);
    let empty = Service::udp("ns3", "svc3", "10.96.0.12", 53, 5353);
    let list = vec![web.clone(), np.clone(), empty.clone()];
    write_services(&file, &list)?;
    let bin = try_workspace_bin(KUBE_PROXY_BIN)?;
    let bin_s = bin.to_string_lossy();
    let file_s = file.to_string_lossy();
    let base = [
        bin_s.as_ref(),
        "--services",
        file_s.as_ref(),
        "--cluster-cidr",
        "10.244.0.0/16",
    ];

    let before = iptables_save(&lab, &ns, None)?;
    let mut cmd = base.to_vec();
    cmd.push("--dry-run");
    let out = lab.exec(&ns, &cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.success(),
        "--dry-run failed ({}): {stderr}",
        out.status
    );
    let after = iptables_save(&lab, &ns, None)?;
    let strip = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    ensure!(
        strip(&before) == strip(&after),
        "--dry-run changed the kernel:\nbefore:\n{before}\nafter:\n{after}"
    );

    let mut problems: Vec<String> = Vec::new();
    let chain1 = "KUBE-SVC-XPGD46QRK7WJZT7O";
    // Spec vector: ns1/svc1:p80 + tcp + 10.180.0.1:80.
    let sep1 = "KUBE-SEP-SXIVWICOYRO3J4NJ";
    let wanted = [
        format!(
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j {chain1}"
        ),
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000".into(),
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN".into(),
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000".into(),
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully".into(),
        "*nat".into(),
        "*filter".into(),
        "COMMIT".into(),
        format!(":{chain1} - [0:0]"),
        format!(":{sep1} - [0:0]"),
    ];
    for line in &wanted {
        if !stdout.lines().any(|l| l.trim_end() == line) {
            problems.push(format!("missing line: {line}"));
        }
    }
    let svc1: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with(&format!("-A {chain1} ")))
        .collect();
    if !(svc1.len() == 4
        && svc1[1].contains("--probability 0.3333333333 ")
        && svc1[2].contains("--probability 0.5000000000 ")
        && !svc1[3].contains("--probability"))
    {
        problems.push(format!("{chain1} rules: {svc1:#?}"));
    }
    if web.sep_chain("10.180.0.1") != sep1
        || !svc1.iter().any(|l| l.ends_with(&format!("-j {sep1}")))
    {
        problems.push(format!("no jump to {sep1} in {chain1}"));
    }
    let svc_lines: Vec<&str> = table_section(&stdout, "nat")
        .into_iter()
        .filter(|l| l.starts_with("-A KUBE-SERVICES "))
        .collect();
    if !svc_lines.last().is_some_and(|l| {
        l.contains("-m addrtype --dst-type LOCAL") && l.ends_with("-j KUBE-NODEPORTS")
    }) {
        problems.push(format!(
            "last nat KUBE-SERVICES rule is not the addrtype LOCAL jump to KUBE-NODEPORTS: {:?}",
            svc_lines.last()
        ));
    }
    if !stdout.contains(&format!("-j {}", np.ext_chain())) {
        problems.push(format!("no jump to {}", np.ext_chain()));
    }
    if !stdout.lines().any(|l| {
        l.contains("--comment \"ns3/svc3:dns has no endpoints\"")
            && l.contains("-m udp -p udp -d 10.96.0.12 --dport 53")
            && l.contains("-j REJECT")
    }) {
        problems.push("no REJECT rule for ns3/svc3:dns (no endpoints)".into());
    }
    if !stdout.contains("KUBE-FORWARD") || !stdout.contains("0x4000/0x4000") {
        problems.push("no KUBE-FORWARD accepting the 0x4000 mark".into());
    }
    ensure!(
        problems.is_empty(),
        "--dry-run output does not follow service-rules.md:\n  {}\n--- output:\n{stdout}",
        problems.join("\n  ")
    );

    // --once: one full sync, rules in the kernel, exit 0.
    let mut cmd = base.to_vec();
    cmd.push("--once");
    let out = lab.exec(&ns, &cmd)?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.success(),
        "--once failed ({}): {stderr}",
        out.status
    );
    let syncs = services::sync_lines(&stderr);
    ensure!(
        syncs.len() == 1 && syncs[0].kind == "full" && malformed_sync_lines(&stderr).is_empty(),
        "--once should print exactly one `sync kind=full ...` line, stderr:\n{stderr}"
    );
    ensure!(
        syncs[0].services == 3,
        "--once over 3 Services logged services={}",
        syncs[0].services
    );
    ensure!(
        syncs[0].total_ms + 0.5 >= syncs[0].apply_ms,
        "total_ms < apply_ms in {:?}",
        syncs[0]
    );
    let nat = iptables_save(&lab, &ns, Some("nat"))?;
    for c in [
        chain1.to_string(),
        web.sep_chain("10.180.0.1"),
        np.ext_chain(),
    ] {
        ensure!(has_chain(&nat, &c), "--once did not create {c}:\n{nat}");
    }
    for (chain, target) in [
        ("PREROUTING", "KUBE-SERVICES"),
        ("OUTPUT", "KUBE-SERVICES"),
        ("POSTROUTING", "KUBE-POSTROUTING"),
    ] {
        ensure!(
            chain_rules(&nat, chain)
                .iter()
                .any(|r| r.ends_with(&format!("-j {target}"))),
            "no {chain} -> {target} jump after --once:\n{nat}"
        );
    }
    let filter = iptables_save(&lab, &ns, Some("filter"))?;
    for (chain, target) in [
        ("FORWARD", "KUBE-FORWARD"),
        ("FORWARD", "KUBE-SERVICES"),
        ("OUTPUT", "KUBE-SERVICES"),
    ] {
        ensure!(
            chain_rules(&filter, chain)
                .iter()
                .any(|r| r.ends_with(&format!("-j {target}"))),
            "no filter {chain} -> {target} jump after --once:\n{filter}"
        );
    }

    // Daemon: removing a Service deletes its chains; SIGTERM stops it.
    let kp = spawn_kube_proxy(&mut lab, 1, &file, &["--min-sync-period", "0.1"])?;
    kp.wait_sync_after(&mut lab, 0, SYNC_TIMEOUT)?;
    let seen = kp.syncs(&lab).len();
    write_services(&file, &[np.clone(), empty.clone()])?;
    let line = kp.wait_sync_after(&mut lab, seen, SYNC_TIMEOUT)?;
    eprintln!("sync after removing ns1/svc1: {line:?}");
    let mut gone = false;
    Lab::wait_until(Duration::from_secs(3), "ns1/svc1 chains deleted", || {
        gone = iptables_save(&lab, &ns, Some("nat")).is_ok_and(|n| {
            !has_chain(&n, chain1)
                && !has_chain(&n, &web.sep_chain("10.180.0.1"))
                && !n.contains("ns1/svc1")
                && has_chain(&n, &np.ext_chain())
        });
        gone
    })
    .with_context(|| {
        format!(
            "nat after removing ns1/svc1:\n{}",
            iptables_save(&lab, &ns, Some("nat"))
                .unwrap_or_else(|err| format!("(iptables-save failed: {err:#})"))
        )
    })?;
    let t0 = Instant::now();
    lab.kill(kp.id, libc::SIGTERM)
        .context("kube-proxy-lite did not stop on SIGTERM")?;
    let status = lab
        .exit_status(kp.id)?
        .context("kube-proxy-lite has no exit status after stopping")?;
    eprintln!(
        "kube-proxy-lite exited after SIGTERM in {:.2} s: {status}",
        t0.elapsed().as_secs_f64()
    );
    // The README promises exit status 0 on SIGTERM/SIGINT; dying of the signal is not that.
    ensure!(
        status.code() == Some(0),
        "kube-proxy-lite on SIGTERM: {status}, want exit status 0:\n{}",
        kp.log(&lab)
    );
    ensure!(
        malformed_sync_lines(&kp.log(&lab)).is_empty(),
        "malformed sync lines"
    );
    Ok(())
}

/// The labtool probes the Service tests rely on, directly between two pods (no Services): HTTP
/// name servers with and without the peer address, UDP from a fixed local port, and the
/// outcomes of tcp-connect.
#[test]
fn labtool_probes_work_between_pods() -> Result<()> {
    let mut lab = Lab::new(1)?;
    let a = lab.add_pod(1, "a", "10.244.9.2/24", "10.244.9.1")?;
    let b = lab.add_pod(1, "b", "10.244.9.3/24", "10.244.9.1")?;
    let b_ip = ip("10.244.9.3");
    start_http_name(&mut lab, &b, 8080, "bee", false)?;
    start_http_name(&mut lab, &b, 8081, "bee", true)?;
    start_udp_name(&mut lab, &b, 5353, "ubee", true)?;
    let bodies = http_get(&lab, &a, b_ip, 8080, 20, 2000)?;
    ensure!(bodies.iter().all(|x| x == "bee"), "{bodies:?}");
    let bodies = http_get(&lab, &a, b_ip, 8081, 2, 2000)?;
    ensure!(bodies.iter().all(|x| x == "bee 10.244.9.2"), "{bodies:?}");
    ensure!(
        http_get(&lab, &a, b_ip, 8082, 1, 1000).is_err(),
        "http-get must fail without a server"
    );
    let (outcome, ms) = tcp_connect(&lab, &a, b_ip, 8080, 2000)?;
    ensure!(outcome == "ok", "tcp-connect to a server: {outcome} {ms}");
    let (outcome, ms) = tcp_connect(&lab, &a, b_ip, 9999, 2000)?;
    eprintln!("tcp-connect to a closed port: {outcome} after {ms} ms");
    ensure!(
        outcome == "refused",
        "tcp-connect to a closed port: {outcome} {ms}"
    );
    let (outcome, ms) = tcp_connect(&lab, &a, ip("10.244.9.77"), 80, 300)?;
    ensure!(
        outcome == "timeout" || outcome == "unreachable",
        "tcp-connect to nobody: {outcome} {ms}"
    );
    let tool = try_workspace_bin("labtool")?;
    let tool = tool.to_string_lossy();
    let out = lab.exec(
        &a,
        &[
            &tool,
            "udp-ask",
            "10.244.9.3",
            "5353",
            "--count",
            "3",
            "--interval-ms",
            "50",
            "--local-port",
            "40053",
            "--stamp",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    ensure!(
        out.status.success()
            && lines.len() == 3
            && lines.iter().all(|l| l.ends_with(" ubee 10.244.9.2")),
        "udp-ask: {text:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab.exec(
        &a,
        &[
            &tool,
            "udp-ask",
            "10.244.9.3",
            "5354",
            "--count",
            "2",
            "--interval-ms",
            "100",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.lines().all(|l| l == "refused" || l == "timeout") && text.lines().count() == 2,
        "udp-ask to a closed port: {text:?}"
    );
    Ok(())
}
