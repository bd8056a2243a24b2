//! What flanneld and the flannel CNI plugin both read or write, defined once: the subnet file
//! (`subnet.env`, written by flanneld, read by the plugin), the decoding of rtnetlink address
//! and route messages into plain structs, and the text form of MAC addresses. Pure: no I/O
//! beyond reading the subnet file, no sockets.

pub mod decode;
pub mod mac;
pub mod subnet_env;

pub use decode::Route;
pub use mac::{format_mac, parse_mac, Mac};
pub use subnet_env::{SubnetEnv, SubnetEnvError};
