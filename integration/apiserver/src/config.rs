//! `kube-lite apiserver` flags, named as kube-apiserver's, and their
//! validation into a [`Config`]: a bad flag stops startup with one line that
//! names it and what was expected.

use ipnet::Ipv4Net;
use kube_lite_api::alloc::PortRange;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The flags (kube-apiserver's names and defaults where they exist).
#[derive(clap::Args, Debug, Clone)]
pub struct ApiServerArgs {
    /// etcd client URLs, comma-separated (`http://198.18.0.254:2379`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub etcd_servers: Vec<String>,
    /// Key prefix of every object in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// Interval of the compaction of etcd's history (0 disables it).
    #[arg(long, default_value = "5m")]
    pub etcd_compaction_interval: String,
    /// Address to listen on for HTTPS.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: String,
    /// HTTPS port.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Address advertised to members of the cluster (the `kubernetes`
    /// Service's endpoints); defaults to --bind-address when that is not
    /// the unspecified address.
    #[arg(long)]
    pub advertise_address: Option<String>,
    /// Serving certificate (PEM).
    #[arg(long, required = true)]
    pub tls_cert_file: PathBuf,
    /// Serving key (PEM).
    #[arg(long, required = true)]
    pub tls_private_key_file: PathBuf,
    /// CA whose client certificates authenticate users (CN user, O groups).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Static bearer tokens: CSV `token,user,uid[,"group1,group2"]`.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Public (or private) keys verifying service-account tokens (repeatable).
    #[arg(long)]
    pub service_account_key_file: Vec<PathBuf>,
    /// Private key signing service-account tokens.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// Issuer of service-account tokens (repeatable; the first one signs).
    #[arg(long)]
    pub service_account_issuer: Vec<String>,
    /// ClusterIP range of Services.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    /// NodePort range of Services.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Largest accepted request body.
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    pub max_request_body_bytes: usize,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub etcd_servers: Vec<String>,
    pub etcd_prefix: String,
    pub compaction_interval: Option<Duration>,
    pub listen: SocketAddr,
    pub advertise_address: IpAddr,
    pub tls_cert_file: PathBuf,
    pub tls_private_key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub token_auth_file: Option<PathBuf>,
    pub service_account_key_files: Vec<PathBuf>,
    pub service_account_signing_key_file: Option<PathBuf>,
    pub service_account_issuers: Vec<String>,
    pub service_cluster_ip_range: Ipv4Net,
    pub service_node_port_range: PortRange,
    pub max_request_body_bytes: usize,
}

/// A flag that failed validation: `invalid value "x" for --flag: expected ...`.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for --{flag}: {expected}")]
pub struct FlagError {
    pub flag: &'static str,
    pub value: String,
    pub expected: String,
}

fn bad(flag: &'static str, value: &str, expected: impl Into<String>) -> FlagError {
    FlagError {
        flag,
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// Parses `5m`, `300s`, `1h`, `0` (Go durations as kube-apiserver takes them).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    humantime::parse_duration(s).ok()
}

impl ApiServerArgs {
    pub fn validate(&self) -> Result<Config, FlagError> {
        for url in &self.etcd_servers {
            let host = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .map(|r| r.trim_end_matches('/'))
                .unwrap_or("");
            if host.is_empty() || host.contains('/') {
                return Err(bad(
                    "etcd-servers",
                    url,
                    "http(s)://host:port URLs, comma-separated",
                ));
            }
        }
        if !self.etcd_prefix.starts_with('/') {
            return Err(bad(
                "etcd-prefix",
                &self.etcd_prefix,
                "a key prefix starting with /",
            ));
        }
        let compaction = parse_duration(&self.etcd_compaction_interval).ok_or_else(|| {
            bad(
                "etcd-compaction-interval",
                &self.etcd_compaction_interval,
                "a duration such as 5m, 300s or 0",
            )
        })?;
        let bind: IpAddr = self
            .bind_address
            .parse()
            .map_err(|_| bad("bind-address", &self.bind_address, "an IP address"))?;
        if self.secure_port == 0 {
            return Err(bad("secure-port", "0", "a port from 1 to 65535"));
        }
        let advertise = match &self.advertise_address {
            Some(a) => a
                .parse()
                .map_err(|_| bad("advertise-address", a, "an IP address"))?,
            None if !bind.is_unspecified() => bind,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        for (flag, p) in [
            ("tls-cert-file", Some(&self.tls_cert_file)),
            ("tls-private-key-file", Some(&self.tls_private_key_file)),
            ("client-ca-file", self.client_ca_file.as_ref()),
            ("token-auth-file", self.token_auth_file.as_ref()),
            (
                "service-account-signing-key-file",
                self.service_account_signing_key_file.as_ref(),
            ),
        ] {
            if let Some(p) = p {
                if !p.is_file() {
                    return Err(bad(flag, &p.display().to_string(), "a readable file"));
                }
            }
        }
        for p in &self.service_account_key_file {
            if !p.is_file() {
                return Err(bad(
                    "service-account-key-file",
                    &p.display().to_string(),
                    "a readable file",
                ));
            }
        }
        if self.service_account_signing_key_file.is_some() && self.service_account_issuer.is_empty()
        {
            return Err(bad(
                "service-account-issuer",
                "",
                "an issuer URL (required with --service-account-signing-key-file)",
            ));
        }
        let range: Ipv4Net = self.service_cluster_ip_range.parse().map_err(|_| {
            bad(
                "service-cluster-ip-range",
                &self.service_cluster_ip_range,
                "an IPv4 CIDR such as 10.96.0.0/12",
            )
        })?;
        if range.prefix_len() > 30 || range.prefix_len() < 8 {
            return Err(bad(
                "service-cluster-ip-range",
                &self.service_cluster_ip_range,
                "a CIDR from /8 to /30",
            ));
        }
        let ports = PortRange::parse(&self.service_node_port_range).map_err(|e| {
            bad(
                "service-node-port-range",
                &self.service_node_port_range,
                format!("a range such as 30000-32767 ({e})"),
            )
        })?;
        if self.max_request_body_bytes < 1024 {
            return Err(bad(
                "max-request-body-bytes",
                &self.max_request_body_bytes.to_string(),
                "at least 1024",
            ));
        }
        Ok(Config {
            etcd_servers: self.etcd_servers.clone(),
            etcd_prefix: self.etcd_prefix.trim_end_matches('/').to_string(),
            compaction_interval: (!compaction.is_zero()).then_some(compaction),
            listen: SocketAddr::new(bind, self.secure_port),
            advertise_address: advertise,
            tls_cert_file: self.tls_cert_file.clone(),
            tls_private_key_file: self.tls_private_key_file.clone(),
            client_ca_file: self.client_ca_file.clone(),
            token_auth_file: self.token_auth_file.clone(),
            service_account_key_files: self.service_account_key_file.clone(),
            service_account_signing_key_file: self.service_account_signing_key_file.clone(),
            service_account_issuers: self.service_account_issuer.clone(),
            service_cluster_ip_range: range.trunc(),
            service_node_port_range: ports,
            max_request_body_bytes: self.max_request_body_bytes,
        })
    }
}
