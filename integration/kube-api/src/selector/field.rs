//! Field selectors as apimachinery `pkg/fields` parses them (`=`, `==`,
//! `!=`, comma-ANDed, `\,` `\=` `\\` escapes, empty values legal), the
//! per-kind field label conversions of kubernetes/kubernetes
//! (`pkg/apis/*/v1/conversion.go`: which labels a kind accepts, with the
//! kind's own error text) and the selectable field sets of the registries
//! (`ToSelectableFields`/`GetAttrs`: how each value is rendered from the object).

use super::validate::go_quote;
use super::SelectorError;
use crate::ResourceInfo;
use serde_json::Value;
use std::fmt;

/// `=`/`==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One `field=value` / `field!=value` term (the value unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector (terms ANDed; empty matches everything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
    nothing: bool,
}

impl FieldSelector {
    /// upstream `fields.ParseSelector`: terms are sorted by their raw text.
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let (field, op, rhs) = split_term(part).ok_or_else(|| {
                SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ))
            })?;
            let value = unescape_value(rhs)?;
            // The identity Transform drops a term with neither field nor value.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(FieldTerm {
                field: field.to_string(),
                op,
                value,
            });
        }
        Ok(FieldSelector {
            terms,
            nothing: false,
        })
    }

    /// upstream `fields.OneTermEqualSelector` (`metadata.name=<n>` and the like).
    pub fn one_term_equal(field: &str, value: &str) -> FieldSelector {
        FieldSelector {
            terms: vec![FieldTerm {
                field: field.to_string(),
                op: FieldOp::Equals,
                value: value.to_string(),
            }],
            nothing: false,
        }
    }

    /// Matches every object.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// upstream `fields.Nothing()`: matches no object.
    pub fn nothing() -> FieldSelector {
        FieldSelector {
            terms: Vec::new(),
            nothing: true,
        }
    }

    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    pub fn is_empty(&self) -> bool {
        !self.nothing && self.terms.is_empty()
    }

    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// upstream `RequiresExactMatch`: the value `field` must equal (e.g.
    /// `metadata.name` for a single-object watch, `spec.nodeName` for a kubelet).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// Err with the kind's upstream message when `res` does not support a
    /// field label: `field label not supported: X` for the core kinds with a
    /// conversion function, `"X" is not a known field selector: only
    /// "metadata.name", "metadata.namespace"` for kinds without one.
    pub fn check_supported(&self, res: &ResourceInfo) -> Result<(), SelectorError> {
        let fs = field_set(res);
        for t in &self.terms {
            if !fs.supports(&t.field) {
                return Err(SelectorError(fs.unsupported(&t.field)));
            }
        }
        Ok(())
    }

    /// Whether `obj` (a JSON object of kind `res`) satisfies every term.
    /// Fields the kind accepts but does not render (Pod `status.podIPs`)
    /// read as "", as upstream's `fields.Set.Get`.
    pub fn matches(&self, res: &ResourceInfo, obj: &Value) -> bool {
        if self.nothing {
            return false;
        }
        let fs = field_set(res);
        self.terms.iter().all(|t| {
            let have = fs.value(res, &t.field, obj);
            match t.op {
                FieldOp::Equals => have == t.value,
                FieldOp::NotEquals => have != t.value,
            }
        })
    }
}

impl fmt::Display for FieldSelector {
    /// upstream `String()`: `field=escaped` / `field!=escaped` joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// upstream `fields.EscapeValue`: `\` → `\\`, `,` → `\,`, `=` → `\=`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// upstream `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v: its code point.
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )))
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// upstream `splitTerms`: split at commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// upstream `splitTerm`: the first `!=`, `==` or `=` splits field and value.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, fop) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], fop, rhs));
            }
        }
    }
    None
}

// ---- per-kind selectable fields ----

/// Which conversion function (and thus which labels and error text) a kind has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldSet {
    Pod,
    Node,
    ReplicationController,
    Event,
    EventsV1,
    Namespace,
    Secret,
    Service,
    Job,
    CertificateSigningRequest,
    /// `runtime.DefaultMetaV1FieldSelectorConversion`.
    Default,
}

fn field_set(res: &ResourceInfo) -> FieldSet {
    match (res.group, res.kind) {
        ("", "Pod") => FieldSet::Pod,
        ("", "Node") => FieldSet::Node,
        ("", "ReplicationController") => FieldSet::ReplicationController,
        ("", "Event") => FieldSet::Event,
        ("events.k8s.io", "Event") => FieldSet::EventsV1,
        ("", "Namespace") => FieldSet::Namespace,
        ("", "Secret") => FieldSet::Secret,
        ("", "Service") => FieldSet::Service,
        ("batch", "Job") => FieldSet::Job,
        ("certificates.k8s.io", "CertificateSigningRequest") => FieldSet::CertificateSigningRequest,
        _ => FieldSet::Default,
    }
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    "spec.host",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const RC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const EVENTS_V1_FIELDS: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.uid",
    "regarding.name",
    "regarding.namespace",
    "regarding.fieldPath",
    "reportingController",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const SECRET_FIELDS: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];
const DEFAULT_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn first_nonempty<'a>(obj: &'a Value, pointers: &[&str]) -> &'a str {
    pointers
        .iter()
        .map(|p| str_at(obj, p))
        .find(|s| !s.is_empty())
        .unwrap_or("")
}

/// Go's `strconv.FormatBool` / `fmt.Sprint(bool)` of an optional bool (false when absent).
fn bool_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// `strconv.Itoa` of an optional integer (0 when absent).
fn int_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

impl FieldSet {
    fn labels(self) -> &'static [&'static str] {
        match self {
            FieldSet::Pod => POD_FIELDS,
            FieldSet::Node => NODE_FIELDS,
            FieldSet::ReplicationController => RC_FIELDS,
            FieldSet::Event => EVENT_FIELDS,
            FieldSet::EventsV1 => EVENTS_V1_FIELDS,
            FieldSet::Namespace => NAMESPACE_FIELDS,
            FieldSet::Secret => SECRET_FIELDS,
            FieldSet::Service => SERVICE_FIELDS,
            FieldSet::Job => JOB_FIELDS,
            FieldSet::CertificateSigningRequest => CSR_FIELDS,
            FieldSet::Default => DEFAULT_FIELDS,
        }
    }

    fn supports(self, label: &str) -> bool {
        self.labels().contains(&label)
    }

    fn unsupported(self, label: &str) -> String {
        match self {
            FieldSet::Default => format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(label)
            ),
            FieldSet::Job => format!(
                "field label {} not supported for batchv1.Job",
                go_quote(label)
            ),
            _ => format!("field label not supported: {label}"),
        }
    }

    /// The field's value as the kind's `ToSelectableFields` renders it;
    /// "" for fields outside the set.
    fn value(self, res: &ResourceInfo, label: &str, obj: &Value) -> String {
        match label {
            "metadata.name" => return str_at(obj, "/metadata/name").to_string(),
            // AddObjectMetaFieldsSet adds the namespace for namespaced kinds only.
            "metadata.namespace" if res.namespaced => {
                return str_at(obj, "/metadata/namespace").to_string()
            }
            "metadata.namespace" => return String::new(),
            _ => {}
        }
        let s = |p: &str| str_at(obj, p).to_string();
        match (self, label) {
            (FieldSet::Pod, "spec.nodeName" | "spec.host") => s("/spec/nodeName"),
            (FieldSet::Pod, "spec.restartPolicy") => s("/spec/restartPolicy"),
            (FieldSet::Pod, "spec.schedulerName") => s("/spec/schedulerName"),
            // v1 → internal conversion falls back to the deprecated field.
            (FieldSet::Pod, "spec.serviceAccountName") => {
                first_nonempty(obj, &["/spec/serviceAccountName", "/spec/serviceAccount"])
                    .to_string()
            }
            (FieldSet::Pod, "spec.hostNetwork") => bool_at(obj, "/spec/hostNetwork"),
            (FieldSet::Pod, "status.phase") => s("/status/phase"),
            // The primary IP: podIPs[0], or the v1 singular field.
            (FieldSet::Pod, "status.podIP") => {
                first_nonempty(obj, &["/status/podIPs/0/ip", "/status/podIP"]).to_string()
            }
            (FieldSet::Pod, "status.nominatedNodeName") => s("/status/nominatedNodeName"),
            (FieldSet::Node, "spec.unschedulable") => bool_at(obj, "/spec/unschedulable"),
            (FieldSet::ReplicationController, "status.replicas") => int_at(obj, "/status/replicas"),
            (FieldSet::Event, "source") => {
                first_nonempty(obj, &["/source/component", "/reportingComponent"]).to_string()
            }
            (FieldSet::Event, "reason" | "reportingComponent" | "type") => s(&format!("/{label}")),
            (FieldSet::Event, l) => match l.strip_prefix("involvedObject.") {
                Some(f) => s(&format!("/involvedObject/{f}")),
                None => String::new(),
            },
            // events.k8s.io objects; core-shaped ones are read as a fallback.
            (FieldSet::EventsV1, "reason" | "type") => s(&format!("/{label}")),
            (FieldSet::EventsV1, "source") => first_nonempty(
                obj,
                &[
                    "/deprecatedSource/component",
                    "/source/component",
                    "/reportingController",
                    "/reportingComponent",
                ],
            )
            .to_string(),
            (FieldSet::EventsV1, "reportingController") => {
                first_nonempty(obj, &["/reportingController", "/reportingComponent"]).to_string()
            }
            (FieldSet::EventsV1, l) => match l.strip_prefix("regarding.") {
                Some(f) => first_nonempty(
                    obj,
                    &[&format!("/regarding/{f}"), &format!("/involvedObject/{f}")],
                )
                .to_string(),
                None => String::new(),
            },
            (FieldSet::Namespace, "status.phase") => s("/status/phase"),
            (FieldSet::Secret, "type") => s("/type"),
            (FieldSet::Service, "spec.clusterIP") => s("/spec/clusterIP"),
            (FieldSet::Service, "spec.type") => s("/spec/type"),
            (FieldSet::Job, "status.successful") => int_at(obj, "/status/succeeded"),
            (FieldSet::CertificateSigningRequest, "spec.signerName") => s("/spec/signerName"),
            // Accepted but not in the field set (Pod status.podIPs) or unknown.
            _ => String::new(),
        }
    }
}
