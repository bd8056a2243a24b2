//! Service-account JWTs (JWS compact form): verifying them as upstream's
//! `pkg/serviceaccount` does (bound tokens with the `kubernetes.io` claim,
//! and legacy secret-based tokens with issuer `kubernetes/serviceaccount`),
//! and minting bound tokens ([`TokenSigner`]).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::keys::{self, PrivateKey, PublicKey};
use super::{AuthError, UserInfo};

/// The issuer of legacy (Secret-based) service-account tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
/// go-jose's `DefaultLeeway`, which upstream uses for exp/nbf/iat.
const LEEWAY_SECS: f64 = 60.0;
const LEGACY_PREFIX: &str = "kubernetes.io/serviceaccount/";

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn bad(reason: &str) -> AuthError {
    AuthError::Rejected(reason.to_string())
}

/// A JWS split into its parts; None when the token is not JWT-shaped.
struct Parsed<'a> {
    signing_input: &'a str,
    alg: String,
    claims: Value,
    signature: Vec<u8>,
}

fn parse(token: &str) -> Option<Parsed<'_>> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    if !claims.is_object() {
        return None;
    }
    let alg = header.get("alg")?.as_str()?.to_string();
    let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
    Some(Parsed {
        signing_input: token.get(..h.len() + 1 + p.len())?,
        alg,
        claims,
        signature,
    })
}

fn str_claim<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))?
        .as_str()
        .filter(|s| !s.is_empty())
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Service-account user name: `system:serviceaccount:<ns>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

fn check_times(claims: &Value, now: f64) -> Result<(), AuthError> {
    let num = |k: &str| claims.get(k).and_then(Value::as_f64);
    if let Some(exp) = num("exp") {
        if now > exp + LEEWAY_SECS {
            return Err(bad("service account token has expired"));
        }
    }
    if let Some(nbf) = num("nbf") {
        if now + LEEWAY_SECS < nbf {
            return Err(bad("service account token is not valid yet"));
        }
    }
    if let Some(iat) = num("iat") {
        if now + LEEWAY_SECS < iat {
            return Err(bad("service account token is issued in the future"));
        }
    }
    Ok(())
}

/// What the verifier needs from the [`super::Authenticator`].
pub struct Verifier<'a> {
    pub keys: &'a [PublicKey],
    pub issuers: &'a [String],
    pub audiences: &'a [String],
}

impl Verifier<'_> {
    /// `Ok(None)`: not a service-account token (not a JWT, or an issuer
    /// that is not ours); `Err`: ours but invalid.
    pub fn verify(&self, token: &str, now: Option<f64>) -> Result<Option<UserInfo>, AuthError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let Some(jws) = parse(token) else {
            return Ok(None);
        };
        let Some(iss) = jws.claims.get("iss").and_then(Value::as_str) else {
            return Ok(None);
        };
        let legacy = iss == LEGACY_ISSUER;
        if !legacy && !self.issuers.iter().any(|i| i == iss) {
            return Ok(None);
        }
        let msg = jws.signing_input.as_bytes();
        if !self
            .keys
            .iter()
            .any(|k| k.verify(&jws.alg, msg, &jws.signature))
        {
            return Err(bad("token signature is invalid"));
        }
        let claims = &jws.claims;
        check_times(claims, now.unwrap_or_else(now_unix))?;
        let token_auds = audiences(claims);
        if !token_auds.is_empty()
            && !self.audiences.is_empty()
            && !token_auds.iter().any(|a| self.audiences.contains(a))
        {
            return Err(bad("token audiences are invalid for this server"));
        }
        let (namespace, name, uid) = if legacy {
            let get = |k: &str| str_claim(claims, &[&format!("{LEGACY_PREFIX}{k}")]);
            get("secret.name").ok_or_else(|| bad("secretName claim is missing"))?;
            (
                get("namespace").ok_or_else(|| bad("namespace claim is missing"))?,
                get("service-account.name")
                    .ok_or_else(|| bad("serviceAccountName claim is missing"))?,
                get("service-account.uid")
                    .ok_or_else(|| bad("serviceAccountUID claim is missing"))?,
            )
        } else {
            let get = |path: &[&str]| {
                let mut full = vec!["kubernetes.io"];
                full.extend_from_slice(path);
                str_claim(claims, &full)
            };
            (
                get(&["namespace"]).ok_or_else(|| bad("namespace claim is missing"))?,
                get(&["serviceaccount", "name"])
                    .ok_or_else(|| bad("service account name claim is missing"))?,
                get(&["serviceaccount", "uid"])
                    .ok_or_else(|| bad("service account uid claim is missing"))?,
            )
        };
        let username = service_account_username(namespace, name);
        if claims.get("sub").and_then(Value::as_str) != Some(username.as_str()) {
            return Err(bad("sub claim is invalid"));
        }
        Ok(Some(UserInfo {
            name: username,
            uid: uid.to_string(),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ],
        }))
    }
}

/// Mints service-account tokens with `--service-account-signing-key-file`.
#[derive(Debug)]
pub struct TokenSigner {
    key: PrivateKey,
    key_id: String,
    issuer: String,
}

impl TokenSigner {
    /// Reads the first private key (RSA, or ECDSA P-256/P-384) in `path`.
    pub fn from_pem_file(path: &Path, issuer: &str) -> Result<TokenSigner, AuthError> {
        let key = keys::load_private_key(path, "--service-account-signing-key-file")?;
        Ok(Self::new(key, issuer))
    }

    pub fn from_pem(pem: &str, issuer: &str) -> Result<TokenSigner, AuthError> {
        let key = keys::private_key_from_pem(pem)
            .ok_or_else(|| AuthError::Config("no supported private key in PEM".into()))?;
        Ok(Self::new(key, issuer))
    }

    fn new(key: PrivateKey, issuer: &str) -> TokenSigner {
        let key_id = key.public().key_id();
        TokenSigner {
            key,
            key_id,
            issuer: issuer.to_string(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` header of minted tokens (as upstream: base64url of the
    /// SHA-256 of the public key's SPKI DER).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn sign(&self, claims: &Value) -> Result<String, AuthError> {
        let header = json!({"alg": self.key.algorithm(), "kid": self.key_id});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.key.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// A bound token (TokenRequest's): `iss`, `sub`, `aud`, `exp`, `iat`,
    /// `nbf`, `jti` and `kubernetes.io` {namespace, serviceaccount, pod?}.
    pub fn mint(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        pod: Option<(&str, &str)>,
        audiences: &[String],
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.mint_at(
            namespace,
            sa_name,
            sa_uid,
            pod,
            audiences,
            ttl,
            now_unix() as i64,
        )
    }

    /// [`Self::mint`] with an explicit issue time (unix seconds), for tests.
    #[allow(clippy::too_many_arguments)]
    pub fn mint_at(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        pod: Option<(&str, &str)>,
        audiences: &[String],
        ttl: Duration,
        iat: i64,
    ) -> Result<String, AuthError> {
        let mut k8s = json!({
            "namespace": namespace,
            "serviceaccount": {"name": sa_name, "uid": sa_uid},
        });
        if let Some((name, uid)) = pod {
            k8s["pod"] = json!({"name": name, "uid": uid});
        }
        let exp = iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let claims = json!({
            "aud": audiences,
            "exp": exp,
            "iat": iat,
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": iat,
            "sub": service_account_username(namespace, sa_name),
        });
        self.sign(&claims)
    }

    /// A legacy Secret-based token (issuer `kubernetes/serviceaccount`, no
    /// expiry), as the old token controller wrote into Secrets.
    pub fn mint_legacy(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        secret_name: &str,
    ) -> Result<String, AuthError> {
        let claims = json!({
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": sa_name,
            "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
            "sub": service_account_username(namespace, sa_name),
        });
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use this for malformed tokens).
    pub fn sign_claims(&self, claims: &Value) -> Result<String, AuthError> {
        self.sign(claims)
    }
}
