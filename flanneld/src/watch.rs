//! Following the peers' leases: list at revision R, watch from R+1, resume after a broken watch
//! with backoff, re-list after compaction (the snapshot diff finds what was missed). Events about
//! our own key go to the lease keeper.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::lease::Lease;
use crate::registry::{LeaseEvent, Registry};
use crate::state::Shared;

/// What the watcher tells the lease keeper about our own key.
#[derive(Debug)]
pub enum OwnEvent {
    /// Our key was deleted (revoked or expired).
    Deleted,
    /// Our key was written with another node's public IP.
    TakenBy(std::net::Ipv4Addr),
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
    fn reset(&mut self) {
        *self = Backoff::new();
    }
}

pub struct Watcher {
    pub registry: Registry,
    pub shared: Arc<Shared>,
    pub own_tx: mpsc::Sender<OwnEvent>,
    pub expiry_tx: mpsc::UnboundedSender<i64>,
}

impl Watcher {
    fn note_lease_ids<'a>(&self, leases: impl IntoIterator<Item = &'a Lease>) {
        for l in leases {
            if l.has_etcd_ttl() && l.expires.is_none() {
                let _ = self.expiry_tx.send(l.etcd_lease);
            }
        }
    }

    async fn own_event(&self, ev: OwnEvent) {
        let _ = self.own_tx.send(ev).await;
    }

    /// List and replace the peer set. Returns the revision of the list.
    async fn relist(&mut self, backoff: &mut Backoff) -> i64 {
        loop {
            match self.registry.list_leases().await {
                Ok(snap) => {
                    for e in &snap.skipped {
                        warn!("skipping malformed lease: {e}");
                    }
                    let own = self.shared.own_subnet();
                    let own_pub = self.shared.table().own.attrs.public_ip;
                    match snap.leases.iter().find(|l| l.subnet == own) {
                        None => self.own_event(OwnEvent::Deleted).await,
                        Some(l) if l.attrs.public_ip != own_pub => {
                            self.own_event(OwnEvent::TakenBy(l.attrs.public_ip)).await
                        }
                        Some(_) => {}
                    }
                    self.note_lease_ids(&snap.leases);
                    let n = snap.leases.len();
                    if self.shared.set_peers(snap.leases) {
                        info!(
                            leases = n,
                            revision = snap.revision,
                            "lease snapshot applied"
                        );
                    }
                    backoff.reset();
                    return snap.revision;
                }
                Err(e) => {
                    warn!("listing leases failed: {e}; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    fn apply(&self, ev: LeaseEvent, own: Ipv4Net) -> Option<OwnEvent> {
        match ev {
            LeaseEvent::Put(l) if l.subnet == own => {
                let mine = self.shared.table().own.attrs.public_ip;
                (l.attrs.public_ip != mine).then_some(OwnEvent::TakenBy(l.attrs.public_ip))
            }
            LeaseEvent::Put(l) => {
                debug!(subnet = %l.subnet, public_ip = %l.attrs.public_ip, "lease added or changed");
                self.note_lease_ids([&l]);
                self.shared.put_peer(l);
                None
            }
            LeaseEvent::Delete(s) if s == own => Some(OwnEvent::Deleted),
            LeaseEvent::Delete(s) => {
                debug!(subnet = %s, "lease removed");
                self.shared.remove_peer(s);
                None
            }
            LeaseEvent::Skipped(e) => {
                warn!("skipping malformed lease: {e}");
                None
            }
        }
    }

    pub async fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut revision = self.relist(&mut backoff).await;
        loop {
            let mut stream = match self.registry.watch(revision + 1).await {
                Ok(s) => s,
                Err(e) => {
                    warn!(revision, "starting the lease watch failed: {e}; retrying");
                    backoff.wait().await;
                    continue;
                }
            };
            let mut compacted = false;
            loop {
                match stream.message().await {
                    Ok(Some(resp)) => {
                        backoff.reset();
                        if resp.canceled() {
                            if resp.compact_revision() > 0 {
                                warn!(
                                    revision,
                                    compacted = resp.compact_revision(),
                                    "watch revision was compacted; re-listing"
                                );
                                compacted = true;
                            } else {
                                warn!(
                                    reason = resp.cancel_reason(),
                                    "watch cancelled by etcd; resuming"
                                );
                            }
                            break;
                        }
                        let own = self.shared.own_subnet();
                        let mut own_events = Vec::new();
                        for ev in resp.events() {
                            if let Some(kv) = ev.kv() {
                                revision = revision.max(kv.mod_revision());
                            }
                            if let Some(lev) = self.registry.event(ev) {
                                own_events.extend(self.apply(lev, own));
                            }
                        }
                        for ev in own_events {
                            self.own_event(ev).await;
                        }
                    }
                    Ok(None) => {
                        warn!(revision, "lease watch closed; resuming");
                        break;
                    }
                    Err(e) => {
                        warn!(revision, "lease watch broken: {e}; resuming");
                        break;
                    }
                }
            }
            backoff.wait().await;
            if compacted {
                revision = self.relist(&mut backoff).await;
            }
        }
    }
}

/// Looks up expiry times of etcd leases (one lookup per etcd lease ID).
pub async fn expiry_task(
    mut registry: Registry,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<i64>,
) {
    let mut known: HashSet<i64> = HashSet::new();
    while let Some(id) = rx.recv().await {
        if !known.insert(id) {
            continue;
        }
        match registry.lease_expiry(id).await {
            Ok(exp) => shared.set_expiry(id, exp),
            Err(e) => {
                debug!(id, "looking up lease expiry failed: {e}");
                known.remove(&id);
            }
        }
    }
}
