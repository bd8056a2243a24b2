//! Range allocation bitmaps for Service ClusterIPs (`--service-cluster-ip-range`)
//! and NodePorts (`--service-node-port-range`), in upstream's stored form:
//! a `RangeAllocation` (`range`, `data` = the bitmap) at
//! `/registry/ranges/serviceips` and `/registry/ranges/servicenodeports`,
//! updated compare-and-swap by the registry so that concurrent creates and
//! restarts never hand one value out twice.
//!
//! As kubernetes `pkg/registry/core/service/{allocator,ipallocator,portallocator}`:
//! offset 0 of a ClusterIP range is the network address + 1 (`10.96.0.1` for
//! `10.96.0.0/12`); the network and broadcast addresses are never handed out.
//! Random allocation prefers the upper band of the range and keeps the lower
//! `min(max(16, size/16), 256)` IPs (`min(max(16, size/32), 128)` ports) for
//! static assignment, falling back to them only when the upper band is full.
//! Everything is pure: the random numbers are parameters.

use base64::Engine as _;
use ipnet::Ipv4Net;
use serde_json::{json, Value};
use std::fmt;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocError {
    #[error("range is full")]
    Full,
    /// Ports: `provided port is not in the valid range. The range of valid ports is 30000-32767`.
    #[error("provided {0} is not in the valid range. The range of valid {1}s is {2}")]
    OutOfRange(String, &'static str, String),
    /// `provided IP is already allocated` / `provided port is already allocated`.
    #[error("provided {0} is already allocated")]
    Allocated(String),
    /// upstream ipallocator `ErrNotInRange`.
    #[error("the provided IP ({0}) is not in the valid range. The range of valid IPs is {1}")]
    IpNotInRange(Ipv4Addr, Ipv4Net),
    /// A stored `RangeAllocation` of another range (`ErrMismatchedNetwork`).
    #[error("{0}")]
    Mismatched(&'static str),
    /// A `--service-node-port-range` value that does not parse (upstream `PortRange.Set`).
    #[error("{0}")]
    BadPortRange(String),
    /// A stored `RangeAllocation` that cannot be read.
    #[error("invalid RangeAllocation: {0}")]
    BadRangeAllocation(String),
}

/// A bitmap over `size` offsets: bit `i` is `bits[i / 8] >> (i % 8) & 1`.
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

    pub fn is_set(&self, offset: usize) -> bool {
        offset < self.size
            && self
                .bits
                .get(offset / 8)
                .is_some_and(|b| b >> (offset % 8) & 1 == 1)
    }

    fn set(&mut self, offset: usize, on: bool) {
        if offset >= self.size {
            return;
        }
        if let Some(b) = self.bits.get_mut(offset / 8) {
            let mask = 1u8 << (offset % 8);
            if on {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }

    /// Takes `offset`; false when it is taken already or outside the map.
    pub fn allocate(&mut self, offset: usize) -> bool {
        if offset >= self.size || self.is_set(offset) {
            return false;
        }
        self.set(offset, true);
        true
    }

    /// upstream `randomScanStrategy`: the first free offset at or after
    /// `random_start % size`, wrapping; None when the map is full.
    pub fn allocate_next(&mut self, random_start: usize) -> Option<usize> {
        let at = self.scan(0, self.size, random_start)?;
        self.set(at, true);
        Some(at)
    }

    /// upstream `randomScanStrategyWithOffset`: scan the upper band
    /// `[reserved, size)` from `upper_start`, then the lower band
    /// `[0, reserved)` from `lower_start`.
    pub fn allocate_next_subrange(
        &mut self,
        reserved: usize,
        upper_start: usize,
        lower_start: usize,
    ) -> Option<usize> {
        let reserved = reserved.min(self.size);
        let at = self
            .scan(reserved, self.size, upper_start)
            .or_else(|| self.scan(0, reserved, lower_start))?;
        self.set(at, true);
        Some(at)
    }

    /// The first clear offset in `[lo, hi)` starting at `lo + start % (hi - lo)`.
    fn scan(&self, lo: usize, hi: usize, start: usize) -> Option<usize> {
        let n = hi.checked_sub(lo).filter(|n| *n > 0)?;
        let start = start % n;
        (0..n)
            .map(|i| lo + (start + i) % n)
            .find(|&at| !self.is_set(at))
    }

    /// Frees `offset`; false when it was not taken (a no-op, as upstream).
    pub fn release(&mut self, offset: usize) -> bool {
        if !self.is_set(offset) {
            return false;
        }
        self.set(offset, false);
        true
    }

    /// Number of taken offsets.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Number of free offsets.
    pub fn free(&self) -> usize {
        self.size.saturating_sub(self.count())
    }

    /// The taken offsets in increasing order.
    pub fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.size).filter(|&i| self.is_set(i))
    }

    /// Go's `big.Int.Bytes()` of the integer whose bit i is offset i:
    /// big-endian, no leading zero bytes (empty when nothing is taken).
    pub fn to_bytes(&self) -> Vec<u8> {
        let used = self.bits.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        self.bits.iter().take(used).rev().copied().collect()
    }

    /// The inverse of [`Bitmap::to_bytes`] (`big.Int.SetBytes`); bits at or
    /// beyond `size` are dropped.
    pub fn from_bytes(size: usize, data: &[u8]) -> Bitmap {
        let mut b = Bitmap::new(size);
        for (dst, src) in b.bits.iter_mut().zip(data.iter().rev()) {
            *dst = *src;
        }
        if !size.is_multiple_of(8) {
            if let Some(last) = b.bits.last_mut() {
                *last &= (1u8 << (size % 8)) - 1;
            }
        }
        b
    }
}

/// ClusterIP offsets: offset 0 is the network address +1 (`10.96.0.1`).
pub fn ip_offset(range: Ipv4Net, ip: Ipv4Addr) -> Option<usize> {
    IpRange::new(range).offset(ip)
}

/// A range whose items map onto bitmap offsets.
pub trait AllocRange {
    type Item: Copy + fmt::Display;
    /// Number of allocatable items (the bitmap size).
    fn size(&self) -> usize;
    /// `RangeAllocation.range` (`10.96.0.0/12`, `30000-32767`).
    fn spec(&self) -> String;
    /// The size of the lower band kept for static assignment.
    fn reserved(&self) -> usize;
    fn offset(&self, item: Self::Item) -> Option<usize>;
    fn item(&self, offset: usize) -> Option<Self::Item>;
    fn not_in_range(&self, item: Self::Item) -> AllocError;
    fn allocated(&self) -> AllocError;
    /// Whether a stored `range` describes this range.
    fn same_spec(&self, stored: &str) -> bool;
    fn mismatched(&self) -> AllocError;
}

/// upstream `calculateRangeOffset`: `min(max(lo, size/step), hi)`, 0 for small ranges.
fn band(size: u64, lo: u64, step: u64, hi: u64) -> usize {
    if size <= lo {
        return 0;
    }
    (size / step).clamp(lo, hi) as usize
}

/// An IPv4 Service CIDR (`--service-cluster-ip-range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: Ipv4Net,
    /// network address + 1 as an integer (offset 0).
    base: u32,
    size: usize,
}

impl IpRange {
    pub fn new(net: Ipv4Net) -> IpRange {
        let net = net.trunc();
        let total = 1u64 << (32 - u32::from(net.prefix_len()));
        IpRange {
            net,
            base: u32::from(net.network()).wrapping_add(1),
            // minus the network and the broadcast address
            size: total.saturating_sub(2) as usize,
        }
    }
    pub fn net(&self) -> Ipv4Net {
        self.net
    }
}

impl AllocRange for IpRange {
    type Item = Ipv4Addr;
    fn size(&self) -> usize {
        self.size
    }
    fn spec(&self) -> String {
        self.net.to_string()
    }
    fn reserved(&self) -> usize {
        band(1u64 << (32 - u32::from(self.net.prefix_len())), 16, 16, 256)
    }
    fn offset(&self, ip: Ipv4Addr) -> Option<usize> {
        if !self.net.contains(&ip) {
            return None;
        }
        let off = u32::from(ip).checked_sub(self.base)? as usize;
        (off < self.size).then_some(off)
    }
    fn item(&self, offset: usize) -> Option<Ipv4Addr> {
        if offset >= self.size {
            return None;
        }
        let off = u32::try_from(offset).ok()?;
        Some(Ipv4Addr::from(self.base.checked_add(off)?))
    }
    fn not_in_range(&self, ip: Ipv4Addr) -> AllocError {
        AllocError::IpNotInRange(ip, self.net)
    }
    fn allocated(&self) -> AllocError {
        AllocError::Allocated("IP".into())
    }
    fn same_spec(&self, stored: &str) -> bool {
        stored.parse::<Ipv4Net>().is_ok_and(|n| n == self.net)
    }
    fn mismatched(&self) -> AllocError {
        AllocError::Mismatched("the provided network does not match the current range")
    }
}

/// A NodePort range (`30000-32767`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub base: u16,
    pub size: u16,
}

/// Go's `strconv.Atoi` with its error text.
fn atoi(s: &str) -> Result<i64, AllocError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AllocError::BadPortRange(format!(
            "strconv.Atoi: parsing \"{s}\": invalid syntax"
        )));
    }
    s.parse::<i64>().map_err(|_| {
        AllocError::BadPortRange(format!("strconv.Atoi: parsing \"{s}\": value out of range"))
    })
}

impl PortRange {
    /// upstream `PortRange.Set`: `30000-32767`, `30000+2767` or a single
    /// port. (An empty value, a size-0 range upstream, is an error here, as
    /// is the full `0-65535`, whose 65536 ports do not fit `size`.)
    pub fn parse(s: &str) -> Result<PortRange, AllocError> {
        let v = s.trim();
        let bad = |m: String| AllocError::BadPortRange(m);
        let (low, high) = match (v.find('-'), v.find('+')) {
            _ if v.is_empty() => return Err(bad("unable to parse port range: ".into())),
            (None, None) => {
                let p = atoi(v)?;
                (p, p)
            }
            (Some(h), None) => (atoi(&v[..h])?, atoi(&v[h + 1..])?),
            (None, Some(p)) => {
                let low = atoi(&v[..p])?;
                (low, low.saturating_add(atoi(&v[p + 1..])?))
            }
            (Some(_), Some(_)) => return Err(bad(format!("unable to parse port range: {v}"))),
        };
        if low > 65535 || high > 65535 {
            return Err(bad(format!(
                "the port range cannot be greater than 65535: {v}"
            )));
        }
        if high < low {
            return Err(bad(format!("end port cannot be less than start port: {v}")));
        }
        let base =
            u16::try_from(low).map_err(|_| bad(format!("unable to parse port range: {v}")))?;
        let size = u16::try_from(high - low + 1)
            .map_err(|_| bad(format!("the port range cannot be greater than 65535: {v}")))?;
        Ok(PortRange { base, size })
    }

    pub fn contains(&self, port: u16) -> bool {
        self.offset(port).is_some()
    }
}

impl fmt::Display for PortRange {
    /// `30000-32767` (upstream `PortRange.String`; "" for an empty range).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.size == 0 {
            return Ok(());
        }
        let last = u32::from(self.base) + u32::from(self.size) - 1;
        write!(f, "{}-{last}", self.base)
    }
}

impl AllocRange for PortRange {
    type Item = u16;
    fn size(&self) -> usize {
        usize::from(self.size)
    }
    fn spec(&self) -> String {
        self.to_string()
    }
    fn reserved(&self) -> usize {
        band(u64::from(self.size), 16, 32, 128)
    }
    fn offset(&self, port: u16) -> Option<usize> {
        let off = usize::from(port.checked_sub(self.base)?);
        (off < usize::from(self.size)).then_some(off)
    }
    fn item(&self, offset: usize) -> Option<u16> {
        if offset >= usize::from(self.size) {
            return None;
        }
        self.base.checked_add(u16::try_from(offset).ok()?)
    }
    fn not_in_range(&self, _port: u16) -> AllocError {
        AllocError::OutOfRange("port".into(), "port", self.to_string())
    }
    fn allocated(&self) -> AllocError {
        AllocError::Allocated("port".into())
    }
    fn same_spec(&self, stored: &str) -> bool {
        stored == self.to_string()
    }
    fn mismatched(&self) -> AllocError {
        AllocError::Mismatched("the provided port range does not match the current port range")
    }
}

/// A range and its bitmap: what one `RangeAllocation` object holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocator<R: AllocRange> {
    pub range: R,
    pub bitmap: Bitmap,
}

/// ClusterIP allocator.
pub type IpAllocator = Allocator<IpRange>;
/// NodePort allocator.
pub type PortAllocator = Allocator<PortRange>;

impl<R: AllocRange> Allocator<R> {
    /// An empty allocator over `range`.
    pub fn new(range: R) -> Allocator<R> {
        let bitmap = Bitmap::new(range.size());
        Allocator { range, bitmap }
    }

    /// Takes a specific item (`spec.clusterIP` / `nodePort` given by the user).
    pub fn allocate(&mut self, item: R::Item) -> Result<(), AllocError> {
        let off = self
            .range
            .offset(item)
            .ok_or_else(|| self.range.not_in_range(item))?;
        if !self.bitmap.allocate(off) {
            return Err(self.range.allocated());
        }
        Ok(())
    }

    /// Takes a free item at random: `random` picks the scan starts (upper
    /// band first, then the reserved lower band).
    pub fn allocate_next(&mut self, random: u64) -> Result<R::Item, AllocError> {
        let size = self.range.size();
        let reserved = self.range.reserved().min(size);
        let upper = (size - reserved).max(1) as u64;
        let upper_start = (random % upper) as usize;
        let lower_start = (random / upper % (reserved.max(1) as u64)) as usize;
        let off = if reserved == 0 {
            self.bitmap.allocate_next(upper_start)
        } else {
            self.bitmap
                .allocate_next_subrange(reserved, upper_start, lower_start)
        }
        .ok_or(AllocError::Full)?;
        self.range.item(off).ok_or(AllocError::Full)
    }

    /// Frees an item; releasing a free or out-of-range item is a no-op.
    pub fn release(&mut self, item: R::Item) {
        if let Some(off) = self.range.offset(item) {
            self.bitmap.release(off);
        }
    }

    /// Whether the item is taken.
    pub fn has(&self, item: R::Item) -> bool {
        self.range
            .offset(item)
            .is_some_and(|o| self.bitmap.is_set(o))
    }

    /// Taken items.
    pub fn used(&self) -> usize {
        self.bitmap.count()
    }

    /// Items left.
    pub fn free(&self) -> usize {
        self.bitmap.free()
    }

    /// The taken items in offset order.
    pub fn items(&self) -> Vec<R::Item> {
        self.bitmap
            .offsets()
            .filter_map(|o| self.range.item(o))
            .collect()
    }

    /// upstream's stored `RangeAllocation` object.
    pub fn to_range_allocation(&self) -> Value {
        json!({
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"creationTimestamp": null},
            "range": self.range.spec(),
            "data": base64::engine::general_purpose::STANDARD.encode(self.bitmap.to_bytes()),
        })
    }

    /// The `RangeAllocation` as the bytes upstream's JSON encoder writes
    /// (its field order), for storing in etcd.
    pub fn to_range_allocation_bytes(&self) -> Vec<u8> {
        let quote = |s: &str| Value::String(s.to_string()).to_string();
        format!(
            "{{\"kind\":\"RangeAllocation\",\"apiVersion\":\"v1\",\"metadata\":{{\"creationTimestamp\":null}},\"range\":{},\"data\":{}}}",
            quote(&self.range.spec()),
            quote(&base64::engine::general_purpose::STANDARD.encode(self.bitmap.to_bytes())),
        )
        .into_bytes()
    }

    /// Restores from a stored `RangeAllocation`; Err(Mismatched) when it
    /// was written for another range, Err(BadRangeAllocation) when unreadable.
    pub fn from_range_allocation(range: R, stored: &Value) -> Result<Allocator<R>, AllocError> {
        let bad = |m: &str| AllocError::BadRangeAllocation(m.to_string());
        let spec = stored
            .get("range")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("range missing"))?;
        if !range.same_spec(spec) {
            return Err(range.mismatched());
        }
        let data = match stored.get("data") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| bad(&format!("data is not base64: {e}")))?,
            Some(_) => return Err(bad("data is not a string")),
        };
        let bitmap = Bitmap::from_bytes(range.size(), &data);
        Ok(Allocator { range, bitmap })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn cluster_ip_offsets_skip_network_and_broadcast() {
        let r = IpRange::new(net("10.96.0.0/12"));
        assert_eq!(r.size(), (1 << 20) - 2);
        assert_eq!(r.item(0), Some(ip("10.96.0.1")));
        assert_eq!(r.offset(ip("10.96.0.1")), Some(0));
        assert_eq!(r.offset(ip("10.96.0.10")), Some(9));
        assert_eq!(r.offset(ip("10.96.0.0")), None, "network address");
        assert_eq!(r.offset(ip("10.111.255.255")), None, "broadcast address");
        assert_eq!(r.offset(ip("10.111.255.254")), Some(r.size() - 1));
        assert_eq!(r.offset(ip("10.112.0.1")), None);
        assert_eq!(ip_offset(net("10.96.0.0/12"), ip("10.96.0.1")), Some(0));
        assert_eq!(r.spec(), "10.96.0.0/12");
        // A host-bits CIDR is truncated; tiny ranges have no usable IP.
        assert_eq!(IpRange::new(net("10.96.0.7/24")).spec(), "10.96.0.0/24");
        assert_eq!(IpRange::new(net("10.0.0.0/31")).size(), 0);
        assert_eq!(IpRange::new(net("10.0.0.0/32")).size(), 0);
        assert_eq!(IpRange::new(net("10.0.0.0/30")).size(), 2);
    }

    #[test]
    fn reserved_bands_as_upstream() {
        assert_eq!(IpRange::new(net("10.96.0.0/12")).reserved(), 256);
        assert_eq!(IpRange::new(net("10.0.0.0/24")).reserved(), 16);
        assert_eq!(IpRange::new(net("10.0.0.0/20")).reserved(), 256);
        assert_eq!(IpRange::new(net("10.0.0.0/21")).reserved(), 128);
        assert_eq!(IpRange::new(net("10.0.0.0/28")).reserved(), 0);
        let p = |s: &str| PortRange::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p("30000-32767").reserved(), 86);
        assert_eq!(p("30000-30009").reserved(), 0);
        assert_eq!(p("1-65535").reserved(), 128);
    }

    #[test]
    fn ip_errors_are_upstreams() {
        let mut a = IpAllocator::new(IpRange::new(net("10.96.0.0/12")));
        assert_eq!(a.allocate(ip("10.96.0.1")), Ok(()));
        assert!(a.has(ip("10.96.0.1")));
        assert_eq!(
            a.allocate(ip("10.96.0.1")).map_err(|e| e.to_string()),
            Err("provided IP is already allocated".into())
        );
        assert_eq!(
            a.allocate(ip("10.0.0.1")).map_err(|e| e.to_string()),
            Err("the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12".into())
        );
        assert!(a.allocate(ip("10.96.0.0")).is_err());
        a.release(ip("10.96.0.1"));
        a.release(ip("10.96.0.1"));
        a.release(ip("192.168.0.1"));
        assert_eq!(a.used(), 0);
        assert_eq!(a.allocate(ip("10.96.0.1")), Ok(()));
    }

    #[test]
    fn allocate_next_prefers_the_upper_band_until_full() {
        let mut a = IpAllocator::new(IpRange::new(net("10.0.0.0/27")));
        assert_eq!((a.range.size(), a.range.reserved()), (30, 16));
        let mut got = Vec::new();
        for i in 0..30u64 {
            let x = a
                .allocate_next(i.wrapping_mul(7919))
                .unwrap_or_else(|e| panic!("{e}"));
            got.push(a.range.offset(x).unwrap_or(usize::MAX));
        }
        // The 14 upper offsets come first, then the reserved 16.
        assert!(got[..14].iter().all(|o| *o >= 16), "{got:?}");
        assert!(got[14..].iter().all(|o| *o < 16), "{got:?}");
        assert_eq!(
            a.allocate_next(5).map_err(|e| e.to_string()),
            Err("range is full".into())
        );
        assert_eq!(a.free(), 0);
    }

    #[test]
    fn tiny_ranges_use_the_plain_random_scan() {
        let mut a = IpAllocator::new(IpRange::new(net("10.0.0.0/30")));
        assert_eq!(a.allocate_next(1), Ok(ip("10.0.0.2")));
        assert_eq!(a.allocate_next(1), Ok(ip("10.0.0.1")));
        assert_eq!(a.allocate_next(1), Err(AllocError::Full));
        let mut none = IpAllocator::new(IpRange::new(net("10.0.0.0/32")));
        assert_eq!(none.allocate_next(0), Err(AllocError::Full));
    }

    #[test]
    fn bitmap_scan_wraps_from_the_random_start() {
        let mut b = Bitmap::new(10);
        assert!(b.allocate(8));
        assert!(!b.allocate(8));
        assert!(!b.allocate(10));
        assert_eq!(b.allocate_next(8), Some(9));
        assert_eq!(b.allocate_next(18), Some(0));
        assert_eq!(b.count(), 3);
        assert!(b.release(9));
        assert!(!b.release(9));
        assert_eq!(b.offsets().collect::<Vec<_>>(), vec![0, 8]);
        assert_eq!(b.free(), 8);
    }

    #[test]
    fn port_ranges_parse_like_the_flag() {
        assert_eq!(
            PortRange::parse("30000-32767"),
            Ok(PortRange {
                base: 30000,
                size: 2768
            })
        );
        assert_eq!(
            PortRange::parse(" 30000+2767 "),
            Ok(PortRange {
                base: 30000,
                size: 2768
            })
        );
        assert_eq!(
            PortRange::parse("8080"),
            Ok(PortRange {
                base: 8080,
                size: 1
            })
        );
        let e = |s: &str| PortRange::parse(s).map_err(|e| e.to_string()).unwrap_err();
        assert_eq!(
            e("32767-30000"),
            "end port cannot be less than start port: 32767-30000"
        );
        assert_eq!(
            e("30000-70000"),
            "the port range cannot be greater than 65535: 30000-70000"
        );
        assert_eq!(e("1+2-3"), "unable to parse port range: 1+2-3");
        assert_eq!(e("a-b"), "strconv.Atoi: parsing \"a\": invalid syntax");
        assert_eq!(e(""), "unable to parse port range: ");
        assert_eq!(
            PortRange::parse("30000-32767").map(|p| p.to_string()),
            Ok("30000-32767".into())
        );
    }

    #[test]
    fn port_errors_are_upstreams() {
        let range = PortRange::parse("30000-32767").unwrap_or_else(|e| panic!("{e}"));
        let mut a = PortAllocator::new(range);
        assert_eq!(a.allocate(30000), Ok(()));
        assert_eq!(a.allocate(32767), Ok(()));
        assert_eq!(
            a.allocate(30000).map_err(|e| e.to_string()),
            Err("provided port is already allocated".into())
        );
        assert_eq!(
            a.allocate(32768).map_err(|e| e.to_string()),
            Err(
                "provided port is not in the valid range. The range of valid ports is 30000-32767"
                    .into()
            )
        );
        assert!(a.allocate(80).is_err());
        let p = a.allocate_next(12345).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            (30086..=32767).contains(&p),
            "random ports come from the upper band: {p}"
        );
        assert_eq!(a.items().len(), 3);
    }

    #[test]
    fn range_allocation_json_is_upstreams() {
        let mut a = IpAllocator::new(IpRange::new(net("10.96.0.0/12")));
        let empty = a.to_range_allocation();
        assert_eq!(empty["data"], "");
        assert_eq!(
            String::from_utf8(a.to_range_allocation_bytes()).unwrap_or_default(),
            r#"{"kind":"RangeAllocation","apiVersion":"v1","metadata":{"creationTimestamp":null},"range":"10.96.0.0/12","data":""}"#
        );
        // 10.96.0.1 (offset 0) and 10.96.0.10 (offset 9): the integer 0b10_0000_0001.
        assert_eq!(a.allocate(ip("10.96.0.1")), Ok(()));
        assert_eq!(a.allocate(ip("10.96.0.10")), Ok(()));
        assert_eq!(a.bitmap.to_bytes(), vec![0x02, 0x01]);
        let v = a.to_range_allocation();
        assert_eq!(v["data"], "AgE=");
        assert_eq!(v["range"], "10.96.0.0/12");
        assert_eq!(v["kind"], "RangeAllocation");
        let back = IpAllocator::from_range_allocation(a.range, &v);
        assert_eq!(
            back.as_ref().map(|b| b.items()),
            Ok(vec![ip("10.96.0.1"), ip("10.96.0.10")])
        );
        assert_eq!(back, Ok(a.clone()));
        let other = IpAllocator::from_range_allocation(IpRange::new(net("10.0.0.0/24")), &v);
        assert_eq!(
            other.map_err(|e| e.to_string()),
            Err("the provided network does not match the current range".into())
        );
        let ports = PortAllocator::new(PortRange {
            base: 30000,
            size: 2768,
        });
        let pv = ports.to_range_allocation();
        assert_eq!(pv["range"], "30000-32767");
        let wrong = PortAllocator::from_range_allocation(
            PortRange {
                base: 30000,
                size: 10,
            },
            &pv,
        );
        assert_eq!(
            wrong.map_err(|e| e.to_string()),
            Err("the provided port range does not match the current port range".into())
        );
        let junk = serde_json::json!({"range": "30000-32767", "data": "!!"});
        assert!(PortAllocator::from_range_allocation(ports.range, &junk).is_err());
        let null = serde_json::json!({"range": "30000-32767", "data": null});
        assert_eq!(
            PortAllocator::from_range_allocation(ports.range, &null).map(|a| a.used()),
            Ok(0)
        );
    }

    #[test]
    fn from_bytes_drops_bits_beyond_the_range() {
        let b = Bitmap::from_bytes(10, &[0xff, 0xff, 0xff]);
        assert_eq!(b.count(), 10);
        assert_eq!(b.to_bytes(), vec![0x03, 0xff]);
    }

    proptest! {
        #[test]
        fn random_allocate_release_never_double_allocates(
            ops in proptest::collection::vec((0u8..3, any::<u64>()), 0..200)
        ) {
            let mut a = IpAllocator::new(IpRange::new(net("10.0.0.0/26")));
            let mut model = std::collections::BTreeSet::new();
            for (op, r) in ops {
                match op {
                    0 => match a.allocate_next(r) {
                        Ok(x) => {
                            prop_assert!(model.insert(x), "{} handed out twice", x);
                            prop_assert!(a.range.offset(x).is_some());
                        }
                        Err(e) => {
                            prop_assert_eq!(e, AllocError::Full);
                            prop_assert_eq!(model.len(), a.range.size());
                        }
                    },
                    1 => {
                        let x = a.range.item(r as usize % a.range.size()).unwrap_or(Ipv4Addr::UNSPECIFIED);
                        let res = a.allocate(x);
                        prop_assert_eq!(res.is_ok(), model.insert(x));
                    }
                    _ => {
                        if let Some(x) = model.iter().nth(r as usize % model.len().max(1)).copied() {
                            a.release(x);
                            model.remove(&x);
                        }
                    }
                }
                prop_assert_eq!(a.used(), model.len());
            }
            let stored = a.to_range_allocation();
            let back = IpAllocator::from_range_allocation(a.range, &stored);
            prop_assert_eq!(back.as_ref().map(|b| b.items()), Ok(model.iter().copied().collect::<Vec<_>>()));
            let bytes = a.to_range_allocation_bytes();
            let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            prop_assert_eq!(parsed, stored);
        }

        #[test]
        fn bitmap_bytes_round_trip(size in 0usize..300, offs in proptest::collection::vec(any::<usize>(), 0..50)) {
            let mut b = Bitmap::new(size);
            for o in offs {
                if size > 0 {
                    b.allocate(o % size);
                }
            }
            let bytes = b.to_bytes();
            prop_assert!(bytes.first() != Some(&0), "no leading zero byte");
            prop_assert_eq!(Bitmap::from_bytes(size, &bytes), b);
        }

        #[test]
        fn port_parse_never_panics(s in "\\PC{0,12}|[0-9+ -]{0,12}") {
            if let Ok(p) = PortRange::parse(&s) {
                prop_assert_eq!(PortRange::parse(&p.to_string()), Ok(p));
            }
        }
    }
}
