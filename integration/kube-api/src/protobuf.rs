//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`,
//! which client-go's typed clients send for built-in kinds): the `k8s\0`
//! magic, the `runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw},
//! and the typed message decoded into the JSON the object would have been
//! sent as. Decoded kinds so far: Namespace, ConfigMap, Secret (the field
//! numbers of k8s.io/api's generated.proto); other kinds are refused with a
//! clear error (415 at the edge) until their messages are added.

use base64::Engine;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("protobuf body: {0}")]
pub struct ProtobufError(pub String);

fn err(m: impl Into<String>) -> ProtobufError {
    ProtobufError(m.into())
}

/// One field of a message: number and payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, ProtobufError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or_else(|| err("truncated varint"))?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(err("varint too long"))
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtobufError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (num, wt) = (key >> 3, key & 7);
        match wt {
            0 => out.push((num, Field::Varint(varint(b, &mut pos)?))),
            2 => {
                let len =
                    usize::try_from(varint(b, &mut pos)?).map_err(|_| err("length too large"))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| err("truncated field"))?;
                out.push((num, Field::Bytes(&b[pos..end])));
                pos = end;
            }
            1 => {
                pos = pos
                    .checked_add(8)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| err("truncated fixed64"))?
            }
            5 => {
                pos = pos
                    .checked_add(4)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| err("truncated fixed32"))?
            }
            _ => return Err(err(format!("field {num}: unsupported wire type {wt}"))),
        }
    }
    Ok(out)
}

fn string(f: &Field<'_>, what: &str) -> Result<String, ProtobufError> {
    match f {
        Field::Bytes(b) => {
            String::from_utf8(b.to_vec()).map_err(|_| err(format!("{what}: not UTF-8")))
        }
        Field::Varint(_) => Err(err(format!("{what}: expected a string"))),
    }
}

fn bytes<'a>(f: &Field<'a>, what: &str) -> Result<&'a [u8], ProtobufError> {
    match f {
        Field::Bytes(b) => Ok(b),
        Field::Varint(_) => Err(err(format!("{what}: expected bytes"))),
    }
}

/// A `map<string, V>` entry {key = 1, value = 2}.
fn map_entry<'a>(b: &'a [u8], what: &str) -> Result<(String, Option<Field<'a>>), ProtobufError> {
    let mut k = String::new();
    let mut v = None;
    for (n, f) in fields(b)? {
        match n {
            1 => k = string(&f, what)?,
            2 => v = Some(f),
            _ => {}
        }
    }
    Ok((k, v))
}

fn string_map(
    into: &mut Map<String, Value>,
    key: &str,
    b: &[u8],
    binary: bool,
) -> Result<(), ProtobufError> {
    let (k, v) = map_entry(b, key)?;
    let val = match v {
        None => String::new(),
        Some(f) if binary => base64::engine::general_purpose::STANDARD.encode(bytes(&f, key)?),
        Some(f) => string(&f, key)?,
    };
    let m = into.entry(key).or_insert_with(|| json!({}));
    if let Value::Object(m) = m {
        m.insert(k, json!(val));
    }
    Ok(())
}

fn push(into: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = into.entry(key).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

/// `metav1.Time` {seconds = 1, nanos = 2} as RFC 3339.
fn time(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut secs = 0i64;
    for (n, f) in fields(b)? {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
    }
    Ok(json!(crate::meta::rfc3339(secs)))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match n {
            1 => {
                m.insert("name".into(), json!(string(&f, "metadata.name")?));
            }
            2 => {
                m.insert(
                    "generateName".into(),
                    json!(string(&f, "metadata.generateName")?),
                );
            }
            3 => {
                m.insert("namespace".into(), json!(string(&f, "metadata.namespace")?));
            }
            5 => {
                m.insert("uid".into(), json!(string(&f, "metadata.uid")?));
            }
            6 => {
                m.insert(
                    "resourceVersion".into(),
                    json!(string(&f, "metadata.resourceVersion")?),
                );
            }
            7 => {
                if let Field::Varint(v) = f {
                    m.insert("generation".into(), json!(v as i64));
                }
            }
            8 => {
                m.insert(
                    "creationTimestamp".into(),
                    time(bytes(&f, "metadata.creationTimestamp")?)?,
                );
            }
            11 => string_map(&mut m, "labels", bytes(&f, "metadata.labels")?, false)?,
            12 => string_map(
                &mut m,
                "annotations",
                bytes(&f, "metadata.annotations")?,
                false,
            )?,
            13 => push(
                &mut m,
                "ownerReferences",
                owner_reference(bytes(&f, "metadata.ownerReferences")?)?,
            ),
            14 => push(
                &mut m,
                "finalizers",
                json!(string(&f, "metadata.finalizers")?),
            ),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn owner_reference(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, &f) {
            (5, _) => {
                m.insert(
                    "apiVersion".into(),
                    json!(string(&f, "ownerReferences.apiVersion")?),
                );
            }
            (1, _) => {
                m.insert("kind".into(), json!(string(&f, "ownerReferences.kind")?));
            }
            (3, _) => {
                m.insert("name".into(), json!(string(&f, "ownerReferences.name")?));
            }
            (4, _) => {
                m.insert("uid".into(), json!(string(&f, "ownerReferences.uid")?));
            }
            (6, Field::Varint(v)) => {
                m.insert("controller".into(), json!(*v != 0));
            }
            (7, Field::Varint(v)) => {
                m.insert("blockOwnerDeletion".into(), json!(*v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn typed(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, ProtobufError> {
    let mut o = Map::new();
    o.insert("apiVersion".into(), json!(api_version));
    o.insert("kind".into(), json!(kind));
    let top = fields(raw)?;
    match (api_version, kind) {
        ("v1", "Namespace") => {
            for (n, f) in top {
                match n {
                    1 => {
                        o.insert("metadata".into(), object_meta(bytes(&f, "metadata")?)?);
                    }
                    2 => {
                        let mut spec = Map::new();
                        for (sn, sf) in fields(bytes(&f, "spec")?)? {
                            if sn == 1 {
                                push(
                                    &mut spec,
                                    "finalizers",
                                    json!(string(&sf, "spec.finalizers")?),
                                );
                            }
                        }
                        o.insert("spec".into(), Value::Object(spec));
                    }
                    _ => {}
                }
            }
        }
        ("v1", "ConfigMap") | ("v1", "Secret") => {
            let secret = kind == "Secret";
            for (n, f) in top {
                match (n, secret) {
                    (1, _) => {
                        o.insert("metadata".into(), object_meta(bytes(&f, "metadata")?)?);
                    }
                    (2, s) => string_map(&mut o, "data", bytes(&f, "data")?, s)?,
                    (3, false) => string_map(&mut o, "binaryData", bytes(&f, "binaryData")?, true)?,
                    (3, true) => {
                        o.insert("type".into(), json!(string(&f, "type")?));
                    }
                    (4, true) => string_map(&mut o, "stringData", bytes(&f, "stringData")?, false)?,
                    (4, false) | (5, true) => {
                        if let Field::Varint(v) = f {
                            o.insert("immutable".into(), json!(v != 0));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {
            return Err(err(format!(
            "{api_version} {kind} is not decoded from protobuf yet; send it as application/json"
        )))
        }
    }
    Ok(Value::Object(o))
}

/// Decodes a Kubernetes protobuf body into the object's JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(b"k8s\x00".as_slice())
        .ok_or_else(|| err("missing the k8s\\0 prefix"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest)? {
        match n {
            1 => {
                for (tn, tf) in fields(bytes(&f, "typeMeta")?)? {
                    match tn {
                        1 => api_version = string(&tf, "typeMeta.apiVersion")?,
                        2 => kind = string(&tf, "typeMeta.kind")?,
                        _ => {}
                    }
                }
            }
            2 => raw = bytes(&f, "raw")?,
            _ => {}
        }
    }
    if kind.is_empty() {
        return Err(err("the envelope names no kind"));
    }
    typed(&api_version, &kind, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ld(num: u64, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(num << 3 | 2) as u8, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn configmap_like_kubectl_create() {
        let md = ld(1, b"cfg");
        let entry = [ld(1, b"a"), ld(2, b"1")].concat();
        let raw = [ld(1, &md), ld(2, &entry)].concat();
        let tm = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let body = [b"k8s\x00".to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1"}})
        );
    }

    #[test]
    fn unknown_kinds_and_garbage_are_errors() {
        let tm = [ld(1, b"apps/v1"), ld(2, b"Deployment")].concat();
        assert!(decode(&[b"k8s\x00".to_vec(), ld(1, &tm)].concat()).is_err());
        assert!(decode(b"{}").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut body = b"k8s\x00".to_vec();
            body.extend(b);
            let _ = decode(&body);
        }
    }
}
