//! kube-lite-apiserver: the IO edge of kube-lite's API server over the pure
//! core in `kube-lite-api`.
//!
//! - [`config`]: kube-apiserver's flags; [`server`]: startup and background loops;
//! - [`http`]: listeners, TLS, routing, content negotiation, the request handler;
//! - [`auth`]: bearer tokens, service-account JWTs, client certificates;
//!   [`tls`]: the rustls config; [`pki`]: CA, certificates, kubeconfigs; [`tokens`]: TokenRequest;
//! - [`registry`]: the generic REST verbs over [`storage`] (etcd);
//!   [`subresources`]: scale, binding, eviction; [`watch`]: watch streams;
//!   [`services`]: ClusterIP/NodePort allocation; [`bootstrap`]: the objects every cluster has;
//! - [`query`]: list/watch/write/delete options.

pub mod auth;
pub mod bootstrap;
pub mod config;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod pki;
pub mod query;
pub mod registry;
pub mod server;
pub mod services;
pub mod storage;
pub mod subresources;
pub mod tls;
pub mod tokens;
pub mod watch;
