//! The node-CIDR allocator (upstream's `cidrset`): the cluster CIDR cut into subnets of
//! `--node-cidr-mask-size`, handed out in order (the first free one after the last handed out,
//! wrapping), each at most once until released. Pure.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use kube_lite_api::alloc::Bitmap;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CidrSetError {
    #[error("--node-cidr-mask-size {mask} must be at least the --cluster-cidr prefix length {cluster} and at most 32")]
    MaskSize { mask: u8, cluster: u8 },
    #[error("--cluster-cidr {cidr} with --node-cidr-mask-size {mask}: {count} node CIDRs is too many (at most 2^16)")]
    TooMany { cidr: Ipv4Net, mask: u8, count: u64 },
    #[error("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")]
    Full,
    #[error("{0} is not a node CIDR of {1} (expected a /{2} inside it)")]
    NotOurs(Ipv4Net, Ipv4Net, u8),
}

#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: Ipv4Net,
    mask: u8,
    used: Bitmap,
    size: usize,
    next: usize,
}

impl CidrSet {
    pub fn new(cluster: Ipv4Net, mask: u8) -> Result<CidrSet, CidrSetError> {
        let cluster = cluster.trunc();
        if mask < cluster.prefix_len() || mask > 32 {
            return Err(CidrSetError::MaskSize {
                mask,
                cluster: cluster.prefix_len(),
            });
        }
        let count = 1u64 << (mask - cluster.prefix_len());
        if count > 1 << 16 {
            return Err(CidrSetError::TooMany {
                cidr: cluster,
                mask,
                count,
            });
        }
        let size = count as usize;
        Ok(CidrSet {
            cluster,
            mask,
            used: Bitmap::new(size),
            size,
            next: 0,
        })
    }

    pub fn cluster(&self) -> Ipv4Net {
        self.cluster
    }

    fn subnet(&self, i: usize) -> Ipv4Net {
        let step = 1u64 << (32 - u32::from(self.mask));
        let base = u64::from(u32::from(self.cluster.network()));
        let addr = (base + step * i as u64) as u32;
        Ipv4Net::new(Ipv4Addr::from(addr), self.mask).unwrap_or(self.cluster)
    }

    fn index(&self, cidr: Ipv4Net) -> Result<usize, CidrSetError> {
        let not_ours = || CidrSetError::NotOurs(cidr, self.cluster, self.mask);
        if cidr.prefix_len() != self.mask || !self.cluster.contains(&cidr) || cidr.trunc() != cidr {
            return Err(not_ours());
        }
        let off = u32::from(cidr.network()) - u32::from(self.cluster.network());
        Ok((off >> (32 - u32::from(self.mask))) as usize)
    }

    /// The next free subnet after the last one handed out.
    pub fn allocate_next(&mut self) -> Result<Ipv4Net, CidrSetError> {
        for k in 0..self.size {
            let i = (self.next + k) % self.size;
            if self.used.allocate(i) {
                self.next = (i + 1) % self.size;
                return Ok(self.subnet(i));
            }
        }
        Err(CidrSetError::Full)
    }

    /// Marks a subnet a node already holds as used (after a restart: from the nodes' podCIDRs).
    pub fn occupy(&mut self, cidr: Ipv4Net) -> Result<(), CidrSetError> {
        let i = self.index(cidr)?;
        self.used.allocate(i);
        Ok(())
    }

    pub fn release(&mut self, cidr: Ipv4Net) -> Result<(), CidrSetError> {
        let i = self.index(cidr)?;
        self.used.release(i);
        Ok(())
    }

    pub fn is_used(&self, cidr: Ipv4Net) -> bool {
        self.index(cidr).is_ok_and(|i| self.used.is_set(i))
    }

    pub fn used(&self) -> usize {
        self.used.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("test CIDR")
    }

    #[test]
    fn hands_out_in_order_skipping_occupied_and_reusing_released() {
        let mut s = CidrSet::new(net("10.244.0.0/16"), 24).expect("set");
        s.occupy(net("10.244.1.0/24")).expect("occupy");
        assert_eq!(s.allocate_next(), Ok(net("10.244.0.0/24")));
        assert_eq!(s.allocate_next(), Ok(net("10.244.2.0/24")));
        s.release(net("10.244.0.0/24")).expect("release");
        // In order after the last handed out; the released one comes back after a wrap.
        assert_eq!(s.allocate_next(), Ok(net("10.244.3.0/24")));
        assert_eq!(s.used(), 3);
    }

    #[test]
    fn full_and_foreign_cidrs_are_errors() {
        let mut s = CidrSet::new(net("10.244.0.0/23"), 24).expect("set");
        assert!(s.allocate_next().is_ok() && s.allocate_next().is_ok());
        assert_eq!(s.allocate_next(), Err(CidrSetError::Full));
        assert!(s.occupy(net("10.9.0.0/24")).is_err());
        assert!(s.occupy(net("10.244.0.0/25")).is_err());
        assert!(CidrSet::new(net("10.244.0.0/16"), 8).is_err());
        assert!(CidrSet::new(net("10.0.0.0/8"), 30).is_err());
    }

    proptest! {
        #[test]
        fn never_twice(ops in prop::collection::vec((any::<bool>(), 0usize..16), 0..200)) {
            let mut s = CidrSet::new(net("10.244.0.0/20"), 24).expect("set");
            let mut held: Vec<Ipv4Net> = vec![];
            for (alloc, pick) in ops {
                if alloc || held.is_empty() {
                    if let Ok(c) = s.allocate_next() {
                        prop_assert!(!held.contains(&c), "{} handed out twice", c);
                        held.push(c);
                    } else {
                        prop_assert_eq!(held.len(), 16);
                    }
                } else {
                    let c = held.remove(pick % held.len());
                    s.release(c).expect("release");
                }
            }
        }
    }
}
