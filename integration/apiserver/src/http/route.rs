//! Request paths to routes: discovery and tooling endpoints, and resource
//! paths (`/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`,
//! `/apis/{group}/{version}/...`), resolved against the resource table.
//! Trailing slashes are accepted as kube-apiserver accepts them.

use kube_lite_api::{resources, ApiError, ResourceInfo};

/// What a path names.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Version,
    /// `/api` (APIVersions).
    Api,
    /// `/apis` (APIGroupList).
    Apis,
    /// `/apis/{group}`.
    ApiGroup(String),
    /// `/api/v1`, `/apis/{group}/{version}`.
    ResourceList {
        group: String,
        version: String,
    },
    /// `/healthz`, `/livez`, `/readyz` and their `/<check>` sub-paths.
    Health {
        kind: String,
        check: Option<String>,
    },
    OpenApiV2,
    OpenApiV3Index,
    /// `/openapi/v3/<api/v1 | apis/g/v>`.
    OpenApiV3(String),
    /// A resource, collection or subresource.
    Resource(ResourcePath),
    /// `POST /api/v1/namespaces/{ns}/bindings` (legacy binding).
    LegacyBinding {
        namespace: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    pub res: &'static ResourceInfo,
    /// The namespace of the URL (None: cluster-scoped or all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

fn decode_segment(s: &str) -> String {
    crate::query::pairs(Some(&format!("x={}", s.replace('+', "%2B"))))
        .pop()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Parses a path (without the query).
pub fn parse(path: &str) -> Result<Route, ApiError> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let segs: Vec<String> = trimmed.split('/').skip(1).map(decode_segment).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Ok(Route::Version),
        ["api"] => Ok(Route::Api),
        ["apis"] => Ok(Route::Apis),
        [k @ ("healthz" | "livez" | "readyz")] => Ok(Route::Health {
            kind: k.to_string(),
            check: None,
        }),
        [k @ ("healthz" | "livez" | "readyz"), c] => Ok(Route::Health {
            kind: k.to_string(),
            check: Some(c.to_string()),
        }),
        ["openapi", "v2"] => Ok(Route::OpenApiV2),
        ["openapi", "v3"] => Ok(Route::OpenApiV3Index),
        ["openapi", "v3", rest @ ..] => Ok(Route::OpenApiV3(rest.join("/"))),
        ["api", "v1"] => Ok(Route::ResourceList {
            group: String::new(),
            version: "v1".into(),
        }),
        ["api", "v1", rest @ ..] => resource_path("", "v1", rest),
        ["apis", g] => Ok(Route::ApiGroup(g.to_string())),
        ["apis", g, v] => Ok(Route::ResourceList {
            group: g.to_string(),
            version: v.to_string(),
        }),
        ["apis", g, v, rest @ ..] => resource_path(g, v, rest),
        _ => Err(ApiError::unknown_path()),
    }
}

fn find(group: &str, version: &str, plural: &str) -> Result<&'static ResourceInfo, ApiError> {
    resources::find(group, version, plural).ok_or_else(ApiError::unknown_path)
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Result<Route, ApiError> {
    let nonempty = |s: &str| -> Result<String, ApiError> {
        if s.is_empty() {
            Err(ApiError::unknown_path())
        } else {
            Ok(s.to_string())
        }
    };
    let rp = |res,
              namespace: Option<&str>,
              name: Option<&str>,
              sub: Option<&str>|
     -> Result<Route, ApiError> {
        Ok(Route::Resource(ResourcePath {
            res,
            namespace: namespace.map(nonempty).transpose()?,
            name: name.map(nonempty).transpose()?,
            subresource: sub.map(str::to_string),
        }))
    };
    match rest {
        // /api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]
        ["namespaces", ns, "bindings"] if group.is_empty() => Ok(Route::LegacyBinding {
            namespace: nonempty(ns)?,
        }),
        ["namespaces", name] => rp(find(group, version, "namespaces")?, None, Some(name), None),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => rp(
            find(group, version, "namespaces")?,
            None,
            Some(name),
            Some(sub),
        ),
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => {
            let res = find(group, version, plural)?;
            if !res.namespaced {
                return Err(ApiError::unknown_path());
            }
            rp(res, Some(ns), tail.first().copied(), tail.get(1).copied())
        }
        [plural] => rp(find(group, version, plural)?, None, None, None),
        [plural, name] => {
            let res = find(group, version, plural)?;
            if res.namespaced {
                return Err(ApiError::unknown_path());
            }
            rp(res, None, Some(name), None)
        }
        [plural, name, sub] => {
            let res = find(group, version, plural)?;
            if res.namespaced {
                return Err(ApiError::unknown_path());
            }
            rp(res, None, Some(name), Some(sub))
        }
        _ => Err(ApiError::unknown_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res_of(r: Route) -> (String, Option<String>, Option<String>, Option<String>) {
        match r {
            Route::Resource(p) => (p.res.plural.to_string(), p.namespace, p.name, p.subresource),
            other => panic!("not a resource route: {other:?}"),
        }
    }

    #[test]
    fn paths_real_clients_send() {
        assert_eq!(parse("/version/").ok(), Some(Route::Version));
        assert_eq!(parse("/apis/").ok(), Some(Route::Apis));
        assert_eq!(
            res_of(parse("/api/v1/namespaces/default/pods/web-1/status").unwrap_or(Route::Api)),
            (
                "pods".into(),
                Some("default".into()),
                Some("web-1".into()),
                Some("status".into())
            )
        );
        assert_eq!(
            res_of(parse("/api/v1/nodes/node1/status").unwrap_or(Route::Api)),
            (
                "nodes".into(),
                None,
                Some("node1".into()),
                Some("status".into())
            )
        );
        assert_eq!(
            res_of(parse("/api/v1/namespaces/kube-system").unwrap_or(Route::Api)),
            ("namespaces".into(), None, Some("kube-system".into()), None)
        );
        assert_eq!(
            res_of(parse("/api/v1/pods").unwrap_or(Route::Api)).0,
            "pods"
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/bindings").ok(),
            Some(Route::LegacyBinding {
                namespace: "x".into()
            })
        );
        assert!(parse("/api/v1/pods/x").is_err());
        assert!(parse("/api/v1/namespaces//pods").is_err());
        assert!(parse("/api/v1/nope").is_err());
        assert!(parse("/").is_err());
    }
}
