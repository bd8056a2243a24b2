//! Typed decoding of request bodies: a body is decoded into its k8s-openapi
//! type through a path-tracking deserializer (so a type error names the
//! field, as Go's `json: cannot unmarshal ... into Go struct field ...`),
//! then re-serialized; keys of the input that the typed value dropped are
//! the unknown fields that `fieldValidation` reports.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// A decode failure: the field path (`spec.containers[0].image`, empty for
/// the top level), the JSON type found there, and serde's message.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub path: String,
    pub found: &'static str,
    pub message: String,
}

/// The error type of [`PathDe`].
#[derive(Debug)]
struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DeError {}
impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

/// Shared state of one decode: the current path, and the path and type of
/// the innermost failure (captured once, where it happened).
#[derive(Default)]
struct State<'a> {
    path: RefCell<Vec<Seg<'a>>>,
    failed: RefCell<Option<(String, &'static str)>>,
}

impl State<'_> {
    fn capture(&self, v: &Value) {
        let mut failed = self.failed.borrow_mut();
        if failed.is_none() {
            *failed = Some((render_path(&self.path.borrow()), json_type(v)));
        }
    }
}

fn render_path(segs: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Idx(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The Go name of a JSON value's type, as in `cannot unmarshal string`.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct PathDe<'a, 's> {
    v: &'a Value,
    st: &'s State<'a>,
}

impl<'de, 's> de::Deserializer<'de> for PathDe<'de, 's> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visitor.visit_seq(SeqDe {
                it: a.iter().enumerate(),
                st: self.st,
            }),
            Value::Object(m) => visitor.visit_map(MapDe {
                it: m.iter(),
                pending: None,
                st: self.st,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.v.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_enum(self.v.clone(), name, variants, visitor)
            .map_err(|e| DeError(e.to_string()))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqDe<'a, 's> {
    it: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    st: &'s State<'a>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'de, '_> {
    type Error = DeError;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, v)) = self.it.next() else {
            return Ok(None);
        };
        self.st.path.borrow_mut().push(Seg::Idx(i));
        let r = seed.deserialize(PathDe { v, st: self.st });
        if r.is_err() {
            self.st.capture(v);
        }
        self.st.path.borrow_mut().pop();
        r.map(Some)
    }
}

struct MapDe<'a, 's> {
    it: serde_json::map::Iter<'a>,
    pending: Option<(&'a str, &'a Value)>,
    st: &'s State<'a>,
}

impl<'de> de::MapAccess<'de> for MapDe<'de, '_> {
    type Error = DeError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.it.next() else {
            return Ok(None);
        };
        self.pending = Some((k.as_str(), v));
        let kd = de::value::BorrowedStrDeserializer::<'de, DeError>::new(k.as_str());
        seed.deserialize(kd).map(Some)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let Some((k, v)) = self.pending.take() else {
            return Err(DeError("value without a key".into()));
        };
        self.st.path.borrow_mut().push(Seg::Key(k));
        let r = seed.deserialize(PathDe { v, st: self.st });
        if r.is_err() {
            self.st.capture(v);
        }
        self.st.path.borrow_mut().pop();
        r
    }
}

/// Decodes `input` as `T` and re-serializes it. The result holds what the
/// typed value keeps: unknown fields are gone, required fields are present
/// (with empty defaults), Quantities are strings.
pub fn roundtrip<T: DeserializeOwned + Serialize>(input: &Value) -> Result<Value, DecodeError> {
    let st = State::default();
    let typed = T::deserialize(PathDe { v: input, st: &st }).map_err(|e| {
        let (path, found) = st
            .failed
            .borrow_mut()
            .take()
            .unwrap_or_else(|| (String::new(), json_type(input)));
        DecodeError {
            path,
            found,
            message: e.0,
        }
    })?;
    serde_json::to_value(&typed).map_err(|e| DecodeError {
        path: String::new(),
        found: json_type(input),
        message: e.to_string(),
    })
}

/// The fields of `input` that `output` (its typed round trip) lacks, as
/// upstream's strict decoding names them (`spec.foo`,
/// `spec.containers[0].bar`). Null inputs are not unknown (they decode to
/// absent).
pub fn unknown_fields(input: &Value, output: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, output, &mut String::new(), &mut out);
    out
}

fn walk(input: &Value, output: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match o.get(k) {
                    None => out.push(path.clone()),
                    Some(ov) => walk(v, ov, path, out),
                }
                path.truncate(len);
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o.iter()).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{n}]"));
                walk(iv, ov, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Drops `apiVersion` and `kind` from a copy of a body (the registry checked
/// them against the URL; the typed decoders would reject other versions).
pub fn without_type_meta(obj: &Map<String, Value>) -> Value {
    let mut m = obj.clone();
    m.remove("apiVersion");
    m.remove("kind");
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn type_errors_name_the_field() {
        let e = roundtrip::<Pod>(&json!({"spec":{"containers":"x"}})).unwrap_err();
        assert_eq!(e.path, "spec.containers");
        assert_eq!(e.found, "string");
        let e =
            roundtrip::<Pod>(&json!({"spec":{"containers":[{"name":"a","image":5}]}})).unwrap_err();
        assert_eq!(e.path, "spec.containers[0].image");
    }

    #[test]
    fn unknown_fields_are_found_and_free_form_maps_are_not() {
        let input = json!({"metadata":{"name":"p","annotations":{"anything":"x"},"creationTimestamp":null},
            "spec":{"foo":1,"containers":[{"name":"a","image":"i","bar":{},
            "resources":{"limits":{"cpu":1}},"ports":[{"containerPort":80}]}]}});
        let out = roundtrip::<Pod>(&input).unwrap();
        assert_eq!(
            unknown_fields(&input, &out),
            vec!["spec.containers[0].bar".to_string(), "spec.foo".to_string()]
        );
        assert_eq!(
            out.pointer("/spec/containers/0/resources/limits/cpu"),
            Some(&json!("1"))
        );
    }
}
