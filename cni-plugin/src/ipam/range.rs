//! host-local's ranges and its allocation order, pure: a range is a subnet minus the network
//! address, the broadcast address and the gateway (default network+1), optionally narrowed by
//! rangeStart/rangeEnd; the iterator resumes after the last reserved IP and wraps around, in
//! exactly the order host-local's `RangeIter` visits addresses.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// One canonical IPv4 range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub subnet: Ipv4Net,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub gateway: Ipv4Addr,
}

impl Range {
    /// Canonicalises like host-local: the subnet must be a network address with room for at
    /// least two hosts; start defaults to network+1, end to broadcast-1, gateway to network+1.
    pub fn new(
        subnet: Ipv4Net,
        start: Option<Ipv4Addr>,
        end: Option<Ipv4Addr>,
        gateway: Option<Ipv4Addr>,
    ) -> Result<Range, String> {
        if subnet.prefix_len() > 30 {
            return Err(format!("Network {subnet} too small to allocate from"));
        }
        if subnet.addr() != subnet.network() {
            return Err(format!(
                "Network has host bits set. For a subnet mask of length {} the network address is {}",
                subnet.prefix_len(),
                subnet.network()
            ));
        }
        let first = next(subnet.network());
        let mut r = Range {
            subnet,
            start: first,
            end: prev(subnet.broadcast()),
            gateway: gateway.unwrap_or(first),
        };
        if let Some(s) = start {
            if !r.contains(s) {
                return Err(format!("RangeStart {s} not in network {subnet}"));
            }
            r.start = s;
        }
        if let Some(e) = end {
            if !r.contains(e) {
                return Err(format!("RangeEnd {e} not in network {subnet}"));
            }
            r.end = e;
        }
        Ok(r)
    }

    /// In the subnet and between start and end (inclusive).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.subnet.contains(&ip) && ip >= self.start && ip <= self.end
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// host-local's text for a range set (`10.1.17.1-10.1.17.254,...`).
pub fn describe(set: &[Range]) -> String {
    set.iter()
        .map(Range::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn next(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).wrapping_add(1))
}

fn prev(ip: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip).wrapping_sub(1))
}

/// The candidate addresses, in host-local's order, each with the range's gateway.
pub struct Candidates<'a> {
    set: &'a [Range],
    idx: usize,
    cur: Option<Ipv4Addr>,
    start: Option<Ipv4Addr>,
}

/// Iterates `set` starting after `last` (the `last_reserved_ip` of the set) when `last` lies in
/// the set, else from the first range's start.
pub fn candidates(set: &[Range], last: Option<Ipv4Addr>) -> Candidates<'_> {
    let resume = last.and_then(|l| set.iter().position(|r| r.contains(l)).map(|i| (i, l)));
    match resume {
        Some((idx, l)) => Candidates {
            set,
            idx,
            cur: Some(l),
            start: None,
        },
        None => Candidates {
            set,
            idx: 0,
            cur: None,
            start: set.first().map(|r| r.start),
        },
    }
}

impl Iterator for Candidates<'_> {
    type Item = (Ipv4Addr, Ipv4Addr);

    fn next(&mut self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        if self.set.is_empty() {
            return None;
        }
        loop {
            let mut r = self.set[self.idx];
            let Some(cur) = self.cur else {
                self.cur = Some(r.start);
                self.start = Some(r.start);
                if r.start == r.gateway {
                    continue;
                }
                return Some((r.start, r.gateway));
            };
            let cur = if cur == r.end {
                self.idx = (self.idx + 1) % self.set.len();
                r = self.set[self.idx];
                r.start
            } else {
                next(cur)
            };
            self.cur = Some(cur);
            match self.start {
                None => self.start = Some(cur),
                Some(s) if s == cur => return None,
                Some(_) => {}
            }
            if cur == r.gateway {
                continue;
            }
            return Some((cur, r.gateway));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn range(s: &str) -> Range {
        Range::new(s.parse().unwrap(), None, None, None).unwrap()
    }

    #[test]
    fn canonical_defaults_and_errors() {
        let r = range("10.1.17.0/24");
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip("10.1.17.1"), ip("10.1.17.254"), ip("10.1.17.1"))
        );
        assert!(
            Range::new("10.1.17.1/24".parse().unwrap(), None, None, None)
                .unwrap_err()
                .contains("host bits")
        );
        assert!(
            Range::new("10.1.17.0/31".parse().unwrap(), None, None, None)
                .unwrap_err()
                .contains("too small")
        );
        assert!(Range::new(
            "10.1.17.0/24".parse().unwrap(),
            Some(ip("10.1.18.1")),
            None,
            None
        )
        .is_err());
        assert_eq!(describe(&[r]), "10.1.17.1-10.1.17.254");
    }

    #[test]
    fn fresh_range_starts_at_2_and_skips_gateway() {
        let set = [range("10.1.17.0/24")];
        let got: Vec<_> = candidates(&set, None).take(3).map(|(a, _)| a).collect();
        assert_eq!(got, vec![ip("10.1.17.2"), ip("10.1.17.3"), ip("10.1.17.4")]);
        assert_eq!(candidates(&set, None).count(), 253);
        assert!(candidates(&set, None).all(|(_, gw)| gw == ip("10.1.17.1")));
    }

    #[test]
    fn resumes_after_last_and_wraps_ending_with_last() {
        let set = [range("10.1.17.0/29")]; // .1 gw, .2-.6 usable
        let got: Vec<_> = candidates(&set, Some(ip("10.1.17.4")))
            .map(|(a, _)| a)
            .collect();
        let want: Vec<_> = [5, 6, 2, 3, 4]
            .iter()
            .map(|n| Ipv4Addr::new(10, 1, 17, *n))
            .collect();
        assert_eq!(got, want);
        // A last IP outside the set is ignored.
        let got: Vec<_> = candidates(&set, Some(ip("10.9.9.9")))
            .map(|(a, _)| a)
            .collect();
        assert_eq!(got.first(), Some(&ip("10.1.17.2")));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn custom_gateway_start_end_and_several_ranges() {
        let r = Range::new(
            "10.1.17.0/24".parse().unwrap(),
            Some(ip("10.1.17.10")),
            Some(ip("10.1.17.12")),
            Some(ip("10.1.17.11")),
        )
        .unwrap();
        let r2 = Range::new("10.2.0.0/30".parse().unwrap(), None, None, None).unwrap();
        let set = [r, r2];
        let got: Vec<_> = candidates(&set, None)
            .map(|(a, g)| (a.to_string(), g.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.1.17.10".to_string(), "10.1.17.11".to_string()),
                ("10.1.17.12".to_string(), "10.1.17.11".to_string()),
                ("10.2.0.2".to_string(), "10.2.0.1".to_string()),
            ]
        );
    }
}
