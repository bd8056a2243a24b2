//! The kernel objects flanneld's pure core reasons about (routes, permanent ARP entries, vxlan
//! FDB entries, links) as plain data. The core (backend, iface, status) builds and compares
//! these; `netlink` is the adapter that lists and applies them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub use flannel_net::{format_mac, parse_mac, Mac, Route};

/// A permanent ARP entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Neighbour {
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    pub mac: Mac,
}

/// A bridge fdb entry `MAC dst IP self permanent` on a vxlan device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fdb {
    pub ifindex: u32,
    pub mac: Mac,
    pub dst: Ipv4Addr,
}

/// A network device with its IPv4 addresses.
#[derive(Clone, Debug)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub mac: Option<Mac>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// `IFLA_INFO_KIND` ("vxlan", "dummy", ...); None for devices without one.
    pub kind: Option<String>,
    pub addrs: Vec<Ipv4Net>,
}
