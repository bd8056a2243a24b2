//! `serviceaccounts/{name}/token` (TokenRequest): a bound service-account
//! JWT for the ServiceAccount, with the requested audiences and lifetime,
//! signed with `--service-account-signing-key-file`.

use crate::auth::TokenSigner;
use kube_lite_api::{meta, ApiError};
use serde_json::{json, Value};
use std::time::Duration;

pub fn token_request(signer: &TokenSigner, sa: &Value, req: &Value) -> Result<Value, ApiError> {
    let ns = meta::namespace(sa).unwrap_or("default");
    let name = meta::name(sa);
    let ttl = req
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600)
        .clamp(600, 86400 * 2);
    let auds: Vec<String> = req
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![signer.issuer().to_string()]);
    let pod = req
        .pointer("/spec/boundObjectRef")
        .filter(|b| b.get("kind").and_then(Value::as_str) == Some("Pod"))
        .map(|b| {
            (
                b.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                b.get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        });
    let token = signer
        .mint(
            ns,
            name,
            meta::uid(sa),
            pod.as_ref().map(|(n, u)| (n.as_str(), u.as_str())),
            &auds,
            Duration::from_secs(ttl as u64),
        )
        .map_err(ApiError::internal)?;
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": auds, "expirationSeconds": ttl},
        "status": {"token": token, "expirationTimestamp": meta::rfc3339(crate::registry::now_unix() + ttl)},
    }))
}

/// The signer of `--service-account-signing-key-file`, if configured.
pub fn signer(cfg: &crate::config::Config) -> anyhow::Result<Option<TokenSigner>> {
    match (
        &cfg.service_account_signing_key_file,
        cfg.service_account_issuers.first(),
    ) {
        (Some(p), Some(iss)) => Ok(Some(TokenSigner::from_pem_file(p, iss)?)),
        _ => Ok(None),
    }
}
