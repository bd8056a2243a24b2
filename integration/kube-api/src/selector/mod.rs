//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`, `<`, `>`)
//! and field selectors (`=`, `==`, `!=`; the per-kind selectable fields of
//! upstream's registries: metadata.name/namespace everywhere, spec.nodeName,
//! status.phase, involvedObject.*, ...), parsed from query strings and
//! matched against JSON objects. Also the conversion of a
//! `metav1.LabelSelector` object into a selector and its string form.
//!
//! - [`label`]: `labels.Parse`, `LabelSelectorAsSelector`, matching;
//! - [`field`]: `fields.ParseSelector`, the per-kind field label sets;
//! - [`validate`]: label key/value syntax and upstream's error texts.

pub mod field;
pub mod label;
pub mod validate;

#[cfg(test)]
mod tests;

pub use field::{FieldOp, FieldSelector, FieldTerm};
pub use label::{LabelSelector, Operator, Requirement};

/// A selector that does not parse, or names a field the kind cannot select
/// on. The text is upstream's (the registry answers 400 BadRequest with it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);
