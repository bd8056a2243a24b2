//! The sync engine: brings the kernel's nat and filter tables to a desired
//! [`ProxyState`], with a full or a partial sync.
//!
//! ## Why this design (measured, Debian 12, iptables 1.8.9 nf_tables, kernel 6.18)
//! With 10,000 services x 3 endpoints (~40k chains, 150k lines; figures from
//! `examples/measure.rs` and by hand, in test namespaces):
//! - plain `iptables-restore` of the whole table (no `--noflush`): 2.9-3.3 s
//!   into an empty or a full table alike; this is the floor;
//! - one `--noflush` payload declaring all ~40k chains: ~100 s, superlinear
//!   in the chains of one payload; chunked `--noflush` payloads of N chains:
//!   250 -> 4.3 s (empty table) / 6.8 s (full table), 1000 -> 4.3 / 5.2 s,
//!   2000 -> 5.4 / 5.9 s, 4000 -> 9.6 s, 10000 -> 35.9 s (empty table). Not
//!   faster than a plain restore, not atomic, and stale chains would still
//!   have to be found;
//! - `iptables-save` (all tables in one call): ~1.0-1.2 s, and `-t nat` or
//!   `-t filter` alone cost the same (the whole ruleset is read); `nft list
//!   chains` (names only): ~0.15 s; `iptables -S <chain>`: ~5 ms.
//!
//! So a **full sync** loads nat and filter with one plain `iptables-restore`
//! (atomic per table; stale chains of ours vanish by not being mentioned),
//! after reading the chains that are not ours ([`crate::names::is_owned_chain`]:
//! flanneld's `FLANNEL-POSTRTG` and its POSTROUTING jump, Docker's,
//! kubelet's `KUBE-FIREWALL`, policies of built-in chains) and re-emitting
//! them unchanged; missing jumps from built-in chains are inserted at their
//! top. The chains to keep are read with `nft list chains` plus
//! `iptables -S` of each foreign chain ([`foreign_rules`], in parallel with
//! building our rules), or with one `iptables-save` when that is not
//! possible. Measured: first full sync 1.06-1.13x the floor, periodic full
//! syncs 1.14-1.21x (1.52x when reading with `iptables-save`). Rules another
//! program adds between the read and the restore are lost until it re-adds
//! them (flanneld re-checks its rules periodically).
//!
//! A **partial sync** compares the new state with the last one programmed,
//! service port by service port, and applies one `--noflush` payload with
//! only the chains whose rules changed (declaring a chain flushes it), the
//! dispatch chains (`KUBE-SERVICES`, `KUBE-NODEPORTS`, filter
//! `KUBE-SERVICES`, `KUBE-EXTERNAL-SERVICES`) whose rule of some service
//! changed, and flush + `-X` of chains no longer needed (their jumps go in
//! the same payload). One endpoint change rewrites its `KUBE-SVC` and adds
//! or deletes one `KUBE-SEP`. Its cost is dominated by the kernel: on this
//! kernel every nf_tables transaction that adds a rule re-validates the
//! whole graph of chains reachable from the base chains, once per base
//! chain that reaches it (PREROUTING and OUTPUT both jump to
//! `KUBE-SERVICES`): ~60 ms per path at this size, so ~125-145 ms for any
//! partial payload, against ~15 ms when the chains are not reachable. A
//! partial touching more than [`PARTIAL_MAX_CHAINS`] chains is done as a
//! full sync instead (3,000 chains in one payload: ~0.5 s; the cost grows
//! superlinearly).
//!
//! A full sync happens on start, after any failure, when asked (periodic
//! resync, missing canary), and whenever the engine does not know the
//! kernel state. UDP conntrack entries of endpoints that went away are
//! deleted after a successful sync.

use crate::conntrack::Conntrack;
use crate::exec::{Error as IptablesError, Iptables};
use crate::model::{OwnedChain, Table};
use crate::names::{is_owned_chain, KUBE_PROXY_CANARY};
use crate::payload::{
    render_merged, render_partial, render_standalone, save_text_from_listings, MergeError,
    TableChanges,
};
use crate::rules::{
    assemble, desired_tables, dispatch_chain, service_rules, Dispatch, ServiceRules,
};
use crate::service::{Protocol, ProxyConfig, ProxyState, ServicePort, ServicePortName};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A partial sync declaring more chains than this is done as a full sync.
pub const PARTIAL_MAX_CHAINS: usize = 4000;

/// Errors of a sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Iptables(#[from] IptablesError),
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// Which path a sync took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    Full,
    Partial,
}

impl fmt::Display for SyncKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncKind::Full => "full",
            SyncKind::Partial => "partial",
        })
    }
}

/// What a sync did and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub kind: SyncKind,
    /// Service ports in the desired state.
    pub services: usize,
    /// Chains the payload declared (rewritten, or flushed to be deleted).
    pub chains: usize,
    /// Of which deleted.
    pub deleted_chains: usize,
    /// Building rules and payload.
    pub render: Duration,
    /// Running `iptables-save` (full syncs) and `iptables-restore`.
    pub apply: Duration,
    /// When the apply returned.
    pub applied_at: Instant,
    /// Nothing differed: no payload was applied.
    pub noop: bool,
    /// UDP conntrack entries deleted after the apply.
    pub conntrack_deleted: u64,
}

impl SyncReport {
    /// The log line of the contract, `total` measured by the caller from
    /// noticing the change to the apply returning:
    /// `sync kind=.. services=.. chains=.. render_ms=.. apply_ms=.. total_ms=..`.
    pub fn log_line(&self, total: Duration) -> String {
        format!(
            "sync kind={} services={} chains={} render_ms={:.3} apply_ms={:.3} total_ms={:.3}",
            self.kind,
            self.services,
            self.chains,
            ms(self.render),
            ms(self.apply),
            ms(total)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Debug, Clone)]
struct Entry {
    port: ServicePort,
    rules: Arc<ServiceRules>,
}

/// The sync engine. Holds the last state it programmed successfully.
#[derive(Debug)]
pub struct Proxier {
    ipt: Iptables,
    conntrack: Option<Conntrack>,
    cfg: ProxyConfig,
    current: BTreeMap<ServicePortName, Entry>,
    in_sync: bool,
    fast_listing: bool,
}

impl Proxier {
    /// An engine applying through `ipt`; its first sync is a full one.
    pub fn new(ipt: Iptables, cfg: ProxyConfig) -> Self {
        Proxier {
            ipt,
            conntrack: None,
            cfg,
            current: BTreeMap::new(),
            in_sync: false,
            fast_listing: true,
        }
    }

    /// Reads the rules to keep with one `iptables-save` in full syncs,
    /// instead of listing chain names with `nft` and only the chains that
    /// are not ours with `iptables -S` (the default where possible).
    pub fn with_full_save(mut self) -> Self {
        self.fast_listing = false;
        self
    }

    /// Deletes stale UDP conntrack entries with `ct` after each sync.
    pub fn with_conntrack(mut self, ct: Conntrack) -> Self {
        self.conntrack = Some(ct);
        self
    }

    /// The settings the rules are built with.
    pub fn config(&self) -> &ProxyConfig {
        &self.cfg
    }

    /// Whether the next [`Proxier::sync`] will be a full one.
    pub fn needs_full_sync(&self) -> bool {
        !self.in_sync
    }

    /// Makes the next [`Proxier::sync`] a full one.
    pub fn force_full_sync(&mut self) {
        self.in_sync = false;
    }

    /// Whether `KUBE-PROXY-CANARY` exists in nat and filter. Its loss means
    /// someone flushed our rules: call [`Proxier::force_full_sync`].
    pub fn canary_present(&self) -> bool {
        self.ipt.chain_exists(Table::Nat, KUBE_PROXY_CANARY)
            && self.ipt.chain_exists(Table::Filter, KUBE_PROXY_CANARY)
    }

    /// The service ports last programmed successfully.
    pub fn programmed(&self) -> impl Iterator<Item = &ServicePort> {
        self.current.values().map(|e| &e.port)
    }

    /// Syncs `desired`: partially when the kernel is known to hold the last
    /// programmed state, fully otherwise (or when a partial would be too big).
    /// A failure makes the next sync a full one.
    pub fn sync(&mut self, desired: &ProxyState) -> Result<SyncReport, SyncError> {
        if self.in_sync {
            self.partial_sync(desired)
        } else {
            self.full_sync(desired)
        }
    }

    /// Rewrites all our chains (see the module comment). The
    /// `iptables-save` runs while the rules are being built.
    pub fn full_sync(&mut self, desired: &ProxyState) -> Result<SyncReport, SyncError> {
        self.in_sync = false;
        let start = Instant::now();
        let ipt = &self.ipt;
        let (saved, (updates, nat, filter, render)) = std::thread::scope(|s| {
            let save = s.spawn(|| {
                let t = Instant::now();
                let fast = if self.fast_listing {
                    foreign_rules(ipt)
                } else {
                    None
                };
                let text = match fast {
                    Some(text) => Ok(text),
                    None => ipt.save_all(),
                };
                text.map(|text| (text, t.elapsed()))
            });
            let updates = self.updates(desired);
            let view = merged_view(&self.current, &updates);
            let (nat, filter) = assemble(view.values().copied(), &self.cfg);
            drop(view);
            let render = start.elapsed();
            let saved = save.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (saved, (updates, nat, filter, render))
        });
        let (saved, save_time) = saved?;

        let merge_start = Instant::now();
        let merged = render_merged(&saved, &[&nat, &filter])?;
        drop(saved);
        let render = render + merge_start.elapsed();
        for line in &merged.dropped {
            tracing::info!(rule = %line, "dropping rule that jumps to a chain of ours no longer needed");
        }

        let restore_start = Instant::now();
        self.ipt.restore_replace(&merged.payload)?;
        let applied_at = Instant::now();
        let apply = save_time + (applied_at - restore_start);
        tracing::debug!(
            save_ms = ms(save_time),
            restore_ms = ms(applied_at - restore_start),
            payload_bytes = merged.payload.len(),
            inserted_jumps = merged.inserted_jumps,
            "full sync applied"
        );
        let chains = nat.chains.len() + filter.chains.len();
        let conntrack_deleted = self.finish(updates);
        Ok(SyncReport {
            kind: SyncKind::Full,
            services: desired.len(),
            chains,
            deleted_chains: 0,
            render,
            apply,
            applied_at,
            noop: false,
            conntrack_deleted,
        })
    }

    fn partial_sync(&mut self, desired: &ProxyState) -> Result<SyncReport, SyncError> {
        let start = Instant::now();
        let (updates, [nat, filter]) = self.plan(desired);
        if updates.is_empty() {
            return Ok(SyncReport {
                kind: SyncKind::Partial,
                services: desired.len(),
                chains: 0,
                deleted_chains: 0,
                render: start.elapsed(),
                apply: Duration::ZERO,
                applied_at: Instant::now(),
                noop: true,
                conntrack_deleted: 0,
            });
        }
        let chains = nat.chain_count() + filter.chain_count();
        if chains > PARTIAL_MAX_CHAINS {
            tracing::info!(
                chains,
                "large change: doing a full sync instead of a partial one"
            );
            return self.full_sync(desired);
        }
        let payload = render_partial(&[(Table::Nat, &nat), (Table::Filter, &filter)]);
        let render = start.elapsed();

        self.in_sync = false;
        let apply_start = Instant::now();
        self.ipt.restore_noflush(&payload)?;
        let applied_at = Instant::now();
        let deleted_chains = nat.delete.len() + filter.delete.len();
        let conntrack_deleted = self.finish(updates);
        Ok(SyncReport {
            kind: SyncKind::Partial,
            services: desired.len(),
            chains,
            deleted_chains,
            render,
            apply: applied_at - apply_start,
            applied_at,
            noop: false,
            conntrack_deleted,
        })
    }

    /// What a partial sync to `desired` changes: the service ports whose
    /// input differs from what was programmed ([`Proxier::updates`]) and the
    /// nat and filter changes planned from them. Pure.
    fn plan(
        &self,
        desired: &ProxyState,
    ) -> (BTreeMap<ServicePortName, Option<Entry>>, [TableChanges; 2]) {
        let updates = self.updates(desired);
        if updates.is_empty() {
            return (updates, Default::default());
        }
        let changes: Vec<ServiceChange<'_>> = updates
            .iter()
            .map(|(name, new)| ServiceChange {
                old: self.current.get(name).map(|e| &*e.rules),
                new: new.as_ref().map(|e| &*e.rules),
            })
            .collect();
        let planned = plan_partial(&changes, || {
            merged_view(&self.current, &updates).into_values().collect()
        });
        (updates, planned)
    }

    /// The service ports whose input differs from what was programmed, with
    /// their new rules (`None`: removed). Unchanged ones are not copied.
    fn updates(&self, desired: &ProxyState) -> BTreeMap<ServicePortName, Option<Entry>> {
        let mut updates = BTreeMap::new();
        for (name, sp) in &desired.services {
            if self.current.get(name).is_some_and(|e| e.port == *sp) {
                continue;
            }
            let entry = Entry {
                port: sp.clone(),
                rules: Arc::new(service_rules(sp, &self.cfg)),
            };
            updates.insert(name.clone(), Some(entry));
        }
        for name in self.current.keys() {
            if !desired.services.contains_key(name) {
                updates.insert(name.clone(), None);
            }
        }
        updates
    }

    /// After a successful apply: deletes stale conntrack entries, records the
    /// new state and marks the kernel in sync.
    fn finish(&mut self, updates: BTreeMap<ServicePortName, Option<Entry>>) -> u64 {
        let deleted = self.cleanup_conntrack(&updates);
        for (name, entry) in updates {
            match entry {
                Some(e) => {
                    self.current.insert(name, e);
                }
                None => {
                    self.current.remove(&name);
                }
            }
        }
        self.in_sync = true;
        deleted
    }

    /// Deletes UDP conntrack entries of endpoints that went away, and of UDP
    /// service ports that had no endpoint and now have some. Failures are
    /// logged, not returned: the rules are already in place.
    fn cleanup_conntrack(&self, updates: &BTreeMap<ServicePortName, Option<Entry>>) -> u64 {
        let Some(ct) = &self.conntrack else { return 0 };
        let mut deleted = 0;
        let mut run = |what: &str, r: Result<u64, crate::conntrack::ConntrackError>| match r {
            Ok(n) => deleted += n,
            Err(e) => tracing::warn!(error = %e, "{what}"),
        };
        for (name, update) in updates {
            if name.protocol != Protocol::Udp {
                continue;
            }
            let Some(old) = self.current.get(name).map(|e| &e.port) else {
                continue;
            };
            let new_port = update.as_ref().map(|e| &e.port);
            let kept: BTreeSet<_> = new_port
                .map(|p| p.endpoints.iter().map(|e| e.ip).collect())
                .unwrap_or_default();
            for ep in &old.endpoints {
                if kept.contains(&ep.ip) {
                    continue;
                }
                run(
                    "deleting conntrack entries of a removed endpoint",
                    ct.delete_cluster_ip_flows(old.cluster_ip, old.port, ep.ip),
                );
                if let Some(np) = old.node_port {
                    run(
                        "deleting conntrack entries of a removed endpoint",
                        ct.delete_node_port_flows(np, ep.ip),
                    );
                }
            }
            if let Some(p) = new_port {
                if old.endpoints.is_empty() && !p.endpoints.is_empty() {
                    run(
                        "deleting conntrack entries of a service that had no endpoint",
                        ct.delete_service_flows(p.cluster_ip, p.port),
                    );
                    if let Some(np) = p.node_port {
                        run(
                            "deleting conntrack entries of a service that had no endpoint",
                            ct.delete_node_port_service_flows(np),
                        );
                    }
                }
            }
        }
        deleted
    }
}

/// Most foreign chains listed one by one; more fall back to `iptables-save`.
const MAX_LISTED_CHAINS: usize = 64;

/// The chains of nat and filter that are not ours, in `iptables-save`
/// format, read cheaply: chain names from `nft list chains`, then
/// `iptables -S <chain>` for each foreign chain, in parallel. With ~40k
/// chains this takes ~0.2 s where `iptables-save` takes ~1.1 s. `None` when
/// that is not possible (legacy backend, no `nft`, too many foreign chains,
/// a listing failed): the caller then uses `iptables-save`, which also
/// reports tables iptables cannot represent.
pub fn foreign_rules(ipt: &Iptables) -> Option<String> {
    let names = ipt.nft_chain_names()?;
    let wanted: Vec<(Table, Vec<&String>)> = [Table::Nat, Table::Filter]
        .into_iter()
        .filter_map(|t| {
            let chains = names.get(t.name())?;
            Some((t, chains.iter().filter(|c| !is_owned_chain(c)).collect()))
        })
        .collect();
    if wanted.iter().map(|(_, c)| c.len()).sum::<usize>() > MAX_LISTED_CHAINS {
        return None;
    }
    let listings = std::thread::scope(|s| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|(t, chains)| {
                let handles: Vec<_> = chains
                    .iter()
                    .map(|c| s.spawn(move || ipt.list_chain(*t, c)))
                    .collect();
                (*t, handles)
            })
            .collect();
        handles
            .into_iter()
            .map(|(t, hs)| {
                let texts: Option<Vec<String>> =
                    hs.into_iter().map(|h| h.join().ok()?.ok()).collect();
                Some((t, texts?))
            })
            .collect::<Option<Vec<_>>>()
    });
    match listings {
        Some(l) => Some(save_text_from_listings(&l)),
        None => {
            tracing::debug!("listing foreign chains failed; using iptables-save");
            None
        }
    }
}

/// The programmed state with `updates` applied, by name, without copying rules.
fn merged_view<'a>(
    current: &'a BTreeMap<ServicePortName, Entry>,
    updates: &'a BTreeMap<ServicePortName, Option<Entry>>,
) -> BTreeMap<&'a ServicePortName, &'a ServiceRules> {
    let mut view: BTreeMap<&ServicePortName, &ServiceRules> = current
        .iter()
        .filter(|(n, _)| !updates.contains_key(*n))
        .map(|(n, e)| (n, &*e.rules))
        .collect();
    view.extend(
        updates
            .iter()
            .filter_map(|(n, e)| e.as_ref().map(|e| (n, &*e.rules))),
    );
    view
}

/// The full payload for an empty kernel (`--dry-run`).
pub fn dry_run_payload(desired: &ProxyState, cfg: &ProxyConfig) -> String {
    let (nat, filter) = desired_tables(desired, cfg);
    render_standalone(&[&nat, &filter])
}

/// One service port whose input changed: its rules before (`None`: added)
/// and after (`None`: removed).
#[derive(Debug, Clone, Copy)]
pub struct ServiceChange<'a> {
    pub old: Option<&'a ServiceRules>,
    pub new: Option<&'a ServiceRules>,
}

/// Plans a partial sync: returns the nat and filter changes. Chains of
/// changed service ports are rewritten when their rules differ and deleted
/// when no longer wanted; a dispatch chain is rewritten in full, from
/// `all_new()` (every service port's new rules in name order, only built
/// when needed), when the rule of any changed service port in it differs.
pub fn plan_partial<'a>(
    changes: &[ServiceChange<'_>],
    all_new: impl FnOnce() -> Vec<&'a ServiceRules>,
) -> [TableChanges; 2] {
    let mut nat = TableChanges::default();
    let mut filter = TableChanges::default();
    let mut dirty = BTreeSet::new();
    for change in changes {
        let (before, after) = (change.old, change.new);
        for d in Dispatch::ALL {
            if before.and_then(|r| r.dispatch_rule(d)) != after.and_then(|r| r.dispatch_rule(d)) {
                dirty.insert(d);
            }
        }
        let old_chains: HashMap<&str, &OwnedChain> = before
            .map(|r| r.chains.iter().map(|c| (c.name.as_str(), c)).collect())
            .unwrap_or_default();
        let new_names: BTreeSet<&str> = after
            .map(|r| r.chains.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        for chain in after.map(|r| r.chains.as_slice()).unwrap_or(&[]) {
            if old_chains.get(chain.name.as_str()) != Some(&chain) {
                nat.rewrite.push(chain.clone());
            }
        }
        for chain in before.map(|r| r.chains.as_slice()).unwrap_or(&[]) {
            if !new_names.contains(chain.name.as_str()) {
                nat.delete.push(chain.name.clone());
            }
        }
    }
    if !dirty.is_empty() {
        // Dispatch chains first, so that a reader of the payload sees the entry points.
        let all = all_new();
        let mut dispatch_nat = Vec::new();
        for d in dirty {
            let chain = dispatch_chain(d, all.iter().copied());
            match d.table() {
                Table::Nat => dispatch_nat.push(chain),
                _ => filter.rewrite.push(chain),
            }
        }
        dispatch_nat.append(&mut nat.rewrite);
        nat.rewrite = dispatch_nat;
    }
    [nat, filter]
}

#[cfg(test)]
mod tests;
