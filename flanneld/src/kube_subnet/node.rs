//! Nodes as leases, as upstream's kube subnet manager reads and writes them (pkg/subnet/kube):
//! our subnet is the node's podCIDR, our lease attributes go into annotations (a two-way
//! strategic-merge patch of `nodes/status` holding only what differs), and every node that
//! carries `kube-subnet-manager: "true"` is a peer lease. Pure: Node objects in, leases and
//! patch bodies out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::Node;
use serde_json::{json, value::RawValue, Value};
use thiserror::Error;

use crate::config::BackendType;
use crate::kube_subnet::annotations::Annotations;
use crate::lease::{Lease, LeaseAttrs, NO_ETCD_LEASE};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("node {node:?}: podCIDR {cidr:?} is not a CIDR")]
    BadCidr { node: String, cidr: String },
    #[error("node {node:?}: pod cidrs should be IPv4/IPv6 only or dualstack, found {count}")]
    TooManyCidrs { node: String, count: usize },
    #[error("node {node:?}: no IPv4 podCIDR (podCIDRs {cidrs:?})")]
    NoIpv4 { node: String, cidrs: Vec<String> },
    #[error("subnet {network} specified in the flannel net config doesn't contain {subnet} PodCIDR of the {node:?} node")]
    OutsideNetwork {
        network: Ipv4Net,
        subnet: Ipv4Net,
        node: String,
    },
    #[error("node {node:?}: annotation {key} = {value:?}: expected {what}")]
    BadAnnotation {
        node: String,
        key: String,
        value: String,
        what: &'static str,
    },
}

pub fn name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

fn annotation<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The node's IPv4 pod CIDR: from `spec.podCIDRs` (at most one per family) or `spec.podCIDR`.
/// `Ok(None)` while none is assigned.
pub fn pod_cidr(node: &Node) -> Result<Option<Ipv4Net>, NodeError> {
    let spec = node.spec.as_ref();
    let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if cidrs.is_empty() {
        match spec
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty())
        {
            Some(c) => cidrs.push(c),
            None => return Ok(None),
        }
    }
    if cidrs.len() > 2 {
        return Err(NodeError::TooManyCidrs {
            node: name(node).to_string(),
            count: cidrs.len(),
        });
    }
    for c in &cidrs {
        let net: IpNet = c.parse().map_err(|_| NodeError::BadCidr {
            node: name(node).to_string(),
            cidr: c.clone(),
        })?;
        if let IpNet::V4(v4) = net {
            return Ok(Some(v4.trunc()));
        }
    }
    Err(NodeError::NoIpv4 {
        node: name(node).to_string(),
        cidrs,
    })
}

/// Our subnet: the podCIDR, which must lie inside `Network`.
pub fn own_subnet(node: &Node, network: Ipv4Net) -> Result<Option<Ipv4Net>, NodeError> {
    let Some(subnet) = pod_cidr(node)? else {
        return Ok(None);
    };
    if !network.contains(&subnet) {
        return Err(NodeError::OutsideNetwork {
            network,
            subnet,
            node: name(node).to_string(),
        });
    }
    Ok(Some(subnet))
}

fn ip_annotation(node: &Node, key: &str) -> Result<Option<Ipv4Addr>, NodeError> {
    match annotation(node, key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| NodeError::BadAnnotation {
            node: name(node).to_string(),
            key: key.to_string(),
            value: v.to_string(),
            what: "an IPv4 address",
        }),
    }
}

/// `node-public-ip`: the user's choice of this node's `--public-ip`.
pub fn node_public_ip(node: &Node, a: &Annotations) -> Result<Option<Ipv4Addr>, NodeError> {
    ip_annotation(node, &a.node_public_ip)
}

/// The VTEP MAC our `backend-data` annotation holds, so a restarted flanneld keeps it.
pub fn stored_vtep_mac(node: &Node, a: &Annotations) -> Option<String> {
    let data = annotation(node, &a.backend_data)?;
    let v: Value = serde_json::from_str(data).ok()?;
    v.get("VtepMAC")?.as_str().map(str::to_string)
}

/// `BackendData` as upstream's `json.RawMessage.MarshalJSON` writes it: `null` when absent.
fn backend_data_text(attrs: &LeaseAttrs) -> String {
    attrs
        .backend_data
        .as_ref()
        .map(|d| d.get().to_string())
        .unwrap_or_else(|| "null".to_string())
}

/// The annotations to write for our lease, given the node as it is: empty when nothing differs
/// (upstream's AcquireLease conditions), else every key that changes. `public-ip-overwrite`, when
/// set, is advertised instead of the detected address.
pub fn annotation_changes(
    node: &Node,
    attrs: &LeaseAttrs,
    a: &Annotations,
) -> BTreeMap<String, String> {
    let get = |k: &str| annotation(node, k).unwrap_or("");
    let data = backend_data_text(attrs);
    let public = attrs.public_ip.to_string();
    let overwrite = get(&a.public_ip_overwrite);
    let btype = attrs.backend_type.lease_name();
    let stale = get(&a.backend_data) != data
        || get(&a.backend_type) != btype
        || get(&a.public_ip) != public
        || get(&a.subnet_kube_managed) != "true"
        || (!overwrite.is_empty() && overwrite != public);
    let mut out = BTreeMap::new();
    if !stale {
        return out;
    }
    let mut want = |k: &str, v: String| {
        if get(k) != v {
            out.insert(k.to_string(), v);
        }
    };
    want(&a.backend_type, btype.to_string());
    // Upstream writes data and address unless a vxlan lease has no data yet.
    if attrs.backend_type != BackendType::Vxlan || data != "null" {
        want(&a.backend_data, data.clone());
        let advertised = if overwrite.is_empty() {
            public
        } else {
            overwrite.to_string()
        };
        want(&a.public_ip, advertised);
    }
    want(&a.subnet_kube_managed, "true".to_string());
    out
}

/// The strategic-merge patch body for `nodes/<name>/status` that sets `changes`.
pub fn annotation_patch(changes: &BTreeMap<String, String>) -> Value {
    json!({"metadata": {"annotations": changes}})
}

/// The patch that records `NetworkUnavailable=False` (reason `FlannelIsUp`) in the node's
/// conditions; conditions merge by `type`, so the others stay.
pub fn network_available_patch(now_rfc3339: &str) -> Value {
    json!({"status": {"conditions": [{
        "type": "NetworkUnavailable",
        "status": "False",
        "lastHeartbeatTime": now_rfc3339,
        "lastTransitionTime": now_rfc3339,
        "reason": "FlannelIsUp",
        "message": "Flannel is running on this node",
    }]}})
}

/// A node as a peer lease: `Ok(None)` for a node no kube subnet manager annotated
/// (`kube-subnet-manager` is not `"true"`) or that has no podCIDR yet.
pub fn peer_lease(node: &Node, a: &Annotations) -> Result<Option<Lease>, NodeError> {
    if annotation(node, &a.subnet_kube_managed) != Some("true") {
        return Ok(None);
    }
    let Some(subnet) = pod_cidr(node)? else {
        return Ok(None);
    };
    let bad = |key: &str, value: &str, what| NodeError::BadAnnotation {
        node: name(node).to_string(),
        key: key.to_string(),
        value: value.to_string(),
        what,
    };
    let public_ip = ip_annotation(node, &a.public_ip)?
        .ok_or_else(|| bad(&a.public_ip, "", "an IPv4 address"))?;
    let backend_data = match annotation(node, &a.backend_data).filter(|d| !d.is_empty()) {
        None | Some("null") => None,
        Some(d) => Some(
            RawValue::from_string(d.to_string())
                .map_err(|_| bad(&a.backend_data, d, "JSON (the lease's BackendData)"))?,
        ),
    };
    Ok(Some(Lease {
        subnet,
        ipv6_subnet: None,
        attrs: LeaseAttrs {
            public_ip,
            public_ipv6: None,
            backend_type: BackendType::from_lease(annotation(node, &a.backend_type).unwrap_or("")),
            backend_data,
            backend_v6_data: None,
        },
        etcd_lease: NO_ETCD_LEASE,
        expires: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Annotations {
        Annotations::new(crate::kube_subnet::annotations::DEFAULT_PREFIX).expect("default prefix")
    }

    fn node(v: Value) -> Node {
        serde_json::from_value(v).expect("a Node literal")
    }

    fn attrs(btype: &str, ip: &str, data: Option<&str>) -> LeaseAttrs {
        LeaseAttrs {
            public_ip: ip.parse().expect("ip"),
            public_ipv6: None,
            backend_type: BackendType::from_lease(btype),
            backend_data: data.map(|d| RawValue::from_string(d.to_string()).expect("json")),
            backend_v6_data: None,
        }
    }

    #[test]
    fn pod_cidr_from_either_field_and_errors_naming_the_node() {
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.1.0/24"}}));
        assert_eq!(
            pod_cidr(&n),
            Ok(Some("10.244.1.0/24".parse().expect("net")))
        );
        let n = node(json!({"metadata": {"name": "n1"},
            "spec": {"podCIDR": "fd00::/64", "podCIDRs": ["fd00::/64", "10.244.2.0/24"]}}));
        assert_eq!(
            pod_cidr(&n),
            Ok(Some("10.244.2.0/24".parse().expect("net")))
        );
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {}}));
        assert_eq!(pod_cidr(&n), Ok(None));
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "nope"}}));
        assert!(pod_cidr(&n)
            .expect_err("bad")
            .to_string()
            .contains("\"n1\""));
        let n = node(json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.9.0.0/24"}}));
        let e = own_subnet(&n, "10.244.0.0/16".parse().expect("net")).expect_err("outside");
        assert_eq!(
            e.to_string(),
            "subnet 10.244.0.0/16 specified in the flannel net config doesn't contain 10.9.0.0/24 PodCIDR of the \"n1\" node"
        );
    }

    #[test]
    fn first_start_writes_upstreams_annotations_per_backend() {
        let n = node(json!({"metadata": {"name": "n1"}}));
        let a = ann();
        let vx = annotation_changes(
            &n,
            &attrs(
                "vxlan",
                "198.18.1.1",
                Some(r#"{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}"#),
            ),
            &a,
        );
        assert_eq!(
            serde_json::to_string(&annotation_patch(&vx)).expect("json"),
            r#"{"metadata":{"annotations":{"flannel.alpha.coreos.com/backend-data":"{\"VNI\":1,\"VtepMAC\":\"aa:bb:cc:dd:ee:ff\"}","flannel.alpha.coreos.com/backend-type":"vxlan","flannel.alpha.coreos.com/kube-subnet-manager":"true","flannel.alpha.coreos.com/public-ip":"198.18.1.1"}}}"#
        );
        let hg = annotation_changes(&n, &attrs("host-gw", "198.18.1.1", None), &a);
        assert_eq!(hg.get(&a.backend_data).map(String::as_str), Some("null"));
        assert_eq!(hg.get(&a.backend_type).map(String::as_str), Some("host-gw"));
        // udp leases carry no BackendType, so the annotation is the empty string.
        let udp = annotation_changes(&n, &attrs("", "198.18.1.1", None), &a);
        assert_eq!(
            udp.get(&a.backend_type).map(String::as_str),
            None,
            "\"\" equals the absent value"
        );
        assert_eq!(udp.get(&a.backend_data).map(String::as_str), Some("null"));
    }

    #[test]
    fn nothing_to_write_when_the_node_already_says_it_and_overwrite_wins() {
        let a = ann();
        let at = attrs("host-gw", "198.18.1.1", None);
        let mut m = annotation_changes(&node(json!({"metadata": {"name": "n1"}})), &at, &a);
        let n = node(json!({"metadata": {"name": "n1", "annotations": m.clone()}}));
        assert!(annotation_changes(&n, &at, &a).is_empty());
        m.insert(a.public_ip_overwrite.clone(), "203.0.113.9".into());
        let n = node(json!({"metadata": {"name": "n1", "annotations": m}}));
        let c = annotation_changes(&n, &at, &a);
        assert_eq!(c.get(&a.public_ip).map(String::as_str), Some("203.0.113.9"));
        assert_eq!(c.len(), 1, "only public-ip changes: {c:?}");
    }

    #[test]
    fn peers_from_annotated_nodes_only() {
        let a = ann();
        let upstream = node(json!({"metadata": {"name": "up", "annotations": {
            "flannel.alpha.coreos.com/backend-data": "{\"VNI\":1,\"VtepMAC\":\"2e:2b:1f:6c:1a:11\"}",
            "flannel.alpha.coreos.com/backend-type": "vxlan",
            "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            "flannel.alpha.coreos.com/public-ip": "198.18.1.3"}},
            "spec": {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"]}}));
        let l = peer_lease(&upstream, &a).expect("ok").expect("a peer");
        assert_eq!(l.subnet.to_string(), "10.244.3.0/24");
        assert_eq!(
            l.attrs.to_json(),
            r#"{"PublicIP":"198.18.1.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"2e:2b:1f:6c:1a:11"}}"#
        );
        assert_eq!(
            stored_vtep_mac(&upstream, &a).as_deref(),
            Some("2e:2b:1f:6c:1a:11")
        );
        assert!(!l.has_etcd_ttl() && !l.is_reservation());
        let plain = node(json!({"metadata": {"name": "p"}, "spec": {"podCIDR": "10.244.4.0/24"}}));
        assert_eq!(peer_lease(&plain, &a), Ok(None));
        let bad = node(json!({"metadata": {"name": "b", "annotations": {
            "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            "flannel.alpha.coreos.com/public-ip": "not-an-ip"}},
            "spec": {"podCIDR": "10.244.5.0/24"}}));
        let e = peer_lease(&bad, &a).expect_err("bad ip");
        assert!(
            e.to_string().contains("public-ip") && e.to_string().contains("\"b\""),
            "{e}"
        );
    }

    #[test]
    fn network_condition_patch_merges_by_type() {
        let p = network_available_patch("2026-12-02T10:00:00Z");
        assert_eq!(p["status"]["conditions"][0]["type"], "NetworkUnavailable");
        assert_eq!(p["status"]["conditions"][0]["status"], "False");
        assert_eq!(p["status"]["conditions"][0]["reason"], "FlannelIsUp");
    }
}
