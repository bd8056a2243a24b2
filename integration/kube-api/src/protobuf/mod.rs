//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`,
//! which client-go's typed clients send for built-in kinds): the `k8s\0`
//! magic, the `runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw},
//! and the typed message decoded into the JSON Go would marshal it to.
//!
//! Generic over every message of upstream's generated.proto files for the
//! served group/versions (`proto/`, one descriptor set loaded with
//! prost-reflect): [`envelope`] finds the message, [`json`] walks it, and
//! [`omitempty`] holds the Go field rules (pointer, omitempty, inline) the
//! wire format cannot carry.

mod envelope;
mod json;
mod omitempty;
#[cfg(test)]
mod tests;

use prost_reflect::DescriptorPool;
use serde_json::Value;
use std::sync::LazyLock;

/// Why a protobuf body could not be decoded (415 at the edge).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body: missing the k8s\\0 prefix")]
    Magic,
    #[error("protobuf body: bad runtime.Unknown envelope: {0}")]
    Envelope(String),
    #[error("protobuf body: the envelope names no kind")]
    NoKind,
    #[error("protobuf body: content encoding {0:?} is not supported")]
    Encoding(String),
    #[error(
        "protobuf body: {api_version} {kind} has no protobuf message here; send it as application/json"
    )]
    UnknownKind { api_version: String, kind: String },
    #[error("protobuf body: {api_version} {kind}: {detail}")]
    Message {
        api_version: String,
        kind: String,
        detail: String,
    },
    #[error("protobuf body: the built-in descriptor set is broken: {0}")]
    Descriptor(String),
}

const DESCRIPTORS: &[u8] = include_bytes!("../../proto/k8s.desc");

static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(DESCRIPTORS).map_err(|e| e.to_string()));

fn pool() -> Result<&'static DescriptorPool, ProtobufError> {
    POOL.as_ref()
        .map_err(|e| ProtobufError::Descriptor(e.clone()))
}

/// Decodes a Kubernetes protobuf body into the object's JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let pool = pool()?;
    let env = envelope::open(pool, body)?;
    let desc = envelope::message_for(pool, &env.api_version, &env.kind).ok_or_else(|| {
        ProtobufError::UnknownKind {
            api_version: env.api_version.clone(),
            kind: env.kind.clone(),
        }
    })?;
    let failed = |detail: String| ProtobufError::Message {
        api_version: env.api_version.clone(),
        kind: env.kind.clone(),
        detail,
    };
    let msg = prost_reflect::DynamicMessage::decode(desc, env.raw.as_slice())
        .map_err(|e| failed(e.to_string()))?;
    let mut v = json::message(&msg).map_err(failed)?;
    if let Value::Object(o) = &mut v {
        o.insert("apiVersion".into(), Value::String(env.api_version.clone()));
        o.insert("kind".into(), Value::String(env.kind.clone()));
    }
    Ok(v)
}
