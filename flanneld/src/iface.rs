//! Choosing the external interface (`--iface`, `--iface-regex`, `--iface-can-reach`, default
//! route) and its address, as a pure function over the node's links.

use std::net::Ipv4Addr;

use regex::Regex;
use thiserror::Error;

use crate::kernel::Link;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IfaceError {
    #[error("--iface {0:?}: no interface with that name or IPv4 address")]
    NoIface(String),
    #[error("--iface-regex {0:?} is not a valid regular expression: {1}")]
    BadRegex(String, String),
    #[error("--iface-regex {0:?}: no interface name or IPv4 address matches")]
    NoRegexMatch(String),
    #[error("--iface-can-reach {0}: no route to it")]
    Unreachable(Ipv4Addr),
    #[error("no default route: pass --iface or --iface-regex to choose the external interface")]
    NoDefaultRoute,
    #[error(
        "interface {0} has no global IPv4 address; pass --public-ip or choose another interface"
    )]
    NoAddress(String),
}

#[derive(Debug, Clone, Default)]
pub struct IfaceOpts {
    pub ifaces: Vec<String>,
    pub regexes: Vec<String>,
    pub can_reach: Option<Ipv4Addr>,
}

/// What the kernel says about routes, needed for the last two rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteHints {
    pub default_ifindex: Option<u32>,
    pub can_reach_ifindex: Option<u32>,
}

/// The chosen interface and the address to use on it.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub link: Link,
    pub addr: Ipv4Addr,
}

fn global(ip: &Ipv4Addr) -> bool {
    !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified()
}

fn first_global(link: &Link) -> Result<Ipv4Addr, IfaceError> {
    link.addrs
        .iter()
        .map(|n| n.addr())
        .find(global)
        .ok_or_else(|| IfaceError::NoAddress(link.name.clone()))
}

pub fn select(links: &[Link], opts: &IfaceOpts, hints: RouteHints) -> Result<Chosen, IfaceError> {
    if let Some(first) = opts.ifaces.first() {
        for want in &opts.ifaces {
            if let Ok(ip) = want.parse::<Ipv4Addr>() {
                if let Some(link) = links
                    .iter()
                    .find(|l| l.addrs.iter().any(|a| a.addr() == ip))
                {
                    return Ok(Chosen {
                        link: link.clone(),
                        addr: ip,
                    });
                }
            } else if let Some(link) = links.iter().find(|l| &l.name == want) {
                return Ok(Chosen {
                    link: link.clone(),
                    addr: first_global(link)?,
                });
            }
        }
        return Err(IfaceError::NoIface(if opts.ifaces.len() == 1 {
            first.clone()
        } else {
            opts.ifaces.join(",")
        }));
    }
    if !opts.regexes.is_empty() {
        for pattern in &opts.regexes {
            let re = Regex::new(pattern)
                .map_err(|e| IfaceError::BadRegex(pattern.clone(), e.to_string()))?;
            // Upstream tries the addresses of all interfaces first, then their names.
            for link in links {
                if let Some(a) = link
                    .addrs
                    .iter()
                    .map(|n| n.addr())
                    .find(|a| global(a) && re.is_match(&a.to_string()))
                {
                    return Ok(Chosen {
                        link: link.clone(),
                        addr: a,
                    });
                }
            }
            for link in links.iter().filter(|l| re.is_match(&l.name)) {
                if let Ok(addr) = first_global(link) {
                    return Ok(Chosen {
                        link: link.clone(),
                        addr,
                    });
                }
            }
        }
        return Err(IfaceError::NoRegexMatch(opts.regexes.join(",")));
    }
    let (index, err) = match opts.can_reach {
        Some(ip) => (hints.can_reach_ifindex, IfaceError::Unreachable(ip)),
        None => (hints.default_ifindex, IfaceError::NoDefaultRoute),
    };
    let link = index
        .and_then(|i| links.iter().find(|l| l.index == i))
        .ok_or(err)?;
    Ok(Chosen {
        link: link.clone(),
        addr: first_global(link)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, addrs: &[&str]) -> Link {
        Link {
            index,
            name: name.into(),
            mtu: 1500,
            mac: None,
            up: true,
            kind: None,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn links() -> Vec<Link> {
        vec![
            link(1, "lo", &["127.0.0.1/8"]),
            link(2, "eth0", &["198.18.0.1/24"]),
            link(3, "eth1", &["198.18.1.1/24"]),
        ]
    }

    /// `select` with only `--iface` values and only `--iface-regex` values, no route hints.
    fn by_iface(ifaces: &[&str]) -> Result<Chosen, IfaceError> {
        let o = IfaceOpts {
            ifaces: ifaces.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        select(&links(), &o, RouteHints::default())
    }

    fn by_regex(regexes: &[&str]) -> Result<Chosen, IfaceError> {
        let o = IfaceOpts {
            regexes: regexes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        select(&links(), &o, RouteHints::default())
    }

    #[test]
    fn iface_by_name_or_ip_first_match_wins() {
        let c = by_iface(&["nope", "eth1", "eth0"]).unwrap();
        assert_eq!(
            (c.link.name.as_str(), c.addr.to_string().as_str()),
            ("eth1", "198.18.1.1")
        );
        assert_eq!(by_iface(&["198.18.0.1"]).unwrap().link.name, "eth0");
        assert_eq!(
            by_iface(&["wlan9"]).unwrap_err(),
            IfaceError::NoIface("wlan9".into())
        );
    }

    #[test]
    fn regex_matches_addresses_then_names() {
        assert_eq!(by_regex(&[r"^198\.18\.1\."]).unwrap().link.name, "eth1");
        assert_eq!(by_regex(&["^eth0$"]).unwrap().link.name, "eth0");
        assert!(matches!(by_regex(&["("]), Err(IfaceError::BadRegex(..))));
    }

    #[test]
    fn default_route_and_can_reach() {
        let hints = RouteHints {
            default_ifindex: Some(2),
            can_reach_ifindex: Some(3),
        };
        assert_eq!(
            select(&links(), &IfaceOpts::default(), hints)
                .unwrap()
                .link
                .name,
            "eth0"
        );
        let o = IfaceOpts {
            can_reach: Some("198.18.1.9".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(select(&links(), &o, hints).unwrap().link.name, "eth1");
        assert_eq!(
            select(&links(), &IfaceOpts::default(), RouteHints::default()).unwrap_err(),
            IfaceError::NoDefaultRoute
        );
        let hints = RouteHints {
            default_ifindex: Some(1),
            can_reach_ifindex: None,
        };
        assert!(matches!(
            select(&links(), &IfaceOpts::default(), hints),
            Err(IfaceError::NoAddress(_))
        ));
    }
}
