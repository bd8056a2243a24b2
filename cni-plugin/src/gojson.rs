//! JSON text as Go's `encoding/json` writes it, so that files and outputs compare byte for byte
//! with upstream's: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c`..,
//! floats in Go's shortest form (`1e+21`, `1e-7`, integral floats without `.0`), and
//! `MarshalIndent(v, "", "    ")` for pretty output. Struct fields keep their declared order.

use std::io;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::ser::{CharEscape, CompactFormatter, Formatter, PrettyFormatter};
use serde_json::{Map, Value};

/// Compact JSON of a value with sorted object keys (Go's `json.Marshal` of a map).
pub fn compact(value: &Value) -> String {
    to_string(&Sorted(value), CompactFormatter)
}

/// Compact JSON of any serializable value, Go style.
pub fn compact_of<T: Serialize + ?Sized>(value: &T) -> String {
    to_string(value, CompactFormatter)
}

/// Indented JSON (four spaces) of any serializable value, Go style.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    to_string(value, PrettyFormatter::with_indent(b"    "))
}

fn to_string<T: Serialize + ?Sized, F: Formatter>(value: &T, inner: F) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter(inner));
    // Serializing into a Vec cannot fail for our types (string keys only).
    if value.serialize(&mut ser).is_err() {
        return String::from("null");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// A `Value` that serializes its objects with keys in byte order, whatever map type
/// `serde_json` was built with.
pub struct Sorted<'a>(pub &'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for k in sorted_keys(map) {
                    m.serialize_entry(k, &Sorted(&map[k.as_str()]))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// The keys of `map` in byte order (Go's order for map keys).
pub fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys
}

/// Go's float64 text: shortest round-trip digits, exponent form below 1e-6 and from 1e21 on.
pub fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust prints `1e21` / `1.5e-7`; Go prints `1e+21` / `1.5e-07` then trims to `1e-7`:
        // only the sign of positive exponents differs.
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else {
        // Rust's Display is shortest round-trip and prints integral values without `.0`.
        format!("{f}")
    }
}

struct GoFormatter<F>(F);

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(go_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        self.0.write_char_escape(w, escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_escapes_like_go() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "<a&b>\u{2028}\n\u{1}\"\\"}});
        assert_eq!(
            compact(&v),
            r#"{"a":{"y":"\u003ca\u0026b\u003e\u2028\n\u0001\"\\","z":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1472.0), "1472");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-7), "1.5e-7");
        assert_eq!(go_float(0.000001), "0.000001");
        assert_eq!(go_float(-2.25), "-2.25");
        assert_eq!(compact(&json!({"x": 1400.0})), r#"{"x":1400}"#);
    }

    #[test]
    fn pretty_matches_marshal_indent() {
        let v = json!({"a": [], "b": {}, "c": [1]});
        assert_eq!(
            pretty(&Sorted(&v)),
            "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1\n    ]\n}"
        );
    }
}
