//! Reconciling the kernel with the lease set: read what the kernel has (the part we own),
//! compute the desired state from the leases, apply the difference. Runs on every lease change
//! and every `--reconcile-interval` seconds, so missed events and restarts converge. The node
//! is ready (`/readyz`) only while the last pass succeeded.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn, Instrument};

use crate::backend::{self, Backend, Changes, KernelState};
use crate::netlink::{Netlink, NetlinkError};
use crate::state::Shared;

/// The kernel entries we own.
pub async fn read_owned(nl: &Netlink, shared: &Shared) -> Result<KernelState, NetlinkError> {
    let own = shared.own_subnet();
    let b = &shared.backend;
    let mut state = KernelState {
        routes: nl
            .routes()
            .await?
            .into_iter()
            .filter(|r| b.owns_route(r, shared.network, own))
            .collect(),
        ..Default::default()
    };
    if let Some(dev) = b.vxlan_dev() {
        state.neighbours = nl.neighbours(dev.index).await?.into_iter().collect();
        state.fdb = nl.fdb(dev.index).await?.into_iter().collect();
    }
    Ok(state)
}

/// Apply changes: removals first (routes before neighbours and FDB), then additions
/// (neighbours and FDB before routes, so the kernel never ARPs for a VTEP). Returns the number
/// of failed operations.
pub async fn apply(nl: &Netlink, changes: &Changes) -> usize {
    let mut failed = 0;
    let mut check = |what: &str, subject: String, r: Result<(), NetlinkError>| {
        if let Err(e) = r {
            failed += 1;
            warn!(%subject, "{what} failed: {e}");
        } else {
            debug!(%subject, "{what}");
        }
    };
    for r in &changes.remove.routes {
        check("remove route", r.dst.to_string(), nl.del_route(r).await);
    }
    for n in &changes.remove.neighbours {
        check(
            "remove neighbour",
            n.ip.to_string(),
            nl.del_neighbour(n).await,
        );
    }
    for f in &changes.remove.fdb {
        check("remove fdb", f.dst.to_string(), nl.del_fdb(f).await);
    }
    for n in &changes.add.neighbours {
        check(
            "add neighbour",
            n.ip.to_string(),
            nl.replace_neighbour(n).await,
        );
    }
    for f in &changes.add.fdb {
        check("add fdb", f.dst.to_string(), nl.replace_fdb(f).await);
    }
    for r in &changes.add.routes {
        check("add route", r.dst.to_string(), nl.replace_route(r).await);
    }
    failed
}

/// One pass: desired vs actual, apply.
pub async fn reconcile_once(nl: &Netlink, shared: &Shared) -> Result<(usize, usize), NetlinkError> {
    let desired = {
        let t = shared.table();
        backend::desired(&shared.backend, t.peers.values())
    };
    let actual = read_owned(nl, shared).await?;
    let changes = backend::diff(&desired, &actual);
    if changes.is_empty() {
        return Ok((0, 0));
    }
    let failed = apply(nl, &changes).await;
    Ok((changes.add.len() + changes.remove.len(), failed))
}

/// Whether a pass leaves the kernel as the leases want it: it read the kernel state and every
/// change it applied succeeded.
pub fn pass_succeeded(result: &Result<(usize, usize), NetlinkError>) -> bool {
    matches!(result, Ok((_, 0)))
}

/// The reconciler task (runs until aborted).
pub async fn run(nl: Netlink, shared: Arc<Shared>, interval: Duration) {
    if matches!(shared.backend, Backend::Alloc) {
        // Nothing to program: ready at once, and idle.
        shared.kernel_ready.store(true, Ordering::Relaxed);
        return std::future::pending().await;
    }
    loop {
        let start = Instant::now();
        let result = reconcile_once(&nl, &shared)
            .instrument(info_span!("reconcile"))
            .await;
        let ok = pass_succeeded(&result);
        match result {
            Ok((0, _)) => {}
            Ok((n, 0)) => info!(
                changes = n,
                elapsed_ms = start.elapsed().as_millis() as u64,
                "kernel reconciled"
            ),
            Ok((n, failed)) => warn!(
                changes = n,
                failed, "kernel reconciled with failures; not ready, retrying next pass"
            ),
            Err(e) => warn!("reading kernel state failed: {e}; not ready, retrying next pass"),
        }
        if shared.kernel_ready.swap(ok, Ordering::Relaxed) != ok {
            info!(ready = ok, "kernel readiness changed");
        }
        tokio::select! {
            _ = shared.changed.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pass_without_failures_is_a_success() {
        assert!(pass_succeeded(&Ok((0, 0))));
        assert!(pass_succeeded(&Ok((3, 0))));
        assert!(!pass_succeeded(&Ok((3, 1))));
        assert!(!pass_succeeded(&Err(NetlinkError::NoRuntime)));
    }
}
