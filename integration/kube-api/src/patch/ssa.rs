//! Simplified server-side apply (see [`super::server_side_apply`]): the
//! create-or-merge of an applied configuration, `fieldsV1` field sets, and
//! the removal of fields a manager applied before and omits now.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::schema::{field_of, root, Strategy, Ty};
use super::PatchError;
use crate::meta;

fn err(msg: impl Into<String>) -> PatchError {
    PatchError(msg.into())
}

/// Top-level and metadata fields that are not tracked in field sets
/// (upstream `fieldmanager` strips them too).
const STRIPPED_TOP: &[&str] = &["apiVersion", "kind", "status"];
const STRIPPED_META: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// [`super::server_side_apply`] with the clock given (unix seconds).
pub fn server_side_apply_at(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    field_manager: &str,
    now_unix: i64,
) -> Result<Value, PatchError> {
    let Value::Object(applied_map) = applied else {
        return Err(err(
            "apply: the applied configuration must be a JSON object",
        ));
    };
    let ty = Some(root(kind));
    let mut applied_map = applied_map.clone();
    if let Some(Value::Object(m)) = applied_map.get_mut("metadata") {
        m.remove("managedFields");
    }
    let new_set = field_set(&Value::Object(applied_map.clone()), ty, true);
    let (result, mut entries) = match live {
        None => (
            Some(super::strategic::discard_nulls(Value::Object(applied_map))),
            Vec::new(),
        ),
        Some(l) => {
            let entries = managed_fields(l);
            let mut merged = merge_applied(kind, l, &Value::Object(applied_map))?;
            let (mine, others): (Vec<&Value>, Vec<&Value>) =
                entries.iter().partition(|e| is_apply_of(e, field_manager));
            let other_sets: Vec<&Map<String, Value>> = others
                .iter()
                .filter_map(|e| e.get("fieldsV1").and_then(Value::as_object))
                .collect();
            for old in mine
                .iter()
                .filter_map(|e| e.get("fieldsV1").and_then(Value::as_object))
            {
                prune(&mut merged, old, Some(&new_set), &other_sets, &[]);
            }
            (Some(merged), entries)
        }
    };
    entries.retain(|e| !is_apply_of(e, field_manager));
    let api_version = applied
        .get("apiVersion")
        .cloned()
        .unwrap_or_else(|| Value::String(String::new()));
    entries.push(json!({
        "manager": field_manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": meta::rfc3339(now_unix),
        "fieldsType": "FieldsV1",
        "fieldsV1": Value::Object(new_set),
    }));
    let mut result = result.unwrap_or_else(|| Value::Object(Map::new()));
    if !result.is_object() {
        return Err(err("apply: the result is not a JSON object"));
    }
    meta::set(&mut result, "managedFields", Value::Array(entries));
    Ok(result)
}

fn is_apply_of(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Apply")
}

fn managed_fields(obj: &Value) -> Vec<Value> {
    obj.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Merges `applied` into `live` (no removals except explicit nulls).
pub fn merge_applied(kind: &str, live: &Value, applied: &Value) -> Result<Value, PatchError> {
    let (Value::Object(l), Value::Object(a)) = (live, applied) else {
        return Err(err(
            "apply: the object and the applied configuration must be JSON objects",
        ));
    };
    let mut a = a.clone();
    if let Some(Value::Object(m)) = a.get_mut("metadata") {
        m.remove("managedFields");
    }
    Ok(Value::Object(merge_map(l.clone(), a, Some(root(kind)))))
}

fn merge_map(
    mut live: Map<String, Value>,
    applied: Map<String, Value>,
    ty: Option<Ty>,
) -> Map<String, Value> {
    for (k, av) in applied {
        if av.is_null() {
            live.remove(&k);
            continue;
        }
        let field = field_of(ty, &k);
        let merged = match (live.remove(&k), av) {
            (Some(Value::Object(l)), Value::Object(a)) if field.strategy != Strategy::Replace => {
                Some(Value::Object(merge_map(l, a, field.child)))
            }
            (Some(Value::Array(l)), Value::Array(a)) => match field.strategy {
                Strategy::Merge { key } => Some(Value::Array(merge_list(l, a, key, field.child))),
                _ => Some(Value::Array(a)),
            },
            (_, a) => Some(super::strategic::discard_nulls(a)),
        };
        if let Some(v) = merged {
            live.insert(k, v);
        }
    }
    live
}

fn merge_list(
    mut live: Vec<Value>,
    applied: Vec<Value>,
    key: Option<&str>,
    child: Option<Ty>,
) -> Vec<Value> {
    match key {
        None => {
            if applied.iter().any(|v| v.is_object() || v.is_array()) {
                return applied;
            }
            let mut seen: HashSet<String> = live.iter().map(Value::to_string).collect();
            for v in applied {
                if seen.insert(v.to_string()) {
                    live.push(v);
                }
            }
            live
        }
        Some(k) => {
            let keyed = |v: &Value| v.get(k).is_some();
            if !applied.iter().all(keyed) || !live.iter().all(keyed) {
                return applied;
            }
            let mut first: HashMap<String, usize> = HashMap::new();
            for (i, l) in live.iter().enumerate() {
                first.entry(key_text(l, k)).or_insert(i);
            }
            for av in applied {
                let kt = key_text(&av, k);
                let pos = first.get(&kt).copied();
                if pos.is_none() {
                    first.insert(kt, live.len());
                }
                match (pos.and_then(|i| live.get_mut(i)), av) {
                    (Some(Value::Object(lm)), Value::Object(am)) => {
                        let l = std::mem::take(lm);
                        *lm = merge_map(l, am, child);
                    }
                    (_, av) => live.push(av),
                }
            }
            live
        }
    }
}

fn key_text(v: &Value, k: &str) -> String {
    v.get(k).map(Value::to_string).unwrap_or_default()
}

/// The `fieldsV1` set of `v`: `f:<field>` for map keys, `k:{"key":value}`
/// (with `.`) for elements of keyed lists, `v:<json>` for set elements.
fn field_set(v: &Value, ty: Option<Ty>, top: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let Value::Object(m) = v else {
        return out;
    };
    for (k, child) in m {
        if top && STRIPPED_TOP.contains(&k.as_str()) {
            continue;
        }
        let field = field_of(ty, k);
        let sub = if top && k == "metadata" {
            let mut meta = child.as_object().cloned().unwrap_or_default();
            meta.retain(|k, _| !STRIPPED_META.contains(&k.as_str()));
            if meta.is_empty() {
                continue;
            }
            field_set(&Value::Object(meta), field.child, false)
        } else {
            value_set(child, field.strategy, field.child)
        };
        out.insert(format!("f:{k}"), Value::Object(sub));
    }
    out
}

fn value_set(v: &Value, strategy: Strategy, child: Option<Ty>) -> Map<String, Value> {
    match (v, strategy) {
        (Value::Object(_), Strategy::Replace) => Map::new(),
        (Value::Object(_), _) => field_set(v, child, false),
        (Value::Array(items), Strategy::Merge { key: Some(k) }) => {
            let mut out = Map::new();
            for item in items {
                let Some(kv) = item.get(k) else {
                    return Map::new();
                };
                let mut s = field_set(item, child, false);
                s.insert(".".into(), json!({}));
                out.insert(format!("k:{}", json!({ k: kv })), Value::Object(s));
            }
            out
        }
        (Value::Array(items), Strategy::Merge { key: None }) => items
            .iter()
            .map(|i| (format!("v:{i}"), json!({})))
            .collect(),
        _ => Map::new(),
    }
}

/// One path segment of a field set, resolved against an object.
enum Seg {
    Field(String),
    Keyed(Map<String, Value>),
    Value(Value),
}

fn parse_seg(s: &str) -> Option<Seg> {
    if let Some(f) = s.strip_prefix("f:") {
        return Some(Seg::Field(f.to_string()));
    }
    if let Some(k) = s.strip_prefix("k:") {
        return serde_json::from_str::<Map<String, Value>>(k)
            .ok()
            .map(Seg::Keyed);
    }
    if let Some(v) = s.strip_prefix("v:") {
        return serde_json::from_str::<Value>(v).ok().map(Seg::Value);
    }
    None
}

/// Removes from `obj` what `old` lists and `new` does not, unless another
/// manager's set (`others`, at the same depth) lists it. `keys` are the
/// fields of a kept list element that identify it (never removed).
fn prune(
    obj: &mut Value,
    old: &Map<String, Value>,
    new: Option<&Map<String, Value>>,
    others: &[&Map<String, Value>],
    keys: &[String],
) {
    type Descent<'a> = (
        Seg,
        &'a Map<String, Value>,
        Option<&'a Map<String, Value>>,
        Vec<&'a Map<String, Value>>,
    );
    let mut removals: Vec<Seg> = Vec::new();
    let mut descents: Vec<Descent> = Vec::new();
    for (seg, old_child) in old {
        if seg == "." {
            continue;
        }
        let Some(parsed) = parse_seg(seg) else {
            continue;
        };
        let Value::Object(old_child) = old_child else {
            continue;
        };
        if matches!(&parsed, Seg::Field(f) if keys.contains(f)) {
            continue;
        }
        let new_child = new.and_then(|n| n.get(seg)).and_then(Value::as_object);
        let other_children: Vec<&Map<String, Value>> = others
            .iter()
            .filter_map(|o| o.get(seg).and_then(Value::as_object))
            .collect();
        let is_leaf = old_child.is_empty() || old_child.contains_key(".");
        if new_child.is_none() && is_leaf && other_children.is_empty() {
            removals.push(parsed);
        } else if old_child.keys().any(|k| k != ".") {
            descents.push((parsed, old_child, new_child, other_children));
        }
    }
    // Keyed lookups through one index per set of key names.
    let mut index: Option<(Vec<String>, HashMap<String, usize>)> = None;
    for (seg, old_child, new_child, other_children) in descents {
        let (target, child_keys) = match (&mut *obj, &seg) {
            (Value::Object(m), Seg::Field(f)) => (m.get_mut(f), Vec::new()),
            (Value::Array(a), Seg::Keyed(k)) => {
                let names: Vec<String> = k.keys().cloned().collect();
                if index.as_ref().is_none_or(|(n, _)| *n != names) {
                    let mut first = HashMap::new();
                    for (i, item) in a.iter().enumerate() {
                        if let Some(t) = key_fields_text(item, &names) {
                            first.entry(t).or_insert(i);
                        }
                    }
                    index = Some((names.clone(), first));
                }
                let want = Value::Object(k.clone()).to_string();
                let i = index.as_ref().and_then(|(_, m)| m.get(&want).copied());
                (i.and_then(|i| a.get_mut(i)), names)
            }
            _ => (None, Vec::new()),
        };
        if let Some(t) = target {
            prune(t, old_child, new_child, &other_children, &child_keys);
        }
    }
    match obj {
        Value::Object(m) => {
            for seg in &removals {
                if let Seg::Field(f) = seg {
                    m.remove(f);
                }
            }
        }
        Value::Array(a) => {
            let mut keyed: Vec<(Vec<String>, HashSet<String>)> = Vec::new();
            let mut values: HashSet<String> = HashSet::new();
            for seg in removals {
                match seg {
                    Seg::Keyed(k) => {
                        let names: Vec<String> = k.keys().cloned().collect();
                        let text = Value::Object(k).to_string();
                        match keyed.iter_mut().find(|(n, _)| *n == names) {
                            Some((_, set)) => {
                                set.insert(text);
                            }
                            None => keyed.push((names, HashSet::from([text]))),
                        }
                    }
                    Seg::Value(v) => {
                        values.insert(v.to_string());
                    }
                    Seg::Field(_) => {}
                }
            }
            if !keyed.is_empty() || !values.is_empty() {
                a.retain(|item| {
                    let by_key = keyed.iter().any(|(names, set)| {
                        key_fields_text(item, names).is_some_and(|t| set.contains(&t))
                    });
                    !by_key && !values.contains(&item.to_string())
                });
            }
        }
        _ => {}
    }
}

/// The JSON text of `item`'s fields `names` (as a `k:` segment spells it),
/// or None if one is missing.
fn key_fields_text(item: &Value, names: &[String]) -> Option<String> {
    let mut m = Map::new();
    for n in names {
        m.insert(n.clone(), item.get(n)?.clone());
    }
    Some(Value::Object(m).to_string())
}
