//! The API-client edge that flanneld (`--kube-subnet-mgr`), kube-proxy-lite and kube-lite's
//! controller-manager share, so each daemon's own code is only its reconcile:
//! - [`client`]: a kube-rs client from the flags every Kubernetes component has (a kubeconfig
//!   file, a server URL), else the in-cluster service account, else the usual lookup;
//! - [`follow`]: a reflector cache of one kind (list + watch, re-list on expiry, backoff) run on
//!   a runtime, calling back on every event so the owner can re-plan from the cache.

use std::fmt::Debug;
use std::path::Path;

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Config};

/// The flag names, for messages that name what the user gave.
#[derive(Debug, Clone, Copy)]
pub struct Flags {
    pub kubeconfig: &'static str,
    pub server: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{flag} {path}: {source}")]
    Kubeconfig {
        flag: &'static str,
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("{flag} {url:?}: not a URL")]
    Url { flag: &'static str, url: String },
    #[error("no {} or {}, and not in a cluster ({in_cluster}); the usual lookup failed too: {source}", .flags.kubeconfig, .flags.server)]
    NoConfig {
        flags: Flags,
        in_cluster: String,
        source: kube::config::InferConfigError,
    },
    #[error("building the Kubernetes client: {0}")]
    Build(#[from] kube::Error),
}

/// A client from `kubeconfig`, else the in-cluster service account (token, CA,
/// `KUBERNETES_SERVICE_HOST`/`_PORT`), else `server` alone, else the usual kubeconfig lookup;
/// `server` replaces the URL of whichever was found.
pub async fn client(
    kubeconfig: Option<&Path>,
    server: Option<&str>,
    flags: Flags,
) -> Result<Client, ClientError> {
    let url = |u: &str| {
        u.parse().map_err(|_| ClientError::Url {
            flag: flags.server,
            url: u.to_string(),
        })
    };
    let mut cfg = match kubeconfig {
        Some(path) => {
            let bad = |source| ClientError::Kubeconfig {
                flag: flags.kubeconfig,
                path: path.display().to_string(),
                source,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(bad)?;
            Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(bad)?
        }
        None => match (Config::incluster(), server) {
            (Ok(c), _) => c,
            (Err(_), Some(s)) => Config::new(url(s)?),
            (Err(in_cluster), None) => {
                Config::infer()
                    .await
                    .map_err(|source| ClientError::NoConfig {
                        flags,
                        in_cluster: in_cluster.to_string(),
                        source,
                    })?
            }
        },
    };
    if let Some(s) = server {
        cfg.cluster_url = url(s)?;
    }
    Ok(Client::try_from(cfg)?)
}

/// Follows `api` into a cache on `rt`: `on_event` runs after the cache took each event
/// (`Ok`), and on each watch error (`Err`, after which the watcher retries with backoff).
pub fn follow<K>(
    rt: &tokio::runtime::Handle,
    api: Api<K>,
    mut on_event: impl FnMut(Result<&watcher::Event<K>, &watcher::Error>) + Send + 'static,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    rt.spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            on_event(ev.as_ref());
        }
    });
    store
}
