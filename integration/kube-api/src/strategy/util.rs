//! Small helpers shared by the per-kind strategies: non-panicking JSON
//! accessors and defaulting, and the validations every kind uses (object
//! metadata, labels, annotations, label selectors, enums, ranges).

use super::names;
use crate::Cause;
use serde_json::{json, Map, Value};

/// `v[key]` unless absent or null.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// `v[key]` as a string, or "".
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `v[key]` as an i64, if a number.
pub fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// `v[key]` as an array (empty when absent).
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `v[key]` as an object, if any.
pub fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// `v[key]` as a bool (false when absent).
pub fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Sets `v[key] = d` when `v` is an object and `key` is absent or null.
pub fn set_default(v: &mut Value, key: &str, d: Value) {
    if let Value::Object(m) = v {
        let slot = m.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = d;
        }
    }
}

/// Like [`set_default`], also replacing an empty string.
pub fn set_default_str(v: &mut Value, key: &str, d: &str) {
    if s(v, key).is_empty() {
        if let Value::Object(m) = v {
            m.insert(key.to_string(), json!(d));
        }
    }
}

/// `v[key]` mutably, unless absent or null.
pub fn child_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    v.get_mut(key).filter(|x| !x.is_null())
}

/// `v[key]`, inserted as `{}` when absent or null (None when `v` is not an object).
pub fn ensure_obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    set_default(v, key, json!({}));
    v.get_mut(key).filter(|x| x.is_object())
}

/// Calls `f` on every element of the array `v[key]`.
pub fn each_mut(v: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(a)) = v.get_mut(key) {
        a.iter_mut().for_each(&mut f);
    }
}

/// Removes `v[key]`.
pub fn remove(v: &mut Value, key: &str) -> Option<Value> {
    v.as_object_mut().and_then(|m| m.remove(key))
}

/// Sets `v[key] = x` when `v` is an object.
pub fn put(v: &mut Value, key: &str, x: Value) {
    if let Value::Object(m) = v {
        m.insert(key.to_string(), x);
    }
}

/// Pushes one `FieldValueInvalid` cause per error detail.
pub fn invalid_each(c: &mut Vec<Cause>, field: &str, value: &str, errs: Vec<String>) {
    for e in errs {
        c.push(Cause::invalid(field, &json!(value), &e));
    }
}

/// `field` must be one of `allowed` (when non-empty; `required` adds a
/// Required cause when empty).
pub fn check_enum(c: &mut Vec<Cause>, field: &str, value: &str, allowed: &[&str], required: bool) {
    if value.is_empty() {
        if required {
            c.push(Cause::required(field));
        }
    } else if !allowed.contains(&value) {
        c.push(Cause::not_supported(field, &json!(value), allowed));
    }
}

/// An optional integer field that must be >= 0.
pub fn non_negative(c: &mut Vec<Cause>, v: &Value, key: &str, field: &str) {
    if let Some(n) = int(v, key) {
        if n < 0 {
            c.push(Cause::invalid(
                field,
                &json!(n),
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// An optional integer field that must be > 0.
pub fn positive(c: &mut Vec<Cause>, v: &Value, key: &str, field: &str) {
    if let Some(n) = int(v, key) {
        if n <= 0 {
            c.push(Cause::invalid(field, &json!(n), "must be greater than 0"));
        }
    }
}

/// Label keys and values.
pub fn validate_labels(c: &mut Vec<Cause>, labels: Option<&Map<String, Value>>, field: &str) {
    for (k, v) in labels.into_iter().flatten() {
        invalid_each(c, field, k, names::qualified_name(k));
        let val = v.as_str().unwrap_or("");
        invalid_each(c, &format!("{field}[{k}]"), val, names::label_value(val));
    }
}

/// Annotation keys (lower-cased, as upstream) and the 256 KiB total.
pub fn validate_annotations(c: &mut Vec<Cause>, ann: Option<&Map<String, Value>>, field: &str) {
    let mut total = 0usize;
    for (k, v) in ann.into_iter().flatten() {
        invalid_each(c, field, k, names::qualified_name(&k.to_lowercase()));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > 256 * 1024 {
        c.push(Cause::new(
            "FieldValueTooLong",
            field,
            format!("Too long: may not be more than {} bytes", 256 * 1024),
        ));
    }
}

/// Which name syntax a kind's `metadata.name` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    PathSegment,
}

/// `metadata`: name (required, syntax), namespace (required iff
/// namespaced), labels, annotations, finalizers, ownerReferences.
pub fn validate_meta(c: &mut Vec<Cause>, obj: &Value, namespaced: bool, rule: NameRule) {
    let md = obj.get("metadata").cloned().unwrap_or(json!({}));
    let name = s(&md, "name");
    if name.is_empty() {
        c.push(Cause::new(
            "FieldValueRequired",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    } else {
        let errs = match rule {
            NameRule::Subdomain => names::dns1123_subdomain(name),
            NameRule::Label => names::dns1123_label(name),
            NameRule::Dns1035 => names::dns1035_label(name),
            NameRule::PathSegment => names::path_segment_name(name),
        };
        invalid_each(c, "metadata.name", name, errs);
    }
    let ns = s(&md, "namespace");
    if namespaced {
        if ns.is_empty() {
            c.push(Cause::required("metadata.namespace"));
        } else {
            invalid_each(c, "metadata.namespace", ns, names::dns1123_label(ns));
        }
    } else if !ns.is_empty() {
        c.push(Cause::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = int(&md, "generation") {
        if g < 0 {
            c.push(Cause::invalid(
                "metadata.generation",
                &json!(g),
                "must be greater than or equal to 0",
            ));
        }
    }
    validate_labels(c, obj_at(&md, "labels"), "metadata.labels");
    validate_annotations(c, obj_at(&md, "annotations"), "metadata.annotations");
    for (i, f) in arr(&md, "finalizers").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        invalid_each(
            c,
            &format!("metadata.finalizers[{i}]"),
            f,
            names::qualified_name(f),
        );
    }
    for (i, r) in arr(&md, "ownerReferences").iter().enumerate() {
        let p = format!("metadata.ownerReferences[{i}]");
        for k in ["apiVersion", "kind", "name", "uid"] {
            if s(r, k).is_empty() {
                let msg = match k {
                    "apiVersion" => "Invalid value: \"\": version must not be empty",
                    "kind" => "Invalid value: \"\": kind must not be empty",
                    "name" => "Invalid value: \"\": name must not be empty",
                    _ => "Invalid value: \"\": uid must not be empty",
                };
                c.push(Cause::new("FieldValueInvalid", &format!("{p}.{k}"), msg));
            }
        }
    }
    let controllers = arr(&md, "ownerReferences")
        .iter()
        .filter(|r| flag(r, "controller"))
        .count();
    if controllers > 1 {
        c.push(Cause::invalid(
            "metadata.ownerReferences",
            &json!(controllers),
            "Only one reference can have Controller set to true",
        ));
    }
}

fn obj_at<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    obj(v, key)
}

/// Metadata that may not change on update: name, namespace.
pub fn validate_meta_update(c: &mut Vec<Cause>, old: &Value, new: &Value) {
    for k in ["name", "namespace"] {
        let o = old
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let n = new
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if o != n {
            c.push(Cause::immutable(&format!("metadata.{k}"), &json!(n)));
        }
    }
}

/// A `metav1.LabelSelector`: keys, values, operators.
pub fn validate_selector(c: &mut Vec<Cause>, sel: &Value, field: &str) {
    validate_labels(c, obj(sel, "matchLabels"), &format!("{field}.matchLabels"));
    for (i, e) in arr(sel, "matchExpressions").iter().enumerate() {
        let p = format!("{field}.matchExpressions[{i}]");
        let key = s(e, "key");
        invalid_each(c, &format!("{p}.key"), key, names::qualified_name(key));
        let op = s(e, "operator");
        let n = arr(e, "values").len();
        match op {
            "In" | "NotIn" => {
                if n == 0 {
                    c.push(Cause::required(&format!("{p}.values")));
                }
            }
            "Exists" | "DoesNotExist" => {
                if n > 0 {
                    c.push(Cause::forbidden(
                        &format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => c.push(Cause::invalid(
                &format!("{p}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
    }
}

/// A label selector with neither matchLabels nor matchExpressions.
pub fn selector_is_empty(sel: &Value) -> bool {
    obj(sel, "matchLabels").is_none_or(Map::is_empty) && arr(sel, "matchExpressions").is_empty()
}

/// Whether a `metav1.LabelSelector` matches a label set.
pub fn selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let ml_ok = obj(sel, "matchLabels")
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let me_ok = arr(sel, "matchExpressions").iter().all(|e| {
        let key = s(e, "key");
        let vals: Vec<&str> = arr(e, "values").iter().filter_map(Value::as_str).collect();
        let have = labels.get(key).and_then(Value::as_str);
        match s(e, "operator") {
            "In" => have.is_some_and(|h| vals.contains(&h)),
            "NotIn" => have.is_none_or(|h| !vals.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    ml_ok && me_ok
}

/// An IntOrString that must be a non-negative int or a percentage
/// (`maxUnavailable`, `maxSurge`, PDB `minAvailable`); returns its value
/// when it is an int or a parsable percentage.
pub fn int_or_percent(c: &mut Vec<Cause>, v: Option<&Value>, field: &str) -> Option<i64> {
    match v? {
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(-1);
            if n < 0 {
                c.push(Cause::invalid(
                    field,
                    &json!(n),
                    "must be greater than or equal to 0",
                ));
            }
            Some(n)
        }
        Value::String(st) => match st.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if p >= 0 => {
                if p > 100 {
                    c.push(Cause::invalid(
                        field,
                        &json!(st),
                        "must not be greater than 100%",
                    ));
                }
                Some(p)
            }
            _ => {
                c.push(Cause::invalid(field, &json!(st), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
                None
            }
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_labels() {
        let labels = json!({"app":"web","tier":"fe"});
        let l = labels.as_object();
        assert!(selector_matches(&json!({"matchLabels":{"app":"web"}}), l));
        assert!(!selector_matches(&json!({"matchLabels":{"app":"db"}}), l));
        assert!(selector_matches(
            &json!({"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]}),
            l
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions":[{"key":"tier","operator":"DoesNotExist"}]}),
            l
        ));
    }

    #[test]
    fn meta_requires_a_name() {
        let mut c = vec![];
        validate_meta(&mut c, &json!({"metadata":{}}), true, NameRule::Subdomain);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].field, "metadata.name");
        assert_eq!(c[1].field, "metadata.namespace");
    }
}
