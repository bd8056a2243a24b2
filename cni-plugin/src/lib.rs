//! The `flannel` CNI plugin: pure core (config, versions, results, delegate config, host-local
//! compatible IPAM) with thin edges (`kernel` = netlink in host and pod namespaces, iptables for
//! ipMasq, executing delegate plugins).

pub mod kernel;
