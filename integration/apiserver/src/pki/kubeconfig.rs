//! Kubeconfig files (`apiVersion: v1`, `kind: Config`) with embedded
//! credentials (`certificate-authority-data`, `client-certificate-data` +
//! `client-key-data`, or `token`), written 0600 as serde_yaml.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;

use super::{write_file, PkiError};

/// How a kubeconfig user authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    ClientCert { cert_pem: String, key_pem: String },
}

/// One user and its context (`<context>` -> cluster + user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigUser {
    /// Both the user name and the context name.
    pub name: String,
    pub credential: Credential,
    /// The context's default namespace, if any.
    pub namespace: Option<String>,
}

/// A kubeconfig with one cluster; the first user's context is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    pub cluster_name: String,
    /// `https://host:port`.
    pub server: String,
    pub ca_pem: String,
    pub users: Vec<KubeconfigUser>,
}

#[derive(Serialize)]
struct Config<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: Vec<Named<'a, Cluster<'a>>>,
    users: Vec<Named<'a, User>>,
    contexts: Vec<Named<'a, Context<'a>>>,
    #[serde(rename = "current-context")]
    current_context: &'a str,
    preferences: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Named<'a, T> {
    name: &'a str,
    #[serde(flatten)]
    inner: T,
}

#[derive(Serialize)]
struct Cluster<'a> {
    cluster: ClusterBody<'a>,
}

#[derive(Serialize)]
struct ClusterBody<'a> {
    #[serde(rename = "certificate-authority-data")]
    ca_data: String,
    server: &'a str,
}

#[derive(Serialize)]
struct User {
    user: UserBody,
}

#[derive(Serialize)]
struct UserBody {
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none"
    )]
    cert: Option<String>,
    #[serde(rename = "client-key-data", skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

#[derive(Serialize)]
struct Context<'a> {
    context: ContextBody<'a>,
}

#[derive(Serialize)]
struct ContextBody<'a> {
    cluster: &'a str,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

/// The kubeconfig YAML text.
pub fn render(spec: &KubeconfigSpec) -> Result<String, PkiError> {
    let current = spec
        .users
        .first()
        .map(|u| u.name.as_str())
        .ok_or_else(|| PkiError::Invalid("a kubeconfig needs at least one user".into()))?;
    let config = Config {
        api_version: "v1",
        kind: "Config",
        clusters: vec![Named {
            name: &spec.cluster_name,
            inner: Cluster {
                cluster: ClusterBody {
                    ca_data: STANDARD.encode(&spec.ca_pem),
                    server: &spec.server,
                },
            },
        }],
        users: spec
            .users
            .iter()
            .map(|u| Named {
                name: &u.name,
                inner: User {
                    user: match &u.credential {
                        Credential::Token(t) => UserBody {
                            cert: None,
                            key: None,
                            token: Some(t.clone()),
                        },
                        Credential::ClientCert { cert_pem, key_pem } => UserBody {
                            cert: Some(STANDARD.encode(cert_pem)),
                            key: Some(STANDARD.encode(key_pem)),
                            token: None,
                        },
                    },
                },
            })
            .collect(),
        contexts: spec
            .users
            .iter()
            .map(|u| Named {
                name: &u.name,
                inner: Context {
                    context: ContextBody {
                        cluster: &spec.cluster_name,
                        user: &u.name,
                        namespace: u.namespace.as_deref(),
                    },
                },
            })
            .collect(),
        current_context: current,
        preferences: Default::default(),
    };
    serde_yaml::to_string(&config).map_err(|e| PkiError::Invalid(format!("kubeconfig: {e}")))
}

/// Writes a kubeconfig (mode 0600: it holds credentials).
pub fn write_kubeconfig(path: &Path, spec: &KubeconfigSpec) -> Result<(), PkiError> {
    write_file(path, render(spec)?.as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_credential_kinds() {
        let spec = KubeconfigSpec {
            cluster_name: "kube-lite".into(),
            server: "https://127.0.0.1:6443".into(),
            ca_pem: "CA".into(),
            users: vec![
                KubeconfigUser {
                    name: "admin".into(),
                    credential: Credential::ClientCert {
                        cert_pem: "C".into(),
                        key_pem: "K".into(),
                    },
                    namespace: None,
                },
                KubeconfigUser {
                    name: "admin-token".into(),
                    credential: Credential::Token("t0k".into()),
                    namespace: Some("default".into()),
                },
            ],
        };
        let yaml = render(&spec).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["current-context"], "admin");
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(v["users"][0]["user"]["client-key-data"], "Sw==");
        assert_eq!(v["users"][1]["user"]["token"], "t0k");
        assert_eq!(v["contexts"][1]["context"]["namespace"], "default");
        assert!(render(&KubeconfigSpec {
            users: vec![],
            ..spec
        })
        .is_err());
    }
}
