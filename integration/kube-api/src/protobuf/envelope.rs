//! The `k8s\0` + `runtime.Unknown` envelope, and the message its
//! typeMeta names (`apps/v1 Deployment` -> `k8s.io.api.apps.v1.Deployment`).

use super::ProtobufError;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};

const MAGIC: &[u8] = b"k8s\x00";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const META: &str = "k8s.io.apimachinery.pkg.apis.meta";

/// The parts of the envelope the decoder needs.
#[derive(Debug)]
pub(super) struct Envelope {
    pub api_version: String,
    pub kind: String,
    pub raw: Vec<u8>,
}

fn string(m: &DynamicMessage, name: &str) -> String {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Checks the magic and decodes the `runtime.Unknown` around the object.
pub(super) fn open(pool: &DescriptorPool, body: &[u8]) -> Result<Envelope, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::Magic)?;
    let desc = pool
        .get_message_by_name(UNKNOWN)
        .ok_or_else(|| ProtobufError::Descriptor(format!("{UNKNOWN} missing")))?;
    let unknown =
        DynamicMessage::decode(desc, rest).map_err(|e| ProtobufError::Envelope(e.to_string()))?;
    let (api_version, kind) = match unknown.get_field_by_name("typeMeta").as_deref() {
        Some(Value::Message(tm)) => (string(tm, "apiVersion"), string(tm, "kind")),
        _ => (String::new(), String::new()),
    };
    if kind.is_empty() {
        return Err(ProtobufError::NoKind);
    }
    let encoding = string(&unknown, "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtobufError::Encoding(encoding));
    }
    let raw = match unknown.get_field_by_name("raw").as_deref() {
        Some(Value::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    };
    Ok(Envelope {
        api_version,
        kind,
        raw,
    })
}

/// The proto package of a group/version, from the packages in the pool:
/// the core group is `k8s.io.api.core.<v>`, a named group's package is its
/// first DNS label (`rbac.authorization.k8s.io` -> `k8s.io.api.rbac.<v>`).
pub(super) fn package_for(pool: &DescriptorPool, api_version: &str) -> Option<String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let label = if group.is_empty() {
        "core"
    } else {
        group.split('.').next().unwrap_or(group)
    };
    let name = format!("k8s.io.api.{label}.{version}");
    pool.files()
        .any(|f| f.package_name() == name)
        .then_some(name)
}

/// The message of a kind: in its group/version's package, else one of
/// meta/v1's kinds every group serves (DeleteOptions, ...).
pub(super) fn message_for(
    pool: &DescriptorPool,
    api_version: &str,
    kind: &str,
) -> Option<MessageDescriptor> {
    if kind.is_empty() || kind.contains('.') {
        return None;
    }
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    package_for(pool, api_version)
        .and_then(|p| pool.get_message_by_name(&format!("{p}.{kind}")))
        .or_else(|| pool.get_message_by_name(&format!("{META}.{version}.{kind}")))
}
