//! The daemon's shared in-memory state: our lease and the peers' leases (the route table), plus
//! readiness. Tasks read and update it under a short lock and wake the reconciler on change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::Ipv4Net;
use tokio::sync::Notify;

use crate::backend::Backend;
use crate::lease::Lease;
use crate::udp;

#[derive(Debug)]
pub struct Table {
    pub own: Lease,
    pub peers: BTreeMap<Ipv4Net, Lease>,
}

#[derive(Debug)]
pub struct Shared {
    pub network: Ipv4Net,
    pub backend: Backend,
    table: Mutex<Table>,
    /// Wakes the reconciler.
    pub changed: Notify,
    pub rules_ready: AtomicBool,
    pub kernel_ready: AtomicBool,
    /// The udp backend's data-path route table, republished on every peer change.
    pub udp: Option<Arc<udp::Routes>>,
}

impl Shared {
    pub fn new(network: Ipv4Net, backend: Backend, own: Lease) -> Arc<Shared> {
        let udp = match &backend {
            Backend::Udp { port, .. } => Some(Arc::new(udp::Routes::new(*port))),
            _ => None,
        };
        Arc::new(Shared {
            udp,
            network,
            backend,
            table: Mutex::new(Table {
                own,
                peers: BTreeMap::new(),
            }),
            changed: Notify::new(),
            rules_ready: AtomicBool::new(false),
            kernel_ready: AtomicBool::new(false),
        })
    }

    pub fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn ready(&self) -> bool {
        self.rules_ready.load(Ordering::Relaxed) && self.kernel_ready.load(Ordering::Relaxed)
    }

    pub fn own_subnet(&self) -> Ipv4Net {
        self.table().own.subnet
    }

    /// Replace the whole peer set (after a list); returns whether anything changed.
    pub fn set_peers(&self, leases: Vec<Lease>) -> bool {
        let mut t = self.table();
        let own = t.own.subnet;
        let new: BTreeMap<Ipv4Net, Lease> = leases
            .into_iter()
            .filter(|l| l.subnet != own)
            .map(|l| (l.subnet, keep_expiry(t.peers.get(&l.subnet), l)))
            .collect();
        let changed = new != t.peers;
        t.peers = new;
        if changed {
            self.on_change(&t);
        }
        changed
    }

    pub fn put_peer(&self, lease: Lease) {
        let mut t = self.table();
        let old = t.peers.get(&lease.subnet);
        let lease = keep_expiry(old, lease);
        if old != Some(&lease) {
            t.peers.insert(lease.subnet, lease);
            self.on_change(&t);
        }
    }

    pub fn remove_peer(&self, subnet: Ipv4Net) {
        let mut t = self.table();
        if t.peers.remove(&subnet).is_some() {
            self.on_change(&t);
        }
    }

    /// The peer set changed (lock held, so snapshots are published in order): swap in the
    /// data path's new table and wake the reconciler.
    fn on_change(&self, t: &Table) {
        if let Some(u) = &self.udp {
            u.publish(t.peers.values());
        }
        self.changed.notify_one();
    }

    /// Fill in expiry times for every lease attached to etcd lease `id`.
    pub fn set_expiry(&self, id: i64, expires: Option<std::time::SystemTime>) {
        let mut t = self.table();
        for l in t.peers.values_mut().filter(|l| l.etcd_lease == id) {
            l.expires = expires;
        }
    }
}

/// A re-put of the same lease keeps the expiry we already looked up.
fn keep_expiry(old: Option<&Lease>, mut new: Lease) -> Lease {
    if let Some(old) = old {
        if new.expires.is_none() && old.etcd_lease == new.etcd_lease {
            new.expires = old.expires;
        }
    }
    new
}
