//! Certificates and kubeconfigs for a kube-lite cluster (`kube-lite certs`):
//! a cluster CA, the API server's serving certificate for the given
//! addresses, an admin client certificate, the service-account key pair, a
//! token file, and kubeconfig files that the stock kubectl, kube-rs and
//! other clients load unchanged.
//!
//! All keys are ECDSA P-256 (PKCS#8 PEM). An existing CA is kept (a restart
//! keeps the cluster's identity) unless [`PkiOptions::regenerate`] is set;
//! only missing or no-longer-fitting files are written again: a serving
//! certificate that lacks a requested address, a certificate not signed by
//! the current CA or expiring within 30 days. `admin.kubeconfig` is always
//! rewritten from the current files.

mod kubeconfig;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

pub use kubeconfig::{render, write_kubeconfig, Credential, KubeconfigSpec, KubeconfigUser};

use crate::auth::der;

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const APISERVER_CERT: &str = "apiserver.crt";
pub const APISERVER_KEY: &str = "apiserver.key";
pub const ADMIN_CERT: &str = "admin.crt";
pub const ADMIN_KEY: &str = "admin.key";
pub const SA_KEY: &str = "sa.key";
pub const SA_PUB: &str = "sa.pub";
pub const TOKENS: &str = "tokens.csv";
pub const ADMIN_KUBECONFIG: &str = "admin.kubeconfig";
/// The admin client certificate's user and group.
pub const ADMIN_USER: &str = "kubernetes-admin";
pub const ADMIN_GROUP: &str = "system:masters";

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 365;
const RENEW_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("generating {what}: {source}")]
    Rcgen {
        what: &'static str,
        source: rcgen::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn rc(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { what, source }
}

/// What `kube-lite certs` generates.
#[derive(Debug, Clone, Default)]
pub struct PkiOptions {
    /// Extra IP SANs of the serving certificate (127.0.0.1 and 10.96.0.1
    /// are always included).
    pub apiserver_ips: Vec<IpAddr>,
    /// Extra DNS SANs (the `kubernetes.default...` names and `localhost`
    /// are always included).
    pub apiserver_dns: Vec<String>,
    /// The `server:` of `admin.kubeconfig`, e.g. `https://127.0.0.1:6443`.
    pub server_url: String,
    pub cluster_name: String,
    /// Write everything anew, including the CA, keys and the token.
    pub regenerate: bool,
}

/// The files [`generate`] wrote and the ones it kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkiReport {
    pub written: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

/// Writes a file atomically (temp file + rename); `private` = mode 0600,
/// otherwise 0644.
pub fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), PkiError> {
    let mode = if private { 0o600 } else { 0o644 };
    let tmp = path.with_extension("tmp~");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(io(path))
}

/// The serving certificate's SANs for `opts`.
pub fn apiserver_sans(opts: &PkiOptions) -> Vec<SanType> {
    let mut ips: Vec<IpAddr> = opts.apiserver_ips.clone();
    ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    ips.push(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1)));
    let mut dns: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    dns.extend(opts.apiserver_dns.iter().cloned());
    let mut seen = BTreeSet::new();
    let mut sans = Vec::new();
    for ip in ips {
        if seen.insert(ip.to_string()) {
            sans.push(SanType::IpAddress(ip));
        }
    }
    for name in dns {
        if seen.insert(name.clone()) {
            if let Ok(n) = name.clone().try_into() {
                sans.push(SanType::DnsName(n));
            }
        }
    }
    sans
}

struct Ca {
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn new_ca(cluster_name: &str) -> Result<(Ca, String), PkiError> {
    let key = KeyPair::generate().map_err(rc("the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{cluster_name}-ca"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_DAYS);
    let cert = params.self_signed(&key).map_err(rc("the CA certificate"))?;
    let key_pem = key.serialize_pem();
    Ok((
        Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        },
        key_pem,
    ))
}

fn load_ca(cert_path: &Path, key_path: &Path) -> Result<Ca, PkiError> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let bad = |what: &str, p: &Path| PkiError::Invalid(format!("{}: {what}", p.display()));
    let key = KeyPair::from_pem(&key_pem).map_err(|e| {
        bad(
            &format!("not a PKCS#8 ECDSA/Ed25519 private key: {e}"),
            key_path,
        )
    })?;
    let cert_der = der::pem_blocks(&cert_pem)
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| bad("no certificate found", cert_path))?
        .der;
    let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key)
        .map_err(|e| bad(&format!("not a CA certificate: {e}"), cert_path))?;
    Ok(Ca {
        cert_pem,
        cert_der,
        issuer,
    })
}

/// Whether the certificate at `path` is still fine: signed by `ca`, not
/// expiring within 30 days, and (for `sans`) covering every name.
fn cert_fits(path: &Path, ca: &Ca, sans: &[SanType]) -> bool {
    let Ok(pem) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some(block) = der::pem_blocks(&pem).into_iter().next() else {
        return false;
    };
    let (Ok((_, cert)), Ok((_, ca_cert))) = (
        x509_parser::parse_x509_certificate(&block.der),
        x509_parser::parse_x509_certificate(&ca.cert_der),
    ) else {
        return false;
    };
    if cert.verify_signature(Some(ca_cert.public_key())).is_err() {
        return false;
    }
    let renew_by = time::OffsetDateTime::now_utc() + time::Duration::days(RENEW_DAYS);
    if cert.validity().not_after.timestamp() < renew_by.unix_timestamp() {
        return false;
    }
    if sans.is_empty() {
        return true;
    }
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return false;
    };
    let mut have = BTreeSet::new();
    for name in &ext.value.general_names {
        match name {
            x509_parser::extensions::GeneralName::DNSName(d) => {
                have.insert(d.to_string());
            }
            x509_parser::extensions::GeneralName::IPAddress(b) => {
                let ip = match b.len() {
                    4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    have.insert(ip.to_string());
                }
            }
            _ => {}
        }
    }
    sans.iter().all(|s| match s {
        SanType::IpAddress(ip) => have.contains(&ip.to_string()),
        SanType::DnsName(n) => have.contains(n.as_str()),
        _ => true,
    })
}

/// Issues a leaf certificate; returns (cert PEM, key PEM).
fn issue(
    ca: &Ca,
    cn: &str,
    orgs: &[&str],
    sans: Vec<SanType>,
    eku: ExtendedKeyUsagePurpose,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate().map_err(rc("a certificate key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    for o in orgs {
        params.distinguished_name.push(DnType::OrganizationName, *o);
    }
    params.subject_alt_names = sans;
    // ECDSA keys: no KeyEncipherment.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, LEAF_DAYS);
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(rc("a certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin token of an existing `tokens.csv` (the first record of user
/// `admin`).
fn admin_token(path: &Path) -> Result<Option<String>, PkiError> {
    let text = read(path)?;
    let tokens = crate::auth::tokenfile::parse(&path.display().to_string(), &text)
        .map_err(|e| PkiError::Invalid(e.to_string()))?;
    let mut admin: Vec<&String> = tokens
        .iter()
        .filter(|(_, u)| u.name == "admin")
        .map(|(t, _)| t)
        .collect();
    admin.sort();
    Ok(admin.first().map(|t| t.to_string()))
}

/// Generates (or completes) the PKI in `dir`; see the module docs.
pub fn generate(dir: &Path, opts: &PkiOptions) -> Result<PkiReport, PkiError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let p = |name: &str| dir.join(name);
    let mut report = PkiReport::default();
    fn put(r: &mut PkiReport, path: PathBuf, data: &str, private: bool) -> Result<(), PkiError> {
        write_file(&path, data.as_bytes(), private)?;
        r.written.push(path);
        Ok(())
    }

    let (ca_cert, ca_key) = (p(CA_CERT), p(CA_KEY));
    let ca = if !opts.regenerate && ca_cert.exists() && ca_key.exists() {
        report.kept.extend([ca_cert.clone(), ca_key.clone()]);
        load_ca(&ca_cert, &ca_key)?
    } else if !opts.regenerate && (ca_cert.exists() || ca_key.exists()) {
        let (have, missing) = if ca_cert.exists() {
            (&ca_cert, &ca_key)
        } else {
            (&ca_key, &ca_cert)
        };
        return Err(PkiError::Invalid(format!(
            "{} exists but {} is missing; restore it or regenerate the whole PKI \
             (this replaces the cluster's CA)",
            have.display(),
            missing.display()
        )));
    } else {
        let (ca, key_pem) = new_ca(&opts.cluster_name)?;
        put(&mut report, p(CA_KEY), &key_pem, true)?;
        put(&mut report, p(CA_CERT), &ca.cert_pem, false)?;
        ca
    };

    #[allow(clippy::type_complexity)]
    let leafs: [(
        &str,
        &str,
        &str,
        &[&str],
        Vec<SanType>,
        ExtendedKeyUsagePurpose,
    ); 2] = [
        (
            APISERVER_CERT,
            APISERVER_KEY,
            "kube-apiserver",
            &[],
            apiserver_sans(opts),
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        (
            ADMIN_CERT,
            ADMIN_KEY,
            ADMIN_USER,
            &[ADMIN_GROUP],
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
    ];
    for (cert, key, cn, orgs, sans, eku) in leafs {
        if !opts.regenerate && p(key).exists() && cert_fits(&p(cert), &ca, &sans) {
            report.kept.extend([p(cert), p(key)]);
            continue;
        }
        let (cert_pem, key_pem) = issue(&ca, cn, orgs, sans, eku)?;
        put(&mut report, p(key), &key_pem, true)?;
        put(&mut report, p(cert), &cert_pem, false)?;
    }

    let sa_key = if !opts.regenerate && p(SA_KEY).exists() {
        report.kept.push(p(SA_KEY));
        let pem = read(&p(SA_KEY))?;
        KeyPair::from_pem(&pem).map_err(|e| {
            PkiError::Invalid(format!(
                "{}: not a PKCS#8 private key: {e}",
                p(SA_KEY).display()
            ))
        })?
    } else {
        let key = KeyPair::generate().map_err(rc("the service-account key"))?;
        put(&mut report, p(SA_KEY), &key.serialize_pem(), true)?;
        // A new private key invalidates the old public key.
        put(&mut report, p(SA_PUB), &key.public_key_pem(), false)?;
        key
    };
    if !report.written.contains(&p(SA_PUB)) {
        if p(SA_PUB).exists() {
            report.kept.push(p(SA_PUB));
        } else {
            put(&mut report, p(SA_PUB), &sa_key.public_key_pem(), false)?;
        }
    }

    let token = match (!opts.regenerate && p(TOKENS).exists())
        .then(|| admin_token(&p(TOKENS)))
        .transpose()?
    {
        Some(token) => {
            report.kept.push(p(TOKENS));
            token
        }
        None => {
            let token = random_token();
            put(
                &mut report,
                p(TOKENS),
                &format!("{token},admin,admin,{ADMIN_GROUP}\n"),
                true,
            )?;
            Some(token)
        }
    };

    let mut users = vec![KubeconfigUser {
        name: "admin".into(),
        credential: Credential::ClientCert {
            cert_pem: read(&p(ADMIN_CERT))?,
            key_pem: read(&p(ADMIN_KEY))?,
        },
        namespace: None,
    }];
    if let Some(token) = token {
        users.push(KubeconfigUser {
            name: "admin-token".into(),
            credential: Credential::Token(token),
            namespace: None,
        });
    }
    let spec = KubeconfigSpec {
        cluster_name: opts.cluster_name.clone(),
        server: opts.server_url.clone(),
        ca_pem: ca.cert_pem.clone(),
        users,
    };
    put(&mut report, p(ADMIN_KUBECONFIG), &render(&spec)?, true)?;
    Ok(report)
}
