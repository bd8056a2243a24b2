//! The HTTPS server configuration: `--tls-cert-file`/`--tls-private-key-file`
//! (PEM) and, with `--client-ca-file`, optional client-certificate
//! verification (clients without a certificate still connect and
//! authenticate by token; a presented certificate must chain to the CA).
//! Uses rustls' ring provider explicitly (no process-wide default needed).

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Re-exported so that callers need no direct tokio-rustls dependency:
/// `TlsAcceptor::from(server_config(..)?)`, then `acceptor.accept(tcp)`.
pub use tokio_rustls::{server::TlsStream, TlsAcceptor};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("{flag} {}: {e}", path.display())))
}

/// All certificates of a PEM file; an error names the flag and file.
pub fn load_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{flag} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{flag} {}: no certificate found (expected PEM \"CERTIFICATE\" blocks)",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read(flag, path)?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        TlsError(format!(
            "{flag} {}: no private key found (expected PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" \
             or \"EC PRIVATE KEY\"): {e}",
            path.display()
        ))
    })
}

/// The rustls server config (ALPN `http/1.1`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = load_certs("--tls-cert-file", cert)?;
    let key_der = load_key("--tls-private-key-file", key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS versions: {e}")))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let flag = "--client-ca-file";
            let mut roots = rustls::RootCertStore::empty();
            for c in load_certs(flag, ca)? {
                roots
                    .add(c)
                    .map_err(|e| TlsError(format!("{flag} {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError(format!("{flag} {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key_der).map_err(|e| {
        TlsError(format!(
            "--tls-cert-file {} / --tls-private-key-file {}: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client's leaf certificate (DER) when it presented one; rustls has
/// verified it against `--client-ca-file` during the handshake. For a
/// `tokio_rustls::server::TlsStream` call `peer_cert_der(stream.get_ref().1)`.
pub fn peer_cert_der(conn: &rustls::ServerConnection) -> Option<Vec<u8>> {
    conn.peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| c.as_ref().to_vec())
}
