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
use kube_lite_api::alloc::{self, Bitmap, PortRange};
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
    ip_range: alloc::IpRange,
    ports: PortRange,
    lock: Mutex<()>,
}

#[derive(Clone, Copy)]
enum Which {
    Ip,
    Port,
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
            ip_range: alloc::IpRange::new(range),
            ports,
            lock: Mutex::new(()),
        }
    }

    /// The first address of the range: the `kubernetes` Service's.
    pub fn first_ip(&self) -> Option<Ipv4Addr> {
        self.ip_range.addr(0)
    }

    fn key(&self, w: Which) -> &str {
        match w {
            Which::Ip => &self.ip_key,
            Which::Port => &self.port_key,
        }
    }

    fn range_string(&self, w: Which) -> String {
        match w {
            Which::Ip => self.ip_range.net().to_string(),
            Which::Port => format!(
                "{}-{}",
                self.ports.base,
                u32::from(self.ports.base) + u32::from(self.ports.size) - 1
            ),
        }
    }

    fn size(&self, w: Which) -> usize {
        match w {
            Which::Ip => self.ip_range.size(),
            Which::Port => usize::from(self.ports.size),
        }
    }

    /// Reads, changes and CAS-writes one bitmap; `f` may fail (nothing written).
    async fn modify<T>(
        &self,
        w: Which,
        mut f: impl FnMut(&mut Bitmap) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let key = self.key(w).to_string();
        for _ in 0..32 {
            let current = self.store.get(&key).await.map_err(storage)?;
            let (mut bm, rev) = match &current {
                Some(kv) => match alloc::from_range_allocation(&kv.value, self.size(w)) {
                    Ok(b) => (b, kv.mod_revision),
                    Err(e) => {
                        warn!(%key, "stored range allocation is unreadable, starting empty: {e}");
                        (Bitmap::new(self.size(w)), kv.mod_revision)
                    }
                },
                None => (Bitmap::new(self.size(w)), 0),
            };
            let before = bm.clone();
            let out = f(&mut bm)?;
            if bm == before && current.is_some() {
                return Ok(out);
            }
            let v = alloc::to_range_allocation(&bm, &self.range_string(w));
            let r = if rev == 0 {
                self.store.create(&key, &v).await
            } else {
                self.store.update(&key, &v, rev).await
            };
            match r {
                Ok(_) => return Ok(out),
                Err(StorageError::Exists)
                | Err(StorageError::Conflict(_))
                | Err(StorageError::NotFound) => continue,
                Err(e) => return Err(storage(e)),
            }
        }
        Err(ApiError::internal(
            "could not update the service range allocation: too many concurrent changes",
        ))
    }

    /// Allocates what `svc` needs (given `old` on an update) and writes the
    /// values into it. Dry runs check without taking anything.
    pub async fn allocate(
        &self,
        svc: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
    ) -> Result<Allocation, ApiError> {
        let _guard = self.lock.lock().await;
        let mut a = Allocation::default();
        let old_ips = old.map(cluster_ips).unwrap_or_default();
        let old_ports: BTreeSet<u16> = old
            .map(node_ports)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let t = svc_type(svc).to_string();
        // ClusterIP.
        if t == "ExternalName" {
            a.dropped_ips = old_ips.clone();
        } else {
            let requested = svc
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if requested == "None" {
                set_ips(svc, None);
            } else if requested.is_empty() {
                if let Some(&ip) = old_ips.first() {
                    set_ips(svc, Some(ip));
                } else {
                    let ip = if dry_run {
                        self.ip_range.addr(0).unwrap_or(Ipv4Addr::UNSPECIFIED)
                    } else {
                        let off = self
                            .modify(Which::Ip, |bm| {
                                bm.allocate_next(rand::random_range(0..bm.size.max(1)))
                                    .map_err(|_| svc_invalid(&Value::Null, vec![Cause::new("FieldValueInvalid", "spec.clusterIPs", "Internal error: failed to allocate a serviceIP: range is full")]))
                            })
                            .await?;
                        a.new_ips
                            .push(self.ip_range.addr(off).unwrap_or(Ipv4Addr::UNSPECIFIED));
                        self.ip_range.addr(off).unwrap_or(Ipv4Addr::UNSPECIFIED)
                    };
                    set_ips(svc, Some(ip));
                }
            } else {
                let ip: Ipv4Addr = requested.parse().map_err(|_| {
                    svc_invalid(
                        svc,
                        vec![Cause::invalid(
                            "spec.clusterIPs[0]",
                            &json!(requested),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )],
                    )
                })?;
                if !old_ips.contains(&ip) {
                    let Some(off) = self.ip_range.offset(ip) else {
                        return Err(svc_invalid(svc, vec![Cause::invalid("spec.clusterIPs", &json!([requested]), &format!(
                            "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}", self.ip_range.net()))]));
                    };
                    let taken_msg =
                        format!("failed to allocate IP {ip}: provided IP is already allocated");
                    let name_svc = svc.clone();
                    let check = |bm: &mut Bitmap| -> Result<(), ApiError> {
                        if bm.is_set(off) {
                            return Err(svc_invalid(
                                &name_svc,
                                vec![Cause::invalid(
                                    "spec.clusterIPs",
                                    &json!([requested]),
                                    &taken_msg,
                                )],
                            ));
                        }
                        if !dry_run {
                            let _ = bm.allocate(off);
                        }
                        Ok(())
                    };
                    self.modify(Which::Ip, check).await?;
                    if !dry_run {
                        a.new_ips.push(ip);
                    }
                }
                set_ips(svc, Some(ip));
            }
            a.dropped_ips = old_ips
                .iter()
                .copied()
                .filter(|o| !cluster_ips(svc).contains(o))
                .collect();
        }
        // NodePorts.
        let wants_ports = t == "NodePort" || t == "LoadBalancer";
        let mut kept: BTreeSet<u16> = BTreeSet::new();
        if wants_ports {
            let n = svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            for i in 0..n {
                let requested = svc
                    .pointer(&format!("/spec/ports/{i}/nodePort"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let port: u16 = if requested > 0 {
                    let p = u16::try_from(requested).unwrap_or(0);
                    if old_ports.contains(&p) || kept.contains(&p) {
                        p
                    } else {
                        let field = format!("spec.ports[{i}].nodePort");
                        let off = p
                            .checked_sub(self.ports.base)
                            .map(usize::from)
                            .filter(|o| *o < usize::from(self.ports.size));
                        let Some(off) = off else {
                            self.undo(&a).await;
                            return Err(svc_invalid(svc, vec![Cause::invalid(&field, &json!(requested), &format!(
                                "provided port is not in the valid range. The range of valid ports is {}", self.range_string(Which::Port)))]));
                        };
                        let name_svc = svc.clone();
                        let r = self
                            .modify(Which::Port, |bm| {
                                if bm.is_set(off) {
                                    return Err(svc_invalid(
                                        &name_svc,
                                        vec![Cause::invalid(
                                            &field,
                                            &json!(requested),
                                            "provided port is already allocated",
                                        )],
                                    ));
                                }
                                if !dry_run {
                                    let _ = bm.allocate(off);
                                }
                                Ok(())
                            })
                            .await;
                        if let Err(e) = r {
                            self.undo(&a).await;
                            return Err(e);
                        }
                        if !dry_run {
                            a.new_ports.push(p);
                        }
                        p
                    }
                } else if dry_run {
                    self.ports.base
                } else {
                    let r = self
                        .modify(Which::Port, |bm| {
                            bm.allocate_next(rand::random_range(0..bm.size.max(1))).map_err(|_| {
                                ApiError::invalid("", "Service", "", vec![Cause::new("FieldValueInvalid", "spec.ports", "Internal error: failed to allocate a nodePort: range is full")])
                            })
                        })
                        .await;
                    match r {
                        Ok(off) => {
                            let p = self.ports.base + off as u16;
                            a.new_ports.push(p);
                            p
                        }
                        Err(e) => {
                            self.undo(&a).await;
                            return Err(e);
                        }
                    }
                };
                kept.insert(port);
                if let Some(pm) = svc
                    .pointer_mut(&format!("/spec/ports/{i}"))
                    .and_then(Value::as_object_mut)
                {
                    pm.insert("nodePort".into(), json!(port));
                }
            }
        } else if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("nodePort");
            }
        }
        a.dropped_ports = old_ports
            .iter()
            .copied()
            .filter(|p| !kept.contains(p))
            .collect();
        Ok(a)
    }

    async fn undo(&self, a: &Allocation) {
        self.free(&a.new_ips, &a.new_ports).await;
    }

    async fn free(&self, ips: &[Ipv4Addr], ports: &[u16]) {
        if !ips.is_empty() {
            let offs: Vec<usize> = ips
                .iter()
                .filter_map(|ip| self.ip_range.offset(*ip))
                .collect();
            if let Err(e) = self
                .modify(Which::Ip, |bm| {
                    for o in &offs {
                        bm.release(*o);
                    }
                    Ok(())
                })
                .await
            {
                warn!("could not release service IPs {ips:?}: {e}");
            }
        }
        if !ports.is_empty() {
            let base = self.ports.base;
            let offs: Vec<usize> = ports
                .iter()
                .filter_map(|p| p.checked_sub(base).map(usize::from))
                .collect();
            if let Err(e) = self
                .modify(Which::Port, |bm| {
                    for o in &offs {
                        bm.release(*o);
                    }
                    Ok(())
                })
                .await
            {
                warn!("could not release node ports {ports:?}: {e}");
            }
        }
    }

    /// Gives back what a failed write took.
    pub async fn release(&self, a: &Allocation) {
        let _guard = self.lock.lock().await;
        self.undo(a).await;
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

    /// Rebuilds both bitmaps from the stored Services.
    pub async fn repair(&self, services: &[Value]) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let ips: Vec<usize> = services
            .iter()
            .flat_map(cluster_ips)
            .filter_map(|ip| self.ip_range.offset(ip))
            .collect();
        let base = self.ports.base;
        let ports: Vec<usize> = services
            .iter()
            .flat_map(node_ports)
            .filter_map(|p| p.checked_sub(base).map(usize::from))
            .filter(|o| *o < usize::from(self.ports.size))
            .collect();
        self.modify(Which::Ip, |bm| {
            *bm = Bitmap::new(bm.size);
            for o in &ips {
                let _ = bm.allocate(*o);
            }
            Ok(())
        })
        .await?;
        self.modify(Which::Port, |bm| {
            *bm = Bitmap::new(bm.size);
            for o in &ports {
                let _ = bm.allocate(*o);
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
