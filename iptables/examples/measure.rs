//! Measures kube-proxy-lite's sync paths at scale in throw-away network
//! namespaces (`fl-kpl-measure-*`; needs root). Not a timed test: it prints
//! figures.
//!
//! ```text
//! cargo build --release -p flannel-iptables
//! cargo run --release -p flannel-iptables --example measure -- [SERVICES] [ENDPOINTS]
//! ```
//!
//! Prints, for SERVICES x ENDPOINTS (default 10,000 x 3):
//! - render time and a plain `iptables-restore` of the same rules into an
//!   empty namespace (the floor);
//! - full sync (save + merge + plain restore) into a namespace holding
//!   flanneld's rules, first and periodic;
//! - one-endpoint partial syncs, and a one-service add;
//! - with the release binary built: end to end through `kube-proxy-lite`
//!   (file rewritten -> `sync kind=partial` line -> rule in the kernel).

use flannel_iptables::flannel::{forward_rules, masq_rules};
use flannel_iptables::proxier::dry_run_payload;
use flannel_iptables::{
    ensure, Endpoint, Iptables, Protocol, Proxier, ProxyConfig, ProxyState, ServicePort,
    ServicePortName,
};
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("fl-kpl-measure-{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot create namespace {name} (root needed)");
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ip(a: u32) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn state(services: u32, endpoints: u32) -> ProxyState {
    ProxyState::from_ports((0..services).map(|i| {
        ServicePort {
            name: ServicePortName::new(
                &format!("ns{}", i % 100),
                &format!("svc{i}"),
                "http",
                Protocol::Tcp,
            ),
            cluster_ip: ip(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + i),
            port: 80,
            node_port: None,
            affinity_timeout: None,
            endpoints: (0..endpoints)
                .map(|e| Endpoint {
                    ip: ip(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + i * endpoints + e),
                    port: 8080,
                })
                .collect(),
        }
    }))
}

fn json(services: u32, endpoints: u32, bump: u32) -> String {
    let mut out = String::from(r#"{"apiVersion":"v1","kind":"List","items":["#);
    for i in 0..services {
        if i > 0 {
            out.push(',');
        }
        let vip = ip(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + i);
        out.push_str(&format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"svc{i}","namespace":"ns{}"}},"spec":{{"clusterIP":"{vip}","type":"ClusterIP","ports":[{{"name":"http","protocol":"TCP","port":80,"targetPort":8080}}]}}}},"#,
            i % 100
        ));
        let mut addrs: Vec<String> = (0..endpoints)
            .map(|e| {
                let a = ip(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + i * endpoints + e);
                format!(r#"{{"ip":"{a}"}}"#)
            })
            .collect();
        if i == 0 && bump > 0 {
            addrs.push(format!(r#"{{"ip":"10.250.0.{bump}"}}"#));
        }
        out.push_str(&format!(
            r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"svc{i}","namespace":"ns{}"}},"subsets":[{{"addresses":[{}],"ports":[{{"name":"http","port":8080,"protocol":"TCP"}}]}}]}}"#,
            i % 100,
            addrs.join(",")
        ));
    }
    out.push_str("]}");
    out
}

fn restore_plain(ns: &Netns, payload: &str) -> Duration {
    let start = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, "iptables-restore", "--wait"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("iptables-restore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(payload.as_bytes())
        .expect("write");
    assert!(child.wait().expect("wait").success(), "restore failed");
    start.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let services: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let endpoints: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let cfg = ProxyConfig {
        cluster_cidr: Some("10.244.0.0/16".parse().expect("cidr")),
        ..ProxyConfig::default()
    };
    let desired = state(services, endpoints);
    println!("{services} services x {endpoints} endpoints");

    // The floor: render + plain restore into an empty namespace.
    let start = Instant::now();
    let payload = dry_run_payload(&desired, &cfg);
    let render = start.elapsed();
    let chains = payload.lines().filter(|l| l.starts_with(':')).count();
    println!(
        "payload: {} lines, {chains} chains, {:.1} MB, rendered in {:.1} ms",
        payload.lines().count(),
        payload.len() as f64 / 1e6,
        ms(render)
    );
    let floor = {
        let ns = Netns::new("floor");
        let t = restore_plain(&ns, &payload);
        println!(
            "plain iptables-restore into an empty namespace: {:.0} ms",
            ms(t)
        );
        t
    };

    // Full sync through the engine, with flanneld's rules present.
    let ns = Netns::new("engine");
    let ipt = Iptables::in_netns(&ns.0);
    let network = "10.244.0.0/16".parse().expect("net");
    ensure(
        &ipt,
        &masq_rules(network, "10.244.1.0/24".parse().expect("subnet"), true),
    )
    .expect("flannel");
    ensure(&ipt, &forward_rules(network)).expect("flannel");
    let mut proxier = Proxier::new(ipt.clone(), cfg.clone());
    for label in [
        "first full sync (empty tables)",
        "periodic full sync (full tables)",
        "periodic full sync (full tables)",
    ] {
        let start = Instant::now();
        let r = proxier.full_sync(&desired).expect("full sync");
        let total = start.elapsed();
        println!(
            "{label}: total {:.0} ms (render+merge {:.0} ms, save+restore {:.0} ms) = {:.2}x the floor",
            ms(total),
            ms(r.render),
            ms(r.apply),
            total.as_secs_f64() / floor.as_secs_f64()
        );
    }

    // One-endpoint partial syncs.
    let first = desired.services.keys().next().expect("a service").clone();
    let mut times = Vec::new();
    for round in 0..10u8 {
        let mut next = desired.clone();
        if round % 2 == 0 {
            next.services
                .get_mut(&first)
                .expect("svc")
                .endpoints
                .push(Endpoint {
                    ip: Ipv4Addr::new(10, 250, 0, round + 1),
                    port: 8080,
                });
        }
        let start = Instant::now();
        let r = proxier.sync(&next).expect("partial");
        let total = start.elapsed();
        assert_eq!(r.kind, flannel_iptables::SyncKind::Partial);
        times.push((ms(total), ms(r.render), ms(r.apply), r.chains));
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (t, rnd, app, ch) = times[times.len() / 2];
    println!(
        "one-endpoint partial sync (median of {}): {t:.1} ms (render {rnd:.1} ms, apply {app:.1} ms, {ch} chains); max {:.1} ms",
        times.len(),
        times.last().map_or(0.0, |x| x.0)
    );

    // One service added: rewrites KUBE-SERVICES (one rule per service) too.
    let mut next = desired.clone();
    let extra = ServicePort {
        name: ServicePortName::new("extra", "svc", "http", Protocol::Tcp),
        cluster_ip: Ipv4Addr::new(10, 97, 0, 1),
        port: 80,
        node_port: None,
        affinity_timeout: None,
        endpoints: vec![Endpoint {
            ip: Ipv4Addr::new(10, 251, 0, 1),
            port: 8080,
        }],
    };
    next.services.insert(extra.name.clone(), extra);
    let start = Instant::now();
    let r = proxier.sync(&next).expect("service add");
    println!(
        "one-service add (partial, rewrites KUBE-SERVICES): {:.0} ms ({} chains)",
        ms(start.elapsed()),
        r.chains
    );

    // Many endpoint changes in one partial sync.
    proxier.sync(&desired).expect("remove the extra service");
    for n in [100usize, 1000] {
        let mut next = desired.clone();
        for (i, sp) in next.services.values_mut().take(n).enumerate() {
            sp.endpoints[0].ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 252, 0, 0)) + i as u32);
        }
        let start = Instant::now();
        let r = proxier.sync(&next).expect("bulk change");
        println!(
            "{n} endpoints replaced at once: {:?} sync of {} chains in {:.0} ms",
            r.kind,
            r.chains,
            ms(start.elapsed())
        );
        proxier.sync(&desired).expect("back");
    }
    let mut slow = Proxier::new(ipt.clone(), cfg.clone()).with_full_save();
    let start = Instant::now();
    let r = slow
        .full_sync(&desired)
        .expect("full sync with iptables-save");
    println!(
        "periodic full sync reading with iptables-save instead: total {:.0} ms (save+restore {:.0} ms) = {:.2}x the floor",
        ms(start.elapsed()),
        ms(r.apply),
        start.elapsed().as_secs_f64() / floor.as_secs_f64()
    );
    drop(ns);

    end_to_end(services, endpoints);
}

/// Through the release binary: file rewritten -> sync line -> rule visible.
fn end_to_end(services: u32, endpoints: u32) {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/kube-proxy-lite");
    if !bin.exists() {
        println!("(build the release binary for the end-to-end figures: cargo build --release -p flannel-iptables)");
        return;
    }
    let ns = Netns::new("e2e");
    let dir = std::env::temp_dir().join(format!("fl-kpl-measure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("services.json");
    write_atomic(&file, &json(services, endpoints, 0));
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(&bin)
        .arg("--services")
        .arg(&file)
        .args([
            "--cluster-cidr",
            "10.244.0.0/16",
            "--min-sync-period",
            "0.05",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("kube-proxy-lite");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut next_sync = || loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("sync ") => return l,
            Some(Ok(_)) => {}
            _ => panic!("kube-proxy-lite exited"),
        }
    };
    println!("binary first sync: {}", next_sync());
    let probe = |bump: u32| {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, "iptables", "-t", "nat", "-S"])
            .arg(flannel_iptables::names::service_chain(
                "ns0/svc0:http",
                "tcp",
            ))
            .output()
            .expect("iptables -S");
        String::from_utf8_lossy(&out.stdout).contains(&format!("10.250.0.{bump}:8080"))
            == (bump > 0)
    };
    let mut e2e = Vec::new();
    for round in 1..=6u32 {
        let bump = if round % 2 == 1 { round } else { 0 };
        let text = json(services, endpoints, bump);
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        write_atomic(&file, &text);
        let line = next_sync();
        let logged = start.elapsed();
        while !probe(bump) {
            std::thread::sleep(Duration::from_millis(1));
        }
        e2e.push(ms(logged));
        println!("  write -> sync line {:.1} ms: {line}", ms(logged));
    }
    e2e.sort_by(f64::total_cmp);
    println!(
        "end to end (file rewritten -> rules applied), median {:.1} ms, max {:.1} ms",
        e2e[e2e.len() / 2],
        e2e.last().copied().unwrap_or(0.0)
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    println!("kube-proxy-lite stopped: {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}
