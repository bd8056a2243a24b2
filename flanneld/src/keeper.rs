//! Our own lease: acquiring it (spec section 3, up to 10 attempts), renewing it before expiry,
//! and the "Fix" for revocation: re-acquire the same subnet so pods keep their addresses, and
//! stop only when another node took it.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use ipnet::Ipv4Net;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::alloc::{self, Plan};
use crate::config::NetworkConfig;
use crate::lease::{Lease, LeaseAttrs};
use crate::registry::Registry;
use crate::state::Shared;
use crate::watch::OwnEvent;

const ATTEMPTS: usize = 10;

/// Acquire our lease, retrying transient etcd failures and lost create races.
pub async fn acquire(
    registry: &mut Registry,
    cfg: &NetworkConfig,
    attrs: &LeaseAttrs,
    previous: Option<Ipv4Net>,
) -> anyhow::Result<Lease> {
    let mut last_err = None;
    for attempt in 1..=ATTEMPTS {
        match try_acquire(registry, cfg, attrs, previous).await {
            Ok(Some(lease)) => return Ok(lease),
            Ok(None) => {
                info!(
                    attempt,
                    "subnet was taken by another node meanwhile; trying again"
                );
            }
            Err(e) => {
                // Out of subnets will not fix itself by retrying quickly, but another node's
                // lease may expire; keep the attempts.
                warn!(attempt, "acquiring a lease failed: {e:#}");
                last_err = Some(e);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    match last_err {
        Some(e) => Err(e.context(format!("failed to acquire a lease after {ATTEMPTS} attempts"))),
        None => bail!("failed to acquire a lease after {ATTEMPTS} attempts: every chosen subnet was taken concurrently"),
    }
}

async fn try_acquire(
    registry: &mut Registry,
    cfg: &NetworkConfig,
    attrs: &LeaseAttrs,
    previous: Option<Ipv4Net>,
) -> anyhow::Result<Option<Lease>> {
    let snap = registry.list_leases().await.context("listing leases")?;
    for e in &snap.skipped {
        warn!("skipping malformed lease: {e}");
    }
    let decision = alloc::decide(
        cfg,
        &snap.leases,
        attrs.public_ip,
        previous,
        &mut rand::rng(),
    )?;
    for stale in decision.delete {
        info!(subnet = %stale, "deleting our stale lease outside the configured range");
        registry.delete_lease(stale).await?;
    }
    Ok(Some(match decision.plan {
        Plan::Renew(old) => {
            info!(subnet = %old.subnet, "found our existing lease; renewing it");
            registry.renew_lease(old.subnet, attrs).await?
        }
        Plan::Reservation(old) => {
            info!(subnet = %old.subnet, "using the subnet reserved for us (no TTL)");
            if old.attrs != *attrs {
                registry.put_reservation(old.subnet, attrs).await?;
            }
            Lease {
                attrs: attrs.clone(),
                ..old
            }
        }
        Plan::Create(subnet) => match registry.create_lease(subnet, attrs).await? {
            Some(lease) => {
                info!(subnet = %lease.subnet, "acquired a new lease");
                lease
            }
            None => return Ok(None),
        },
    }))
}

/// Keeps our lease: renews before expiry, re-acquires after revocation. Returns only on a fatal
/// condition (our subnet was taken by another node).
pub async fn run(
    mut registry: Registry,
    shared: Arc<Shared>,
    renew_margin: Duration,
    mut own_rx: mpsc::Receiver<OwnEvent>,
) -> anyhow::Error {
    loop {
        let own = shared.table().own.clone();
        let wait = match (own.is_reservation(), own.expires) {
            (true, _) | (_, None) => Duration::from_secs(3600),
            (false, Some(exp)) => exp
                .checked_sub(renew_margin)
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                if own.is_reservation() || own.expires.is_none() {
                    continue;
                }
                match registry.renew_lease(own.subnet, &own.attrs).await {
                    Ok(l) => {
                        info!(subnet = %l.subnet, "lease renewed");
                        shared.table().own = l;
                    }
                    Err(e) => {
                        warn!(subnet = %own.subnet, "renewing the lease failed: {e}; retrying in a minute");
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            }
            ev = own_rx.recv() => match ev {
                None => return anyhow::anyhow!("lease watcher stopped"),
                Some(OwnEvent::TakenBy(ip)) => return taken(own.subnet, ip),
                Some(OwnEvent::Deleted) => {
                    if let Err(e) = reacquire(&mut registry, &shared, &own).await {
                        return e;
                    }
                }
            }
        }
    }
}

fn taken(subnet: Ipv4Net, ip: Ipv4Addr) -> anyhow::Error {
    error!(%subnet, other = %ip, "our subnet is now leased by another node");
    anyhow::anyhow!("lease for {subnet} was revoked and is now held by {ip}; exiting so a restart acquires a new subnet")
}

/// Upstream exits on revocation; we take the same subnet back when it is still free.
async fn reacquire(
    registry: &mut Registry,
    shared: &Shared,
    own: &Lease,
) -> Result<(), anyhow::Error> {
    warn!(subnet = %own.subnet, "lease has been revoked; re-acquiring the same subnet");
    loop {
        let result = if own.is_reservation() {
            registry
                .put_reservation(own.subnet, &own.attrs)
                .await
                .map(|_| Some(own.clone()))
        } else {
            registry.create_lease(own.subnet, &own.attrs).await
        };
        match result {
            Ok(Some(l)) => {
                info!(subnet = %l.subnet, "re-acquired the same subnet after revocation");
                shared.table().own = l;
                return Ok(());
            }
            Ok(None) => {
                // Someone wrote the key first: whose is it?
                let holder = registry
                    .list_leases()
                    .await
                    .ok()
                    .and_then(|s| s.leases.into_iter().find(|l| l.subnet == own.subnet))
                    .map(|l| l.attrs.public_ip);
                match holder {
                    Some(ip) if ip != own.attrs.public_ip => return Err(taken(own.subnet, ip)),
                    _ => return Ok(()),
                }
            }
            Err(e) => {
                warn!(subnet = %own.subnet, "re-acquiring failed: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
