//! kube-lite-apiserver: the IO edge of kube-lite's API server over the pure
//! core in `kube-lite-api`.
//!
//! - [`auth`]: bearer tokens (`--token-auth-file`), service-account JWTs,
//!   client certificates; [`tls`]: the rustls server config; [`pki`]: a
//!   cluster CA, serving and client certificates, kubeconfigs (`kube-lite certs`).

pub mod auth;
pub mod pki;
pub mod tls;
