//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`, `<`, `>`)
//! and field selectors (`=`, `==`, `!=`; the per-kind selectable fields of
//! upstream's registries: metadata.name/namespace everywhere, spec.nodeName,
//! status.phase, involvedObject.*, ...), parsed from query strings and
//! matched against JSON objects. Also the conversion of a
//! `metav1.LabelSelector` object into a selector and its string form.

use crate::ResourceInfo;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// A parsed label selector (all requirements ANDed; empty matches everything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    raw: String,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        Ok(LabelSelector { raw: s.to_string() })
    }
    /// `metav1.LabelSelector` JSON (`matchLabels`, `matchExpressions`).
    pub fn from_api(sel: &Value) -> Result<LabelSelector, SelectorError> {
        let _ = sel;
        Ok(LabelSelector::default())
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let _ = labels;
        true
    }
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    raw: String,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        Ok(FieldSelector { raw: s.to_string() })
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// Err(`field label not supported: X`) when `res` does not support a field.
    pub fn check_supported(&self, res: &ResourceInfo) -> Result<(), SelectorError> {
        let _ = res;
        Ok(())
    }
    pub fn matches(&self, res: &ResourceInfo, obj: &Value) -> bool {
        let _ = (res, obj);
        true
    }
}
