//! `meta.k8s.io/v1 Table` responses for `kubectl get`: per-kind column
//! definitions and cells as kube-apiserver's printers
//! (kubernetes/kubernetes pkg/printers/internalversion) produce them, always
//! with the wide (priority 1) columns, which kubectl hides unless `-o wide`.
//! Kinds without a printer get the DefaultTableConvertor's `Name`,
//! `Created At`. Each row carries the object's PartialObjectMetadata (or the
//! object) so that `-A` and `--show-labels` work. Every cell tolerates any
//! object shape: missing fields and wrong types print as upstream prints a
//! zero value.
//!
//! Submodules: `corev1` (core/v1 kinds), `apps` (apps, batch, autoscaling,
//! policy), `other` (coordination, discovery, scheduling, rbac).

mod apps;
mod corev1;
mod other;

use crate::ResourceInfo;
use serde_json::{json, Map, Value};

/// What each row's `object` holds (`includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter (`None`, `Metadata`,
    /// `Object`); None for anything else (upstream answers 400).
    pub fn parse(s: &str) -> Option<IncludeObject> {
        match s {
            "None" => Some(IncludeObject::None),
            "Metadata" | "" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// A column definition: name, OpenAPI type, description, priority
/// (1 = only with `-o wide`). The format is `name` for the Name column.
pub(crate) struct Col(
    pub &'static str,
    pub &'static str,
    pub &'static str,
    pub i32,
);

/// A kind's printer: its columns and a function computing one row's cells
/// (as many as there are columns).
pub(crate) struct Printer {
    pub columns: &'static [Col],
    pub cells: CellsFn,
}

/// Computes one row's cells.
pub(crate) type CellsFn = fn(&Value, &Ctx) -> Vec<Value>;

/// What a printer may need besides the object.
pub(crate) struct Ctx<'a> {
    pub now: i64,
    pub res: &'a ResourceInfo,
}

/// `metav1.ObjectMeta` swagger text of `name`, upstream's Name column description.
pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `metav1.ObjectMeta` swagger text of `creationTimestamp` (Age, Created At).
pub(crate) const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
pub(crate) const CONTAINERS_DESC: &str = "Names of each container in the template.";
pub(crate) const IMAGES_DESC: &str = "Images referenced by each container in the template.";

const DEFAULT_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Created At", "date", AGE_DESC, 0),
];

fn default_cells(obj: &Value, _: &Ctx) -> Vec<Value> {
    let created = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(crate::meta::parse_rfc3339)
        .map(crate::meta::rfc3339)
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![json!(crate::meta::name(obj)), json!(created)]
}

const DEFAULT_PRINTER: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    cells: default_cells,
};

/// The printer of a resource (DefaultTableConvertor when upstream has none).
fn printer(res: &ResourceInfo) -> Printer {
    corev1::printer(res)
        .or_else(|| apps::printer(res))
        .or_else(|| other::printer(res))
        .unwrap_or(DEFAULT_PRINTER)
}

/// The column definitions of a resource's Table.
pub fn column_definitions(res: &ResourceInfo) -> Value {
    Value::Array(
        printer(res)
            .columns
            .iter()
            .map(|Col(name, ty, desc, priority)| {
                let format = if *name == "Name" { "name" } else { "" };
                json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
            })
            .collect(),
    )
}

fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(obj.clone()),
        IncludeObject::Metadata => {
            let metadata = match obj.get("metadata") {
                Some(m @ Value::Object(_)) => m.clone(),
                _ => Value::Object(Map::new()),
            };
            Some(json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
            }))
        }
    }
}

/// The Table of `items` (a list's `metadata` goes to `list_metadata`);
/// `now` is the Unix time AGE is computed against.
pub fn table(
    res: &ResourceInfo,
    items: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    now: i64,
) -> Value {
    let p = printer(res);
    let ctx = Ctx { now, res };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = (p.cells)(o, &ctx);
            // A printer bug must not break kubectl's column alignment.
            cells.resize(p.columns.len(), json!(""));
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if res.group.is_empty() && res.plural == "pods" {
                if let Some(c) = corev1::pod_row_conditions(o) {
                    row.insert("conditions".into(), c);
                }
            }
            if let Some(object) = row_object(o, include) {
                row.insert("object".into(), object);
            }
            Value::Object(row)
        })
        .collect();
    let metadata = match list_metadata {
        m @ Value::Object(_) => m,
        _ => Value::Object(Map::new()),
    };
    // Moved in, not through `json!` (which deep-copies the rows with `to_value`).
    let mut table = Map::new();
    table.insert("kind".into(), json!("Table"));
    table.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    table.insert("metadata".into(), metadata);
    table.insert("columnDefinitions".into(), column_definitions(res));
    table.insert("rows".into(), Value::Array(rows));
    Value::Object(table)
}

// ---- helpers shared by the printers ----

/// The string at `ptr`, or "" (missing or not a string).
pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `ptr` (None when missing or not an integer).
pub(crate) fn int_at(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

/// The integer at `ptr`, or 0.
pub(crate) fn int0(v: &Value, ptr: &str) -> i64 {
    int_at(v, ptr).unwrap_or(0)
}

/// The bool at `ptr` (None when missing or not a bool).
pub(crate) fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    v.pointer(ptr).and_then(Value::as_bool)
}

/// The array at `ptr`, or an empty slice.
pub(crate) fn arr_at<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The map at `ptr`, if it is one.
pub(crate) fn map_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// The number of entries of the map (or array) at `ptr`.
pub(crate) fn len_at(v: &Value, ptr: &str) -> i64 {
    let n = match v.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The Unix time of the timestamp at `ptr`, if present and parseable.
pub(crate) fn time_at(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(crate::meta::parse_rfc3339)
}

/// `translateTimestampSince`: `<unknown>` for a missing timestamp.
pub(crate) fn since(t: Option<i64>, now: i64) -> String {
    match t {
        Some(t) => human_duration(now.saturating_sub(t)),
        None => "<unknown>".to_string(),
    }
}

/// AGE: the time since `metadata.creationTimestamp`.
pub(crate) fn age(obj: &Value, now: i64) -> String {
    since(time_at(obj, "/metadata/creationTimestamp"), now)
}

/// apimachinery's `duration.HumanDuration` of a number of seconds
/// ("5s", "3m20s", "2d3h", "3y45d"); `<invalid>` below -1s.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// A JSON scalar as label text (non-strings print as JSON).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` if empty.
pub(crate) fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut parts: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    if parts.is_empty() {
        return "<none>".into();
    }
    parts.sort();
    parts.join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`; Err for an invalid
/// selector (unknown operator, values where none belong or none where some do).
pub(crate) fn label_selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return Ok(String::new());
    };
    let sel = sel.as_object().ok_or(())?;
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").filter(|m| !m.is_null()) {
        for (k, v) in m.as_object().ok_or(())? {
            reqs.push((k.clone(), format!("{k}={}", text(v))));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").filter(|m| !m.is_null()) {
        for e in exprs.as_array().ok_or(())? {
            let key = e.get("key").and_then(Value::as_str).ok_or(())?;
            let mut values: Vec<String> = match e.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(text).collect(),
                Some(_) => return Err(()),
            };
            values.sort();
            let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
            let s = match op {
                "In" | "NotIn" if values.is_empty() => return Err(()),
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" | "DoesNotExist" if !values.is_empty() => return Err(()),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => return Err(()),
            };
            reqs.push((key.to_string(), s));
        }
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(()) => "<error>".into(),
    }
}

/// `layoutContainerCells`: container names and images joined by commas.
pub(crate) fn containers_and_images(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `net.JoinHostPort`.
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `listWithMoreString`.
pub(crate) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        return "<unset>".into();
    }
    ret
}

#[cfg(test)]
mod tests;
