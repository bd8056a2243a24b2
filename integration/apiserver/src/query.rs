//! Query-string options of API requests (list, watch, write, delete), parsed
//! leniently as real clients send them (kube-rs's `?&limit=500`, empty
//! pairs, repeated keys) and validated with upstream's rules.

use kube_lite_api::selector::{FieldSelector, LabelSelector};
use kube_lite_api::strategy::FieldValidation;
use kube_lite_api::ApiError;
use std::time::Duration;

/// Decoded `key=value` pairs in order (percent-decoding and `+` as space).
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return vec![] };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lookup helper over the pairs (the last value wins).
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(pairs(query))
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid value {v:?} for query parameter {key}: expected true or false"
            ))),
        }
    }
    fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value {v:?} for query parameter {key}: expected an integer"
                ))
            }),
        }
    }
}

/// `resourceVersionMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    NotOlderThan,
    Exact,
}

/// Options of list and watch requests.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label: LabelSelector,
    pub field: FieldSelector,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    /// `resourceVersion` as sent ("" when absent).
    pub resource_version: String,
    pub rv_match: Option<RvMatch>,
    pub watch: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    pub send_initial_events: Option<bool>,
}

impl ListOptions {
    pub fn parse(q: &Query) -> Result<ListOptions, ApiError> {
        let label = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let field = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let limit = q.int("limit")?.filter(|l| *l > 0);
        let continue_token = q
            .get("continue")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let resource_version = q.get("resourceVersion").unwrap_or("").to_string();
        let rv_match = match q.get("resourceVersionMatch").unwrap_or("") {
            "" => None,
            "NotOlderThan" => Some(RvMatch::NotOlderThan),
            "Exact" => Some(RvMatch::Exact),
            other => {
                return Err(invalid_opts(
                    "resourceVersionMatch",
                    other,
                    "supported values: \"Exact\", \"NotOlderThan\", \"\"",
                ))
            }
        };
        let watch = q.flag("watch")?;
        let bookmarks = q.flag("allowWatchBookmarks")?;
        let timeout = q
            .int("timeoutSeconds")?
            .filter(|t| *t > 0)
            .map(|t| Duration::from_secs(t as u64));
        let send_initial_events = match q.get("sendInitialEvents") {
            None | Some("") => None,
            Some(_) => Some(q.flag("sendInitialEvents")?),
        };
        if !resource_version.is_empty()
            && resource_version
                .parse::<i64>()
                .map(|v| v < 0)
                .unwrap_or(true)
        {
            return Err(ApiError::bad_request(format!(
                "invalid resource version {resource_version:?}: expected a decimal revision"
            )));
        }
        let o = ListOptions {
            label,
            field,
            limit,
            continue_token,
            resource_version,
            rv_match,
            watch,
            bookmarks,
            timeout,
            send_initial_events,
        };
        o.validate()?;
        Ok(o)
    }

    /// Upstream's `validateWatchOptions`/list option rules.
    fn validate(&self) -> Result<(), ApiError> {
        if self.watch {
            match (self.send_initial_events, self.rv_match) {
                (Some(_), m) if m != Some(RvMatch::NotOlderThan) => {
                    return Err(invalid_opts(
                        "resourceVersionMatch",
                        "",
                        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                    ))
                }
                (None, Some(_)) => {
                    return Err(invalid_opts(
                        "resourceVersionMatch",
                        "",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                    ))
                }
                _ => {}
            }
        } else {
            if self.send_initial_events.is_some() {
                return Err(invalid_opts(
                    "sendInitialEvents",
                    "",
                    "sendInitialEvents is forbidden for list",
                ));
            }
            if self.rv_match.is_some() && self.resource_version.is_empty() {
                return Err(invalid_opts(
                    "resourceVersionMatch",
                    "",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if self.rv_match.is_some() && self.continue_token.is_some() {
                return Err(invalid_opts(
                    "resourceVersionMatch",
                    "",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if self.rv_match == Some(RvMatch::Exact) && self.resource_version == "0" {
                return Err(invalid_opts(
                    "resourceVersionMatch",
                    "Exact",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
            if self.continue_token.is_some()
                && !self.resource_version.is_empty()
                && self.resource_version != "0"
            {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
        }
        Ok(())
    }
}

fn invalid_opts(field: &str, value: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        vec![kube_lite_api::Cause::new(
            "FieldValueForbidden",
            field,
            if value.is_empty() {
                format!("Forbidden: {detail}")
            } else {
                format!("Invalid value: {value:?}: {detail}")
            },
        )],
    )
}

/// `dryRun=All`, `fieldManager`, `fieldValidation`, `force`.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
}

impl WriteOptions {
    pub fn parse(q: &Query) -> Result<WriteOptions, ApiError> {
        let dry_run = match q.all("dryRun").as_slice() {
            [] => false,
            v if v.iter().all(|d| *d == "All") => true,
            v => {
                return Err(ApiError::bad_request(format!(
                    "invalid dryRun {v:?}: supported values: \"All\""
                )))
            }
        };
        let field_validation = match q.get("fieldValidation").unwrap_or("") {
            "" | "Warn" | "warn" => FieldValidation::Warn,
            "Strict" | "strict" => FieldValidation::Strict,
            "Ignore" | "ignore" => FieldValidation::Ignore,
            other => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation {other:?} is invalid: expected one of Ignore, Warn, Strict"
                )))
            }
        };
        let field_manager = q
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if let Some(m) = &field_manager {
            if m.len() > 128 {
                return Err(ApiError::bad_request(
                    "fieldManager: Too long: may not be longer than 128",
                ));
            }
        }
        Ok(WriteOptions {
            dry_run,
            field_manager,
            field_validation,
            force: q.flag("force")?,
        })
    }
}

/// `metav1.DeleteOptions` from the body and the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(q: &Query, body: Option<&serde_json::Value>) -> Result<DeleteOptions, ApiError> {
        let mut o = DeleteOptions::default();
        if let Some(b) = body {
            if !b.is_object() {
                return Err(ApiError::bad_request("DeleteOptions must be a JSON object"));
            }
            o.grace_period_seconds = b.get("gracePeriodSeconds").and_then(|v| v.as_i64());
            o.propagation_policy = b
                .get("propagationPolicy")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if o.propagation_policy.is_none() {
                if let Some(orphan) = b.get("orphanDependents").and_then(|v| v.as_bool()) {
                    o.propagation_policy =
                        Some(if orphan { "Orphan" } else { "Background" }.to_string());
                }
            }
            o.precondition_uid = b
                .pointer("/preconditions/uid")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            o.precondition_rv = b
                .pointer("/preconditions/resourceVersion")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            o.dry_run = b
                .get("dryRun")
                .and_then(|v| v.as_array())
                .is_some_and(|a| a.iter().any(|d| d == "All"));
        }
        if let Some(g) = q.int("gracePeriodSeconds")? {
            o.grace_period_seconds = Some(g);
        }
        if let Some(p) = q.get("propagationPolicy").filter(|p| !p.is_empty()) {
            o.propagation_policy = Some(p.to_string());
        }
        if q.all("dryRun").contains(&"All") {
            o.dry_run = true;
        }
        if let Some(p) = &o.propagation_policy {
            if !["Orphan", "Background", "Foreground"].contains(&p.as_str()) {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    vec![kube_lite_api::Cause::not_supported(
                        "propagationPolicy",
                        &serde_json::json!(p),
                        &["Foreground", "Background", "Orphan"],
                    )],
                ));
            }
        }
        if o.grace_period_seconds.is_some_and(|g| g < 0) {
            o.grace_period_seconds = Some(0);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_query_parsing() {
        let q = Query::parse(Some("&limit=500&&labelSelector=app%3Dweb&watch=true"));
        assert_eq!(q.get("limit"), Some("500"));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(q.flag("watch").unwrap_or(false));
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn watch_list_rules() {
        let q = Query::parse(Some("watch=true&sendInitialEvents=true"));
        assert_eq!(
            ListOptions::parse(&q).map(|_| ()).map_err(|e| e.code),
            Err(422)
        );
        let q = Query::parse(Some(
            "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0",
        ));
        assert!(ListOptions::parse(&q).is_ok());
        let q = Query::parse(Some("continue=abc&resourceVersion=5"));
        assert_eq!(
            ListOptions::parse(&q).map(|_| ()).map_err(|e| e.code),
            Err(400)
        );
    }
}
