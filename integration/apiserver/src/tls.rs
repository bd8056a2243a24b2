//! The HTTPS server configuration: `--tls-cert-file`/`--tls-private-key-file`
//! (PEM) and, with `--client-ca-file`, optional client-certificate
//! verification (clients without a certificate still connect and
//! authenticate by token).

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The rustls server config (ALPN `http/1.1`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let _ = (cert, key, client_ca);
    Err(TlsError("not implemented".into()))
}
