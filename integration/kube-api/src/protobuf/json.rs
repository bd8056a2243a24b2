//! A decoded message as the JSON Go's encoding/json writes for the decoded
//! struct: proto field names (the JSON names), maps as objects, bytes as
//! base64, the apimachinery types by their own MarshalJSON (IntOrString,
//! Quantity, Time, MicroTime, Duration, RawExtension, FieldsV1), and the
//! zero-value rules of [`super::omitempty`].

use super::omitempty::{Rule, TABLE};
use base64::Engine;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value as PValue,
};
use serde_json::{Map, Number, Value};

const INTSTR: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";

/// Go's zero `time.Time` as Unix seconds (0001-01-01T00:00:00Z), which a
/// hand-built Timestamp may carry.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

type Result<T> = std::result::Result<T, String>;

fn int(m: &DynamicMessage, number: u32) -> i64 {
    match m.get_field_by_number(number).as_deref() {
        Some(PValue::I64(v)) => *v,
        Some(PValue::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

fn bytes(m: &DynamicMessage, number: u32) -> Vec<u8> {
    match m.get_field_by_number(number).as_deref() {
        Some(PValue::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

fn text(m: &DynamicMessage, number: u32) -> String {
    match m.get_field_by_number(number).as_deref() {
        Some(PValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Go's `time.Duration.String()`: `1h0m0s`, `1.5s`, `300ms`, `0s`.
pub(super) fn go_duration(d: i64) -> String {
    fn frac(v: u64, digits: u32) -> String {
        let p = 10u64.pow(digits);
        let f = format!("{:0width$}", v % p, width = digits as usize);
        let f = f.trim_end_matches('0');
        if f.is_empty() {
            format!("{}", v / p)
        } else {
            format!("{}.{f}", v / p)
        }
    }
    if d == 0 {
        return "0s".into();
    }
    let sign = if d < 0 { "-" } else { "" };
    let u = d.unsigned_abs();
    let body = match u {
        0..1_000 => format!("{u}ns"),
        1_000..1_000_000 => format!("{}µs", frac(u, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", frac(u, 6)),
        _ => {
            let secs = u / 1_000_000_000;
            let s = frac(u % 60_000_000_000, 9);
            let (h, m) = (secs / 3600, (secs / 60) % 60);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    };
    format!("{sign}{body}")
}

fn time(m: &DynamicMessage, micro: bool) -> Value {
    let (secs, nanos) = (int(m, 1), int(m, 2));
    // Go writes a zero Time as an empty message (and reads one back as zero).
    let empty = !m.has_field_by_number(1) && !m.has_field_by_number(2);
    if empty || (secs == ZERO_TIME_SECS && nanos == 0) {
        return Value::Null;
    }
    let s = crate::meta::rfc3339(secs);
    if !micro {
        return Value::String(s);
    }
    let micros = nanos.rem_euclid(1_000_000_000) / 1_000;
    Value::String(format!("{}.{micros:06}Z", s.trim_end_matches('Z')))
}

fn embedded_json(raw: &[u8], what: &str) -> Result<Value> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(b"k8s\x00") {
        return super::decode(raw).map_err(|e| format!("{what}: {e}"));
    }
    serde_json::from_slice(raw).map_err(|e| format!("{what}: not JSON: {e}"))
}

/// The JSON of one message (a Go struct, or a type with its own MarshalJSON).
pub(super) fn message(m: &DynamicMessage) -> Result<Value> {
    let desc = m.descriptor();
    let name = desc.full_name();
    match name {
        INTSTR => {
            return Ok(if int(m, 1) == 1 {
                Value::String(text(m, 3))
            } else {
                Value::from(int(m, 2))
            })
        }
        QUANTITY => {
            let s = text(m, 1);
            return Ok(Value::String(if s.is_empty() { "0".into() } else { s }));
        }
        TIME => return Ok(time(m, false)),
        MICRO_TIME => return Ok(time(m, true)),
        DURATION => return Ok(Value::String(go_duration(int(m, 1)))),
        RAW_EXTENSION => return embedded_json(&bytes(m, 1), "RawExtension"),
        FIELDS_V1 => return embedded_json(&bytes(m, 1), "FieldsV1"),
        _ => {}
    }
    if TABLE.is_array(name) {
        if let Some(fd) = desc.fields().find(|f| f.is_list()) {
            return list(m, &fd);
        }
    }
    let mut out = Map::new();
    for fd in desc.fields() {
        let rule = TABLE.rule(name, fd.name());
        if rule.skip {
            continue;
        }
        let key = rule.json.unwrap_or(fd.name());
        let v = field(m, &fd, rule).map_err(|e| format!("{key}: {e}"))?;
        match (v, rule.inline) {
            (Some(Value::Object(inner)), true) => out.extend(inner),
            (Some(v), _) => {
                out.insert(key.to_string(), v);
            }
            (None, _) => {}
        }
    }
    Ok(Value::Object(out))
}

fn list(m: &DynamicMessage, fd: &FieldDescriptor) -> Result<Value> {
    match m.get_field(fd).as_ref() {
        PValue::List(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar_or_message(v).map_err(|e| format!("[{i}]: {e}")))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        _ => Ok(Value::Null),
    }
}

/// One field, or None when Go would leave it out.
fn field(m: &DynamicMessage, fd: &FieldDescriptor, rule: Rule) -> Result<Option<Value>> {
    let present = m.has_field(fd);
    let drop_empty = rule.omitempty || rule.omitzero || rule.ptr;
    if fd.is_map() {
        let PValue::Map(entries) = m.get_field(fd).into_owned() else {
            return Ok(None);
        };
        if entries.is_empty() {
            return Ok((!drop_empty).then_some(Value::Null));
        }
        let mut o = Map::new();
        for (k, v) in &entries {
            let k = match k {
                MapKey::String(s) => s.clone(),
                MapKey::Bool(b) => b.to_string(),
                MapKey::I32(i) => i.to_string(),
                MapKey::I64(i) => i.to_string(),
                MapKey::U32(i) => i.to_string(),
                MapKey::U64(i) => i.to_string(),
            };
            let v = scalar_or_message(v).map_err(|e| format!("[{k}]: {e}"))?;
            o.insert(k, v);
        }
        return Ok(Some(Value::Object(o)));
    }
    if fd.is_list() {
        let v = list(m, fd)?;
        return Ok((!(v.is_null() && drop_empty)).then_some(v));
    }
    if let Kind::Message(md) = fd.kind() {
        if rule.ptr && !present {
            return Ok(None);
        }
        let v = match m.get_field(fd).as_ref() {
            PValue::Message(sub) if present => message(sub)?,
            // Go's zero time.Time, not the Unix epoch.
            _ if matches!(md.full_name(), TIME | MICRO_TIME) => Value::Null,
            _ => message(&DynamicMessage::new(md))?,
        };
        // Go's omitempty never drops a struct; omitzero drops a zero one.
        let zero = v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
        return Ok((!(rule.omitzero && !rule.ptr && zero)).then_some(v));
    }
    if rule.ptr {
        return present
            .then(|| scalar_or_message(m.get_field(fd).as_ref()))
            .transpose();
    }
    let v = m.get_field(fd);
    let is_zero = match v.as_ref() {
        PValue::Bool(b) => !b,
        PValue::I32(i) => *i == 0,
        PValue::I64(i) => *i == 0,
        PValue::U32(i) => *i == 0,
        PValue::U64(i) => *i == 0,
        PValue::F32(f) => *f == 0.0,
        PValue::F64(f) => *f == 0.0,
        PValue::String(s) => s.is_empty(),
        PValue::Bytes(b) => b.is_empty(),
        PValue::EnumNumber(n) => *n == 0,
        _ => false,
    };
    if is_zero && (rule.omitempty || rule.omitzero) {
        return Ok(None);
    }
    if let PValue::Bytes(b) = v.as_ref() {
        // A Go []byte left nil by the decoder marshals as null.
        if b.is_empty() && !present {
            return Ok(Some(Value::Null));
        }
    }
    scalar_or_message(v.as_ref()).map(Some)
}

fn scalar_or_message(v: &PValue) -> Result<Value> {
    let float = |f: f64| {
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} has no JSON form"))
    };
    Ok(match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(i) => Value::from(*i),
        PValue::I64(i) => Value::from(*i),
        PValue::U32(i) => Value::from(*i),
        PValue::U64(i) => Value::from(*i),
        PValue::F32(f) => float(f64::from(*f))?,
        PValue::F64(f) => float(*f)?,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => message(m)?,
        PValue::List(_) | PValue::Map(_) => return Err("nested list or map".into()),
    })
}
