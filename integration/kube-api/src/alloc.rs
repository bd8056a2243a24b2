//! Range allocation bitmaps for Service ClusterIPs (`--service-cluster-ip-range`)
//! and NodePorts (`--service-node-port-range`), in upstream's stored form:
//! a `RangeAllocation` (`range`, `data` = the bitmap) at
//! `/registry/ranges/serviceips` and `/registry/ranges/servicenodeports`,
//! updated compare-and-swap by the registry so that concurrent creates and
//! restarts never hand one value out twice.
//! (Integrator's placeholder; the SELECTORS helper replaces it.)

use ipnet::Ipv4Net;
use serde_json::{json, Value};
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
    pub fn is_set(&self, off: usize) -> bool {
        off < self.size && self.bits[off / 8] & (1 << (off % 8)) != 0
    }
    pub fn allocate(&mut self, off: usize) -> Result<(), AllocError> {
        if off >= self.size || self.is_set(off) {
            return Err(AllocError::Allocated(off.to_string()));
        }
        self.bits[off / 8] |= 1 << (off % 8);
        Ok(())
    }
    pub fn release(&mut self, off: usize) {
        if off < self.size {
            self.bits[off / 8] &= !(1 << (off % 8));
        }
    }
    pub fn allocate_next(&mut self, start: usize) -> Result<usize, AllocError> {
        for i in 0..self.size {
            let o = (start + i) % self.size;
            if !self.is_set(o) {
                self.allocate(o)?;
                return Ok(o);
            }
        }
        Err(AllocError::Full)
    }
}

/// The usable addresses of a ClusterIP range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpRange {
    net: Ipv4Net,
}

impl IpRange {
    pub fn new(net: Ipv4Net) -> IpRange {
        IpRange { net }
    }
    pub fn net(&self) -> Ipv4Net {
        self.net
    }
    pub fn size(&self) -> usize {
        (1usize << (32 - self.net.prefix_len())).saturating_sub(2)
    }
    pub fn addr(&self, off: usize) -> Option<Ipv4Addr> {
        (off < self.size()).then(|| Ipv4Addr::from(u32::from(self.net.network()) + 1 + off as u32))
    }
    pub fn offset(&self, ip: Ipv4Addr) -> Option<usize> {
        let o = u32::from(ip).checked_sub(u32::from(self.net.network()) + 1)? as usize;
        (o < self.size()).then_some(o)
    }
}

/// A NodePort range (`30000-32767`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub base: u16,
    pub size: u16,
}

impl PortRange {
    pub fn parse(s: &str) -> Result<PortRange, AllocError> {
        let bad = || AllocError::OutOfRange(s.to_string(), "port", "30000-32767".into());
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let a: u16 = a.trim().parse().map_err(|_| bad())?;
        let b: u16 = b.trim().parse().map_err(|_| bad())?;
        if b < a {
            return Err(bad());
        }
        Ok(PortRange {
            base: a,
            size: b - a + 1,
        })
    }
}

pub fn to_range_allocation(bm: &Bitmap, range: &str) -> Value {
    json!({"kind":"RangeAllocation","apiVersion":"v1","metadata":{},"range":range,"data": bm.bits.iter().map(|b| format!("{b:02x}")).collect::<String>()})
}

pub fn from_range_allocation(v: &Value, size: usize) -> Result<Bitmap, AllocError> {
    let hex = v.get("data").and_then(Value::as_str).unwrap_or("");
    let mut bm = Bitmap::new(size);
    for (i, b) in bm.bits.iter_mut().enumerate() {
        *b = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    Ok(bm)
}
