//! Reading the desired state from Kubernetes JSON: a v1 `List` of `Service`
//! and `Endpoints` or `EndpointSlice` (discovery.k8s.io/v1) objects, as
//! `kubectl get svc,endpoints -A -o json` (or `svc,endpointslices`) prints it
//! (a `ServiceList`/`EndpointsList`/`EndpointSliceList`, or a single object,
//! is accepted too). A Service's endpoints come from its EndpointSlices (by
//! the `kubernetes.io/service-name` label) when it has any, else from its
//! Endpoints. Slice endpoints are used as kube-proxy uses them: the ready
//! ones; when none is ready, the serving-and-terminating ones (so a rolling
//! update drains), never the others.
//! Only the fields kube-proxy-lite needs are read, with serde types of our
//! own (k8s-openapi would cost a long compile for a dozen fields).
//!
//! A document that is not valid JSON (e.g. a half-written file) is an error;
//! a single bad object is not: it is skipped with a [`Warning`] naming it
//! (`namespace/name`) and the others are kept. Headless services (clusterIP
//! `None` or empty) and ExternalName services are skipped silently.

use crate::service::{Endpoint, Protocol, ProxyState, ServicePort, ServicePortName};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Session affinity timeout when ClientIP affinity has no explicit one (3 h).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;
/// Largest session affinity timeout Kubernetes accepts (1 day).
pub const MAX_AFFINITY_TIMEOUT: u32 = 86400;

/// The document is not a JSON object of the expected shape.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse services JSON: {0}")]
pub struct KubeError(#[from] serde_json::Error);

/// An object skipped (or partly skipped) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `Service` or `Endpoints`.
    pub kind: &'static str,
    /// `namespace/name`.
    pub object: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.object, self.message)
    }
}

/// What affects parsing besides the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Whether the kernel can match SCTP; SCTP ports are skipped otherwise.
    pub sctp: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { sctp: true }
    }
}

/// The result of parsing a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub state: ProxyState,
    pub warnings: Vec<Warning>,
}

/// A string borrowed from the document when it has no escapes.
type Str<'a> = Cow<'a, str>;

/// The document: a list of items, or one object. Read in one pass with
/// typed specs and subsets ([`Typed`], the fast path for well-formed input),
/// or with them kept raw ([`Raw`]), each object then parsed on its own so
/// that one malformed object is skipped, not fatal.
#[derive(Deserialize)]
struct Top<'a, S, U, E, P> {
    #[serde(borrow, default)]
    kind: Str<'a>,
    #[serde(borrow)]
    items: Option<Vec<Item<'a, S, U, E, P>>>,
    #[serde(borrow, default)]
    metadata: Metadata<'a>,
    spec: Option<S>,
    subsets: Option<U>,
    endpoints: Option<E>,
    ports: Option<P>,
}

#[derive(Deserialize)]
struct Item<'a, S, U, E, P> {
    #[serde(borrow, default)]
    kind: Str<'a>,
    #[serde(borrow, default)]
    metadata: Metadata<'a>,
    spec: Option<S>,
    subsets: Option<U>,
    endpoints: Option<E>,
    ports: Option<P>,
}

type Typed<'a> =
    Top<'a, ServiceSpec<'a>, Vec<Subset<'a>>, Vec<SliceEndpoint<'a>>, Vec<EndpointPort<'a>>>;
type Raw<'a> = Top<'a, &'a RawValue, &'a RawValue, &'a RawValue, &'a RawValue>;

/// One object, whichever way it was read.
struct Object<'a> {
    kind: Str<'a>,
    metadata: Metadata<'a>,
    spec: Option<Result<ServiceSpec<'a>, String>>,
    subsets: Option<Result<Vec<Subset<'a>>, String>>,
    /// An EndpointSlice's endpoints and ports.
    endpoints: Option<Result<Vec<SliceEndpoint<'a>>, String>>,
    ports: Option<Result<Vec<EndpointPort<'a>>, String>>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    name: Str<'a>,
    #[serde(borrow, default)]
    namespace: Option<Str<'a>>,
    #[serde(borrow, default)]
    labels: Option<HashMap<Str<'a>, Str<'a>>>,
}

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of an EndpointSlice (`ready`/`serving`/`terminating` as sent; absent `ready`
/// and `serving` mean true, absent `terminating` false, as the API defines them).
#[derive(Deserialize)]
struct SliceEndpoint<'a> {
    #[serde(borrow, default)]
    addresses: Vec<Str<'a>>,
    #[serde(default)]
    conditions: Conditions,
}

#[derive(Deserialize, Default)]
struct Conditions {
    #[serde(default)]
    ready: Option<bool>,
    #[serde(default)]
    serving: Option<bool>,
    #[serde(default)]
    terminating: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSpec<'a> {
    #[serde(rename = "clusterIP", borrow, default)]
    cluster_ip: Option<Str<'a>>,
    #[serde(rename = "type", borrow, default)]
    type_: Option<Str<'a>>,
    #[serde(borrow, default)]
    session_affinity: Option<Str<'a>>,
    #[serde(default)]
    session_affinity_config: Option<AffinityConfig>,
    #[serde(borrow, default)]
    ports: Option<Vec<SpecPort<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AffinityConfig {
    #[serde(rename = "clientIP", default)]
    client_ip: Option<ClientIpConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientIpConfig {
    #[serde(default)]
    timeout_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecPort<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(borrow, default)]
    protocol: Option<Str<'a>>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    node_port: Option<i64>,
}

#[derive(Deserialize)]
struct Subset<'a> {
    #[serde(borrow, default)]
    addresses: Option<Vec<Address<'a>>>,
    #[serde(borrow, default)]
    ports: Option<Vec<EndpointPort<'a>>>,
}

#[derive(Deserialize)]
struct Address<'a> {
    #[serde(borrow, default)]
    ip: Str<'a>,
}

#[derive(Deserialize)]
struct EndpointPort<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(borrow, default)]
    protocol: Option<Str<'a>>,
}

/// Endpoints of one object: (port name, protocol) -> backends.
type EndpointMap = HashMap<(String, Protocol), Vec<Endpoint>>;

/// Parses a document into the desired state.
pub fn parse_list(json: &str, opts: &ParseOptions) -> Result<Parsed, KubeError> {
    let objects = match serde_json::from_str::<Typed<'_>>(json) {
        Ok(top) => objects(top, |kind, metadata, spec, subsets, endpoints, ports| {
            Object {
                kind,
                metadata,
                spec: spec.map(Ok),
                subsets: subsets.map(Ok),
                endpoints: endpoints.map(Ok),
                ports: ports.map(Ok),
            }
        }),
        // Some object does not have the expected shape (or the document is
        // not JSON at all): read object by object.
        Err(e) => {
            tracing::debug!(error = %e, "reading the services document object by object");
            objects(serde_json::from_str::<Raw<'_>>(json)?, raw_object)
        }
    };
    Ok(build(objects, opts))
}

/// Items of a list (whose kind, e.g. `ServiceList`, implies the kind of
/// items that carry none), or the document itself when it is one object.
#[allow(clippy::type_complexity)]
fn objects<'a, S, U, E, P>(
    top: Top<'a, S, U, E, P>,
    convert: impl Fn(Str<'a>, Metadata<'a>, Option<S>, Option<U>, Option<E>, Option<P>) -> Object<'a>,
) -> Vec<Object<'a>> {
    let implied = implied_kind(&top.kind);
    match top.items {
        Some(items) => items
            .into_iter()
            .map(|i| {
                let kind = if i.kind.is_empty() {
                    implied.clone()
                } else {
                    i.kind
                };
                convert(kind, i.metadata, i.spec, i.subsets, i.endpoints, i.ports)
            })
            .collect(),
        None => vec![convert(
            top.kind,
            top.metadata,
            top.spec,
            top.subsets,
            top.endpoints,
            top.ports,
        )],
    }
}

fn raw_part<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<Result<T, String>> {
    raw.map(|raw| serde_json::from_str::<Option<T>>(raw.get()).map_err(|e| e.to_string()))
        .and_then(Result::transpose)
}

fn raw_object<'a>(
    kind: Str<'a>,
    metadata: Metadata<'a>,
    spec: Option<&'a RawValue>,
    subsets: Option<&'a RawValue>,
    endpoints: Option<&'a RawValue>,
    ports: Option<&'a RawValue>,
) -> Object<'a> {
    Object {
        kind,
        metadata,
        spec: raw_part(spec),
        subsets: raw_part(subsets),
        endpoints: raw_part(endpoints),
        ports: raw_part(ports),
    }
}

/// `ServiceList` -> `Service`: the kind of the items of a typed list.
fn implied_kind(list_kind: &str) -> Str<'static> {
    Cow::Owned(list_kind.strip_suffix("List").unwrap_or("").to_string())
}

fn build(objects: Vec<Object<'_>>, opts: &ParseOptions) -> Parsed {
    let mut warnings = Vec::new();
    let mut endpoints: HashMap<(&str, &str), EndpointMap> = HashMap::new();
    let mut slices: HashMap<(&str, &str), SliceMap> = HashMap::new();
    let mut services = Vec::new();
    for item in &objects {
        let ns = item.metadata.namespace.as_deref().unwrap_or("default");
        let name = item.metadata.name.as_ref();
        match item.kind.as_ref() {
            "Endpoints" => {
                let map = parse_endpoints(item.subsets.as_ref(), ns, name, &mut warnings);
                endpoints.insert((ns, name), map);
            }
            "Service" => services.push((ns, name, item.spec.as_ref())),
            "EndpointSlice" => {
                let Some(svc) = item
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                else {
                    continue; // not managed for a Service (kube-proxy ignores it too)
                };
                let map = slices.entry((ns, svc.as_ref())).or_default();
                parse_slice(item, ns, name, map, &mut warnings);
            }
            _ => {}
        }
    }
    // A Service with slices uses them; the Endpoints object is the older form of the same.
    for (key, slice) in slices {
        endpoints.insert(key, slice.finish());
    }

    let mut ports = Vec::new();
    for (ns, name, spec) in services {
        let warn = |warnings: &mut Vec<Warning>, message: String| {
            warnings.push(Warning {
                kind: "Service",
                object: format!("{ns}/{name}"),
                message,
            })
        };
        let spec: &ServiceSpec = match spec {
            Some(Ok(spec)) => spec,
            Some(Err(e)) => {
                warn(&mut warnings, format!("invalid spec, skipped: {e}"));
                continue;
            }
            None => continue, // no spec: nothing to program (also headless-like)
        };
        let eps = endpoints.get(&(ns, name));
        match service_ports(ns, name, spec, eps, opts) {
            Ok((mut sps, port_warnings)) => {
                for w in port_warnings {
                    warn(&mut warnings, w);
                }
                ports.append(&mut sps);
            }
            Err(Skip::Silently) => {}
            Err(Skip::Invalid(message)) => {
                warn(&mut warnings, format!("{message}; service skipped"))
            }
        }
    }
    Parsed {
        state: ProxyState::from_ports(ports),
        warnings,
    }
}

enum Skip {
    Silently,
    Invalid(String),
}

/// The service ports of one valid service, plus warnings about ports left out.
fn service_ports(
    ns: &str,
    name: &str,
    spec: &ServiceSpec<'_>,
    eps: Option<&EndpointMap>,
    opts: &ParseOptions,
) -> Result<(Vec<ServicePort>, Vec<String>), Skip> {
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    if type_ == "ExternalName" {
        return Err(Skip::Silently);
    }
    let ip_text = spec.cluster_ip.as_deref().unwrap_or("").trim();
    if ip_text.is_empty() || ip_text == "None" {
        return Err(Skip::Silently);
    }
    let cluster_ip: Ipv4Addr = match ip_text.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip,
        Ok(IpAddr::V6(_)) => {
            return Err(Skip::Invalid(format!(
                "IPv6 clusterIP {ip_text:?} is not supported"
            )))
        }
        Err(_) => return Err(Skip::Invalid(format!("invalid clusterIP {ip_text:?}"))),
    };
    let node_ports_apply = matches!(type_, "NodePort" | "LoadBalancer");
    let affinity_timeout = match spec.session_affinity.as_deref() {
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(i64::from(DEFAULT_AFFINITY_TIMEOUT));
            match u32::try_from(timeout) {
                Ok(t) if (1..=MAX_AFFINITY_TIMEOUT).contains(&t) => Some(t),
                _ => {
                    return Err(Skip::Invalid(format!(
                        "invalid session affinity timeout {timeout}"
                    )))
                }
            }
        }
        _ => None,
    };
    let spec_ports = spec.ports.as_deref().unwrap_or(&[]);
    if spec_ports.is_empty() {
        return Err(Skip::Invalid("no ports".to_string()));
    }

    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    for p in spec_ports {
        let port_name = p.name.as_deref().unwrap_or("").to_string();
        let proto_text = p.protocol.as_deref().unwrap_or("TCP");
        let protocol = Protocol::parse(proto_text)
            .ok_or_else(|| Skip::Invalid(format!("invalid protocol {proto_text:?}")))?;
        let port = p
            .port
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| *v != 0)
            .ok_or_else(|| Skip::Invalid(format!("invalid port {:?}", p.port)))?;
        let node_port = match p.node_port {
            None | Some(0) => None,
            Some(v) => match u16::try_from(v) {
                Ok(np) => Some(np),
                Err(_) => return Err(Skip::Invalid(format!("invalid nodePort {v}"))),
            },
        }
        .filter(|_| node_ports_apply);
        if !seen.insert((port_name.clone(), protocol)) {
            return Err(Skip::Invalid(format!(
                "duplicate port {port_name:?}/{protocol}"
            )));
        }
        if protocol == Protocol::Sctp && !opts.sctp {
            warnings.push(format!(
                "port {port_name:?} is SCTP, which this kernel cannot match; port skipped"
            ));
            continue;
        }
        let endpoints = eps
            .and_then(|m| m.get(&(port_name.clone(), protocol)))
            .cloned()
            .unwrap_or_default();
        out.push(ServicePort {
            name: ServicePortName::new(ns, name, &port_name, protocol),
            cluster_ip,
            port,
            node_port,
            affinity_timeout,
            endpoints,
        });
    }
    Ok((out, warnings))
}

/// Endpoints by (port name, protocol); bad addresses and ports are skipped
/// with a warning.
fn parse_endpoints(
    subsets: Option<&Result<Vec<Subset<'_>>, String>>,
    ns: &str,
    name: &str,
    warnings: &mut Vec<Warning>,
) -> EndpointMap {
    let mut map = EndpointMap::new();
    let mut warn = |message: String| {
        warnings.push(Warning {
            kind: "Endpoints",
            object: format!("{ns}/{name}"),
            message,
        })
    };
    let subsets = match subsets {
        None => return map,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            warn(format!("invalid subsets, ignored: {e}"));
            return map;
        }
    };
    for subset in subsets {
        let addresses = subset.addresses.as_deref().unwrap_or(&[]);
        let ips: Vec<Ipv4Addr> = addresses
            .iter()
            .filter_map(|a| match a.ip.parse::<Ipv4Addr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    warn(format!(
                        "address {:?} is not an IPv4 address, skipped",
                        a.ip
                    ));
                    None
                }
            })
            .collect();
        for p in subset.ports.as_deref().unwrap_or(&[]) {
            let Some((port_name, protocol, port)) = endpoint_port(p, &mut warn) else {
                continue;
            };
            map.entry((port_name, protocol))
                .or_default()
                .extend(ips.iter().map(|&ip| Endpoint { ip, port }));
        }
    }
    map
}

/// One port of an Endpoints subset or an EndpointSlice: (name, protocol, number), or `None`
/// after a warning when the protocol or number is invalid.
fn endpoint_port(
    p: &EndpointPort<'_>,
    warn: &mut impl FnMut(String),
) -> Option<(String, Protocol, u16)> {
    let port_name = p.name.as_deref().unwrap_or("").to_string();
    let proto_text = p.protocol.as_deref().unwrap_or("TCP");
    let Some(protocol) = Protocol::parse(proto_text) else {
        warn(format!(
            "port {port_name:?} has invalid protocol {proto_text:?}, skipped"
        ));
        return None;
    };
    let Some(port) = p
        .port
        .and_then(|v| u16::try_from(v).ok())
        .filter(|v| *v != 0)
    else {
        warn(format!(
            "port {port_name:?} has invalid number {:?}, skipped",
            p.port
        ));
        return None;
    };
    Some((port_name, protocol, port))
}

/// A Service's slice endpoints by (port name, protocol), ready ones apart from the
/// serving-and-terminating ones kube-proxy falls back to.
#[derive(Default)]
struct SliceMap {
    ready: EndpointMap,
    terminating: EndpointMap,
}

impl SliceMap {
    /// Per port: the ready endpoints, or when there is none the serving terminating ones.
    fn finish(self) -> EndpointMap {
        let SliceMap {
            mut ready,
            terminating,
        } = self;
        for (k, eps) in terminating {
            let r = ready.entry(k).or_default();
            if r.is_empty() {
                *r = eps;
            }
        }
        ready
    }
}

/// Adds one EndpointSlice (IPv4 addresses only; FQDN and IPv6 slices are not ours).
fn parse_slice(
    item: &Object<'_>,
    ns: &str,
    name: &str,
    map: &mut SliceMap,
    warnings: &mut Vec<Warning>,
) {
    let mut warn = |message: String| {
        warnings.push(Warning {
            kind: "EndpointSlice",
            object: format!("{ns}/{name}"),
            message,
        })
    };
    let endpoints = match &item.endpoints {
        None => return,
        Some(Ok(e)) => e,
        Some(Err(e)) => return warn(format!("invalid endpoints, ignored: {e}")),
    };
    let ports = match &item.ports {
        None => return,
        Some(Ok(p)) => p,
        Some(Err(e)) => return warn(format!("invalid ports, ignored: {e}")),
    };
    for p in ports {
        let Some((port_name, protocol, port)) = endpoint_port(p, &mut warn) else {
            continue;
        };
        for e in endpoints {
            let c = &e.conditions;
            let ready = c.ready.unwrap_or(true);
            let serving = c.serving.unwrap_or(ready);
            let terminating = c.terminating.unwrap_or(false);
            let target = if ready && !terminating {
                &mut map.ready
            } else if serving && terminating {
                &mut map.terminating
            } else {
                continue;
            };
            // Every address of an endpoint is the same backend; kube-proxy uses the first.
            let Some(addr) = e.addresses.first() else {
                continue;
            };
            match addr.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => target
                    .entry((port_name.clone(), protocol))
                    .or_default()
                    .push(Endpoint { ip, port }),
                Ok(IpAddr::V6(_)) => {} // an IPv6 slice: not programmed by this IPv4 proxy
                Err(_) => warn(format!("address {addr:?} is not an IP address, skipped")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
