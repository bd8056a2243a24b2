//! Authentication: bearer tokens from `--token-auth-file` (kube-apiserver's
//! CSV: token,user,uid[,"group1,group2"]), service-account tokens (JWTs
//! signed with `--service-account-signing-key-file`, verified against
//! `--service-account-key-file` and `--service-account-issuer` on every
//! request), and client certificates signed by `--client-ca-file` (CN =
//! user, O = groups). Also the signer that mints service-account tokens.
//!
//! Every authenticated user also gets the group `system:authenticated`, as
//! upstream's authenticated-group adder does.

pub(crate) mod der;
mod jwt;
mod keys;
pub(crate) mod tokenfile;

use std::collections::HashMap;
use std::path::Path;

pub use jwt::{service_account_username, TokenSigner, LEGACY_ISSUER};
pub use keys::PublicKey;

/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    fn authenticated(mut self) -> UserInfo {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A configuration file is missing or malformed (the message names the
    /// flag, the file and, for the token file, the line).
    #[error("{0}")]
    Config(String),
    /// Not a token this server knows (unknown static token, not a JWT, or a
    /// JWT from another issuer).
    #[error("invalid bearer token")]
    InvalidToken,
    /// A service-account token of ours that failed verification (the reason
    /// is for the log; clients get a plain 401).
    #[error("invalid bearer token: {0}")]
    Rejected(String),
}

/// Verifies request credentials.
#[derive(Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
    sa_keys: Vec<PublicKey>,
    issuers: Vec<String>,
    audiences: Vec<String>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("Authenticator")
            .field("static_tokens", &self.tokens.len())
            .field("service_account_keys", &self.sa_keys.len())
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish()
    }
}

impl Authenticator {
    /// `token_file`: `--token-auth-file`; `service_account_keys`: each
    /// `--service-account-key-file`; `issuers`: `--service-account-issuer`
    /// (the first one is the one tokens are minted with; all are accepted).
    /// The API audiences default to the issuers, as upstream's
    /// `--api-audiences` does; see [`Self::with_api_audiences`].
    pub fn new(
        token_file: Option<&Path>,
        service_account_keys: &[&Path],
        issuers: &[String],
    ) -> Result<Authenticator, AuthError> {
        let tokens = match token_file {
            Some(path) => tokenfile::load(path)?,
            None => HashMap::new(),
        };
        let mut sa_keys = Vec::new();
        for path in service_account_keys {
            sa_keys.extend(keys::load_public_keys(path)?);
        }
        if !sa_keys.is_empty() && issuers.is_empty() {
            return Err(AuthError::Config(
                "--service-account-issuer is required with --service-account-key-file".into(),
            ));
        }
        Ok(Authenticator {
            tokens,
            sa_keys,
            issuers: issuers.to_vec(),
            audiences: issuers.to_vec(),
        })
    }

    /// `--api-audiences`: a token with an `aud` claim must name one of these.
    pub fn with_api_audiences(mut self, audiences: Vec<String>) -> Authenticator {
        if !audiences.is_empty() {
            self.audiences = audiences;
        }
        self
    }

    /// The API audiences (the issuers unless set).
    pub fn api_audiences(&self) -> &[String] {
        &self.audiences
    }

    /// `Authorization: Bearer <token>` value (the token part).
    pub fn authenticate_token(&self, token: &str) -> Result<UserInfo, AuthError> {
        self.authenticate_token_at(token, None)
    }

    /// [`Self::authenticate_token`] at a given time (unix seconds), for tests.
    pub fn authenticate_token_at(
        &self,
        token: &str,
        now: Option<f64>,
    ) -> Result<UserInfo, AuthError> {
        if let Some(user) = self.tokens.get(token) {
            return Ok(user.clone().authenticated());
        }
        let verifier = jwt::Verifier {
            keys: &self.sa_keys,
            issuers: &self.issuers,
            audiences: &self.audiences,
        };
        match verifier.verify(token, now)? {
            Some(user) => Ok(user.authenticated()),
            None => Err(AuthError::InvalidToken),
        }
    }

    /// A verified client certificate (DER) presented during the TLS
    /// handshake: CN is the user name, each O a group. None when the
    /// certificate does not parse or has no CN.
    pub fn authenticate_cert(&self, der: &[u8]) -> Option<UserInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        if name.is_empty() {
            return None;
        }
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_string)
            .collect();
        Some(
            UserInfo {
                name,
                uid: String::new(),
                groups,
            }
            .authenticated(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signer() -> (TokenSigner, Authenticator) {
        let kp = rcgen::KeyPair::generate().unwrap();
        let signer =
            TokenSigner::from_pem(&kp.serialize_pem(), "https://kubernetes.default.svc").unwrap();
        let block = der::pem_blocks(&kp.public_key_pem()).remove(0);
        let pk = keys::public_key_from_der(&block.label, &block.der).unwrap();
        let auth = Authenticator {
            sa_keys: vec![pk],
            issuers: vec!["https://kubernetes.default.svc".into()],
            audiences: vec!["https://kubernetes.default.svc".into()],
            ..Default::default()
        };
        (signer, auth)
    }

    #[test]
    fn static_token_gets_authenticated_group() {
        let auth = Authenticator {
            tokens: tokenfile::parse("f", "tok,admin,admin,system:masters\n").unwrap(),
            ..Default::default()
        };
        let user = auth.authenticate_token("tok").unwrap();
        assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
        assert!(matches!(
            auth.authenticate_token("other"),
            Err(AuthError::InvalidToken)
        ));
    }

    #[test]
    fn legacy_token() {
        let (signer, auth) = signer();
        let token = signer
            .mint_legacy("kube-system", "default", "u-1", "default-token-x")
            .unwrap();
        let user = auth.authenticate_token(&token).unwrap();
        assert_eq!(user.name, "system:serviceaccount:kube-system:default");
        assert_eq!(user.uid, "u-1");
    }

    #[test]
    fn audience_must_match() {
        let (signer, auth) = signer();
        let token = signer
            .mint(
                "ns",
                "sa",
                "u",
                None,
                &["other".into()],
                Duration::from_secs(600),
            )
            .unwrap();
        assert!(matches!(
            auth.authenticate_token(&token),
            Err(AuthError::Rejected(_))
        ));
    }

    #[test]
    fn missing_claims_and_bad_sub() {
        let (signer, auth) = signer();
        let iss = "https://kubernetes.default.svc";
        for claims in [
            serde_json::json!({"iss": iss, "sub": "system:serviceaccount:a:b"}),
            serde_json::json!({"iss": iss, "sub": "x", "kubernetes.io": {"namespace": "a",
                "serviceaccount": {"name": "b", "uid": "u"}}}),
            serde_json::json!({"iss": iss, "sub": "system:serviceaccount:a:b", "kubernetes.io": 5}),
        ] {
            let token = signer.sign_claims(&claims).unwrap();
            assert!(matches!(
                auth.authenticate_token(&token),
                Err(AuthError::Rejected(_))
            ));
        }
    }

    use std::time::Duration;

    proptest! {
        #[test]
        fn arbitrary_strings_are_rejected(s in ".*") {
            let (_, auth) = signer();
            prop_assert!(auth.authenticate_token(&s).is_err());
        }

        #[test]
        fn jwt_shaped_strings_are_rejected(
            h in "[A-Za-z0-9_-]{0,40}", p in "[A-Za-z0-9_-]{0,80}", s in "[A-Za-z0-9_-]{0,90}",
            claims in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            use base64::Engine as _;
            let (_, auth) = signer();
            let tok = format!("{h}.{p}.{s}");
            prop_assert!(auth.authenticate_token(&tok).is_err());
            let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let header = enc.encode(br#"{"alg":"ES256"}"#);
            let body = enc.encode(&claims);
            let tok = format!("{header}.{body}.{s}");
            prop_assert!(auth.authenticate_token(&tok).is_err());
            let body = enc.encode(br#"{"iss":"https://kubernetes.default.svc"}"#);
            let tok = format!("{header}.{body}.{s}");
            prop_assert!(auth.authenticate_token(&tok).is_err());
        }
    }
}
