//! Choosing this node's subnet (spec section 3), as a pure decision over the current lease list.
//! The etcd adapter carries the decision out; a failed create transaction means "plan again".

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::seq::IndexedRandom;
use rand::Rng;
use thiserror::Error;

use crate::config::NetworkConfig;
use crate::lease::Lease;

/// How many free subnets upstream collects before picking one at random.
const MAX_CANDIDATES: usize = 100;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AllocError {
    #[error("out of subnets: none of the {total} subnets /{len} between {min} and {max} is free ({leases} leases in etcd)")]
    OutOfSubnets {
        total: u64,
        len: u8,
        min: Ipv4Addr,
        max: Ipv4Addr,
        leases: usize,
    },
}

/// What to do to obtain our lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Our lease exists: re-put our attributes with a fresh TTL.
    Renew(Lease),
    /// An operator reserved a subnet for our public IP: use it as-is, never give it a TTL.
    Reservation(Lease),
    /// Create a new lease for this subnet with the create-if-absent transaction.
    Create(Ipv4Net),
}

/// The decision plus the stale leases of ours that must be deleted first.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub delete: Vec<Ipv4Net>,
    pub plan: Plan,
}

/// Decide which subnet this node takes (spec section 3).
pub fn decide(
    cfg: &NetworkConfig,
    leases: &[Lease],
    public_ip: Ipv4Addr,
    previous: Option<Ipv4Net>,
    rng: &mut impl Rng,
) -> Result<Decision, AllocError> {
    let mut delete = Vec::new();
    // 1. Leases that already carry our public IP. Reservations first: they win.
    let mut ours: Vec<&Lease> = leases
        .iter()
        .filter(|l| l.attrs.public_ip == public_ip)
        .collect();
    ours.sort_by_key(|l| !l.is_reservation());
    for lease in ours {
        if cfg.subnet_in_range(lease.subnet) {
            let plan = if lease.is_reservation() {
                Plan::Reservation(lease.clone())
            } else {
                Plan::Renew(lease.clone())
            };
            return Ok(Decision { delete, plan });
        }
        // A lease of ours outside the configured range is stale; an operator's reservation is
        // never deleted by us.
        if !lease.is_reservation() {
            delete.push(lease.subnet);
        }
    }
    let taken = |s: Ipv4Net| {
        leases
            .iter()
            .filter(|l| !delete.contains(&l.subnet))
            .any(|l| l.subnet.contains(&s.network()) || s.contains(&l.subnet.network()))
    };
    // 2. The subnet we had before (from subnet.env), when still free and valid.
    if let Some(prev) = previous {
        if cfg.subnet_in_range(prev) && !taken(prev) {
            return Ok(Decision {
                delete,
                plan: Plan::Create(prev),
            });
        }
    }
    // 3. A random free subnet among the first MAX_CANDIDATES free ones.
    let step = 1u32 << (32 - cfg.subnet_len);
    let mut candidates = Vec::with_capacity(MAX_CANDIDATES);
    let mut ip = u32::from(cfg.subnet_min);
    let max = u32::from(cfg.subnet_max);
    while ip <= max && candidates.len() < MAX_CANDIDATES {
        let net = Ipv4Net::new(Ipv4Addr::from(ip), cfg.subnet_len).expect("len <= 30");
        if !taken(net) {
            candidates.push(net);
        }
        match ip.checked_add(step) {
            Some(next) => ip = next,
            None => break,
        }
    }
    match candidates.choose(rng) {
        Some(net) => Ok(Decision {
            delete,
            plan: Plan::Create(*net),
        }),
        None => Err(AllocError::OutOfSubnets {
            total: cfg.subnet_count(),
            len: cfg.subnet_len,
            min: cfg.subnet_min,
            max: cfg.subnet_max,
            leases: leases.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use rand::SeedableRng;

    fn cfg(net: &str) -> NetworkConfig {
        config::parse(&format!(
            r#"{{"Network":"{net}","Backend":{{"Type":"host-gw"}}}}"#
        ))
        .unwrap()
    }

    fn lease(subnet: &str, ip: &str, etcd_lease: i64) -> Lease {
        let mut l = Lease::for_test(subnet, ip, "host-gw");
        l.etcd_lease = etcd_lease;
        l
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    const ME: &str = "198.18.0.1";

    /// `decide` in 10.244.0.0/16 for `ME` with the fixed seed.
    fn decide16(leases: &[Lease], previous: Option<Ipv4Net>) -> Decision {
        decide(
            &cfg("10.244.0.0/16"),
            leases,
            ME.parse().unwrap(),
            previous,
            &mut rng(),
        )
        .unwrap()
    }

    #[test]
    fn reuses_our_own_lease() {
        let leases = [
            lease("10.244.5.0/24", ME, 9),
            lease("10.244.6.0/24", "198.18.0.2", 9),
        ];
        let d = decide16(&leases, None);
        assert_eq!(d.plan, Plan::Renew(leases[0].clone()));
        assert!(d.delete.is_empty());
    }

    #[test]
    fn reservation_for_us_is_used_as_is() {
        let leases = [lease("10.244.5.0/24", ME, 9), lease("10.244.7.0/24", ME, 0)];
        let d = decide16(&leases, None);
        assert_eq!(d.plan, Plan::Reservation(leases[1].clone()));
    }

    #[test]
    fn reservations_of_others_are_never_taken() {
        let c = cfg("10.244.0.0/28"); // subnets /30: .4 .8 .12 (min .4)
        let leases = [
            lease("10.244.0.4/30", "198.18.0.9", 0),
            lease("10.244.0.8/30", "198.18.0.8", 0),
        ];
        for seed in 0..20 {
            let mut r = rand::rngs::StdRng::seed_from_u64(seed);
            let d = decide(
                &c,
                &leases,
                ME.parse().unwrap(),
                Some("10.244.0.4/30".parse().unwrap()),
                &mut r,
            )
            .unwrap();
            assert_eq!(d.plan, Plan::Create("10.244.0.12/30".parse().unwrap()));
        }
    }

    #[test]
    fn stale_lease_outside_range_is_deleted() {
        let leases = [lease("10.9.5.0/24", ME, 9)];
        let d = decide16(&leases, None);
        assert_eq!(d.delete, vec!["10.9.5.0/24".parse::<Ipv4Net>().unwrap()]);
        assert!(matches!(d.plan, Plan::Create(_)));
    }

    #[test]
    fn previous_subnet_is_taken_when_free() {
        let prev: Ipv4Net = "10.244.42.0/24".parse().unwrap();
        let d = decide16(&[], Some(prev));
        assert_eq!(d.plan, Plan::Create(prev));
        let leases = [lease("10.244.42.0/24", "198.18.0.2", 9)];
        let d = decide16(&leases, Some(prev));
        assert_ne!(d.plan, Plan::Create(prev));
    }

    #[test]
    fn random_pick_is_free_aligned_and_in_range() {
        let c = cfg("10.244.0.0/16");
        let leases: Vec<Lease> = (1..=50)
            .map(|i| lease(&format!("10.244.{i}.0/24"), "198.18.0.2", 9))
            .collect();
        for seed in 0..50 {
            let mut r = rand::rngs::StdRng::seed_from_u64(seed);
            let Plan::Create(net) = decide(&c, &leases, ME.parse().unwrap(), None, &mut r)
                .unwrap()
                .plan
            else {
                panic!()
            };
            assert!(c.subnet_in_range(net));
            assert!(!leases.iter().any(|l| l.subnet == net));
        }
    }

    #[test]
    fn out_of_subnets_is_an_error_with_counts() {
        let c = cfg("10.244.0.0/28");
        let leases: Vec<Lease> = ["10.244.0.4/30", "10.244.0.8/30", "10.244.0.12/30"]
            .iter()
            .map(|s| lease(s, "198.18.0.2", 9))
            .collect();
        let e = decide(&c, &leases, ME.parse().unwrap(), None, &mut rng()).unwrap_err();
        assert_eq!(e.to_string(), "out of subnets: none of the 3 subnets /30 between 10.244.0.4 and 10.244.0.12 is free (3 leases in etcd)");
    }
}
