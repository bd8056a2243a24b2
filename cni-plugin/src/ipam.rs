//! host-local compatible IPAM for the built-in path: the configuration (`ranges`, legacy
//! top-level `subnet`, `routes`, `dataDir`), allocation (round-robin per range set, duplicate
//! allocations refused, nothing written when a set is exhausted), release by (containerID,
//! ifname) and GC against a list of valid attachments. State layout: see `store`.

pub mod range;
pub mod store;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde_json::{Map, Value};

use crate::config::Attachment;
use crate::error::{CniError, IO_FAILURE, IPAM_FAILURE};
use crate::result::Route;
use range::Range;
use store::{Locked, Record, Store};

/// host-local's default `dataDir`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// The host-local configuration the built-in path understands (IPv4 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConf {
    /// The network name: the store directory under `data_dir`.
    pub network: String,
    pub data_dir: PathBuf,
    pub range_sets: Vec<Vec<Range>>,
    /// `routes` as given (no gateway filled in).
    pub routes: Vec<Route>,
}

/// Why a host-local configuration is not handled in-process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfError {
    /// Valid for host-local but not for us (IPv6, resolvConf, ...): execute the binary.
    Unsupported(String),
    /// Invalid for host-local too.
    Invalid(String),
}

/// One allocated address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The IP with its range's prefix length (`10.1.17.2/24`).
    pub address: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// The data directory and network of an `ipam` object, enough to reach the store (DEL, GC).
pub fn store_location(network: &str, ipam: &Map<String, Value>) -> (PathBuf, String) {
    let dir = ipam
        .get("dataDir")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .unwrap_or(DEFAULT_DATA_DIR);
    (PathBuf::from(dir), network.to_string())
}

/// Parses the `ipam` object of the delegate configuration.
pub fn parse_conf(network: &str, ipam: &Map<String, Value>) -> Result<IpamConf, ConfError> {
    for key in ["resolvConf"] {
        if ipam.contains_key(key) {
            return Err(ConfError::Unsupported(format!("ipam {key:?}")));
        }
    }
    let mut raw_sets: Vec<Vec<Value>> = Vec::new();
    if ipam.get("subnet").is_some_and(|s| !s.is_null()) {
        raw_sets.push(vec![Value::Object(ipam.clone())]);
    }
    match ipam.get("ranges") {
        None | Some(Value::Null) => {}
        Some(Value::Array(sets)) => {
            for set in sets {
                match set.as_array() {
                    Some(ranges) if !ranges.is_empty() => raw_sets.push(ranges.clone()),
                    _ => {
                        return Err(ConfError::Invalid(
                            "ipam ranges: each set must be a non-empty list".into(),
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(ConfError::Invalid("ipam \"ranges\" must be a list".into())),
    }
    if raw_sets.is_empty() {
        return Err(ConfError::Invalid("no IP ranges specified".into()));
    }
    let range_sets = raw_sets
        .iter()
        .map(|set| set.iter().map(parse_range).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    let routes = match ipam.get("routes") {
        None | Some(Value::Null) => Vec::new(),
        Some(r) => serde_json::from_value::<Vec<Route>>(r.clone())
            .map_err(|e| ConfError::Invalid(format!("ipam routes: {e}")))?,
    };
    if routes.iter().any(|r| !matches!(r.dst, ipnet::IpNet::V4(_))) {
        return Err(ConfError::Unsupported("IPv6 routes".into()));
    }
    let (data_dir, network) = store_location(network, ipam);
    Ok(IpamConf {
        network,
        data_dir,
        range_sets,
        routes,
    })
}

fn parse_range(v: &Value) -> Result<Range, ConfError> {
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let subnet =
        field("subnet").ok_or_else(|| ConfError::Invalid(format!("range {v} has no subnet")))?;
    let net: ipnet::IpNet = subnet
        .parse()
        .map_err(|e| ConfError::Invalid(format!("subnet {subnet:?}: {e}")))?;
    let ipnet::IpNet::V4(net) = net else {
        return Err(ConfError::Unsupported(format!("IPv6 range {subnet}")));
    };
    let addr = |k: &str| -> Result<Option<Ipv4Addr>, ConfError> {
        field(k)
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|e| ConfError::Invalid(format!("{k} {s:?}: {e}")))
            })
            .transpose()
    };
    Range::new(
        net,
        addr("rangeStart")?,
        addr("rangeEnd")?,
        addr("gateway")?,
    )
    .map_err(ConfError::Invalid)
}

fn io_err(what: &str, store_dir: &Path, e: std::io::Error) -> CniError {
    CniError::new(
        IO_FAILURE,
        format!("{what} in {}", store_dir.display()),
        e.to_string(),
    )
}

fn open(data_dir: &Path, network: &str) -> Result<Store, CniError> {
    Store::open(data_dir, network)
        .map_err(|e| io_err("cannot open the IPAM store", &data_dir.join(network), e))
}

/// Open the network's store, take its lock, and run `f` with it (and the store's directory,
/// for error messages).
fn with_locked<T>(
    data_dir: &Path,
    network: &str,
    f: impl FnOnce(&Locked<'_>, &Path) -> Result<T, CniError>,
) -> Result<T, CniError> {
    let store = open(data_dir, network)?;
    let locked = store
        .lock()
        .map_err(|e| io_err("cannot lock the IPAM store", store.dir(), e))?;
    f(&locked, store.dir())
}

/// Allocates one address per range set for (cid, ifname). On failure nothing stays allocated.
pub fn allocate(conf: &IpamConf, cid: &str, ifname: &str) -> Result<Vec<Allocation>, CniError> {
    with_locked(&conf.data_dir, &conf.network, |locked, dir| {
        let mut out = Vec::new();
        for (id, set) in conf.range_sets.iter().enumerate() {
            match allocate_in(locked, dir, set, id, cid, ifname) {
                Ok(a) => out.push(a),
                Err(e) => {
                    for a in &out {
                        let _ = locked.remove_ip(IpAddr::V4(a.address.addr()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    })
}

fn allocate_in(
    locked: &Locked<'_>,
    dir: &Path,
    set: &[Range],
    id: usize,
    cid: &str,
    ifname: &str,
) -> Result<Allocation, CniError> {
    let fail = |why: String| {
        CniError::new(
            IPAM_FAILURE,
            format!("failed to allocate for range {id}"),
            why,
        )
    };
    let existing = locked
        .find(cid, ifname)
        .map_err(|e| io_err("cannot read the IPAM store", dir, e))?;
    if let Some(ip) = existing.iter().find(|ip| in_set(set, **ip)) {
        return Err(fail(format!(
            "{ip} has been allocated to {cid}, duplicate allocation is not allowed"
        )));
    }
    let last = match locked.last_reserved(id) {
        Some(IpAddr::V4(ip)) => Some(ip),
        _ => None,
    };
    for (ip, gateway) in range::candidates(set, last) {
        let reserved = locked
            .reserve(IpAddr::V4(ip), cid, ifname, id)
            .map_err(|e| io_err("cannot write the IPAM store", dir, e))?;
        if reserved {
            let prefix = set
                .iter()
                .find(|r| r.contains(ip))
                .map_or(32, |r| r.subnet.prefix_len());
            let address = Ipv4Net::new(ip, prefix).map_err(|e| fail(e.to_string()))?;
            return Ok(Allocation { address, gateway });
        }
    }
    Err(fail(format!(
        "no IP addresses available in range set: {}",
        range::describe(set)
    )))
}

fn in_set(set: &[Range], ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if set.iter().any(|r| r.contains(v4)))
}

/// The IPs recorded for (cid, ifname) (legacy records of cid included).
pub fn find(
    data_dir: &Path,
    network: &str,
    cid: &str,
    ifname: &str,
) -> Result<Vec<IpAddr>, CniError> {
    with_locked(data_dir, network, |locked, dir| {
        locked
            .find(cid, ifname)
            .map_err(|e| io_err("cannot read the IPAM store", dir, e))
    })
}

/// Every record of a network's store; empty when the store does not exist (never creates it).
pub fn records(data_dir: &Path, network: &str) -> Result<Vec<Record>, CniError> {
    if !data_dir.join(network).is_dir() {
        return Ok(Vec::new());
    }
    with_locked(data_dir, network, |locked, dir| {
        locked
            .records()
            .map_err(|e| io_err("cannot read the IPAM store", dir, e))
    })
}

/// Releases (cid, ifname) like host-local's DEL; returns the released IPs (none is fine).
pub fn release(
    data_dir: &Path,
    network: &str,
    cid: &str,
    ifname: &str,
) -> Result<Vec<IpAddr>, CniError> {
    with_locked(data_dir, network, |locked, dir| {
        locked
            .release(cid, ifname)
            .map_err(|e| io_err("cannot release in the IPAM store", dir, e))
    })
}

/// Releases one address (rollback of a failed ADD).
pub fn release_ip(data_dir: &Path, network: &str, ip: IpAddr) -> Result<bool, CniError> {
    with_locked(data_dir, network, |locked, dir| {
        locked
            .remove_ip(ip)
            .map_err(|e| io_err("cannot release in the IPAM store", dir, e))
    })
}

/// Releases every record whose attachment is not in `valid` (a legacy record survives when its
/// container has any valid attachment). Returns the released records.
pub fn gc(data_dir: &Path, network: &str, valid: &[Attachment]) -> Result<Vec<Record>, CniError> {
    with_locked(data_dir, network, |locked, dir| {
        let records = locked
            .records()
            .map_err(|e| io_err("cannot read the IPAM store", dir, e))?;
        let mut released = Vec::new();
        for r in records {
            let keep = valid.iter().any(|a| {
                a.container_id == r.container_id && r.ifname.as_ref().is_none_or(|i| *i == a.ifname)
            });
            if !keep
                && locked
                    .remove_ip(r.ip)
                    .map_err(|e| io_err("cannot release in the IPAM store", dir, e))?
            {
                released.push(r);
            }
        }
        Ok(released)
    })
}

#[cfg(test)]
mod tests;
