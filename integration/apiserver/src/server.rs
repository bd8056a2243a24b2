//! `kube-lite apiserver`: validates the flags, connects to etcd (waiting
//! for it), repairs the Service allocations, keeps the bootstrap objects,
//! compacts etcd's history like upstream (to the revision of one interval
//! earlier) and serves HTTPS on every listener.

use crate::auth::Authenticator;
use crate::config::ApiServerArgs;
use crate::http::{self, State};
use crate::query::ListOptions;
use crate::registry::Registry;
use crate::services::Services;
use crate::storage::Store;
use anyhow::{Context, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

pub async fn run(args: ApiServerArgs) -> Result<()> {
    let cfg = args.validate()?;
    let tls = crate::tls::server_config(
        &cfg.tls_cert_file,
        &cfg.tls_private_key_file,
        cfg.client_ca_file.as_deref(),
    )?;
    let keys: Vec<&std::path::Path> = cfg
        .service_account_key_files
        .iter()
        .map(|p| p.as_path())
        .collect();
    let auth = Authenticator::new(
        cfg.token_auth_file.as_deref(),
        &keys,
        &cfg.service_account_issuers,
    )?;
    let signer = crate::tokens::signer(&cfg)?;
    let main = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on --bind-address {} --secure-port {}",
                cfg.listen.ip(),
                cfg.listen.port()
            )
        })?;
    let inherited = http::inherited_listeners().context("taking over the sockets of LISTEN_FDS")?;

    let store = loop {
        match Store::connect(&cfg.etcd_servers).await {
            Ok(s) => break s,
            Err(e) => {
                warn!("waiting for etcd at {}: {e}", cfg.etcd_servers.join(","));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let services = Services::new(
        store.clone(),
        &cfg.etcd_prefix,
        cfg.service_cluster_ip_range,
        cfg.service_node_port_range,
    );
    let registry = Arc::new(Registry::new(store.clone(), &cfg.etcd_prefix, services));
    let state = Arc::new(State::new(registry.clone(), auth, cfg.clone(), signer));

    // Bootstrap and keep the bootstrap objects (also after etcd outages).
    {
        let state = state.clone();
        let (adv, port) = (cfg.advertise_address, cfg.listen.port());
        tokio::spawn(async move {
            let mut repaired = false;
            loop {
                if !repaired {
                    if let Some(res) = kube_lite_api::resources::find("", "v1", "services") {
                        match state
                            .registry
                            .list(res, None, &ListOptions::default())
                            .await
                        {
                            Ok((svcs, _)) => match state.registry.services.repair(&svcs).await {
                                Ok(()) => repaired = true,
                                Err(e) => warn!("repairing service allocations: {e}"),
                            },
                            Err(e) => warn!("repairing service allocations: {e}"),
                        }
                    }
                }
                if repaired {
                    match crate::bootstrap::reconcile(&state.registry, adv, port).await {
                        Ok(()) => {
                            if !state.bootstrapped.swap(true, Ordering::Relaxed) {
                                info!("bootstrap objects in place; ready");
                            }
                        }
                        Err(e) => warn!("reconciling bootstrap objects: {e}"),
                    }
                }
                tokio::time::sleep(if state.bootstrapped.load(Ordering::Relaxed) {
                    Duration::from_secs(10)
                } else {
                    Duration::from_millis(500)
                })
                .await;
            }
        });
    }
    if let Some(every) = cfg.compaction_interval {
        let store = store.clone();
        tokio::spawn(async move {
            let mut previous = 0i64;
            loop {
                tokio::time::sleep(every).await;
                if previous > 0 {
                    match store.compact(previous).await {
                        Ok(()) => info!(revision = previous, "compacted etcd history"),
                        Err(e) => warn!(revision = previous, "compaction failed: {e}"),
                    }
                }
                if let Ok(r) = store.revision().await {
                    previous = r;
                }
            }
        });
    }
    let acceptor = TlsAcceptor::from(tls);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(http::serve(main, acceptor.clone(), state.clone()));
    for l in inherited {
        tasks.spawn(http::serve(l, acceptor.clone(), state.clone()));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = tasks.join_next() => warn!("a listener stopped"),
    }
    Ok(())
}
