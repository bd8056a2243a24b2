//! The node annotations of upstream's kube subnet manager and `--kube-annotation-prefix`'s rules
//! (upstream pkg/subnet/kube/annotations.go): a prefix without `/` gets `/` appended, one with a
//! path part gets `-` (`org.com/9` -> `org.com/9-backend-type`); the result must read
//! `fqdn/[a-z0-9_-]*`. Pure.

use thiserror::Error;

/// Upstream's default `--kube-annotation-prefix`.
pub const DEFAULT_PREFIX: &str = "flannel.alpha.coreos.com";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PrefixError {
    #[error("--kube-annotation-prefix {0:?}: may contain at most one slash")]
    Slashes(String),
    #[error("--kube-annotation-prefix {0:?}: expected the format fqdn/[0-9a-z-_]* (e.g. flannel.alpha.coreos.com)")]
    Format(String),
}

/// The annotation keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotations {
    pub subnet_kube_managed: String,
    pub backend_data: String,
    pub backend_v6_data: String,
    pub backend_type: String,
    pub public_ip: String,
    pub public_ipv6: String,
    /// User input: used as this node's `--public-ip`.
    pub node_public_ip: String,
    pub node_public_ipv6: String,
    /// User input: advertised in `public-ip` instead of the detected address.
    pub public_ip_overwrite: String,
    pub public_ipv6_overwrite: String,
}

/// `fqdn/` or `fqdn/word-`: labels of `[a-z0-9_-]`, at least two, dot-separated.
fn well_formed(prefix: &str) -> bool {
    let Some((domain, rest)) = prefix.split_once('/') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2 && labels.iter().all(|l| word(l));
    let rest_ok = rest.is_empty() || rest.strip_suffix('-').is_some_and(word);
    domain_ok && rest_ok
}

impl Annotations {
    pub fn new(prefix: &str) -> Result<Annotations, PrefixError> {
        let mut p = prefix.to_string();
        match p.matches('/').count() {
            0 => p.push('/'),
            1 => {}
            _ => return Err(PrefixError::Slashes(prefix.to_string())),
        }
        if !p.ends_with('/') && !p.ends_with('-') {
            p.push('-');
        }
        if !well_formed(&p) {
            return Err(PrefixError::Format(prefix.to_string()));
        }
        let k = |s: &str| format!("{p}{s}");
        Ok(Annotations {
            subnet_kube_managed: k("kube-subnet-manager"),
            backend_data: k("backend-data"),
            backend_v6_data: k("backend-v6-data"),
            backend_type: k("backend-type"),
            public_ip: k("public-ip"),
            public_ipv6: k("public-ipv6"),
            node_public_ip: k("node-public-ip"),
            node_public_ipv6: k("node-public-ipv6"),
            public_ip_overwrite: k("public-ip-overwrite"),
            public_ipv6_overwrite: k("public-ipv6-overwrite"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cases of upstream's annotations_test.go.
    #[test]
    fn prefixes_as_upstream_accepts_and_names_them() {
        let ok = [
            (
                "flannel.alpha.coreos.com",
                "flannel.alpha.coreos.com/backend-type",
            ),
            (
                "flannel.alpha.coreos.com/",
                "flannel.alpha.coreos.com/backend-type",
            ),
            ("org.com/9", "org.com/9-backend-type"),
            ("org.com/9-", "org.com/9-backend-type"),
            ("org.com/my_prefix", "org.com/my_prefix-backend-type"),
            ("sub.org.com", "sub.org.com/backend-type"),
        ];
        for (prefix, key) in ok {
            let a = Annotations::new(prefix).unwrap_or_else(|e| panic!("{prefix}: {e}"));
            assert_eq!(a.backend_type, key, "{prefix}");
        }
        let a = Annotations::new(DEFAULT_PREFIX).expect("the default prefix");
        assert_eq!(
            a.subnet_kube_managed,
            "flannel.alpha.coreos.com/kube-subnet-manager"
        );
        assert_eq!(
            a.public_ip_overwrite,
            "flannel.alpha.coreos.com/public-ip-overwrite"
        );
        assert_eq!(a.node_public_ip, "flannel.alpha.coreos.com/node-public-ip");
        assert_eq!(
            a.backend_v6_data,
            "flannel.alpha.coreos.com/backend-v6-data"
        );
    }

    #[test]
    fn bad_prefixes_are_refused_naming_the_flag() {
        for bad in [
            "org.com/a/b",
            "Org.com",
            "org",
            "org.com/A",
            "/x",
            "org..com",
            "org.com/x y",
        ] {
            let e = Annotations::new(bad).expect_err(bad);
            assert!(
                e.to_string().contains("--kube-annotation-prefix"),
                "{bad}: {e}"
            );
        }
    }
}
