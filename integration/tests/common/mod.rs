//! Helpers shared by the flanneld lab tests (`flanneld.rs`, `flanneld_claims.rs`, `udp.rs`):
//! an instance with extra flags, the etcd key of a lease, and a wait that fails the test.
#![allow(dead_code)]

use std::time::Duration;

use flannel_integration::cluster::Instance;
use flannel_integration::Lab;

/// The default instance ("a") with extra flags.
pub fn inst(args: &[&str]) -> Instance {
    Instance {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The etcd key of the lease of `subnet` under the default prefix.
pub fn key(subnet: &str) -> String {
    format!("/coreos.com/network/subnets/{}", subnet.replace('/', "-"))
}

/// Waits up to `secs` for `f`; fails the test naming `what` when it never holds.
pub fn wait(what: &str, secs: u64, f: impl FnMut() -> bool) {
    if let Err(e) = Lab::wait_until(Duration::from_secs(secs), what, f) {
        panic!("{e:#}");
    }
}
