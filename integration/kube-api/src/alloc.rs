//! Range allocation bitmaps for Service ClusterIPs (`--service-cluster-ip-range`)
//! and NodePorts (`--service-node-port-range`), in upstream's stored form:
//! a `RangeAllocation` (`range`, `data` = the bitmap) at
//! `/registry/ranges/serviceips` and `/registry/ranges/servicenodeports`,
//! updated compare-and-swap by the registry so that concurrent creates and
//! restarts never hand one value out twice.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocError {
    #[error("range is full")]
    Full,
    #[error("provided {0} is not in the valid range. The range of valid {1}s is {2}")]
    OutOfRange(String, &'static str, String),
    #[error("provided {0} is already allocated")]
    Allocated(String),
}

/// A bitmap over `size` offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Bitmap {
    pub size: usize,
    pub bits: Vec<u8>,
}

impl Bitmap {
    pub fn new(size: usize) -> Bitmap {
        Bitmap {
            size,
            bits: vec![0; size.div_ceil(8)],
        }
    }
}

/// ClusterIP offsets: offset 0 is the network address +1 (`10.96.0.1`).
pub fn ip_offset(range: Ipv4Net, ip: Ipv4Addr) -> Option<usize> {
    let _ = (range, ip);
    None
}
