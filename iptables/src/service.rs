//! The proxy's input model: service ports with their endpoints, as
//! kube-proxy-lite programs them, and the settings that shape the rules.
//! Nothing here knows about JSON ([`crate::kube`]) or iptables text
//! ([`crate::rules`]).

use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

/// A service port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Lower-case name, as used in `-p`/`-m` and in chain hashes.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`; case-insensitive).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one port of one service: `namespace/name:port` plus protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    /// The port's name; empty for the single unnamed port of a service.
    pub port: String,
    pub protocol: Protocol,
}

impl ServicePortName {
    /// Builds a name.
    pub fn new(namespace: &str, name: &str, port: &str, protocol: Protocol) -> Self {
        ServicePortName {
            namespace: namespace.to_string(),
            name: name.to_string(),
            port: port.to_string(),
            protocol,
        }
    }
}

/// `ns/name:port`, or `ns/name` when the port is unnamed (kube-proxy's
/// `ServicePortName.String()`, used in comments and chain hashes).
impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One backend of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl Endpoint {
    /// `ip:port` as zero-padded bytes: ordering these orders the endpoints
    /// as their text, without allocating.
    pub fn text_key(&self) -> [u8; 24] {
        use std::io::Write;
        let mut buf = [0u8; 24];
        // "255.255.255.255:65535" is 21 bytes: always fits.
        let _ = write!(&mut buf[..], "{}:{}", self.ip, self.port);
        buf
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// One port of a service with a cluster IP, and its ready endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    /// Set for NodePort (and LoadBalancer) services.
    pub node_port: Option<u16>,
    /// `Some(timeout seconds)` for session affinity ClientIP.
    pub affinity_timeout: Option<u32>,
    /// Endpoints in the order the rules list them: sorted by their
    /// `ip:port` text, as kube-proxy sorts them, without duplicates.
    pub endpoints: Vec<Endpoint>,
}

impl ServicePort {
    /// Sorts and de-duplicates `endpoints` the way the rules expect.
    pub fn normalize(&mut self) {
        if self.endpoints.len() > 1 {
            self.endpoints.sort_by_cached_key(Endpoint::text_key);
            self.endpoints.dedup();
        }
    }
}

/// The desired state: every service port to program, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyState {
    pub services: BTreeMap<ServicePortName, ServicePort>,
}

impl ProxyState {
    /// Builds a state from service ports (normalising their endpoints); a
    /// later duplicate name replaces an earlier one.
    pub fn from_ports(ports: impl IntoIterator<Item = ServicePort>) -> Self {
        let services = ports
            .into_iter()
            .map(|mut p| {
                p.normalize();
                (p.name.clone(), p)
            })
            .collect();
        ProxyState { services }
    }

    /// Number of service ports.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there is no service port.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// Settings that shape the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Pod network; traffic to a cluster IP from outside it is masqueraded.
    pub cluster_cidr: Option<Ipv4Net>,
    /// Bit of the packet mark meaning "masquerade" (kube-proxy default 14).
    pub masquerade_bit: u8,
    /// Whether MASQUERADE takes `--random-fully`.
    pub random_fully: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            cluster_cidr: None,
            masquerade_bit: 14,
            random_fully: true,
        }
    }
}

impl ProxyConfig {
    /// The mark value, e.g. `0x4000` for bit 14.
    pub fn mark(&self) -> String {
        format!("{:#x}", 1u32 << u32::from(self.masquerade_bit.min(31)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_sort_as_text() {
        let ep = |s: &str| {
            let (ip, port) = s.split_once(':').expect("ip:port");
            Endpoint {
                ip: ip.parse().expect("ip"),
                port: port.parse().expect("port"),
            }
        };
        let mut sp = ServicePort {
            name: ServicePortName::new("ns", "s", "", Protocol::Tcp),
            cluster_ip: Ipv4Addr::new(10, 96, 0, 1),
            port: 80,
            node_port: None,
            affinity_timeout: None,
            endpoints: [
                "10.0.0.9:80",
                "10.0.0.10:80",
                "10.0.0.9:8080",
                "10.0.0.9:80",
                "9.0.0.1:1",
            ]
            .iter()
            .map(|s| ep(s))
            .collect(),
        };
        sp.normalize();
        let got: Vec<String> = sp.endpoints.iter().map(|e| e.to_string()).collect();
        let mut want: Vec<String> = ["10.0.0.9:80", "10.0.0.10:80", "10.0.0.9:8080", "9.0.0.1:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(
            ServicePortName::new("a", "b", "", Protocol::Udp).to_string(),
            "a/b"
        );
        assert_eq!(
            ServicePortName::new("a", "b", "c", Protocol::Udp).to_string(),
            "a/b:c"
        );
    }
}
