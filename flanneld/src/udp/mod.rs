//! The udp backend (upstream's `flannel0` TUN backend, wire-compatible): a pure core (`packet`:
//! IPv4 checks, TTL, ICMP; `table`: the peer route table, the per-packet decisions and the
//! counters) and thin edges (`sock`: the batched UDP socket; `datapath`: the TUN device and the
//! threads that move packets between the two).

pub mod datapath;
pub mod packet;
pub mod sock;
pub mod table;

pub use table::{Routes, Traffic};

/// Name of the TUN device, as upstream.
pub const DEVICE: &str = "flannel0";
/// Bytes the encapsulation adds (outer IPv4 + UDP headers): the device MTU is the external
/// MTU minus this.
pub const OVERHEAD: u32 = 28;
