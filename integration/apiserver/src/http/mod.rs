//! The HTTPS edge: listeners (the `--bind-address`/`--secure-port` socket
//! and systemd-style inherited sockets, `LISTEN_FDS`, e.g. the lab's one
//! 127.0.0.1 socket in the machine's own namespace), TLS with optional
//! client certificates, HTTP/1.1 connections, and the shared [`State`].

pub mod handler;
pub mod negotiate;
pub mod route;

use crate::auth::{Authenticator, UserInfo};
use crate::config::Config;
use crate::registry::Registry;
use axum::body::Body;
use handler::Peer;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_lite_api::{openapi, ApiError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

/// Everything a request handler needs.
pub struct State {
    pub registry: Arc<Registry>,
    pub auth: Authenticator,
    pub cfg: Config,
    pub bootstrapped: AtomicBool,
    pub signer: Option<crate::auth::TokenSigner>,
    openapi_v2_pb: OnceLock<Vec<u8>>,
    openapi_v2_json: OnceLock<Vec<u8>>,
    openapi_v3: OnceLock<HashMap<String, Vec<u8>>>,
}

impl State {
    pub fn new(
        registry: Arc<Registry>,
        auth: Authenticator,
        cfg: Config,
        signer: Option<crate::auth::TokenSigner>,
    ) -> State {
        State {
            registry,
            auth,
            cfg,
            bootstrapped: AtomicBool::new(false),
            signer,
            openapi_v2_pb: OnceLock::new(),
            openapi_v2_json: OnceLock::new(),
            openapi_v3: OnceLock::new(),
        }
    }

    /// `host:port` clients reach this server at.
    pub fn server_address(&self) -> String {
        std::net::SocketAddr::new(self.cfg.advertise_address, self.cfg.listen.port()).to_string()
    }

    /// Bootstrapped and etcd answering.
    pub async fn is_ready(&self) -> bool {
        self.bootstrapped.load(Ordering::Relaxed) && self.registry.store.revision().await.is_ok()
    }

    pub fn openapi_v2_pb(&self) -> &[u8] {
        self.openapi_v2_pb.get_or_init(openapi::v2_protobuf)
    }
    pub fn openapi_v2_json(&self) -> &[u8] {
        self.openapi_v2_json
            .get_or_init(|| serde_json::to_vec(&openapi::v2_json()).unwrap_or_default())
    }
    /// One OpenAPI v3 document (`api/v1`, `apis/apps/v1`).
    pub fn openapi_v3(&self, path: &str) -> Option<&[u8]> {
        let docs = self.openapi_v3.get_or_init(|| {
            let mut m = HashMap::new();
            if let Some(paths) = openapi::v3_index().get("paths").and_then(Value::as_object) {
                for p in paths.keys() {
                    if let Some(d) = openapi::v3_document(p) {
                        m.insert(p.clone(), serde_json::to_vec(&d).unwrap_or_default());
                    }
                }
            }
            m
        });
        docs.get(path).map(Vec::as_slice)
    }

    /// A TokenRequest for a ServiceAccount.
    pub fn mint_token(&self, sa: &Value, req: &Value) -> Result<Value, ApiError> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            ApiError::unavailable("service-account token signing is not configured (--service-account-signing-key-file)")
        })?;
        crate::tokens::token_request(signer, sa, req)
    }
}

/// Inherited listening sockets (`LISTEN_FDS=N`: fds 3..3+N).
pub fn inherited_listeners() -> std::io::Result<Vec<TcpListener>> {
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut out = Vec::new();
    for fd in 3..3 + n.clamp(0, 16) {
        use std::os::fd::FromRawFd;
        // SAFETY: the parent passed these descriptors to us for this purpose
        // (the LISTEN_FDS protocol); each is taken over exactly once.
        let std_l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        std_l.set_nonblocking(true)?;
        out.push(TcpListener::from_std(std_l)?);
    }
    // The protocol says: do not pass them on to children.
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_PID");
    Ok(out)
}

/// Serves HTTPS on `listener` until the process ends.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, state: Arc<State>) {
    if let Ok(a) = listener.local_addr() {
        info!("serving securely on https://{a}");
    }
    let router = axum::Router::new().fallback({
        let state = state.clone();
        move |req: axum::http::Request<Body>| handler::handle(state.clone(), req)
    });
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let router = router.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(std::time::Duration::from_secs(10), tls.accept(tcp))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(%remote, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let peer: Option<UserInfo> = crate::tls::peer_cert_der(stream.get_ref().1)
                .and_then(|der| state.auth.authenticate_cert(&der));
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer.clone()));
                    let router = router.clone();
                    async move {
                        use tower::ServiceExt;
                        router.oneshot(req.map(Body::new)).await
                    }
                },
            );
            let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            b.http1().keep_alive(true);
            if let Err(e) = b
                .http1_only()
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await
            {
                debug!(%remote, "connection ended: {e}");
            }
        });
    }
}
