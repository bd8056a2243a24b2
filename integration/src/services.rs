//! Helpers for testing and benchmarking `kube-proxy-lite` in the lab: the Services file (a
//! Kubernetes v1 `List` of Service and Endpoints objects as `kubectl get svc,endpoints -A -o json`
//! prints it) and its atomic replacement, the `sync kind=...` log lines, the kube-proxy chain
//! names of `/work/shared/spec/service-rules.md`, and the `labtool` servers and clients used to
//! probe Services from inside lab namespaces.
//!
//! Everything that runs a command does so inside a namespace of the given [`Lab`] (the lab
//! refuses any other namespace).

use flannel_iptables::names;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::lab::Lab;
use crate::prereq::try_workspace_bin;
use crate::procs::ProcId;

/// Name of the binary under test.
pub const KUBE_PROXY_BIN: &str = "kube-proxy-lite";
/// The pod network passed as `--cluster-cidr`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// The masquerade mark kube-proxy uses (and flanneld's masquerade chain skips).
pub const MASQ_MARK: &str = "0x4000";

// ------------------------------------------------------------------------- the Services file

/// One port of a Service (values are signed and wide so that tests can write invalid ones).
#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: String,
    /// `TCP` or `UDP`.
    pub protocol: String,
    pub port: i64,
    pub target_port: i64,
    pub node_port: Option<i64>,
}

/// A Service and its Endpoints (one subset: every address serves every port).
#[derive(Clone, Debug)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// Kept as text so that tests can write invalid addresses.
    pub cluster_ip: String,
    pub ports: Vec<ServicePort>,
    /// `spec.sessionAffinity: ClientIP` with this timeout.
    pub affinity_timeout: Option<u32>,
    /// Endpoint addresses; empty means an Endpoints object without subsets.
    pub endpoints: Vec<String>,
}

impl Service {
    /// A ClusterIP Service with one TCP port named `http`.
    pub fn tcp(namespace: &str, name: &str, cluster_ip: &str, port: i64, target_port: i64) -> Self {
        Service::one_port(
            namespace,
            name,
            cluster_ip,
            "http",
            "TCP",
            port,
            target_port,
        )
    }

    /// A ClusterIP Service with one UDP port named `dns`.
    pub fn udp(namespace: &str, name: &str, cluster_ip: &str, port: i64, target_port: i64) -> Self {
        Service::one_port(namespace, name, cluster_ip, "dns", "UDP", port, target_port)
    }

    fn one_port(
        namespace: &str,
        name: &str,
        cluster_ip: &str,
        port_name: &str,
        protocol: &str,
        port: i64,
        target_port: i64,
    ) -> Self {
        Service {
            namespace: namespace.into(),
            name: name.into(),
            cluster_ip: cluster_ip.into(),
            ports: vec![ServicePort {
                name: port_name.into(),
                protocol: protocol.into(),
                port,
                target_port,
                node_port: None,
            }],
            affinity_timeout: None,
            endpoints: vec![],
        }
    }

    /// Makes it a NodePort Service; the first port gets `node_port`.
    pub fn with_node_port(mut self, node_port: i64) -> Self {
        if let Some(p) = self.ports.first_mut() {
            p.node_port = Some(node_port);
        }
        self
    }

    /// Session affinity ClientIP with `timeout` seconds.
    pub fn with_affinity(mut self, timeout: u32) -> Self {
        self.affinity_timeout = Some(timeout);
        self
    }

    pub fn with_endpoints<I: ToString>(mut self, ips: impl IntoIterator<Item = I>) -> Self {
        self.endpoints = ips.into_iter().map(|i| i.to_string()).collect();
        self
    }

    pub fn is_node_port(&self) -> bool {
        self.ports.iter().any(|p| p.node_port.is_some())
    }

    /// `<namespace>/<name>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The Service object.
    pub fn service_json(&self, seq: usize) -> Value {
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let mut v = json!({
                    "name": p.name,
                    "port": p.port,
                    "protocol": p.protocol,
                    "targetPort": p.target_port,
                });
                if let Some(np) = p.node_port {
                    v["nodePort"] = json!(np);
                }
                v
            })
            .collect();
        let mut spec = json!({
            "clusterIP": self.cluster_ip,
            "clusterIPs": [self.cluster_ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": {"app": self.name},
            "sessionAffinity": "None",
            "type": if self.is_node_port() { "NodePort" } else { "ClusterIP" },
        });
        if self.is_node_port() {
            spec["externalTrafficPolicy"] = json!("Cluster");
        }
        if let Some(t) = self.affinity_timeout {
            spec["sessionAffinity"] = json!("ClientIP");
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
        }
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(seq, "5"),
            "spec": spec,
            "status": {"loadBalancer": {}},
        })
    }

    /// The Endpoints object (no `subsets` key when there are no endpoints, as kubectl prints it).
    pub fn endpoints_json(&self, seq: usize) -> Value {
        let mut v = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": self.metadata(seq, "7"),
        });
        if !self.endpoints.is_empty() {
            let addresses: Vec<Value> = self
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, ip)| {
                    json!({
                        "ip": ip,
                        "nodeName": "lab-node",
                        "targetRef": {
                            "kind": "Pod",
                            "name": format!("{}-{i}", self.name),
                            "namespace": self.namespace,
                            "uid": fake_uid(seq * 16 + i, "9"),
                        }
                    })
                })
                .collect();
            let ports: Vec<Value> = self
                .ports
                .iter()
                .map(|p| json!({"name": p.name, "port": p.target_port, "protocol": p.protocol}))
                .collect();
            v["subsets"] = json!([{"addresses": addresses, "ports": ports}]);
        }
        v
    }

    fn metadata(&self, seq: usize, uid_tag: &str) -> Value {
        json!({
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": self.name},
            "name": self.name,
            "namespace": self.namespace,
            "resourceVersion": (1000 + seq).to_string(),
            "uid": fake_uid(seq, uid_tag),
        })
    }
}

fn fake_uid(seq: usize, tag: &str) -> String {
    format!("{tag}0000000-0000-4000-8000-{seq:012x}")
}

/// The `List` kubectl prints for `get svc,endpoints -A -o json`: all Services, then all Endpoints.
pub fn service_list(services: &[Service]) -> Value {
    let mut items: Vec<Value> = services
        .iter()
        .enumerate()
        .map(|(i, s)| s.service_json(i))
        .collect();
    items.extend(
        services
            .iter()
            .enumerate()
            .map(|(i, s)| s.endpoints_json(i)),
    );
    json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// Writes `contents` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let file = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Writes the `List` of `services` to `path` atomically.
pub fn write_services(path: &Path, services: &[Service]) -> Result<()> {
    let text = serde_json::to_vec_pretty(&service_list(services))?;
    write_atomic(path, &text)
}

// ------------------------------------------------------------------------ chain names (spec)
// The names come from the rule writer's own `names` module (tested there against the spec's
// vectors), so tests and kube-proxy-lite agree by construction on how a name is formed.

fn service_port(namespace: &str, name: &str, port_name: &str) -> String {
    format!("{namespace}/{name}:{port_name}")
}

/// `KUBE-SVC-<hash>` of a service port (`protocol` in any case).
pub fn svc_chain(namespace: &str, name: &str, port_name: &str, protocol: &str) -> String {
    names::service_chain(
        &service_port(namespace, name, port_name),
        &protocol.to_lowercase(),
    )
}

/// `KUBE-EXT-<hash>` of a service port.
pub fn ext_chain(namespace: &str, name: &str, port_name: &str, protocol: &str) -> String {
    names::external_chain(
        &service_port(namespace, name, port_name),
        &protocol.to_lowercase(),
    )
}

/// `KUBE-SEP-<hash>` of one endpoint `ip:port` of a service port.
pub fn sep_chain(
    namespace: &str,
    name: &str,
    port_name: &str,
    protocol: &str,
    endpoint: &str,
) -> String {
    names::endpoint_chain(
        &service_port(namespace, name, port_name),
        &protocol.to_lowercase(),
        endpoint,
    )
}

impl Service {
    /// `KUBE-SVC-` chain of the first port.
    pub fn svc_chain(&self) -> String {
        let p = &self.ports[0];
        svc_chain(&self.namespace, &self.name, &p.name, &p.protocol)
    }

    /// `KUBE-EXT-` chain of the first port.
    pub fn ext_chain(&self) -> String {
        let p = &self.ports[0];
        ext_chain(&self.namespace, &self.name, &p.name, &p.protocol)
    }

    /// `KUBE-SEP-` chain of endpoint `ip` for the first port.
    pub fn sep_chain(&self, ip: &str) -> String {
        let p = &self.ports[0];
        sep_chain(
            &self.namespace,
            &self.name,
            &p.name,
            &p.protocol,
            &format!("{ip}:{}", p.target_port),
        )
    }
}

// --------------------------------------------------------------------------------- sync lines

/// One `sync kind=<full|partial> services=<N> chains=<M> render_ms=<f> apply_ms=<f> total_ms=<f>`
/// line of kube-proxy-lite's stderr.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncLine {
    pub kind: String,
    pub services: u64,
    pub chains: u64,
    pub render_ms: f64,
    pub apply_ms: f64,
    pub total_ms: f64,
}

impl SyncLine {
    /// Parses a line that is exactly a sync line (no prefix, fields in the specified order).
    pub fn parse_exact(line: &str) -> Option<SyncLine> {
        let mut it = line.trim_end().split(' ');
        if it.next()? != "sync" {
            return None;
        }
        let mut field = |name: &str| -> Option<String> {
            let (k, v) = it.next()?.split_once('=')?;
            (k == name).then(|| v.to_string())
        };
        let kind = field("kind")?;
        let services = field("services")?.parse().ok()?;
        let chains = field("chains")?.parse().ok()?;
        let render_ms = field("render_ms")?.parse().ok()?;
        let apply_ms = field("apply_ms")?.parse().ok()?;
        let total_ms = field("total_ms")?.parse().ok()?;
        if it.next().is_some() || !(kind == "full" || kind == "partial") {
            return None;
        }
        Some(SyncLine {
            kind,
            services,
            chains,
            render_ms,
            apply_ms,
            total_ms,
        })
    }

    /// Parses the sync line in `line`, tolerating a prefix (e.g. a log timestamp) before `sync`.
    pub fn find(line: &str) -> Option<SyncLine> {
        let at = line.find("sync kind=")?;
        SyncLine::parse_exact(&line[at..])
    }
}

/// Every sync line in a log (lenient about prefixes, see [`SyncLine::find`]).
pub fn sync_lines(log: &str) -> Vec<SyncLine> {
    log.lines().filter_map(SyncLine::find).collect()
}

/// Lines mentioning `sync kind=` that are not exactly in the specified format.
pub fn malformed_sync_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("sync kind=") && SyncLine::parse_exact(l).is_none())
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------------------ kube-proxy-lite runs

/// The log name of kube-proxy-lite on node `node`.
pub fn kpl_log_name(node: usize) -> String {
    format!("kpl-n{node}")
}

/// A running kube-proxy-lite.
#[derive(Clone, Debug)]
pub struct KubeProxy {
    pub node: usize,
    pub id: ProcId,
    pub log_name: String,
}

/// Starts `kube-proxy-lite --services FILE --cluster-cidr 10.244.0.0/16 <extra>` in node `node`
/// (log `kpl-n<node>`); does not wait.
pub fn spawn_kube_proxy(
    lab: &mut Lab,
    node: usize,
    file: &Path,
    extra: &[&str],
) -> Result<KubeProxy> {
    let bin = try_workspace_bin(KUBE_PROXY_BIN)?;
    let mut args = vec![
        "--services".to_string(),
        file.display().to_string(),
        "--cluster-cidr".to_string(),
        CLUSTER_CIDR.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let log_name = kpl_log_name(node);
    let ns = lab.node_ns(node);
    let id = lab.spawn(&ns, &log_name, &bin, &args, &[])?;
    Ok(KubeProxy { node, id, log_name })
}

impl KubeProxy {
    /// Sync lines logged so far.
    pub fn syncs(&self, lab: &Lab) -> Vec<SyncLine> {
        sync_lines(&lab.log(&self.log_name))
    }

    /// Waits until more than `seen` sync lines were logged; returns the newest one. Errors (with
    /// the log's tail) if the process exits or nothing comes within `timeout`.
    pub fn wait_sync_after(
        &self,
        lab: &mut Lab,
        seen: usize,
        timeout: Duration,
    ) -> Result<SyncLine> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = lab.log(&self.log_name);
            let lines = sync_lines(&log);
            if lines.len() > seen {
                return lines.last().cloned().context("sync line vanished");
            }
            if !lab.is_running(self.id) {
                bail!(
                    "kube-proxy-lite on node {} exited (waiting for sync #{}):\n{}",
                    self.node,
                    seen + 1,
                    tail(&log, 30)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "kube-proxy-lite on node {}: no sync #{} within {timeout:?}; log tail:\n{}",
                    self.node,
                    seen + 1,
                    tail(&log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self, lab: &Lab) -> String {
        lab.log(&self.log_name)
    }
}

/// Last `n` lines of `s` (moved to the harness; kept here for existing callers).
pub use crate::procs::tail;

/// `iptables-save [-t table]` inside a lab namespace (read-only).
pub fn iptables_save(lab: &Lab, ns: &str, table: Option<&str>) -> Result<String> {
    let mut cmd = vec!["iptables-save"];
    if let Some(t) = table {
        cmd.extend(["-t", t]);
    }
    let out = lab.exec(ns, &cmd)?;
    ensure!(
        out.status.success(),
        "iptables-save in {ns} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `-A <chain> ...` lines of `chain` in iptables-save output.
pub fn chain_rules<'a>(save: &'a str, chain: &str) -> Vec<&'a str> {
    let prefix = format!("-A {chain} ");
    save.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// Whether iptables-save output declares `chain`.
pub fn has_chain(save: &str, chain: &str) -> bool {
    let decl = format!(":{chain} ");
    save.lines().any(|l| l.starts_with(&decl))
}

/// Number of declared chains whose name starts with `prefix`.
pub fn count_chains(save: &str, prefix: &str) -> usize {
    let decl = format!(":{prefix}");
    save.lines().filter(|l| l.starts_with(&decl)).count()
}

// ------------------------------------------------------------------------------- pods, probes

/// A pod `name` on `node` wired by the flannel CNI plugin with upstream's conflist (as
/// [`Cluster::add_pod`] does for `pod-<inst>`); returns its namespace and address.
pub fn add_pod(c: &Cluster, node: usize, name: &str) -> Result<(String, Ipv4Addr)> {
    c.add_named_pod(node, name, "a", "cni0")
}

fn labtool() -> Result<PathBuf> {
    try_workspace_bin("labtool")
}

/// Starts a labtool server (`http-name` or `udp-name`) in `ns` and waits until it listens.
fn start_server(
    lab: &mut Lab,
    ns: &str,
    kind: &str,
    port: u16,
    name: &str,
    echo_peer: bool,
) -> Result<ProcId> {
    let mut extra = vec![name.to_string()];
    if echo_peer {
        extra.push("--echo-peer".into());
    }
    lab.start_labtool_server(ns, kind, port, &extra)
}

/// `labtool http-name PORT NAME [--echo-peer]` in `ns`.
pub fn start_http_name(
    lab: &mut Lab,
    ns: &str,
    port: u16,
    name: &str,
    echo_peer: bool,
) -> Result<ProcId> {
    start_server(lab, ns, "http-name", port, name, echo_peer)
}

/// `labtool udp-name PORT NAME [--echo-peer]` in `ns`.
pub fn start_udp_name(
    lab: &mut Lab,
    ns: &str,
    port: u16,
    name: &str,
    echo_peer: bool,
) -> Result<ProcId> {
    start_server(lab, ns, "udp-name", port, name, echo_peer)
}

/// `labtool http-get IP PORT --count N --timeout-ms T` from `ns`; the bodies, or an error with
/// what labtool printed.
pub fn http_get(
    lab: &Lab,
    ns: &str,
    ip: Ipv4Addr,
    port: u16,
    count: u32,
    timeout_ms: u64,
) -> Result<Vec<String>> {
    let tool = labtool()?;
    let tool = tool.to_string_lossy();
    let (ip_s, port_s, count_s, t_s) = (
        ip.to_string(),
        port.to_string(),
        count.to_string(),
        timeout_ms.to_string(),
    );
    let out = lab.exec(
        ns,
        &[
            &tool,
            "http-get",
            &ip_s,
            &port_s,
            "--count",
            &count_s,
            "--timeout-ms",
            &t_s,
        ],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bodies: Vec<String> = stdout.lines().map(str::to_string).collect();
    if !out.status.success() {
        bail!(
            "http-get {ip}:{port} from {ns} failed ({}) after {} answers: {}",
            out.status,
            bodies.len(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    ensure!(
        bodies.len() == count as usize,
        "http-get {ip}:{port} from {ns}: {} bodies for {count} requests",
        bodies.len()
    );
    Ok(bodies)
}

/// Outcome of `labtool tcp-connect`: (`ok`|`refused`|`timeout`|`unreachable`|`error:..`, ms).
pub fn tcp_connect(
    lab: &Lab,
    ns: &str,
    ip: Ipv4Addr,
    port: u16,
    timeout_ms: u64,
) -> Result<(String, u64)> {
    let tool = labtool()?;
    let tool = tool.to_string_lossy();
    let (ip_s, port_s, t_s) = (ip.to_string(), port.to_string(), timeout_ms.to_string());
    let out = lab.exec(
        ns,
        &[&tool, "tcp-connect", &ip_s, &port_s, "--timeout-ms", &t_s],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "tcp-connect failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let (outcome, ms) = stdout
        .trim()
        .split_once(' ')
        .with_context(|| format!("unexpected tcp-connect output {stdout:?}"))?;
    let ms = ms
        .parse()
        .with_context(|| format!("unexpected tcp-connect output {stdout:?}"))?;
    Ok((outcome.to_string(), ms))
}

/// How many times each distinct body occurs, sorted by body.
pub fn tally(bodies: &[String]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for b in bodies {
        match out.iter_mut().find(|(k, _)| k == b) {
            Some((_, n)) => *n += 1,
            None => out.push((b.clone(), 1)),
        }
    }
    out.sort();
    out
}

/// `a=n (p%)` for every entry of a tally, for messages.
pub fn describe_tally(t: &[(String, usize)]) -> String {
    let total: usize = t.iter().map(|(_, n)| n).sum();
    let mut s = String::new();
    for (k, n) in t {
        let _ = write!(
            s,
            "{}{k}={n} ({:.0}%)",
            if s.is_empty() { "" } else { ", " },
            *n as f64 * 100.0 / total.max(1) as f64
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_match_the_spec_vectors() {
        assert_eq!(
            svc_chain("ns1", "svc1", "p80", "TCP"),
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            svc_chain("ns2", "svc2", "p80", "tcp"),
            "KUBE-SVC-GNZBNJ2PO5MGZ6GT"
        );
        assert_eq!(
            sep_chain("ns1", "svc1", "p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            sep_chain("ns4", "svc4", "p80", "tcp", "10.180.0.4:80"),
            "KUBE-SEP-UKSFD7AGPMPPLUHC"
        );
        assert_eq!(
            ext_chain("ns1", "svc1", "p80", "tcp"),
            "KUBE-EXT-XPGD46QRK7WJZT7O"
        );
    }

    #[test]
    fn sync_lines_parse_strictly_and_leniently() {
        let l = "sync kind=partial services=3 chains=12 render_ms=0.4 apply_ms=3.25 total_ms=4";
        let s = SyncLine::parse_exact(l).unwrap();
        assert_eq!(s.kind, "partial");
        assert_eq!((s.services, s.chains), (3, 12));
        assert_eq!((s.render_ms, s.apply_ms, s.total_ms), (0.4, 3.25, 4.0));
        let prefixed = format!("2024-01-01T00:00:00Z INFO {l}");
        assert!(SyncLine::parse_exact(&prefixed).is_none());
        assert_eq!(SyncLine::find(&prefixed), Some(s));
        assert!(SyncLine::parse_exact(
            "sync kind=other services=1 chains=1 render_ms=1 apply_ms=1 total_ms=1"
        )
        .is_none());
        assert!(
            SyncLine::parse_exact("sync kind=full services=1 chains=1 render_ms=1 apply_ms=1")
                .is_none()
        );
        let log = format!("x\n{l}\n{prefixed}\nsync kind=full\n");
        assert_eq!(sync_lines(&log).len(), 2);
        assert_eq!(malformed_sync_lines(&log).len(), 2);
    }

    #[test]
    fn list_has_services_then_endpoints_and_no_subsets_without_endpoints() {
        let a = Service::tcp("ns1", "a", "10.96.0.10", 80, 8080)
            .with_endpoints(["10.244.1.2", "10.244.2.2"])
            .with_node_port(30080)
            .with_affinity(60);
        let b = Service::udp("ns1", "b", "10.96.0.53", 53, 5353);
        let v = service_list(&[a, b]);
        let items = v["items"].as_array().unwrap();
        let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["Service", "Service", "Endpoints", "Endpoints"]);
        assert_eq!(items[0]["spec"]["type"], "NodePort");
        assert_eq!(items[0]["spec"]["ports"][0]["nodePort"], 30080);
        assert_eq!(items[0]["spec"]["sessionAffinity"], "ClientIP");
        assert_eq!(
            items[0]["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            60
        );
        assert_eq!(items[1]["spec"]["type"], "ClusterIP");
        assert_eq!(items[1]["spec"]["ports"][0]["protocol"], "UDP");
        assert_eq!(items[2]["subsets"][0]["addresses"][1]["ip"], "10.244.2.2");
        assert_eq!(items[2]["subsets"][0]["ports"][0]["port"], 8080);
        assert!(items[3].get("subsets").is_none());
    }
}
