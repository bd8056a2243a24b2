//! The delegate configuration flannel hands to bridge (or another plugin), built exactly as
//! upstream's CNI plugin builds it, and its Go-identical JSON text (the bytes saved for DEL).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::config::NetConf;
use crate::error::CniError;
use crate::gojson::{self, sorted_keys, Sorted};
use crate::subnet_env::SubnetEnv;

/// The fields of CNI's `types.Route`, in the order Go marshals them.
const ROUTE_FIELDS: [&str; 7] = ["dst", "gw", "mtu", "advmss", "priority", "table", "scope"];

/// Builds the delegate configuration for ADD (and for GC / CHECK of the exec path).
pub fn build(conf: &NetConf, env: &SubnetEnv) -> Result<Map<String, Value>, CniError> {
    let mut d = conf.delegate.clone().unwrap_or_default();
    if let Some(rc) = conf.runtime_config.as_ref().filter(|rc| !rc.is_empty()) {
        d.insert("runtimeConfig".into(), Value::Object(rc.clone()));
    }
    d.insert("name".into(), Value::String(conf.name.clone()));
    d.entry("type").or_insert_with(|| "bridge".into());
    d.entry("ipMasq").or_insert(Value::Bool(!env.ipmasq));
    d.entry("mtu").or_insert(Value::from(env.mtu));
    if d.get("type").and_then(Value::as_str) == Some("bridge") {
        d.entry("isGateway").or_insert(Value::Bool(true));
    }
    if !conf.cni_version.is_empty() {
        d.insert("cniVersion".into(), Value::String(conf.cni_version.clone()));
    }
    d.insert("ipam".into(), Value::Object(ipam(conf, env)?));
    Ok(d)
}

fn ipam(conf: &NetConf, env: &SubnetEnv) -> Result<Map<String, Value>, CniError> {
    let mut ipam = conf.ipam.clone().unwrap_or_default();
    ipam.entry("type").or_insert_with(|| "host-local".into());
    let mut ranges = Vec::new();
    if let Some(sn) = env.subnet {
        ranges.push(serde_json::json!([{ "subnet": sn.to_string() }]));
    }
    if let Some(sn) = env.ip6_subnet {
        ranges.push(serde_json::json!([{ "subnet": sn.to_string() }]));
    }
    // Go marshals a nil slice as null.
    let ranges = if ranges.is_empty() {
        Value::Null
    } else {
        Value::Array(ranges)
    };
    ipam.insert("ranges".into(), ranges);
    let mut routes = match ipam.get("routes") {
        Some(r) => user_routes(r)?,
        None => Vec::new(),
    };
    let nets = env.networks.iter().map(|n| n.to_string());
    let nets6 = env.ip6_networks.iter().map(|n| n.to_string());
    for net in nets.chain(nets6) {
        routes.push(serde_json::json!({ "dst": net }));
    }
    ipam.insert("routes".into(), Value::Array(routes));
    Ok(ipam)
}

/// Normalises `ipam.routes` the way unmarshalling into `[]types.Route` and marshalling back
/// does: known fields only, addresses in canonical form, zero numbers dropped.
fn user_routes(routes: &Value) -> Result<Vec<Value>, CniError> {
    let bad = |why: String| CniError::config(format!("failed to read IPAM routes: {why}"));
    let items = match routes {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(bad("\"routes\" must be a list".into())),
    };
    items
        .iter()
        .map(|r| {
            let mut out = Map::new();
            let dst = r
                .get("dst")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("route {r} has no \"dst\"")))?;
            let dst: ipnet::IpNet = dst.parse().map_err(|e| bad(format!("dst {dst:?}: {e}")))?;
            out.insert("dst".into(), dst.to_string().into());
            if let Some(gw) = r.get("gw").filter(|g| !g.is_null()) {
                let text = gw.as_str().unwrap_or_default();
                let ip: std::net::IpAddr =
                    text.parse().map_err(|e| bad(format!("gw {gw}: {e}")))?;
                out.insert("gw".into(), ip.to_string().into());
            }
            for key in ["mtu", "advmss", "priority", "table", "scope"] {
                let Some(v) = r.get(key).filter(|v| !v.is_null()) else {
                    continue;
                };
                let n = v
                    .as_i64()
                    .ok_or_else(|| bad(format!("{key} {v} is not an integer")))?;
                // table and scope are pointers in Go (kept when 0), the others omitempty.
                if n != 0 || key == "table" || key == "scope" {
                    out.insert(key.into(), n.into());
                }
            }
            Ok(Value::Object(out))
        })
        .collect()
}

/// The compact JSON text upstream writes (`json.Marshal` of the map): sorted keys, Go escaping,
/// routes with their struct field order.
pub fn to_json(delegate: &Map<String, Value>) -> String {
    gojson::compact_of(&Delegate(delegate))
}

struct Delegate<'a>(&'a Map<String, Value>);
struct Ipam<'a>(&'a Map<String, Value>);
struct Route<'a>(&'a Value);

impl Serialize for Delegate<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for k in sorted_keys(self.0) {
            match &self.0[k.as_str()] {
                Value::Object(ipam) if k == "ipam" => m.serialize_entry(k, &Ipam(ipam))?,
                v => m.serialize_entry(k, &Sorted(v))?,
            }
        }
        m.end()
    }
}

impl Serialize for Ipam<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for k in sorted_keys(self.0) {
            match &self.0[k.as_str()] {
                Value::Array(routes) if k == "routes" => {
                    m.serialize_entry(k, &routes.iter().map(Route).collect::<Vec<_>>())?
                }
                v => m.serialize_entry(k, &Sorted(v))?,
            }
        }
        m.end()
    }
}

impl Serialize for Route<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(r) = self.0 else {
            return Sorted(self.0).serialize(s);
        };
        let mut m = s.serialize_map(None)?;
        for k in ROUTE_FIELDS {
            if let Some(v) = r.get(k) {
                m.serialize_entry(k, &Sorted(v))?;
            }
        }
        m.end()
    }
}

/// The delegate's `type`.
pub fn type_of(d: &Map<String, Value>) -> String {
    d.get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests;
