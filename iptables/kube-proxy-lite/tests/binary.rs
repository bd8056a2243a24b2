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
        Daemon::start_with_path(ns, file, extra, None)
    }

    /// Starts it with `path_first` put in front of `PATH` (wrappers of tools).
    fn start_with_path(
        ns: &Netns,
        file: &Path,
        extra: &[&str],
        path_first: Option<&Path>,
    ) -> Daemon {
        let mut cmd = Command::new("ip");
        if let Some(dir) = path_first {
            let path = std::env::var_os("PATH").expect("PATH is set");
            let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
            cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"));
        }
        let mut child = cmd
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

    /// Sends `signal` and waits (10 s at most) for the exit; the README
    /// promises exit status 0 on SIGTERM and SIGINT, so that is required.
    fn stop_with(mut self, signal: libc::c_int) {
        // `ip netns exec` execs the program: the child pid is kube-proxy-lite's.
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "kube-proxy-lite did not stop on signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "kube-proxy-lite on signal {signal}: {status}, want exit status 0"
        );
        self.expect_line("stopping; rules are left in place", Duration::from_secs(5));
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

    d.stop_with(libc::SIGTERM);
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

    // A bad bind flag stops startup naming it, before any listener or API connection.
    let out = Command::new(BIN)
        .args([
            "--healthz-bind-address",
            "nowhere",
            "--kubeconfig",
            "/nonexistent",
        ])
        .output()
        .expect("bad flag");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--healthz-bind-address \"nowhere\""), "{err}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

impl Netns {
    fn new() -> Netns {
        Netns::create("kpb")
    }
}

/// Several changes of the file within `--min-sync-period` are applied by one
/// sync (of the last version); the next change is the next sync. SIGINT
/// stops the daemon with exit status 0, rules left in place.
#[test]
fn binary_batches_changes_within_min_sync_period_and_exits_0_on_sigint() {
    let ns = Netns::new();
    let dir = temp_dir("batch");
    let file = dir.join("services.json");
    write_atomic(&file, &services_json(&["10.244.1.2"]));
    let period = Duration::from_secs(4);
    let d = Daemon::start(
        &ns,
        &file,
        &["--min-sync-period", "4", "--sync-period", "3600"],
    );
    let line = d.expect_line("sync kind=full", Duration::from_secs(10));
    let seen = Instant::now();
    let full_ms: f64 = fields(&line)["total_ms"].parse().expect("total_ms");

    // Three endpoints added one by one, each a new version of the file.
    let eps = ["10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5"];
    for n in 2..=eps.len() {
        write_atomic(&file, &services_json(&eps[..n]));
    }
    let written = seen.elapsed() + Duration::from_secs_f64(full_ms / 1000.0);
    assert!(
        written < period,
        "the three writes ended {written:?} after the full sync started, not within the \
         {period:?} period; this test cannot check batching"
    );
    // One partial sync: the service chain and the three new endpoint chains.
    let line = d.expect_line("sync kind=", Duration::from_secs(15));
    assert!(
        line.starts_with("sync kind=partial services=1 chains=4 "),
        "one sync of the last version, got {line}"
    );
    let svc = service_chain("default/web:http", "tcp");
    // masq + (rcheck + jump) per endpoint (ClientIP affinity).
    assert_eq!(ns.chain_rules("nat", &svc).len(), 1 + 2 * eps.len());

    // The next sync line is that of the next change (a fifth endpoint: 2 chains).
    let mut five = eps.to_vec();
    five.push("10.244.1.6");
    write_atomic(&file, &services_json(&five));
    let line = d.expect_line("sync kind=", Duration::from_secs(15));
    assert!(
        line.starts_with("sync kind=partial services=1 chains=2 "),
        "{line}"
    );
    assert_eq!(ns.chain_rules("nat", &svc).len(), 1 + 2 * five.len());

    d.stop_with(libc::SIGINT);
    assert_eq!(
        ns.chain_rules("nat", &svc).len(),
        1 + 2 * five.len(),
        "rules left in place"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A full sync whose `iptables-restore` fails (a wrapper first in `PATH`
/// fails the first restore without `--noflush`) is retried: a later full
/// sync succeeds and programs the rules.
#[test]
fn binary_retries_a_failed_full_sync() {
    let ns = Netns::new();
    let real = flannel_testkit::require_tool("iptables-restore", "iptables");
    let dir = temp_dir("retry");
    let wrappers = dir.join("bin");
    std::fs::create_dir_all(&wrappers).expect("wrapper dir");
    let flag = dir.join("failed-once");
    let script = format!(
        "#!/bin/sh\n\
         # Test wrapper: fails the first full restore (no --noflush), then runs the real one.\n\
         case \" $* \" in *\" --noflush \"*) exec {real} \"$@\";; esac\n\
         if [ ! -e {flag} ]; then\n\
         \x20 : > {flag}; cat > /dev/null\n\
         \x20 echo 'iptables-restore: injected failure (test wrapper)' >&2; exit 1\n\
         fi\n\
         exec {real} \"$@\"\n",
        real = real.display(),
        flag = flag.display()
    );
    let wrapper = wrappers.join("iptables-restore");
    std::fs::write(&wrapper, script).expect("write wrapper");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .expect("chmod wrapper");
    }
    let file = dir.join("services.json");
    write_atomic(&file, &services_json(&["10.244.1.2"]));
    let d = Daemon::start_with_path(
        &ns,
        &file,
        &["--min-sync-period", "0.05", "--sync-period", "3600"],
        Some(&wrappers),
    );
    let err = d.expect_line("full sync failed", Duration::from_secs(10));
    assert!(err.contains("injected failure"), "{err}");
    assert!(flag.exists(), "the wrapper ran");
    assert!(
        !ns.chains("nat").iter().any(|c| c == KUBE_PROXY_CANARY),
        "nothing programmed by the failed sync"
    );
    let line = d.expect_line("sync kind=", Duration::from_secs(15));
    assert!(
        line.starts_with("sync kind=full services=1 "),
        "retry is a full sync: {line}"
    );
    let svc = service_chain("default/web:http", "tcp");
    assert_eq!(ns.chain_rules("nat", &svc).len(), 3);
    assert!(ns.chains("nat").iter().any(|c| c == KUBE_PROXY_CANARY));
    d.stop_with(libc::SIGTERM);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
