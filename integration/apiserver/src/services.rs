//! The Service registry's allocations: ClusterIPs from
//! `--service-cluster-ip-range` and NodePorts from
//! `--service-node-port-range`, kept as upstream keeps them: one
//! `RangeAllocation` bitmap per range in etcd (`<prefix>/ranges/serviceips`,
//! `<prefix>/ranges/servicenodeports`), changed compare-and-swap so that
//! concurrent creates (also from several API servers) never get one value
//! twice; released when a Service is deleted or stops using a value; rebuilt
//! from the stored Services at startup (upstream's repair controller).

use crate::storage::{StorageError, Store};
use ipnet::Ipv4Net;
use kube_lite_api::alloc::{AllocRange, Allocator, IpRange, PortRange};
use kube_lite_api::{ApiError, Cause};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use tokio::sync::Mutex;
use tracing::warn;

/// Values taken by one write, and values it gives up once it commits.
#[derive(Debug, Clone, Default)]
pub struct Allocation {
    pub new_ips: Vec<Ipv4Addr>,
    pub new_ports: Vec<u16>,
    pub dropped_ips: Vec<Ipv4Addr>,
    pub dropped_ports: Vec<u16>,
}

pub struct Services {
    store: Store,
    ip_key: String,
    port_key: String,
    ip_range: IpRange,
    ports: PortRange,
    lock: Mutex<()>,
}

fn svc_invalid(svc: &Value, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("", "Service", kube_lite_api::meta::name(svc), causes)
}

/// ClusterIPs a Service holds (none for headless and ExternalName).
pub fn cluster_ips(svc: &Value) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    if out.is_empty() {
        if let Some(ip) = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
        {
            out.push(ip);
        }
    }
    out
}

/// NodePorts a Service holds.
pub fn node_ports(svc: &Value) -> Vec<u16> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("nodePort")?.as_u64())
                .filter(|p| *p > 0 && *p <= 65535)
                .map(|p| p as u16)
                .collect()
        })
        .unwrap_or_default()
}

fn svc_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

/// Upstream's `patchAllocatedValues`: an update that leaves clusterIP,
/// clusterIPs or a port's nodePort unset keeps the allocated ones.
pub fn patch_allocated_values(new: &mut Value, old: &Value) {
    let keeps_ip = |t: &str| t != "ExternalName";
    if keeps_ip(svc_type(new)) && keeps_ip(svc_type(old)) {
        let unset = new
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if unset {
            if let (Some(ip), Some(spec)) = (
                old.pointer("/spec/clusterIP").cloned(),
                new.get_mut("spec").and_then(Value::as_object_mut),
            ) {
                spec.insert("clusterIP".into(), ip);
                if let Some(ips) = old.pointer("/spec/clusterIPs").cloned() {
                    spec.insert("clusterIPs".into(), ips);
                }
            }
        } else if new.pointer("/spec/clusterIPs").is_none() {
            let same = old
                .pointer("/spec/clusterIPs")
                .cloned()
                .filter(|ips| ips.get(0) == new.pointer("/spec/clusterIP"));
            if let (Some(ips), Some(spec)) =
                (same, new.get_mut("spec").and_then(Value::as_object_mut))
            {
                spec.insert("clusterIPs".into(), ips);
            }
        }
    }
    let needs_ports = |t: &str| t == "NodePort" || t == "LoadBalancer";
    if needs_ports(svc_type(new)) && needs_ports(svc_type(old)) {
        let old_ports: Vec<Value> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                let has = p
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n > 0);
                if has {
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port")
                        && o.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                            == p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                });
                if let (Some(o), Some(pm)) = (same, p.as_object_mut()) {
                    if let Some(n) = o.get("nodePort") {
                        pm.insert("nodePort".into(), n.clone());
                    }
                }
            }
        }
    }
}

impl Services {
    pub fn new(store: Store, prefix: &str, range: Ipv4Net, ports: PortRange) -> Services {
        Services {
            store,
            ip_key: format!("{prefix}/ranges/serviceips"),
            port_key: format!("{prefix}/ranges/servicenodeports"),
            ip_range: IpRange::new(range),
            ports,
            lock: Mutex::new(()),
        }
    }

    /// The first address of the range: the `kubernetes` Service's.
    pub fn first_ip(&self) -> Option<Ipv4Addr> {
        self.ip_range.item(0)
    }

    /// Reads, changes and CAS-writes one stored RangeAllocation; `f` may
    /// fail (then nothing is written).
    async fn modify<R: AllocRange + Clone, T>(
        &self,
        key: &str,
        range: &R,
        mut f: impl FnMut(&mut Allocator<R>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        for _ in 0..32 {
            let current = self.store.get(key).await.map_err(storage)?;
            let (mut a, rev) = match &current {
                Some(kv) => match Allocator::from_range_allocation(range.clone(), &kv.value) {
                    Ok(a) => (a, kv.mod_revision),
                    Err(e) => {
                        warn!(%key, "stored range allocation does not fit the configured range, rebuilding it: {e}");
                        (Allocator::new(range.clone()), kv.mod_revision)
                    }
                },
                None => (Allocator::new(range.clone()), 0),
            };
            let before = a.bitmap.clone();
            let out = f(&mut a)?;
            if a.bitmap == before && current.is_some() {
                return Ok(out);
            }
            let v = a.to_range_allocation();
            let r = if rev == 0 {
                self.store.create(key, &v).await
            } else {
                self.store.update(key, &v, rev).await
            };
            match r {
                Ok(_) => return Ok(out),
                Err(StorageError::Exists) | Err(StorageError::Conflict(_)) | Err(StorageError::NotFound) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        Err(ApiError::internal("could not update the service range allocation: too many concurrent changes"))
    }

    /// Allocates what `svc` needs (given `old` on an update) and writes the
    /// values into it. Dry runs check without taking anything.
    pub async fn allocate(&self, svc: &mut Value, old: Option<&Value>, dry_run: bool) -> Result<Allocation, ApiError> {
        let _guard = self.lock.lock().await;
        let mut a = Allocation::default();
        let r = self.allocate_locked(svc, old, dry_run, &mut a).await;
        if r.is_err() && !dry_run {
            self.free(&a.new_ips, &a.new_ports).await;
        }
        r.map(|()| a)
    }

    async fn allocate_locked(&self, svc: &mut Value, old: Option<&Value>, dry_run: bool, a: &mut Allocation) -> Result<(), ApiError> {
        let old_ips = old.map(cluster_ips).unwrap_or_default();
        let old_ports: BTreeSet<u16> = old.map(node_ports).unwrap_or_default().into_iter().collect();
        let t = svc_type(svc).to_string();
        if t == "ExternalName" {
            a.dropped_ips = old_ips.clone();
        } else {
            let requested = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
            if requested == "None" {
                set_ips(svc, None);
            } else if requested.is_empty() {
                if let Some(&ip) = old_ips.first() {
                    set_ips(svc, Some(ip));
                } else {
                    let name_svc = svc.clone();
                    let ip = self
                        .modify(&self.ip_key, &self.ip_range, |al| {
                            let ip = al.allocate_next(rand::random::<u64>()).map_err(|e| {
                                svc_invalid(&name_svc, vec![Cause::new("FieldValueInvalid", "spec.clusterIPs", format!("Internal error: failed to allocate a serviceIP: {e}"))])
                            })?;
                            if dry_run {
                                al.release(ip);
                            }
                            Ok(ip)
                        })
                        .await?;
                    if !dry_run {
                        a.new_ips.push(ip);
                    }
                    set_ips(svc, Some(ip));
                }
            } else {
                let ip: Ipv4Addr = requested.parse().map_err(|_| {
                    svc_invalid(svc, vec![Cause::invalid("spec.clusterIPs[0]", &json!(requested), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")])
                })?;
                if !old_ips.contains(&ip) {
                    let name_svc = svc.clone();
                    self.modify(&self.ip_key, &self.ip_range, |al| {
                        al.allocate(ip).map_err(|e| {
                            svc_invalid(&name_svc, vec![Cause::invalid("spec.clusterIPs", &json!([requested]), &format!("failed to allocate IP {ip}: {e}"))])
                        })?;
                        if dry_run {
                            al.release(ip);
                        }
                        Ok(())
                    })
                    .await?;
                    if !dry_run {
                        a.new_ips.push(ip);
                    }
                }
                set_ips(svc, Some(ip));
            }
            let now = cluster_ips(svc);
            a.dropped_ips = old_ips.iter().copied().filter(|o| !now.contains(o)).collect();
        }
        let wants_ports = t == "NodePort" || t == "LoadBalancer";
        let mut kept: BTreeSet<u16> = BTreeSet::new();
        if wants_ports {
            let n = svc.pointer("/spec/ports").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            for i in 0..n {
                let requested = svc.pointer(&format!("/spec/ports/{i}/nodePort")).and_then(Value::as_u64).unwrap_or(0);
                let field = format!("spec.ports[{i}].nodePort");
                let name_svc = svc.clone();
                let port: u16 = if requested > 0 {
                    let p = u16::try_from(requested).unwrap_or(0);
                    if !(old_ports.contains(&p) || kept.contains(&p)) {
                        self.modify(&self.port_key, &self.ports, |al| {
                            al.allocate(p).map_err(|e| svc_invalid(&name_svc, vec![Cause::invalid(&field, &json!(requested), &e.to_string())]))?;
                            if dry_run {
                                al.release(p);
                            }
                            Ok(())
                        })
                        .await?;
                        if !dry_run {
                            a.new_ports.push(p);
                        }
                    }
                    p
                } else {
                    let p = self
                        .modify(&self.port_key, &self.ports, |al| {
                            let p = al.allocate_next(rand::random::<u64>()).map_err(|e| {
                                svc_invalid(&name_svc, vec![Cause::new("FieldValueInvalid", &field, format!("Internal error: failed to allocate a nodePort: {e}"))])
                            })?;
                            if dry_run {
                                al.release(p);
                            }
                            Ok(p)
                        })
                        .await?;
                    if !dry_run {
                        a.new_ports.push(p);
                    }
                    p
                };
                kept.insert(port);
                if let Some(pm) = svc.pointer_mut(&format!("/spec/ports/{i}")).and_then(Value::as_object_mut) {
                    pm.insert("nodePort".into(), json!(port));
                }
            }
        } else if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("nodePort");
            }
        }
        a.dropped_ports = old_ports.iter().copied().filter(|p| !kept.contains(p)).collect();
        Ok(())
    }

    async fn free(&self, ips: &[Ipv4Addr], ports: &[u16]) {
        if !ips.is_empty() {
            if let Err(e) = self.modify(&self.ip_key, &self.ip_range, |al| {
                ips.iter().for_each(|ip| al.release(*ip));
                Ok(())
            }).await {
                warn!("could not release service IPs {ips:?}: {e}");
            }
        }
        if !ports.is_empty() {
            if let Err(e) = self.modify(&self.port_key, &self.ports, |al| {
                ports.iter().for_each(|p| al.release(*p));
                Ok(())
            }).await {
                warn!("could not release node ports {ports:?}: {e}");
            }
        }
    }

    /// Gives back what a failed write took.
    pub async fn release(&self, a: &Allocation) {
        let _guard = self.lock.lock().await;
        self.free(&a.new_ips, &a.new_ports).await;
    }

    /// After a committed update: gives back what the Service stopped using.
    pub async fn commit_update(&self, a: &Allocation) {
        let _guard = self.lock.lock().await;
        self.free(&a.dropped_ips, &a.dropped_ports).await;
    }

    /// After a Service was deleted.
    pub async fn release_object(&self, svc: &Value) {
        let _guard = self.lock.lock().await;
        self.free(&cluster_ips(svc), &node_ports(svc)).await;
    }

    /// Rebuilds both bitmaps from the stored Services (upstream's repair).
    pub async fn repair(&self, services: &[Value]) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        self.modify(&self.ip_key, &self.ip_range, |al| {
            *al = Allocator::new(self.ip_range);
            for ip in services.iter().flat_map(cluster_ips) {
                let _ = al.allocate(ip);
            }
            Ok(())
        })
        .await?;
        self.modify(&self.port_key, &self.ports, |al| {
            *al = Allocator::new(self.ports);
            for p in services.iter().flat_map(node_ports) {
                let _ = al.allocate(p);
            }
            Ok(())
        })
        .await
    }
}

fn set_ips(svc: &mut Value, ip: Option<Ipv4Addr>) {
    if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
        let s = ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "None".to_string());
        spec.insert("clusterIP".into(), json!(s));
        spec.insert("clusterIPs".into(), json!([s]));
    }
}

fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::Unavailable(m) => ApiError::unavailable(format!("etcd is unavailable: {m}")),
        StorageError::Timeout(d) => {
            ApiError::timeout(format!("etcd did not answer within {}s", d.as_secs()), 1)
        }
        e => ApiError::internal(e),
    }
}
