//! The daemon's two small servers: the status socket `flanneld routes` talks to, and the HTTP
//! `/healthz` and `/readyz` endpoints. Each connection is served in its own task with a deadline,
//! so an idle or slow client never holds up the others.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tracing::{debug, info, warn};

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

/// How long a client of the status socket or the health endpoint may take to send its request
/// line and take the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn serve_status(listener: UnixListener, nl: Netlink, shared: Arc<Shared>) {
    let nl = Arc::new(nl);
    serve_lines(listener, CLIENT_TIMEOUT, move |_line| {
        let (nl, shared) = (nl.clone(), shared.clone());
        async move {
            match report(&nl, &shared).await {
                Ok(r) => serde_json::to_string(&r).unwrap_or_default(),
                Err(e) => serde_json::json!({ "error": e }).to_string(),
            }
        }
    })
    .await
}

/// Serve a one-line request / one-line answer protocol on a Unix socket, every connection in
/// its own task, each given `timeout` for the whole exchange.
pub async fn serve_lines<F, Fut>(listener: UnixListener, timeout: Duration, answer: F)
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let answer = Arc::new(answer);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("status socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let exchange = async {
                let (rd, mut wr) = stream.into_split();
                let mut line = String::new();
                BufReader::new(rd).read_line(&mut line).await?;
                let body = answer(line).await;
                wr.write_all(format!("{body}\n").as_bytes()).await
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!("status socket client: {e}"),
                Err(_) => debug!("status socket client timed out after {timeout:?}"),
            }
        });
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
        tokio::spawn(tokio::time::timeout(CLIENT_TIMEOUT, async move {
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
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;

    #[tokio::test]
    async fn an_idle_client_does_not_block_the_next_one() {
        let dir = std::env::temp_dir().join(format!("flanneld-server-test-{}", std::process::id()));
        let path = dir.join("status.sock");
        let listener = bind_status(&path).expect("bind");
        // A long client timeout: the second client must be served while the first still idles.
        let server = tokio::spawn(serve_lines(
            listener,
            Duration::from_secs(3600),
            |line| async move { format!("answer to {}", line.trim()) },
        ));
        let idle = UnixStream::connect(&path)
            .await
            .expect("idle client connects");
        let mut busy = UnixStream::connect(&path)
            .await
            .expect("second client connects");
        busy.write_all(b"routes\n").await.expect("write");
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(10), busy.read_to_string(&mut text))
            .await
            .expect("second client answered while the first idles")
            .expect("read");
        assert_eq!(text, "answer to routes\n");
        drop(idle);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_idle_client_is_dropped_after_the_timeout() {
        let dir =
            std::env::temp_dir().join(format!("flanneld-server-timeout-{}", std::process::id()));
        let path = dir.join("status.sock");
        let listener = bind_status(&path).expect("bind");
        let server = tokio::spawn(serve_lines(
            listener,
            Duration::from_millis(100),
            |_| async { String::new() },
        ));
        let mut idle = UnixStream::connect(&path).await.expect("connect");
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut buf))
            .await
            .expect("the server closes an idle connection")
            .expect("read");
        assert_eq!(n, 0);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
