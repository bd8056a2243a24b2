//! What `flanneld routes` shows: the daemon's in-memory route table, one row per peer, with
//! whether the kernel has the matching entries. Building rows is pure; the socket protocol is a
//! request line and one JSON document back.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::SystemTime;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, KernelState};
use crate::kernel::format_mac;
use crate::lease::Lease;
use crate::udp::Traffic;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeStatus {
    pub network: String,
    pub subnet: String,
    pub public_ip: String,
    pub backend: String,
    pub device: Option<String>,
    pub vtep_mac: Option<String>,
    pub expires: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerRow {
    pub subnet: String,
    pub public_ip: String,
    pub backend: String,
    pub vtep_mac: Option<String>,
    pub next_hop: Option<String>,
    pub device: Option<String>,
    pub expires: String,
    pub kernel: KernelStatus,
    /// Which entries are missing or stale ("route", "neighbour", "fdb").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// udp backend: packets and bytes to and from this peer, and drops by reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
}

/// Whether the kernel has what a peer row needs; serialized and shown in lower case.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KernelStatus {
    /// Every entry is in place.
    Ok,
    /// Some entry is absent.
    Missing,
    /// An entry for the same destination differs (or a route no lease justifies).
    Stale,
    /// A lease this backend does not program.
    Ignored,
}

impl KernelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KernelStatus::Ok => "ok",
            KernelStatus::Missing => "missing",
            KernelStatus::Stale => "stale",
            KernelStatus::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for KernelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub node: NodeStatus,
    pub peers: Vec<PeerRow>,
    /// udp backend: drops no peer can be blamed for (unknown senders, no route, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattributed: Option<Traffic>,
}

pub fn format_expiry(expires: Option<SystemTime>, reservation: bool) -> String {
    match expires {
        _ if reservation => "never".into(),
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => "-".into(),
    }
}

/// One row per peer lease, plus a "stale" row for each kernel route we own that no lease
/// justifies. `actual` is the kernel's owned state; `dev_names` maps ifindex to name;
/// `traffic` holds the udp data path's counters by peer subnet.
pub fn peer_rows(
    backend: &Backend,
    peers: &BTreeMap<Ipv4Net, Lease>,
    actual: &KernelState,
    dev_names: &BTreeMap<u32, String>,
    traffic: Option<&BTreeMap<Ipv4Net, Traffic>>,
) -> Vec<PeerRow> {
    let dev = |i: u32| {
        dev_names
            .get(&i)
            .cloned()
            .unwrap_or_else(|| format!("if{i}"))
    };
    let mut rows = Vec::with_capacity(peers.len());
    for lease in peers.values() {
        let mut row = PeerRow {
            subnet: lease.subnet.to_string(),
            public_ip: lease.attrs.public_ip.to_string(),
            backend: lease.attrs.backend_type.to_string(),
            vtep_mac: lease.attrs.vxlan_data().map(|d| d.vtep_mac),
            next_hop: None,
            device: None,
            expires: format_expiry(lease.expires, lease.is_reservation()),
            kernel: KernelStatus::Ignored,
            problems: vec![],
            traffic: traffic.map(|t| t.get(&lease.subnet).cloned().unwrap_or_default()),
        };
        if let Some(e) = backend.peer_entries(lease) {
            let mut stale = false;
            if let Some(r) = &e.route {
                row.next_hop = r.gateway.map(|g| g.to_string());
                row.device = Some(dev(r.oif));
                if !actual.routes.contains(r) {
                    let conflict = actual.routes.iter().any(|a| a.dst == r.dst);
                    stale |= conflict;
                    row.problems
                        .push(if conflict { "route (stale)" } else { "route" }.into());
                }
            }
            if let Some(n) = &e.neighbour {
                if !actual.neighbours.contains(n) {
                    let conflict = actual.neighbours.iter().any(|a| a.ip == n.ip);
                    stale |= conflict;
                    row.problems.push(
                        if conflict {
                            "neighbour (stale)"
                        } else {
                            "neighbour"
                        }
                        .into(),
                    );
                }
            }
            if let Some(f) = &e.fdb {
                if !actual.fdb.contains(f) {
                    let conflict = actual.fdb.iter().any(|a| a.mac == f.mac);
                    stale |= conflict;
                    row.problems
                        .push(if conflict { "fdb (stale)" } else { "fdb" }.into());
                }
            }
            if let Backend::Udp { port, .. } = backend {
                row.next_hop = Some(format!("{}:{port}", lease.attrs.public_ip));
            }
            row.kernel = if stale {
                KernelStatus::Stale
            } else if row.problems.is_empty() {
                KernelStatus::Ok
            } else {
                KernelStatus::Missing
            };
        }
        rows.push(row);
    }
    // Kernel routes we own with no lease behind them.
    let base = backend.base_route();
    for r in &actual.routes {
        if !peers.contains_key(&r.dst) && base.as_ref() != Some(r) {
            rows.push(PeerRow {
                subnet: r.dst.to_string(),
                public_ip: "-".into(),
                backend: "-".into(),
                vtep_mac: None,
                next_hop: r.gateway.map(|g| g.to_string()),
                device: Some(dev(r.oif)),
                expires: "-".into(),
                kernel: KernelStatus::Stale,
                problems: vec!["no lease".into()],
                traffic: None,
            });
        }
    }
    rows
}

/// The text `flanneld routes` prints.
pub fn render_table(report: &Report) -> String {
    let n = &report.node;
    let mut out = format!(
        "node: subnet {}  public-ip {}  backend {}  device {}  vtep-mac {}  network {}  lease-expires {}\n",
        n.subnet,
        n.public_ip,
        n.backend,
        n.device.as_deref().unwrap_or("-"),
        n.vtep_mac.as_deref().unwrap_or("-"),
        n.network,
        n.expires
    );
    let with_traffic = report.peers.iter().any(|p| p.traffic.is_some());
    let mut header = vec![
        "SUBNET",
        "PUBLIC-IP",
        "BACKEND",
        "VTEP-MAC",
        "NEXT-HOP",
        "DEVICE",
        "EXPIRES",
        "KERNEL",
    ];
    if with_traffic {
        header.extend(["TX-PKTS", "TX-BYTES", "RX-PKTS", "RX-BYTES", "DROPS"]);
    }
    let mut lines: Vec<Vec<String>> = vec![header.into_iter().map(String::from).collect()];
    for p in &report.peers {
        let kernel = if p.problems.is_empty() {
            p.kernel.to_string()
        } else {
            format!("{} ({})", p.kernel, p.problems.join(", "))
        };
        let mut line = vec![
            p.subnet.clone(),
            p.public_ip.clone(),
            p.backend.clone(),
            p.vtep_mac.clone().unwrap_or_else(|| "-".into()),
            p.next_hop.clone().unwrap_or_else(|| "-".into()),
            p.device.clone().unwrap_or_else(|| "-".into()),
            p.expires.clone(),
            kernel,
        ];
        if with_traffic {
            let t = p.traffic.clone().unwrap_or_default();
            line.extend([
                t.tx_packets.to_string(),
                t.tx_bytes.to_string(),
                t.rx_packets.to_string(),
                t.rx_bytes.to_string(),
                drops(&t),
            ]);
        }
        lines.push(line);
    }
    let mut widths = vec![0usize; lines[0].len()];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l.iter()) {
            *w = (*w).max(c.len());
        }
    }
    for l in &lines {
        let mut s = String::new();
        for (i, c) in l.iter().enumerate() {
            if i + 1 == l.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    if report.peers.is_empty() {
        out.push_str("(no peers)\n");
    }
    if let Some(t) = &report.unattributed {
        out.push_str(&format!("dropped, no peer to blame: {}\n", drops(t)));
    }
    out
}

/// "reason=count reason=count", or "0".
fn drops(t: &Traffic) -> String {
    if t.drops.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = t.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(" ")
}

/// Ask the daemon behind `socket` for its report.
pub fn fetch(socket: &Path) -> Result<Report, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        format!(
            "no flanneld is listening on {} ({e}); is flanneld running on this node? (set --status-socket or FLANNELD_STATUS_SOCKET)",
            socket.display()
        )
    })?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"routes\n")
        .map_err(|e| format!("writing to {}: {e}", socket.display()))?;
    let mut text = String::new();
    BufReader::new(stream)
        .read_line(&mut text)
        .map_err(|e| format!("reading from {}: {e}", socket.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("bad reply from {}: {e}", socket.display()))
}

/// The node header for our own lease.
pub fn node_status(backend: &Backend, network: Ipv4Net, own: &Lease) -> NodeStatus {
    NodeStatus {
        network: network.to_string(),
        subnet: own.subnet.to_string(),
        public_ip: own.attrs.public_ip.to_string(),
        backend: backend.backend_type().to_string(),
        device: backend.overlay_dev().map(|d| d.name.clone()),
        vtep_mac: match backend {
            Backend::Vxlan { mac, .. } => Some(format_mac(mac)),
            _ => None,
        },
        expires: format_expiry(own.expires, own.is_reservation()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{desired, Device, External};
    use crate::config::VxlanConfig;
    use crate::lease::{LeaseAttrs, VxlanLeaseData};

    fn setup() -> (Backend, BTreeMap<Ipv4Net, Lease>, BTreeMap<u32, String>) {
        let b = Backend::Vxlan {
            cfg: VxlanConfig::default(),
            dev: Device {
                index: 5,
                name: "flannel.1".into(),
            },
            mac: [2, 0, 0, 0, 0, 1],
            ext: External {
                dev: Device {
                    index: 2,
                    name: "eth0".into(),
                },
                addrs: vec![],
                mtu: 1500,
            },
        };
        let mut peers = BTreeMap::new();
        for i in 2..=3u8 {
            let l = Lease {
                subnet: format!("10.244.{i}.0/24").parse().unwrap(),
                ipv6_subnet: None,
                attrs: LeaseAttrs {
                    public_ip: format!("198.18.0.{i}").parse().unwrap(),
                    public_ipv6: None,
                    backend_type: crate::config::BackendType::Vxlan,
                    backend_data: Some(
                        VxlanLeaseData {
                            vni: 1,
                            vtep_mac: format!("c6:d2:32:6f:8f:{i:02x}"),
                        }
                        .to_raw(),
                    ),
                    backend_v6_data: None,
                },
                etcd_lease: 0,
                expires: None,
            };
            peers.insert(l.subnet, l);
        }
        let names = BTreeMap::from([(5, "flannel.1".to_string()), (2, "eth0".to_string())]);
        (b, peers, names)
    }

    #[test]
    fn ok_missing_and_stale() {
        let (b, peers, names) = setup();
        let mut actual = desired(&b, peers.values());
        let rows = peer_rows(&b, &peers, &actual, &names, None);
        assert!(
            rows.iter().all(|r| r.kernel == KernelStatus::Ok),
            "{rows:?}"
        );
        assert_eq!(rows[0].next_hop.as_deref(), Some("10.244.2.0"));
        assert_eq!(rows[0].device.as_deref(), Some("flannel.1"));
        assert_eq!(rows[0].expires, "never");
        // Delete a route by hand: missing.
        let r = actual.routes.iter().next().cloned().unwrap();
        actual.routes.remove(&r);
        let rows = peer_rows(&b, &peers, &actual, &names, None);
        assert_eq!(rows[0].kernel, KernelStatus::Missing);
        assert_eq!(rows[0].problems, vec!["route"]);
        // Same destination, wrong gateway: stale.
        actual.routes.insert(crate::kernel::Route {
            gateway: Some("10.9.9.9".parse().unwrap()),
            ..r
        });
        assert_eq!(
            peer_rows(&b, &peers, &actual, &names, None)[0].kernel,
            KernelStatus::Stale
        );
    }

    #[test]
    fn unjustified_kernel_route_gets_a_stale_row_and_table_renders() {
        let (b, mut peers, names) = setup();
        let actual = desired(&b, peers.values());
        peers.remove(&"10.244.3.0/24".parse().unwrap());
        let rows = peer_rows(&b, &peers, &actual, &names, None);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].subnet.as_str(), rows[1].kernel.as_str()),
            ("10.244.3.0/24", "stale")
        );
        let own = peers.values().next().unwrap().clone();
        let report = Report {
            node: node_status(&b, "10.244.0.0/16".parse().unwrap(), &own),
            peers: rows,
            unattributed: None,
        };
        let text = render_table(&report);
        assert!(text.starts_with("node: subnet 10.244.2.0/24"), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("SUBNET"), "{text}");
        assert!(text.contains("stale (no lease)"), "{text}");
        let json = serde_json::to_value(&report.peers).unwrap();
        for key in [
            "subnet",
            "public_ip",
            "backend",
            "vtep_mac",
            "next_hop",
            "device",
            "expires",
            "kernel",
        ] {
            assert!(json[0].get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn kernel_status_reads_and_writes_as_before() {
        for (k, text) in [
            (KernelStatus::Ok, "ok"),
            (KernelStatus::Missing, "missing"),
            (KernelStatus::Stale, "stale"),
            (KernelStatus::Ignored, "ignored"),
        ] {
            assert_eq!(k.to_string(), text);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<KernelStatus>(&format!("\"{text}\"")).unwrap(),
                k
            );
        }
    }

    #[test]
    fn fetch_without_daemon_says_so() {
        let e = fetch(Path::new("/nonexistent/flanneld.sock")).unwrap_err();
        assert!(
            e.contains("no flanneld is listening on /nonexistent/flanneld.sock"),
            "{e}"
        );
    }
}
