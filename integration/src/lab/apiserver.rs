//! The lab's Kubernetes API server: `kube-lite apiserver` in the fabric namespace on
//! 198.18.0.254:6443 next to the lab's etcd, its certificates and kubeconfig (`kube-lite certs`),
//! and the one thing of the lab in the machine's own network namespace: a listening socket on
//! 127.0.0.1 (an ephemeral port) bound here and handed to the server as an inherited socket
//! (`LISTEN_FDS=1`, fd 3), through which kubectl from the machine's shell and the tests' own
//! clients reach it. Also stopping and restarting it (outage tests; the 127.0.0.1 port stays
//! the same because this process keeps the socket open), running code on a thread inside a lab
//! namespace (clients of the fabric address), and etcd's current revision.

use super::{Lab, ETCD_ENDPOINT, FABRIC_IP};
use crate::cmd;
use crate::prereq::try_workspace_bin;
use crate::procs::{tail, ProcId};
use anyhow::{anyhow, bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The API server's port on the fabric address.
pub const APISERVER_PORT: u16 = 6443;
/// Name of the API server's process (and of its log, `dir()/apiserver.log`).
pub const APISERVER_PROC: &str = "apiserver";
/// The log name of [`ApiServer::start_controller_manager`]'s process.
pub const CONTROLLER_MANAGER_PROC: &str = "controller-manager";
/// The service-account issuer the lab's API server is started with.
pub const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How [`Lab::start_apiserver_with`] starts the server.
#[derive(Clone, Debug)]
pub struct ApiServerOptions {
    /// The `kube-lite` binary; `None`: the workspace's (`try_workspace_bin("kube-lite")`).
    pub binary: Option<PathBuf>,
    /// `--etcd-compaction-interval` (`"5m"` as upstream; `"0"` disables compaction, for tests
    /// that compact etcd themselves).
    pub compaction_interval: String,
    /// Further flags, appended after the standard ones.
    pub extra_args: Vec<String>,
    /// Environment added to the server's (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// How long to wait for `GET /readyz` to answer 200 `ok`.
    pub ready_timeout: Duration,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        ApiServerOptions {
            binary: None,
            compaction_interval: "5m".into(),
            extra_args: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// A running (or stopped) API server of a lab. The 127.0.0.1 listener lives here: while the
/// server is stopped, connections to [`ApiServer::url`] wait in its backlog and are served by
/// the next start. The process itself belongs to the lab (killed when the lab drops).
pub struct ApiServer {
    binary: PathBuf,
    opts: ApiServerOptions,
    listener: TcpListener,
    port: u16,
    certs: PathBuf,
    token: String,
    proc: Option<ProcId>,
}

impl Lab {
    /// Starts the lab's API server with [`ApiServerOptions::default`] (etcd must be running:
    /// [`Lab::start_etcd`]).
    pub fn start_apiserver(&mut self) -> Result<ApiServer> {
        self.start_apiserver_with(ApiServerOptions::default())
    }

    /// Binds 127.0.0.1:0 in this (the root) namespace, writes the certificates and kubeconfig
    /// with `kube-lite certs` into `dir()/pki`, starts `kube-lite apiserver` in the fabric
    /// namespace with that socket as fd 3, and waits until `/readyz` answers `ok` both on
    /// 198.18.0.254:6443 and on the 127.0.0.1 socket.
    pub fn start_apiserver_with(&mut self, opts: ApiServerOptions) -> Result<ApiServer> {
        cmd::require_tool("curl", "curl")?;
        let binary = match &opts.binary {
            Some(b) => b.clone(),
            None => try_workspace_bin("kube-lite")?,
        };
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .context("binding 127.0.0.1:0 for the API server")?;
        // The server hands it to tokio, which expects a non-blocking socket; the flag lives on
        // the shared open file, so setting it here is the same as the server setting it.
        listener
            .set_nonblocking(true)
            .context("making the API server's 127.0.0.1 socket non-blocking")?;
        let port = listener.local_addr()?.port();
        let certs = self.dir.join("pki");
        std::fs::create_dir_all(&certs).with_context(|| format!("creating {}", certs.display()))?;
        let fabric_ip = FABRIC_IP.to_string();
        let server = format!("https://127.0.0.1:{port}");
        let args = [
            "certs",
            "--dir",
            &certs.to_string_lossy(),
            "--apiserver-ip",
            &fabric_ip,
            "--apiserver-ip",
            "127.0.0.1",
            "--server",
            &server,
        ];
        let out = Command::new(&binary)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        cmd::ensure_success(&out, &cmd::display(&binary.to_string_lossy(), &args))?;
        let token = read_token(&certs.join("tokens.csv"))?;
        let kubeconfig = certs.join("admin.kubeconfig");
        let text = std::fs::read_to_string(&kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        if !text.contains(&server) {
            bail!(
                "{} does not name the server {server} (kube-lite certs --server was ignored?)",
                kubeconfig.display()
            );
        }
        let fabric = text.replace(&server, &format!("https://{FABRIC_IP}:{APISERVER_PORT}"));
        let fabric_path = certs.join("admin-fabric.kubeconfig");
        std::fs::write(&fabric_path, fabric)
            .with_context(|| format!("writing {}", fabric_path.display()))?;
        let mut api = ApiServer {
            binary,
            opts,
            listener,
            port,
            certs,
            token,
            proc: None,
        };
        api.start(self)?;
        Ok(api)
    }

    /// Runs `f` on a new thread that first enters the network namespace `ns` of this lab:
    /// sockets `f` creates (a tokio runtime built inside `f` included) live in that namespace.
    pub fn run_in_netns<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
        self.check_ns(ns)?;
        let path = format!("/var/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                // SAFETY: setns(2) on a namespace fd we hold open; only this thread changes
                // namespace, and it ends when `f` returns.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns {ns}: {}", std::io::Error::last_os_error());
                }
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow!("the thread in namespace {ns} panicked"))?
        })
    }

    /// etcd's current revision (`etcdctl endpoint status`), e.g. to compact to it.
    pub fn etcd_revision(&self) -> Result<i64> {
        let out = self.etcdctl(&["endpoint", "status", "--write-out=json"])?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .with_context(|| format!("parsing etcdctl endpoint status: {out}"))?;
        v.pointer("/0/Status/header/revision")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| anyhow!("no revision in etcdctl endpoint status output: {out}"))
    }
}

impl ApiServer {
    /// `https://127.0.0.1:<port>`: the socket in the root namespace.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The port of [`ApiServer::url`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://198.18.0.254:6443`: the server's own port in the fabric namespace.
    pub fn fabric_url(&self) -> String {
        format!("https://{FABRIC_IP}:{APISERVER_PORT}")
    }

    /// Directory of the certificates, keys and kubeconfigs (`dir()/pki`).
    pub fn certs_dir(&self) -> &Path {
        &self.certs
    }

    /// The cluster CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.certs.join("ca.crt")
    }

    /// Kubeconfig for [`ApiServer::url`]: context of the admin client certificate (current),
    /// and `admin-token` using the bearer token.
    pub fn kubeconfig(&self) -> PathBuf {
        self.certs.join("admin.kubeconfig")
    }

    /// The same kubeconfig for [`ApiServer::fabric_url`] (clients inside the fabric namespace).
    pub fn fabric_kubeconfig(&self) -> PathBuf {
        self.certs.join("admin-fabric.kubeconfig")
    }

    /// The `kube-lite` binary this server runs (its other subcommands run the rest of the
    /// control plane).
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Starts `kube-lite controller-manager` in the fabric namespace with the admin kubeconfig
    /// and `args` (e.g. `--allocate-node-cidrs --cluster-cidr 10.244.0.0/16`); its log is
    /// [`CONTROLLER_MANAGER_PROC`].
    pub fn start_controller_manager(&self, lab: &mut Lab, args: &[&str]) -> Result<ProcId> {
        let mut all = vec![
            "controller-manager".to_string(),
            "--kubeconfig".to_string(),
            self.fabric_kubeconfig().to_string_lossy().into_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let fab = lab.fabric_ns();
        lab.spawn(&fab, CONTROLLER_MANAGER_PROC, &self.binary, &all, &[])
    }

    /// The admin bearer token (from `tokens.csv`, group `system:masters`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The server's flags (as kube-apiserver's), without the inherited socket.
    pub fn args(&self) -> Vec<String> {
        let c = |f: &str| self.certs.join(f).to_string_lossy().into_owned();
        let fabric_ip = FABRIC_IP.to_string();
        let mut args: Vec<String> = [
            "apiserver",
            "--etcd-servers",
            ETCD_ENDPOINT,
            "--etcd-prefix",
            "/registry",
            "--bind-address",
            &fabric_ip,
            "--secure-port",
            &APISERVER_PORT.to_string(),
            "--advertise-address",
            &fabric_ip,
            "--tls-cert-file",
            &c("apiserver.crt"),
            "--tls-private-key-file",
            &c("apiserver.key"),
            "--client-ca-file",
            &c("ca.crt"),
            "--token-auth-file",
            &c("tokens.csv"),
            "--service-account-key-file",
            &c("sa.pub"),
            "--service-account-signing-key-file",
            &c("sa.key"),
            "--service-account-issuer",
            SA_ISSUER,
            "--service-cluster-ip-range",
            "10.96.0.0/12",
            "--service-node-port-range",
            "30000-32767",
            "--etcd-compaction-interval",
            &self.opts.compaction_interval,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(self.opts.extra_args.iter().cloned());
        args
    }

    /// Starts the server (after [`ApiServer::stop`]) serving the 127.0.0.1 socket too, and waits
    /// until it is ready there and on the fabric address.
    pub fn start(&mut self, lab: &mut Lab) -> Result<()> {
        self.start_inner(lab, true)
    }

    /// Starts the server on the fabric address only: clients of [`ApiServer::url`] keep waiting
    /// in the socket's backlog (as if the server were still down for them) while clients in the
    /// fabric namespace ([`Lab::run_in_netns`], [`ApiServer::fabric_kubeconfig`]) use it.
    pub fn start_fabric_only(&mut self, lab: &mut Lab) -> Result<()> {
        self.start_inner(lab, false)
    }

    fn start_inner(&mut self, lab: &mut Lab, with_socket: bool) -> Result<()> {
        if self.is_running(lab) {
            bail!("the API server of lab {} is already running", lab.prefix());
        }
        let fab = lab.fabric_ns();
        let args = self.args();
        let id = if with_socket {
            lab.spawn_with_listener(
                &fab,
                APISERVER_PROC,
                &self.binary,
                &args,
                &self.opts.env,
                self.listener.as_raw_fd(),
            )?
        } else {
            lab.spawn(&fab, APISERVER_PROC, &self.binary, &args, &self.opts.env)?
        };
        self.proc = Some(id);
        self.wait_ready(lab, with_socket)
    }

    /// Waits until `/readyz` answers 200 `ok` on the fabric address (from the fabric namespace)
    /// and, with `via_socket`, on [`ApiServer::url`]; an error with the log's tail when the
    /// server exits or the timeout passes.
    fn wait_ready(&mut self, lab: &mut Lab, via_socket: bool) -> Result<()> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        let ca = self.ca().to_string_lossy().into_owned();
        let fabric = format!("{}/readyz", self.fabric_url());
        let local = format!("{}/readyz", self.url());
        let fab = lab.fabric_ns();
        let mut last;
        loop {
            if let Some(id) = self.proc {
                if let Some(st) = lab.exit_status(id)? {
                    bail!(
                        "kube-lite apiserver exited during startup ({st}); log {}:\n{}",
                        lab.log_path(APISERVER_PROC).display(),
                        tail(&lab.latest_log(APISERVER_PROC), 40)
                    );
                }
            }
            let curl = |url: &str| -> Vec<String> {
                [
                    "curl",
                    "-sS",
                    "--max-time",
                    "2",
                    "--cacert",
                    &ca,
                    "-o",
                    "-",
                    "-w",
                    "\n%{http_code}",
                    url,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect()
            };
            let f: Vec<String> = curl(&fabric);
            let fref: Vec<&str> = f.iter().map(String::as_str).collect();
            let ok_fabric = match lab.exec(&fab, &fref) {
                Ok(out) => {
                    let s = String::from_utf8_lossy(&out.stdout).into_owned();
                    last = format!(
                        "GET {fabric}: {} {}",
                        s.trim(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                    s.trim_end().ends_with("ok\n200")
                }
                Err(e) => {
                    last = format!("GET {fabric}: {e:#}");
                    false
                }
            };
            let ok_local = !via_socket
                || (ok_fabric && {
                    let l = curl(&local);
                    match Command::new(&l[0])
                        .args(&l[1..])
                        .stdin(Stdio::null())
                        .output()
                    {
                        Ok(out) => {
                            let s = String::from_utf8_lossy(&out.stdout).into_owned();
                            last = format!(
                                "GET {local}: {} {}",
                                s.trim(),
                                String::from_utf8_lossy(&out.stderr).trim()
                            );
                            s.trim_end().ends_with("ok\n200")
                        }
                        Err(e) => {
                            last = format!("GET {local}: curl: {e}");
                            false
                        }
                    }
                });
            if ok_fabric && ok_local {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "kube-lite apiserver not ready after {:?} (last: {last}); log {}:\n{}",
                    self.opts.ready_timeout,
                    lab.log_path(APISERVER_PROC).display(),
                    tail(&lab.latest_log(APISERVER_PROC), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit (no-op when not running).
    pub fn stop(&mut self, lab: &mut Lab) -> Result<()> {
        match self.proc.take() {
            Some(id) if lab.is_running(id) => lab.kill(id, libc::SIGTERM),
            _ => Ok(()),
        }
    }

    /// True while the server process runs.
    pub fn is_running(&self, lab: &mut Lab) -> bool {
        self.proc.is_some_and(|id| lab.is_running(id))
    }

    /// Pid of the running server (for `/proc/<pid>/status`).
    pub fn pid(&self, lab: &mut Lab) -> Option<u32> {
        lab.pid(self.proc?)
    }

    /// The last `n` lines of the server's log (every start of it), for failure messages.
    pub fn log_tail(&self, lab: &Lab, n: usize) -> String {
        format!(
            "--- last {n} lines of {}:\n{}",
            lab.log_path(APISERVER_PROC).display(),
            tail(&lab.log(APISERVER_PROC), n)
        )
    }
}

/// The token of the first line of a kube-apiserver token file (`token,user,uid,"groups"`).
fn read_token(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split(',').next())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow!("no token in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_token() {
        let dir = std::env::temp_dir().join(format!("apiserver-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("tokens.csv");
        std::fs::write(&f, "# comment\nabc123,admin,admin,system:masters\nx,y,z\n").unwrap();
        assert_eq!(read_token(&f).unwrap(), "abc123");
        std::fs::write(&f, "\n").unwrap();
        assert!(read_token(&f).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
