//! Backends as pure functions from leases to the kernel entries a peer needs. A backend says
//! which peer leases it handles, what route/neighbour/FDB each needs, and which kernel entries it
//! owns (so that entries no lease justifies can be removed). Device setup lives in `daemon`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::VxlanConfig;
use crate::kernel::{format_mac, parse_mac, Fdb, Mac, Neighbour, Route};
use crate::lease::Lease;

/// A network device as the backends need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub index: u32,
    pub name: String,
}

/// The external interface: its device and its IPv4 networks (to tell whether a peer is on the
/// same L2 segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub dev: Device,
    pub addrs: Vec<Ipv4Net>,
    pub mtu: u32,
}

impl External {
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|n| n.contains(&ip))
    }
}

/// A running backend's data-path description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Vxlan {
        cfg: VxlanConfig,
        dev: Device,
        mac: Mac,
        ext: External,
    },
    HostGw {
        ext: External,
    },
    /// Userspace encapsulation through the TUN device `flannel0`: one kernel route for the
    /// whole network; per-peer state lives in the data path's table (`crate::udp`).
    Udp {
        dev: Device,
        ext: External,
        network: Ipv4Net,
        port: u16,
    },
    /// Lease only, no data path.
    Alloc,
}

/// The kernel entries one peer needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerEntries {
    pub route: Option<Route>,
    pub neighbour: Option<Neighbour>,
    pub fdb: Option<Fdb>,
}

/// The whole desired (or actual, owned) kernel state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelState {
    pub routes: BTreeSet<Route>,
    pub neighbours: BTreeSet<Neighbour>,
    pub fdb: BTreeSet<Fdb>,
}

impl KernelState {
    pub fn len(&self) -> usize {
        self.routes.len() + self.neighbours.len() + self.fdb.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Backend {
    /// This backend's type (its own lease's `BackendType`, its name in `flanneld routes`).
    pub fn backend_type(&self) -> crate::config::BackendType {
        match self {
            Backend::Vxlan { .. } => crate::config::BackendType::Vxlan,
            Backend::HostGw { .. } => crate::config::BackendType::HostGw,
            Backend::Udp { .. } => crate::config::BackendType::Udp,
            Backend::Alloc => crate::config::BackendType::Alloc,
        }
    }

    /// The MTU pods should use (FLANNEL_MTU).
    pub fn mtu(&self) -> u32 {
        match self {
            Backend::Vxlan { cfg, ext, .. } => {
                if cfg.mtu > 0 {
                    cfg.mtu
                } else {
                    ext.mtu.saturating_sub(50)
                }
            }
            Backend::HostGw { ext } => ext.mtu,
            Backend::Udp { ext, .. } => ext.mtu.saturating_sub(crate::udp::OVERHEAD),
            Backend::Alloc => 1500,
        }
    }

    /// The overlay device (flannel.N or flannel0), which carries our subnet's address.
    pub fn overlay_dev(&self) -> Option<&Device> {
        match self {
            Backend::Vxlan { dev, .. } | Backend::Udp { dev, .. } => Some(dev),
            _ => None,
        }
    }

    /// The vxlan device, for listing neighbours and FDB entries.
    pub fn vxlan_dev(&self) -> Option<&Device> {
        match self {
            Backend::Vxlan { dev, .. } => Some(dev),
            _ => None,
        }
    }

    /// Routes the backend needs whatever the peers (udp: the whole network via flannel0).
    pub fn base_route(&self) -> Option<Route> {
        match self {
            Backend::Udp { dev, network, .. } => Some(Route {
                dst: *network,
                gateway: None,
                oif: dev.index,
                onlink: false,
            }),
            _ => None,
        }
    }

    /// What a peer lease needs in the kernel, or `None` when this backend ignores that lease
    /// (another backend type, or backend data it cannot use).
    pub fn peer_entries(&self, lease: &Lease) -> Option<PeerEntries> {
        match self {
            Backend::Vxlan { cfg, dev, ext, .. } => {
                if lease.attrs.backend_type != crate::config::BackendType::Vxlan {
                    return None;
                }
                let data = lease.attrs.vxlan_data()?;
                let mac = parse_mac(&data.vtep_mac)?;
                if cfg.direct_routing && ext.on_link(lease.attrs.public_ip) {
                    return Some(PeerEntries {
                        route: Some(direct_route(lease, ext)),
                        ..Default::default()
                    });
                }
                let vtep = lease.subnet.network();
                Some(PeerEntries {
                    route: Some(Route {
                        dst: lease.subnet,
                        gateway: Some(vtep),
                        oif: dev.index,
                        onlink: true,
                    }),
                    neighbour: Some(Neighbour {
                        ifindex: dev.index,
                        ip: vtep,
                        mac,
                    }),
                    fdb: Some(Fdb {
                        ifindex: dev.index,
                        mac,
                        dst: lease.attrs.public_ip,
                    }),
                })
            }
            Backend::HostGw { ext } => (lease.attrs.backend_type
                == crate::config::BackendType::HostGw)
                .then(|| PeerEntries {
                    route: Some(direct_route(lease, ext)),
                    ..Default::default()
                }),
            // Every peer lease, whatever its BackendType: it is reached through the one route.
            Backend::Udp { .. } => Some(PeerEntries {
                route: self.base_route(),
                ..Default::default()
            }),
            Backend::Alloc => None,
        }
    }

    /// Whether a kernel route is one this backend manages for `network` (so it is removed when
    /// no lease justifies it). Our own subnet is never ours to manage.
    pub fn owns_route(&self, r: &Route, network: Ipv4Net, own: Ipv4Net) -> bool {
        if !network.contains(&r.dst) || r.dst == own {
            return false;
        }
        match self {
            Backend::Vxlan { dev, ext, .. } => {
                r.oif == dev.index || (r.oif == ext.dev.index && r.gateway.is_some())
            }
            Backend::HostGw { ext } => r.oif == ext.dev.index && r.gateway.is_some(),
            Backend::Udp { dev, .. } => r.oif == dev.index,
            Backend::Alloc => false,
        }
    }

    /// Our own lease's BackendData (vxlan: VNI and VTEP MAC).
    pub fn vtep_mac(&self) -> Option<String> {
        match self {
            Backend::Vxlan { mac, .. } => Some(format_mac(mac)),
            _ => None,
        }
    }
}

fn direct_route(lease: &Lease, ext: &External) -> Route {
    Route {
        dst: lease.subnet,
        gateway: Some(lease.attrs.public_ip),
        oif: ext.dev.index,
        onlink: false,
    }
}

/// The desired kernel state for a set of peer leases.
pub fn desired<'a>(backend: &Backend, peers: impl IntoIterator<Item = &'a Lease>) -> KernelState {
    let mut state = KernelState::default();
    state.routes.extend(backend.base_route());
    for lease in peers {
        if let Some(e) = backend.peer_entries(lease) {
            state.routes.extend(e.route);
            state.neighbours.extend(e.neighbour);
            state.fdb.extend(e.fdb);
        }
    }
    state
}

/// The differences to apply: what to remove first, then what to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub add: KernelState,
    pub remove: KernelState,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Compare desired with the owned part of the actual kernel state.
pub fn diff(desired: &KernelState, actual: &KernelState) -> Changes {
    Changes {
        add: KernelState {
            routes: desired.routes.difference(&actual.routes).cloned().collect(),
            neighbours: desired
                .neighbours
                .difference(&actual.neighbours)
                .cloned()
                .collect(),
            fdb: desired.fdb.difference(&actual.fdb).cloned().collect(),
        },
        remove: KernelState {
            routes: actual.routes.difference(&desired.routes).cloned().collect(),
            neighbours: actual
                .neighbours
                .difference(&desired.neighbours)
                .cloned()
                .collect(),
            fdb: actual.fdb.difference(&desired.fdb).cloned().collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::VxlanLeaseData;

    fn ext() -> External {
        External {
            dev: Device {
                index: 2,
                name: "eth0".into(),
            },
            addrs: vec!["198.18.0.1/24".parse().unwrap()],
            mtu: 1500,
        }
    }

    fn vxlan(direct: bool) -> Backend {
        Backend::Vxlan {
            cfg: VxlanConfig {
                direct_routing: direct,
                ..Default::default()
            },
            dev: Device {
                index: 5,
                name: "flannel.1".into(),
            },
            mac: [0x02, 0, 0, 0, 0, 1],
            ext: ext(),
        }
    }

    fn peer(subnet: &str, ip: &str, ty: &str, mac: Option<&str>) -> Lease {
        let mut l = Lease::for_test(subnet, ip, ty);
        l.attrs.backend_data = mac.map(|m| {
            VxlanLeaseData {
                vni: 1,
                vtep_mac: m.into(),
            }
            .to_raw()
        });
        l.etcd_lease = 1;
        l
    }

    #[test]
    fn vxlan_peer_gets_route_neighbour_and_fdb() {
        let p = peer(
            "10.244.2.0/24",
            "198.18.0.2",
            "vxlan",
            Some("c6:d2:32:6f:8f:44"),
        );
        let e = vxlan(false).peer_entries(&p).unwrap();
        let mac = [0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x44];
        let vtep: Ipv4Addr = "10.244.2.0".parse().unwrap();
        assert_eq!(
            e.route,
            Some(Route {
                dst: p.subnet,
                gateway: Some(vtep),
                oif: 5,
                onlink: true
            })
        );
        assert_eq!(
            e.neighbour,
            Some(Neighbour {
                ifindex: 5,
                ip: vtep,
                mac
            })
        );
        assert_eq!(
            e.fdb,
            Some(Fdb {
                ifindex: 5,
                mac,
                dst: "198.18.0.2".parse().unwrap()
            })
        );
    }

    #[test]
    fn vxlan_direct_routing_on_same_segment_only() {
        let near = peer(
            "10.244.2.0/24",
            "198.18.0.2",
            "vxlan",
            Some("c6:d2:32:6f:8f:44"),
        );
        let far = peer(
            "10.244.3.0/24",
            "198.18.1.3",
            "vxlan",
            Some("c6:d2:32:6f:8f:45"),
        );
        let b = vxlan(true);
        let e = b.peer_entries(&near).unwrap();
        assert_eq!(e.route.unwrap().oif, 2);
        assert!(e.neighbour.is_none() && e.fdb.is_none());
        let e = b.peer_entries(&far).unwrap();
        assert_eq!(e.route.unwrap().oif, 5);
    }

    #[test]
    fn backends_ignore_other_types_and_bad_data() {
        assert!(vxlan(false)
            .peer_entries(&peer("10.244.2.0/24", "198.18.0.2", "host-gw", None))
            .is_none());
        assert!(vxlan(false)
            .peer_entries(&peer("10.244.2.0/24", "198.18.0.2", "vxlan", Some("zz")))
            .is_none());
        assert!(vxlan(false)
            .peer_entries(&peer("10.244.2.0/24", "198.18.0.2", "vxlan", None))
            .is_none());
        let hg = Backend::HostGw { ext: ext() };
        assert!(hg
            .peer_entries(&peer("10.244.2.0/24", "198.18.0.2", "", None))
            .is_none());
        let r = hg
            .peer_entries(&peer("10.244.2.0/24", "198.18.0.2", "host-gw", None))
            .unwrap()
            .route
            .unwrap();
        assert_eq!(
            r,
            Route {
                dst: "10.244.2.0/24".parse().unwrap(),
                gateway: Some("198.18.0.2".parse().unwrap()),
                oif: 2,
                onlink: false
            }
        );
    }

    #[test]
    fn ownership_is_limited_to_our_network_and_devices() {
        let b = Backend::HostGw { ext: ext() };
        let net: Ipv4Net = "10.244.0.0/16".parse().unwrap();
        let own: Ipv4Net = "10.244.1.0/24".parse().unwrap();
        let r = |dst: &str, gw: Option<&str>, oif| Route {
            dst: dst.parse().unwrap(),
            gateway: gw.map(|g| g.parse().unwrap()),
            oif,
            onlink: false,
        };
        assert!(b.owns_route(&r("10.244.9.0/24", Some("198.18.0.9"), 2), net, own));
        assert!(!b.owns_route(&r("0.0.0.0/0", Some("198.18.0.254"), 2), net, own));
        assert!(!b.owns_route(&r("10.244.1.0/24", None, 7), net, own));
        assert!(!b.owns_route(&r("10.245.9.0/24", Some("198.18.0.9"), 2), net, own));
        assert!(!b.owns_route(&r("10.244.9.0/24", Some("198.18.0.9"), 3), net, own));
    }

    #[test]
    fn diff_adds_missing_and_removes_unjustified() {
        let b = vxlan(false);
        let p2 = peer(
            "10.244.2.0/24",
            "198.18.0.2",
            "vxlan",
            Some("c6:d2:32:6f:8f:44"),
        );
        let p3 = peer(
            "10.244.3.0/24",
            "198.18.0.3",
            "vxlan",
            Some("c6:d2:32:6f:8f:45"),
        );
        let want = desired(&b, [&p2]);
        let have = desired(&b, [&p3]);
        let c = diff(&want, &have);
        assert_eq!(c.add, want);
        assert_eq!(c.remove, have);
        assert!(diff(&want, &want).is_empty());
    }
}
