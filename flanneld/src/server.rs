//! The daemon's two small servers: the status socket `flanneld routes` talks to, and the HTTP
//! `/healthz` and `/readyz` endpoints.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tracing::{info, warn};

use crate::netlink::Netlink;
use crate::reconcile::read_owned;
use crate::state::Shared;
use crate::status::{self, Report};

async fn report(nl: &Netlink, shared: &Shared) -> Result<Report, String> {
    let actual = read_owned(nl, shared).await.map_err(|e| e.to_string())?;
    // Device names only matter for display: looked up here, not on every reconcile.
    let names = nl
        .links()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| (l.index, l.name))
        .collect();
    let traffic = shared.udp.as_ref().map(|u| u.traffic());
    let t = shared.table();
    Ok(Report {
        node: status::node_status(&shared.backend, shared.network, &t.own),
        peers: status::peer_rows(&shared.backend, &t.peers, &actual, &names, traffic.as_ref()),
        unattributed: shared.udp.as_ref().map(|u| u.unattributed.snapshot()),
    })
}

pub fn bind_status(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a previous run.
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("binding status socket {}: {e}", path.display()))
}

pub async fn serve_status(listener: UnixListener, nl: Netlink, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("status socket accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (rd, mut wr) = stream.into_split();
        let mut line = String::new();
        if BufReader::new(rd).read_line(&mut line).await.is_err() {
            continue;
        }
        let body = match report(&nl, &shared).await {
            Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e }).to_string(),
        };
        let _ = wr.write_all(format!("{body}\n").as_bytes()).await;
    }
}

pub async fn serve_health(addr: SocketAddr, shared: Arc<Shared>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding health endpoint {addr}: {e}"))?;
    info!(%addr, "serving /healthz and /readyz");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(rd).read_line(&mut line).await.is_err() {
                return;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (code, body) = match path {
                "/healthz" => ("200 OK", "ok\n"),
                "/readyz" if shared.ready() => ("200 OK", "ok\n"),
                "/readyz" => ("503 Service Unavailable", "not ready\n"),
                _ => ("404 Not Found", "not found\n"),
            };
            let resp = format!(
                "HTTP/1.1 {code}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = wr.write_all(resp.as_bytes()).await;
        });
    }
}
