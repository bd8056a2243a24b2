//! The gnostic protobuf encoding of a Swagger 2.0 document
//! (`openapi.v2.Document` of google/gnostic-models `openapiv2/OpenAPIv2.proto`),
//! which kubectl asks for on `/openapi/v2`. Written by hand on the protobuf
//! wire format (no generated code): `swagger`, `info`, `paths` (operations
//! with their parameters, responses and vendor extensions) and `definitions`
//! (schemas with `$ref`, type, format, description, required, enum, items,
//! allOf, properties, additionalProperties, the numeric limits and vendor
//! extensions). Vendor extensions and `default`/`enum` values are `Any`
//! messages whose `yaml` is the value's JSON text (JSON is YAML).

use serde_json::{Map, Value};

/// One protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }
    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }
    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
    /// A string field taken from `obj[key]`.
    fn str_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(Value::String(s)) = obj.get(key) {
            self.string(field, s);
        }
    }
    fn bool_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(Value::Bool(b)) = obj.get(key) {
            self.boolean(field, *b);
        }
    }
    fn int_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(v) = obj.get(key).and_then(Value::as_i64) {
            self.int64(field, v);
        }
    }
    fn double_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(v) = obj.get(key).and_then(Value::as_f64) {
            self.double(field, v);
        }
    }
    /// A `repeated string` field from a JSON string or array of strings.
    fn strings_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        match obj.get(key) {
            Some(Value::String(s)) => self.string(field, s),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| self.bytes(field, s.as_bytes())),
            _ => {}
        }
    }
    /// Every `x-*` key of `obj` as `repeated NamedAny` in `field`.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.string(1, k);
            named.message(2, any(v));
            self.message(field, named);
        }
    }
}

/// `Any{yaml}` holding `v`.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &v.to_string());
    m
}

/// The protobuf bytes of a Swagger 2.0 JSON document.
pub(super) fn encode(doc: &Value) -> Vec<u8> {
    let Value::Object(d) = doc else {
        return Vec::new();
    };
    let mut m = Msg::default();
    m.str_of(1, d, "swagger");
    if let Some(Value::Object(info)) = d.get("info") {
        let mut i = Msg::default();
        i.str_of(1, info, "title");
        i.str_of(2, info, "version");
        i.str_of(3, info, "description");
        i.extensions(7, info);
        m.message(2, i);
    }
    for key in ["consumes", "produces"] {
        m.strings_of(if key == "consumes" { 6 } else { 7 }, d, key);
    }
    if let Some(Value::Object(paths)) = d.get("paths") {
        let mut p = Msg::default();
        p.extensions(1, paths);
        for (path, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
            let mut named = Msg::default();
            named.string(1, path);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(Value::Object(defs)) = d.get("definitions") {
        let mut ds = Msg::default();
        for (name, s) in defs {
            ds.message(1, named_schema(name, s));
        }
        m.message(9, ds);
    }
    m.extensions(16, d);
    m.0
}

fn named_schema(name: &str, s: &Value) -> Msg {
    let mut n = Msg::default();
    n.string(1, name);
    n.message(2, schema(s));
    n
}

fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Value::Object(s) = v else { return m };
    m.str_of(1, s, "$ref");
    m.str_of(2, s, "format");
    m.str_of(3, s, "title");
    m.str_of(4, s, "description");
    if let Some(d) = s.get("default") {
        m.message(5, any(d));
    }
    m.double_of(6, s, "multipleOf");
    m.double_of(7, s, "maximum");
    m.bool_of(8, s, "exclusiveMaximum");
    m.double_of(9, s, "minimum");
    m.bool_of(10, s, "exclusiveMinimum");
    m.int_of(11, s, "maxLength");
    m.int_of(12, s, "minLength");
    m.str_of(13, s, "pattern");
    m.int_of(14, s, "maxItems");
    m.int_of(15, s, "minItems");
    m.bool_of(16, s, "uniqueItems");
    m.int_of(17, s, "maxProperties");
    m.int_of(18, s, "minProperties");
    m.strings_of(19, s, "required");
    if let Some(Value::Array(e)) = s.get("enum") {
        e.iter().for_each(|v| m.message(20, any(v)));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.message(21, a);
        }
        Some(sub @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.message(1, schema(sub));
            m.message(21, a);
        }
        _ => {}
    }
    if s.contains_key("type") {
        let mut t = Msg::default();
        t.strings_of(1, s, "type");
        m.message(22, t);
    }
    match s.get("items") {
        Some(Value::Array(list)) => {
            let mut i = Msg::default();
            list.iter().for_each(|x| i.message(1, schema(x)));
            m.message(23, i);
        }
        Some(item @ Value::Object(_)) => {
            let mut i = Msg::default();
            i.message(1, schema(item));
            m.message(23, i);
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        all.iter().for_each(|x| m.message(24, schema(x)));
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        let mut p = Msg::default();
        for (name, ps) in props {
            p.message(1, named_schema(name, ps));
        }
        m.message(25, p);
    }
    m.bool_of(27, s, "readOnly");
    m.extensions(31, s);
    m
}

fn path_item(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Value::Object(p) = v else { return m };
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("patch", 8),
    ] {
        if let Some(op) = p.get(method) {
            m.message(field, operation(op));
        }
    }
    if let Some(Value::Array(params)) = p.get("parameters") {
        params.iter().for_each(|x| m.message(9, parameter(x)));
    }
    m.extensions(10, p);
    m
}

fn operation(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Value::Object(o) = v else { return m };
    m.strings_of(1, o, "tags");
    m.str_of(2, o, "summary");
    m.str_of(3, o, "description");
    m.str_of(5, o, "operationId");
    m.strings_of(6, o, "produces");
    m.strings_of(7, o, "consumes");
    if let Some(Value::Array(params)) = o.get("parameters") {
        params.iter().for_each(|x| m.message(8, parameter(x)));
    }
    if let Some(Value::Object(responses)) = o.get("responses") {
        let mut rs = Msg::default();
        for (code, r) in responses {
            let Value::Object(r) = r else { continue };
            let mut resp = Msg::default();
            resp.str_of(1, r, "description");
            if let Some(s) = r.get("schema") {
                let mut item = Msg::default();
                item.message(1, schema(s));
                resp.message(2, item);
            }
            resp.extensions(5, r);
            let mut value = Msg::default();
            value.message(1, resp);
            let mut named = Msg::default();
            named.string(1, code);
            named.message(2, value);
            rs.message(1, named);
        }
        m.message(9, rs);
    }
    m.strings_of(10, o, "schemes");
    m.bool_of(11, o, "deprecated");
    m.extensions(13, o);
    m
}

/// `ParametersItem{parameter: Parameter{body | non_body{query | path}}}`.
fn parameter(v: &Value) -> Msg {
    let mut item = Msg::default();
    let Value::Object(p) = v else { return item };
    if let Some(Value::String(r)) = p.get("$ref") {
        let mut j = Msg::default();
        j.string(1, r);
        item.message(2, j);
        return item;
    }
    let mut param = Msg::default();
    let location = p.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        let mut b = Msg::default();
        b.str_of(1, p, "description");
        b.str_of(2, p, "name");
        b.str_of(3, p, "in");
        b.bool_of(4, p, "required");
        if let Some(s) = p.get("schema") {
            b.message(5, schema(s));
        }
        b.extensions(6, p);
        param.message(1, b);
    } else {
        // Query (3) and path (4) sub-schemas share the first four fields;
        // type/format/uniqueItems sit one number lower in the path one.
        let (which, ty, format, unique, ext) = if location == "path" {
            (4, 5, 6, 19, 22)
        } else {
            (3, 6, 7, 20, 23)
        };
        let mut s = Msg::default();
        s.bool_of(1, p, "required");
        s.str_of(2, p, "in");
        s.str_of(3, p, "description");
        s.str_of(4, p, "name");
        s.str_of(ty, p, "type");
        s.str_of(format, p, "format");
        s.bool_of(unique, p, "uniqueItems");
        s.extensions(ext, p);
        let mut nb = Msg::default();
        nb.message(which, s);
        param.message(2, nb);
    }
    item.message(1, param);
    item
}

/// A minimal protobuf wire-format reader for the tests: the fields of one
/// message as (number, payload) pairs, payload = bytes of a length-delimited
/// field or the varint value.
#[cfg(test)]
pub(super) mod decode {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Field {
        Varint(u64),
        Fixed64(u64),
        Bytes(Vec<u8>),
    }

    fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*pos)?;
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// All fields of a message, or None when the bytes are not valid.
    pub fn fields(b: &[u8]) -> Option<Vec<(u32, Field)>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            let key = varint(b, &mut pos)?;
            let number = u32::try_from(key >> 3).ok()?;
            let f = match key & 7 {
                0 => Field::Varint(varint(b, &mut pos)?),
                1 => {
                    let bytes: [u8; 8] = b.get(pos..pos + 8)?.try_into().ok()?;
                    pos += 8;
                    Field::Fixed64(u64::from_le_bytes(bytes))
                }
                2 => {
                    let len = usize::try_from(varint(b, &mut pos)?).ok()?;
                    let bytes = b.get(pos..pos + len)?.to_vec();
                    pos += len;
                    Field::Bytes(bytes)
                }
                _ => return None,
            };
            out.push((number, f));
        }
        Some(out)
    }

    /// The length-delimited payloads of field `n`.
    pub fn all(fields: &[(u32, Field)], n: u32) -> Vec<Vec<u8>> {
        fields
            .iter()
            .filter_map(|(k, f)| match f {
                Field::Bytes(b) if *k == n => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    /// The string of field `n` (first occurrence), empty when absent.
    pub fn string(fields: &[(u32, Field)], n: u32) -> String {
        all(fields, n)
            .first()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}
