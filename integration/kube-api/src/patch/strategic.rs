//! Strategic merge patch, applied the way kubernetes/apimachinery
//! `pkg/util/strategicpatch` (`StrategicMergeMapPatch`, server side:
//! parallel lists merged, unmatched nulls ignored) applies it.
//!
//! - Maps merge recursively; a `null` deletes the key; a value whose JSON type
//!   differs from the original's replaces it.
//! - Lists are replaced unless the field has `patchStrategy:"merge"`
//!   ([`super::schema`]): lists of maps then merge by the merge key (a
//!   matched element is merged recursively, an unmatched one is added) and
//!   lists of primitives merge as a set. The order of the result is
//!   upstream's: patch items keep the patch's relative order, server-only
//!   items keep theirs, interleaved by the original order
//!   (`normalizeElementOrder`/`mergeSortedSlice`); so an item the original
//!   lacks lands before the server-only items that follow the patch item in
//!   front of it (without `$setElementOrder`, a lone new item goes first, as
//!   upstream).
//! - Directives: `$patch: replace|delete` on a map; `$patch: delete` (by
//!   merge key) and `$patch: replace` as list elements; `$setElementOrder/<f>`;
//!   `$retainKeys`; `$deleteFromPrimitiveList/<f>`.
//!
//! Deviations, all towards leniency or cleanliness: `$patch: merge` on a map
//! is accepted as a plain merge (upstream rejects it); directives and nulls
//! inside values that are stored verbatim (a replaced map or list, a new list
//! element) are removed rather than stored; keys starting with `$` that are
//! not directives are rejected (upstream stores them), except the JSON Schema
//! keys `$ref` and `$schema`; `$deleteFromPrimitiveList` of a map value is an
//! error. A `$deleteFromPrimitiveList` is applied after the map's other keys.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::schema::{field_of, Field, Strategy, Ty};
use super::PatchError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM: &str = "$deleteFromPrimitiveList";

fn err(msg: impl Into<String>) -> PatchError {
    PatchError(msg.into())
}

/// Applies strategic merge `patch` to `original` (both JSON objects) whose
/// root type is `ty`.
pub fn apply(ty: Option<Ty>, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(orig) = original else {
        return Err(err(
            "strategic merge patch: the object is not a JSON object",
        ));
    };
    let Value::Object(p) = patch else {
        return Err(err(
            "strategic merge patch: the patch must be a JSON object",
        ));
    };
    merge_map(orig.clone(), p.clone(), ty).map(Value::Object)
}

/// Removes every `$patch` map (and list element) and every directive key,
/// and discards nulls: the form a patch value takes when it is stored
/// verbatim. Malformed directives are errors here too, so that a patch is
/// rejected whether or not the original has the field.
pub(crate) fn clean(v: Value) -> Result<Option<Value>, PatchError> {
    match v {
        Value::Object(m) => {
            if let Some(d) = m.get(DIRECTIVE) {
                check_patch_directive(d)?;
                return Ok(None);
            }
            let mut out = Map::new();
            for (k, v) in m {
                check_directive_key(&k, &v)?;
                if is_directive_key(&k) || v.is_null() {
                    continue;
                }
                if let Some(v) = clean(v)? {
                    out.insert(k, v);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        Value::Array(a) => Ok(Some(Value::Array(clean_all(a)?))),
        other => Ok(Some(other)),
    }
}

fn clean_all(items: Vec<Value>) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(items.len());
    for v in items {
        out.extend(clean(v)?);
    }
    Ok(out)
}

/// Removes nulls from map values, recursively (upstream
/// `discardNullValuesFromPatch`).
pub(crate) fn discard_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

fn check_patch_directive(d: &Value) -> Result<(), PatchError> {
    match d.as_str() {
        Some("replace" | "delete" | "merge") => Ok(()),
        _ => Err(err(format!("unknown patch type: {d}"))),
    }
}

/// Validates a `$`-key of a patch map and its value.
fn check_directive_key(k: &str, v: &Value) -> Result<(), PatchError> {
    if !k.starts_with('$') || k == "$ref" || k == "$schema" {
        return Ok(());
    }
    if k == DIRECTIVE {
        return check_patch_directive(v);
    }
    if k == RETAIN_KEYS {
        return match v {
            Value::Array(_) => Ok(()),
            _ => Err(err("invalid patch format of retainKeys: not a list")),
        };
    }
    if k.starts_with(SET_ORDER) {
        directive_target(k, SET_ORDER)?;
        return match v {
            Value::Array(_) => Ok(()),
            _ => Err(err(format!(
                "invalid patch format of setElementOrder list: {k} is not a list"
            ))),
        };
    }
    if k.starts_with(DELETE_FROM) {
        directive_target(k, DELETE_FROM)?;
        return match v {
            Value::Array(_) | Value::Null => Ok(()),
            _ => Err(err(format!(
                "invalid patch format of primitive list: {k} is not a list"
            ))),
        };
    }
    Err(err(format!("unknown patch directive {k:?}")))
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE || k == RETAIN_KEYS || k.starts_with(SET_ORDER) || k.starts_with(DELETE_FROM)
}

/// `"$setElementOrder/containers"` -> `"containers"`.
fn directive_target<'a>(key: &'a str, prefix: &str) -> Result<&'a str, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ => Err(err(format!(
            "invalid patch format of {prefix}: {key:?} must be {prefix}/<field>"
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

pub(crate) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Option<Ty>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(d) = patch.remove(DIRECTIVE) {
        match d.as_str() {
            Some("replace") => {
                return match clean(Value::Object(patch))? {
                    Some(Value::Object(m)) => Ok(m),
                    _ => Ok(Map::new()),
                };
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {}
            _ => return Err(err(format!("unknown patch type: {d} in map"))),
        }
    }

    retain_keys(&mut original, &mut patch)?;
    set_element_orders(&mut original, &mut patch, ty)?;

    let mut deletes = Vec::new();
    for (k, pv) in patch {
        if k.starts_with(DELETE_FROM) {
            deletes.push((k, pv));
            continue;
        }
        if k.starts_with('$') && k != "$ref" && k != "$schema" {
            return Err(err(format!("unknown patch directive {k:?}")));
        }
        merge_key(&mut original, k, pv, ty)?;
    }
    for (k, pv) in deletes {
        let target = directive_target(&k, DELETE_FROM)?.to_string();
        match pv {
            Value::Null => {
                original.remove(&target);
            }
            Value::Array(del) => {
                if let Some(Value::Array(list)) = original.get_mut(&target) {
                    let del: HashSet<String> = del.iter().map(Value::to_string).collect();
                    list.retain(|v| !del.contains(&v.to_string()));
                }
            }
            other => {
                return Err(err(format!(
                    "invalid patch format of primitive list: {k} is a {}, not a list",
                    type_name(&other)
                )))
            }
        }
    }
    Ok(original)
}

/// A patch value for a key the original lacks (or has with another JSON
/// type): merged into an empty value of its type, so that directives, merge
/// keys and nulls act as they do on an existing value.
fn new_value(field: Field, pv: Value) -> Result<Option<Value>, PatchError> {
    match pv {
        Value::Object(p) if field.strategy != Strategy::Replace => {
            Ok(Some(Value::Object(merge_map(Map::new(), p, field.child)?)))
        }
        Value::Array(p) if matches!(field.strategy, Strategy::Merge { .. }) => Ok(Some(
            Value::Array(merge_list(Vec::new(), p, field.child, field.merge_key())?),
        )),
        other => clean(other),
    }
}

fn merge_key(
    original: &mut Map<String, Value>,
    k: String,
    pv: Value,
    ty: Option<Ty>,
) -> Result<(), PatchError> {
    if pv.is_null() {
        original.remove(&k);
        return Ok(());
    }
    let field = field_of(ty, &k);
    let merged = match (original.remove(&k), pv) {
        (Some(Value::Object(o)), Value::Object(p)) if field.strategy != Strategy::Replace => {
            Some(Value::Object(merge_map(o, p, field.child)?))
        }
        (Some(Value::Array(o)), Value::Array(p))
            if matches!(field.strategy, Strategy::Merge { .. }) =>
        {
            Some(Value::Array(merge_list(
                o,
                p,
                field.child,
                field.merge_key(),
            )?))
        }
        (_, p) => new_value(field, p)?,
    };
    if let Some(v) = merged {
        original.insert(k, v);
    }
    Ok(())
}

/// `$retainKeys`: drops the original's keys not listed; every non-null key of
/// the patch must be listed.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(list) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = list else {
        return Err(err("invalid patch format of retainKeys: not a list"));
    };
    let keep: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !keep.contains(&k.as_str()) {
            return Err(err(format!(
                "invalid patch format of retainKeys: {k:?} is in the patch but not in $retainKeys"
            )));
        }
    }
    original.retain(|k, _| keep.contains(&k.as_str()));
    Ok(())
}

/// The kind of the elements of lists that are merged together.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ElemKind {
    Map,
    Scalar,
}

fn element_kind(lists: &[&[Value]]) -> Result<ElemKind, PatchError> {
    let mut seen: Option<&'static str> = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let t = type_name(v);
        if t == "list" {
            return Err(err("lists of lists are not supported"));
        }
        match seen {
            None => seen = Some(t),
            Some(s) if s != t => return Err(err("list element types are not identical")),
            _ => {}
        }
    }
    Ok(if seen == Some("map") {
        ElemKind::Map
    } else {
        ElemKind::Scalar
    })
}

fn key_of<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|m| m.get(key))
}

fn require_key<'a>(v: &'a Value, key: &str) -> Result<&'a Value, PatchError> {
    match v {
        Value::Object(m) => m.get(key).ok_or_else(|| {
            err(format!(
                "map: {v} does not contain declared merge key: {key}"
            ))
        }),
        other => Err(err(format!(
            "expected a map in a list merged by {key}, got a {}",
            type_name(other)
        ))),
    }
}

/// The identity of a list element when lists are ordered and partitioned:
/// the JSON text of its merge key (maps; empty when it has none) or of the
/// element itself. Lookups go through hash maps of these, so that merging
/// lists of thousands of elements stays linear-ish (upstream is quadratic).
fn ident(v: &Value, key: Option<&str>, kind: ElemKind) -> String {
    match (kind, key) {
        (ElemKind::Map, Some(k)) => key_of(v, k).map(Value::to_string).unwrap_or_default(),
        _ => v.to_string(),
    }
}

/// Upstream `index` over one list: the first position of each identity.
struct Positions {
    first: HashMap<String, usize>,
    key: Option<String>,
    kind: ElemKind,
}

impl Positions {
    fn new(l: &[Value], key: Option<&str>, kind: ElemKind) -> Positions {
        let mut first = HashMap::with_capacity(l.len());
        for (i, v) in l.iter().enumerate() {
            first.entry(ident(v, key, kind)).or_insert(i);
        }
        Positions {
            first,
            key: key.map(str::to_string),
            kind,
        }
    }

    fn get(&self, v: &Value) -> Option<usize> {
        self.first
            .get(&ident(v, self.key.as_deref(), self.kind))
            .copied()
    }
}

fn is_delete_element(v: &Value) -> bool {
    v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// Upstream `normalizeSliceOrder`: stable sort by position in `order`
/// (items not in it go last), elements marked `$patch: delete` at the end.
fn sort_by_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let (mut keep, deletes): (Vec<Value>, Vec<Value>) = if kind == ElemKind::Map {
        let k = key.unwrap_or_default();
        for v in to_sort.iter().chain(order.iter()) {
            require_key(v, k)?;
        }
        to_sort.into_iter().partition(|v| !is_delete_element(v))
    } else {
        (to_sort, Vec::new())
    };
    let pos = Positions::new(order, key, kind);
    keep.sort_by_cached_key(|v| pos.get(v).unwrap_or(usize::MAX));
    keep.extend(deletes);
    Ok(keep)
}

/// Upstream `normalizeElementOrder` + `mergeSortedSlice`.
fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let right = sort_by_order(patch_items, patch_order, key, kind)?;
    let left = sort_by_order(server_only, server_order, key, kind)?;
    let pos = Positions::new(server_order, key, kind);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (pos.get(l), pos.get(r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// Splits `merged` into (items present in `by`, the others), by merge key
/// for maps.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let kind = if key.is_some() {
        ElemKind::Map
    } else {
        ElemKind::Scalar
    };
    let present_in: HashSet<String> = by
        .iter()
        .filter(|b| key.is_none_or(|k| key_of(b, k).is_some()))
        .map(|b| ident(b, key, kind))
        .collect();
    let mut inp = Vec::new();
    let mut out = Vec::new();
    for v in merged {
        if let Some(k) = key {
            require_key(&v, k)?;
        }
        let present = present_in.contains(&ident(&v, key, kind));
        if present {
            inp.push(v);
        } else {
            out.push(v);
        }
    }
    Ok((inp, out))
}

/// Upstream `mergeSlice` for a `patchStrategy:"merge"` list.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    child: Option<Ty>,
    key: Option<&'static str>,
) -> Result<Vec<Value>, PatchError> {
    merge_list_tracked(original, patch, child, key).map(|(merged, _)| merged)
}

/// [`merge_list`], also returning, for lists of maps not replaced by a
/// `$patch: replace` element, the merged list before ordering (the
/// original without deleted elements, then the added ones).
///
/// `$setElementOrder` orders server-only items by the original list, which
/// upstream reads after `mergeSlice` has deleted from and appended to it in
/// place (Go slices share their array): its first elements are then this
/// unordered list. Upstream's tests record that order, so we follow it.
fn merge_list_tracked(
    original: Vec<Value>,
    patch: Vec<Value>,
    child: Option<Ty>,
    key: Option<&'static str>,
) -> Result<(Vec<Value>, Option<Vec<Value>>), PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let kind = element_kind(&[&original, &patch])?;
    if kind == ElemKind::Scalar {
        let mut merged = original.clone();
        let mut seen: HashSet<String> = merged.iter().map(Value::to_string).collect();
        for v in &patch {
            if seen.insert(v.to_string()) {
                merged.push(v.clone());
            }
        }
        let (p, s) = partition(merged, &patch, None)?;
        return Ok((normalize_order(p, s, &patch, &original, None, kind)?, None));
    }
    let Some(k) = key else {
        return Err(err("cannot merge lists of maps without a merge key"));
    };
    let (original, patch, replaced) = special_elements(original, patch, k)?;
    let mut merged = original.clone();
    // element_kind made every element a map; those without the key never
    // match (upstream's findMapInSliceBasedOnKeyValue).
    let mut first: HashMap<String, usize> = HashMap::with_capacity(merged.len());
    for (i, ov) in merged.iter().enumerate() {
        if let Some(kv) = key_of(ov, k) {
            first.entry(kv.to_string()).or_insert(i);
        }
    }
    for pv in &patch {
        let kv = require_key(pv, k)?.to_string();
        let found = first.get(&kv).copied();
        if found.is_none() {
            first.insert(kv, merged.len());
        }
        match (found, pv) {
            (Some(i), Value::Object(pm)) => {
                if let Some(Value::Object(om)) = merged.get_mut(i) {
                    let o = std::mem::take(om);
                    *om = merge_map(o, pm.clone(), child)?;
                }
            }
            (_, Value::Object(pm)) => {
                merged.push(Value::Object(merge_map(Map::new(), pm.clone(), child)?))
            }
            _ => merged.extend(clean(pv.clone())?),
        }
    }
    let unordered = (!replaced).then(|| merged.clone());
    let (p, s) = partition(merged, &patch, Some(k))?;
    let ordered = normalize_order(p, s, &patch, &original, Some(k), kind)?;
    Ok((ordered, unordered))
}

/// Upstream `mergeSliceWithSpecialElements`: applies `$patch: delete`
/// elements to `original` and `$patch: replace` (the list becomes the patch's
/// other elements); returns (original, patch without special elements,
/// whether the list was replaced).
fn special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut rest = Vec::new();
    let mut replace = false;
    let mut deleted: HashSet<String> = HashSet::new();
    for v in patch {
        let Some(d) = v.get(DIRECTIVE) else {
            rest.push(v);
            continue;
        };
        match d.as_str() {
            Some("delete") => {
                deleted.insert(require_key(&v, key)?.to_string());
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(err("merging lists cannot yet be specified in the patch")),
            _ => return Err(err(format!("unknown patch type: {d} in list element {v}"))),
        }
    }
    if !deleted.is_empty() {
        original.retain(|o| key_of(o, key).is_none_or(|kv| !deleted.contains(&kv.to_string())));
    }
    if replace {
        Ok((clean_all(rest)?, Vec::new(), true))
    } else {
        Ok((original, rest, false))
    }
}

/// Upstream `mergePatchIntoOriginal`: each `$setElementOrder/<f>` merges the
/// list `<f>` now and orders the result as the directive says.
fn set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: Option<Ty>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for dk in keys {
        let order = patch.remove(&dk).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(err(format!(
                "invalid patch format of setElementOrder list: {dk} is not a list"
            )));
        };
        let target = directive_target(&dk, SET_ORDER)?.to_string();
        let orig_list = match original.get(&target) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(err(format!(
                    "{target}: expected a list, found a {}",
                    type_name(other)
                )))
            }
        };
        let patch_list = match patch.remove(&target) {
            None => None,
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                return Err(err(format!(
                    "{target}: expected a list in the patch, found a {}",
                    type_name(&other)
                )))
            }
        };
        let field: Field = field_of(ty, &target);
        let key = match field.strategy {
            Strategy::Merge { key } => key,
            _ => None,
        };
        if let Some(p) = &patch_list {
            validate_order(p, &order, key)?;
        }
        let kind = {
            let empty = Vec::new();
            let orig_ref = orig_list.as_deref().unwrap_or(&empty);
            let patch_ref = patch_list.as_deref().unwrap_or(&empty);
            element_kind(&[orig_ref, patch_ref])?
        };
        let mut server_order = orig_list.clone().unwrap_or_default();
        let merged = match (orig_list, patch_list) {
            (Some(o), None) => o,
            (o, Some(p)) => match field.strategy {
                Strategy::Merge { key } => {
                    let (merged, unordered) =
                        merge_list_tracked(o.unwrap_or_default(), p, field.child, key)?;
                    // `zip` keeps the original's length, as upstream's view.
                    for (slot, v) in server_order.iter_mut().zip(unordered.unwrap_or_default()) {
                        *slot = v;
                    }
                    merged
                }
                _ => clean_all(p)?,
            },
            (None, None) => continue,
        };
        let key_for_kind = if kind == ElemKind::Map { key } else { None };
        if kind == ElemKind::Map && key.is_none() {
            // Not a merge list of maps: the patch list is the result.
            original.insert(target, Value::Array(merged));
            continue;
        }
        let (p, s) = partition(merged, &order, key_for_kind)?;
        let all = normalize_order(p, s, &order, &server_order, key_for_kind, kind)?;
        original.insert(target, Value::Array(all));
    }
    Ok(())
}

/// Upstream `validatePatchWithSetOrderList`: the patch's items must appear in
/// the order list, in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = match key {
        Some(_) => patch.iter().filter(|v| !is_delete_element(v)).collect(),
        None => patch.iter().collect(),
    };
    let (mut pi, mut oi) = (0, 0);
    while let (Some(p), Some(o)) = (items.get(pi), order.get(oi)) {
        if p.get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = match key {
            None => *p == o,
            Some(k) => require_key(p, k)? == require_key(o, k)?,
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() {
        return Err(err(format!(
            "the order in patch list {} doesn't match $setElementOrder list {}",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}
