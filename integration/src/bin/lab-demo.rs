//! `lab-demo`: the main job for a newcomer. Builds a 3-node cluster from network namespaces with
//! a real etcd, runs flanneld on every node, puts a pod on each node (wired by our flannel CNI
//! plugin, executed the way a container runtime executes it), shows every pod reaching
//! every other pod (ICMP and TCP) and the outside world, prints `flanneld routes` of each node,
//! and tears everything down.
//!
//! Usage: lab-demo [--backend vxlan|host-gw|udp] [--nodes N]

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flannel_integration::cluster::{net_config, Cluster, Instance};
use flannel_integration::Lab;

const PORT: u16 = 7000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<(String, usize)> {
    let mut backend = "vxlan".to_string();
    let mut nodes = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => backend = args.next().context("--backend needs a value")?,
            "--nodes" => {
                nodes = args
                    .next()
                    .context("--nodes needs a value")?
                    .parse()
                    .context("--nodes expects a number")?
            }
            "-h" | "--help" => {
                println!("usage: lab-demo [--backend vxlan|host-gw|udp] [--nodes N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (usage: lab-demo [--backend vxlan|host-gw|udp] [--nodes N])"),
        }
    }
    if !(2..=20).contains(&nodes) {
        bail!("--nodes must be between 2 and 20");
    }
    Ok((backend, nodes))
}

fn run() -> Result<()> {
    let (backend, nodes) = parse_args()?;
    println!("== building a {nodes}-node lab (namespaces, fabric bridge, etcd on 198.18.0.254)");
    let mut c = Cluster::new(nodes, &net_config("10.244.0.0/16", &backend))?;
    println!(
        "   lab prefix {}; network config: {}",
        c.lab.prefix(),
        net_config("10.244.0.0/16", &backend)
    );
    println!("== starting flanneld ({backend}) on every node");
    c.start_all(&Instance {
        args: vec!["--ip-masq".into()],
        ..Default::default()
    })?;
    let mut pods = Vec::new();
    for n in 1..=nodes {
        let env = std::fs::read_to_string(c.subnet_file(n, "a"))?;
        println!(
            "-- node {n} ({}) subnet.env:\n{}",
            Lab::node_ip(n),
            indent(&env)
        );
        let pod = c.add_pod(n, "a", "cni0")?;
        println!(
            "   pod {} wired by the flannel CNI plugin (upstream's conflist: flannel + portmap): eth0 {}",
            pod.0, pod.1
        );
        c.lab.start_tcp_echo(&pod.0, PORT)?;
        pods.push(pod);
    }
    for n in 1..=nodes {
        Lab::wait_until(Duration::from_secs(15), "routes to converge", || {
            c.all_ok(n, "a", nodes - 1)
        })?;
    }
    println!("== pod to pod (ICMP and TCP)");
    let mut failures = 0;
    for (i, (from, from_ip)) in pods.iter().enumerate() {
        for (j, (_, to)) in pods.iter().enumerate() {
            if i == j {
                continue;
            }
            let ping = c.lab.ping(from, *to);
            let tcp = c.lab.tcp_check(from, *to, PORT);
            failures += usize::from(!ping) + usize::from(!tcp);
            println!(
                "   pod on node {} ({from_ip}) -> pod on node {} ({to}): ping {}, tcp {}",
                i + 1,
                j + 1,
                ok(ping),
                ok(tcp)
            );
        }
    }
    let out = c.lab.ping(&pods[0].0, "203.0.113.10".parse()?);
    failures += usize::from(!out);
    println!(
        "   pod on node 1 -> outside host 203.0.113.10 (masqueraded): ping {}",
        ok(out)
    );
    for n in 1..=nodes {
        println!("== flanneld routes on node {n}");
        print!("{}", indent(&c.routes(n, "a", false)?));
    }
    println!("== tearing down (namespaces, etcd, flanneld)");
    drop(c);
    if failures > 0 {
        bail!("{failures} checks failed");
    }
    println!("demo OK");
    Ok(())
}

fn ok(b: bool) -> &'static str {
    if b {
        "ok"
    } else {
        "FAILED"
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("   {l}\n")).collect()
}
