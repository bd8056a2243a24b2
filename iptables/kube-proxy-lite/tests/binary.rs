//! Kernel tests of the kube-proxy-lite binary: each runs it in its own
//! network namespace `fl-kpb-<pid>-<n>` (deleted by a Drop guard) on a
//! services file in a temporary directory, and follows its stderr.

#[path = "../../tests/common/mod.rs"]
mod common;
use common::Netns;
use flannel_iptables::names::{service_chain, KUBE_PROXY_CANARY};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    let ns = Netns::new();
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
    let ns = Netns::new();
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

impl Netns {
    fn new() -> Netns {
        Netns::create("kpb")
    }
}
