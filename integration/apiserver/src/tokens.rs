//! `serviceaccounts/{name}/token` (TokenRequest): a bound service-account
//! JWT for the ServiceAccount, with the requested audiences and lifetime.

use crate::auth::TokenSigner;
use kube_lite_api::ApiError;
use serde_json::Value;

pub fn token_request(signer: &TokenSigner, sa: &Value, req: &Value) -> Result<Value, ApiError> {
    let _ = (signer, sa, req);
    Err(ApiError::unavailable("token signing is not available yet"))
}

/// The signer of `--service-account-signing-key-file`, if configured.
pub fn signer(cfg: &crate::config::Config) -> anyhow::Result<Option<TokenSigner>> {
    let _ = cfg;
    Ok(None)
}
