//! The etcd adapter: flanneld's only code that talks to etcd. It reads the network config, lists
//! and watches leases, and creates, renews and deletes our own lease. Decisions (which subnet,
//! what changed) are made elsewhere over the plain data this returns.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, PutOptions,
    TlsOptions, Txn, TxnOp, WatchOptions, WatchStream,
};
use ipnet::Ipv4Net;
use thiserror::Error;

use crate::lease::{self, Lease, LeaseAttrs, LeaseError};

/// TTL of every lease key, as upstream.
pub const LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("network config at {key} is not UTF-8")]
    NotUtf8 { key: String },
    #[error("--etcd-keyfile and --etcd-certfile go together (a client certificate needs its key): {given} is set, {missing} is not")]
    HalfIdentity {
        given: &'static str,
        missing: &'static str,
    },
}

#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub keyfile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub cafile: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// All leases under the subnets prefix at one revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub leases: Vec<Lease>,
    /// Keys that did not parse (skipped with a warning).
    pub skipped: Vec<LeaseError>,
    pub revision: i64,
}

/// One change seen by the watch.
#[derive(Debug)]
pub enum LeaseEvent {
    Put(Lease),
    Delete(Ipv4Net),
    /// A key or value that did not parse.
    Skipped(LeaseError),
}

#[derive(Clone)]
pub struct Registry {
    client: Client,
    prefix: String,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(path).map_err(|source| RegistryError::File {
        path: path.clone(),
        source,
    })
}

/// The client certificate and key files: both or neither.
fn client_identity(opts: &EtcdOptions) -> Result<Option<(&PathBuf, &PathBuf)>, RegistryError> {
    match (&opts.certfile, &opts.keyfile) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(RegistryError::HalfIdentity {
            given: "--etcd-keyfile",
            missing: "--etcd-certfile",
        }),
        (Some(_), None) => Err(RegistryError::HalfIdentity {
            given: "--etcd-certfile",
            missing: "--etcd-keyfile",
        }),
    }
}

/// HTTP/2 keep-alive ping period towards etcd; must stay above etcd's
/// `--grpc-keepalive-min-time` (5 s by default).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Registry {
    /// Connect lazily: an unreachable etcd is an error on each call, not here.
    pub async fn connect(opts: &EtcdOptions) -> Result<Registry, RegistryError> {
        // etcd's server refuses pings closer than --grpc-keepalive-min-time (default 5 s)
        // and closes the connection after a few, breaking every watch: ping every 10 s.
        let mut co = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(10))
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            .with_keep_alive_while_idle(true);
        if let (Some(u), Some(p)) = (&opts.username, &opts.password) {
            co = co.with_user(u.clone(), p.clone());
        }
        let identity = client_identity(opts)?;
        if opts.cafile.is_some() || identity.is_some() {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &opts.cafile {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let Some((cert, key)) = identity {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            co = co.with_tls(tls);
        }
        let client = Client::connect(&opts.endpoints, Some(co)).await?;
        Ok(Registry {
            client,
            prefix: opts.prefix.trim_end_matches('/').to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn config_key(&self) -> String {
        format!("{}/config", self.prefix)
    }

    /// The network config text, or None when the key does not exist.
    pub async fn get_config(&mut self) -> Result<Option<String>, RegistryError> {
        let key = self.config_key();
        let resp = self.client.get(key.as_str(), None).await?;
        match resp.kvs().first() {
            None => Ok(None),
            Some(kv) => kv
                .value_str()
                .map(|s| Some(s.to_string()))
                .map_err(|_| RegistryError::NotUtf8 { key }),
        }
    }

    fn parse_kv(&self, kv: &etcd_client::KeyValue) -> Result<Lease, LeaseError> {
        let key = String::from_utf8_lossy(kv.key());
        lease::parse_lease(&self.prefix, &key, kv.value(), kv.lease())
    }

    pub async fn list_leases(&mut self) -> Result<Snapshot, RegistryError> {
        let prefix = lease::subnets_prefix(&self.prefix);
        let resp = self
            .client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await?;
        let mut snap = Snapshot {
            revision: resp.header().map_or(0, |h| h.revision()),
            ..Default::default()
        };
        for kv in resp.kvs() {
            match self.parse_kv(kv) {
                Ok(l) => snap.leases.push(l),
                Err(e) => snap.skipped.push(e),
            }
        }
        Ok(snap)
    }

    /// Create a lease key if absent (transaction on version 0). `None`: the key already exists.
    pub async fn create_lease(
        &mut self,
        subnet: Ipv4Net,
        attrs: &LeaseAttrs,
    ) -> Result<Option<Lease>, RegistryError> {
        let key = lease::lease_key(&self.prefix, subnet, None);
        let grant = self
            .client
            .lease_grant(LEASE_TTL.as_secs() as i64, None)
            .await?;
        let txn = Txn::new()
            .when([Compare::version(key.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.as_str(),
                attrs.to_json(),
                Some(PutOptions::new().with_lease(grant.id())),
            )]);
        let resp = self.client.txn(txn).await?;
        if !resp.succeeded() {
            self.client.lease_revoke(grant.id()).await?;
            return Ok(None);
        }
        Ok(Some(Lease {
            subnet,
            ipv6_subnet: None,
            attrs: attrs.clone(),
            etcd_lease: grant.id(),
            expires: Some(SystemTime::now() + Duration::from_secs(grant.ttl().max(0) as u64)),
        }))
    }

    /// Renew: grant a fresh etcd lease and re-put our attributes on it (as upstream does).
    pub async fn renew_lease(
        &mut self,
        subnet: Ipv4Net,
        attrs: &LeaseAttrs,
    ) -> Result<Lease, RegistryError> {
        let key = lease::lease_key(&self.prefix, subnet, None);
        let grant = self
            .client
            .lease_grant(LEASE_TTL.as_secs() as i64, None)
            .await?;
        self.client
            .put(
                key,
                attrs.to_json(),
                Some(PutOptions::new().with_lease(grant.id())),
            )
            .await?;
        Ok(Lease {
            subnet,
            ipv6_subnet: None,
            attrs: attrs.clone(),
            etcd_lease: grant.id(),
            expires: Some(SystemTime::now() + Duration::from_secs(grant.ttl().max(0) as u64)),
        })
    }

    /// Update an operator's reservation with our attributes, keeping it without a TTL.
    pub async fn put_reservation(
        &mut self,
        subnet: Ipv4Net,
        attrs: &LeaseAttrs,
    ) -> Result<(), RegistryError> {
        let key = lease::lease_key(&self.prefix, subnet, None);
        self.client.put(key, attrs.to_json(), None).await?;
        Ok(())
    }

    pub async fn delete_lease(&mut self, subnet: Ipv4Net) -> Result<(), RegistryError> {
        let key = lease::lease_key(&self.prefix, subnet, None);
        self.client.delete(key, None).await?;
        Ok(())
    }

    /// When an etcd lease expires (None: no TTL or already gone).
    pub async fn lease_expiry(&mut self, id: i64) -> Result<Option<SystemTime>, RegistryError> {
        if id == 0 {
            return Ok(None);
        }
        let resp = self.client.lease_time_to_live(id, None).await?;
        Ok((resp.ttl() > 0).then(|| SystemTime::now() + Duration::from_secs(resp.ttl() as u64)))
    }

    /// Watch the subnets prefix from `revision` on.
    pub async fn watch(&mut self, revision: i64) -> Result<WatchStream, RegistryError> {
        let prefix = lease::subnets_prefix(&self.prefix);
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision);
        Ok(self.client.watch(prefix, Some(opts)).await?)
    }

    /// Turn one watch event into a lease event.
    pub fn event(&self, ev: &etcd_client::Event) -> Option<LeaseEvent> {
        let kv = ev.kv()?;
        Some(match ev.event_type() {
            etcd_client::EventType::Put => match self.parse_kv(kv) {
                Ok(l) => LeaseEvent::Put(l),
                Err(e) => LeaseEvent::Skipped(e),
            },
            etcd_client::EventType::Delete => {
                let key = String::from_utf8_lossy(kv.key());
                match lease::parse_lease_key(&self.prefix, &key) {
                    Ok((subnet, _)) => LeaseEvent::Delete(subnet),
                    Err(e) => LeaseEvent::Skipped(e),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cert: Option<&str>, key: Option<&str>) -> EtcdOptions {
        EtcdOptions {
            certfile: cert.map(PathBuf::from),
            keyfile: key.map(PathBuf::from),
            ..Default::default()
        }
    }

    #[test]
    fn a_key_without_a_certificate_or_the_reverse_is_an_error_naming_both_flags() {
        let e = client_identity(&opts(None, Some("/k.pem")))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--etcd-keyfile and --etcd-certfile go together (a client certificate needs its key): --etcd-keyfile is set, --etcd-certfile is not");
        let e = client_identity(&opts(Some("/c.pem"), None))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("--etcd-certfile is set, --etcd-keyfile is not"),
            "{e}"
        );
        assert!(client_identity(&opts(None, None)).unwrap().is_none());
        assert!(client_identity(&opts(Some("/c.pem"), Some("/k.pem")))
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn connect_refuses_half_an_identity_before_touching_the_network() {
        let e = Registry::connect(&opts(None, Some("/k.pem")))
            .await
            .err()
            .expect("error");
        assert!(matches!(e, RegistryError::HalfIdentity { .. }), "{e}");
    }
}
