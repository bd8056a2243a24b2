//! Chain names of kube-proxy's iptables mode, hashed exactly as kube-proxy
//! does: sha256 of the service port name and lower-case protocol (plus
//! `<ip>:<port>` for endpoint chains), base32 with the standard alphabet, and
//! the first 16 characters. Also the fixed chain names and the predicate
//! telling which chains kube-proxy-lite owns.

use sha2::{Digest, Sha256};

/// Dispatch chain of service VIPs (nat) and of REJECTs for services without
/// endpoints (filter).
pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
/// Dispatch chain of node ports (nat).
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
/// REJECTs of node ports of services without endpoints (filter).
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
/// Masquerade of marked packets (nat), jumped to from POSTROUTING.
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
/// Sets the masquerade mark (nat).
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// Accepts marked and established traffic (filter), jumped to from FORWARD.
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
/// Empty chain in nat and filter whose disappearance means someone flushed
/// our rules: the next periodic check then forces a full sync.
pub const KUBE_PROXY_CANARY: &str = "KUBE-PROXY-CANARY";

/// The fixed chains kube-proxy-lite owns (in nat, filter or both).
pub const FIXED_CHAINS: [&str; 7] = [
    KUBE_SERVICES,
    KUBE_NODEPORTS,
    KUBE_EXTERNAL_SERVICES,
    KUBE_POSTROUTING,
    KUBE_MARK_MASQ,
    KUBE_FORWARD,
    KUBE_PROXY_CANARY,
];

/// Prefixes of per-service chains kube-proxy creates; chains with these
/// prefixes are ours, including ones left behind by a real kube-proxy
/// (`KUBE-SVL-`, `KUBE-FW-`), which a full sync therefore removes.
pub const SERVICE_CHAIN_PREFIXES: [&str; 5] = [
    "KUBE-SVC-",
    "KUBE-SEP-",
    "KUBE-EXT-",
    "KUBE-SVL-",
    "KUBE-FW-",
];

/// Whether a chain belongs to kube-proxy-lite. Other `KUBE-*` chains (e.g.
/// kubelet's `KUBE-FIREWALL`, `KUBE-KUBELET-CANARY`) and every non-`KUBE-`
/// chain (flanneld's `FLANNEL-POSTRTG`, Docker's, ...) are left alone.
pub fn is_owned_chain(name: &str) -> bool {
    name.starts_with("KUBE-")
        && (FIXED_CHAINS.contains(&name)
            || SERVICE_CHAIN_PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// `KUBE-SVC-<hash>` for a service port (`ns/name:port`) and protocol.
pub fn service_chain(service_port: &str, protocol: &str) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(service_port, protocol))
}

/// `KUBE-EXT-<hash>`: same hash as the service chain.
pub fn external_chain(service_port: &str, protocol: &str) -> String {
    format!("KUBE-EXT-{}", port_proto_hash(service_port, protocol))
}

/// `KUBE-SEP-<hash>` for an endpoint (`ip:port`) of a service port.
pub fn endpoint_chain(service_port: &str, protocol: &str, endpoint: &str) -> String {
    let mut input = String::with_capacity(service_port.len() + protocol.len() + endpoint.len());
    input.push_str(service_port);
    input.push_str(protocol);
    input.push_str(endpoint);
    format!("KUBE-SEP-{}", hash16(&input))
}

/// kube-proxy's `portProtoHash`: the first 16 base32 characters of
/// sha256(`service_port` + `protocol`).
pub fn port_proto_hash(service_port: &str, protocol: &str) -> String {
    hash16(&format!("{service_port}{protocol}"))
}

fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    let mut encoded = base32(&digest);
    encoded.truncate(16);
    encoded
}

/// RFC 4648 base32 with the standard alphabet and `=` padding.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        // Characters carrying at least one input bit; the rest are padding.
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let idx = ((bits >> (35 - 5 * i)) & 0x1f) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(base32(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn spec_hash_vectors() {
        assert_eq!(
            service_chain("ns1/svc1:p80", "tcp"),
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            service_chain("ns2/svc2:p80", "tcp"),
            "KUBE-SVC-GNZBNJ2PO5MGZ6GT"
        );
        assert_eq!(
            external_chain("ns2/svc2:p80", "tcp"),
            "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
        );
        assert_eq!(
            endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            endpoint_chain("ns4/svc4:p80", "tcp", "10.180.0.4:80"),
            "KUBE-SEP-UKSFD7AGPMPPLUHC"
        );
    }

    #[test]
    fn owned_chains() {
        for owned in [
            "KUBE-SERVICES",
            "KUBE-PROXY-CANARY",
            "KUBE-SVC-XPGD46QRK7WJZT7O",
            "KUBE-SEP-SXIVWICOYRO3J4NJ",
            "KUBE-EXT-GNZBNJ2PO5MGZ6GT",
            "KUBE-FW-ABC",
        ] {
            assert!(is_owned_chain(owned), "{owned}");
        }
        for foreign in [
            "FLANNEL-POSTRTG",
            "KUBE-FIREWALL",
            "KUBE-KUBELET-CANARY",
            "KUBE-MARK-DROP",
            "POSTROUTING",
            "DOCKER",
        ] {
            assert!(!is_owned_chain(foreign), "{foreign}");
        }
    }
}
