//! Content negotiation: what the client accepts (JSON, a
//! `meta.k8s.io/v1 Table`, PartialObjectMetadata, YAML, aggregated
//! discovery), how its body is encoded (JSON, YAML, none = JSON; protobuf
//! refused with 415), and the response: JSON, gzip only when asked and
//! large (upstream's 128 KiB threshold), `Warning` headers, Status errors.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use kube_lite_api::ApiError;
use serde_json::Value;
use std::io::Write;

const GZIP_THRESHOLD: usize = 128 * 1024;

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Json,
    Yaml,
    Table,
    Metadata,
}

/// Parses `Accept`: the first acceptable entry wins (Table and
/// PartialObjectMetadata need `g=meta.k8s.io`); only-protobuf is 406.
pub fn wanted(headers: &HeaderMap) -> Result<Wanted, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Wanted::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Wanted::Json);
    }
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let mt = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match mt {
            "application/json" | "*/*" | "application/*" => match (param("as"), param("g")) {
                (Some("Table"), Some("meta.k8s.io")) => return Ok(Wanted::Table),
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                ) => return Ok(Wanted::Metadata),
                (Some(_), _) => continue,
                _ => return Ok(Wanted::Json),
            },
            "application/yaml" => return Ok(Wanted::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/yaml (asked for {accept:?})"
    )))
}

/// Whether `Accept` asks for aggregated discovery v2.
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(kube_lite_api::discovery::accepts_aggregated)
}

/// Decodes a request body per its Content-Type (absent: JSON).
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mt = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mt.as_str() {
        ""
        | "application/json"
        | "*/*"
        | "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "text/plain" => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad_request("the request body is empty"));
            }
            serde_json::from_slice(body).or_else(|e| {
                if mt.is_empty() {
                    // Some clients send YAML without a Content-Type.
                    yaml(body).map_err(|_| json_error(&e))
                } else {
                    Err(json_error(&e))
                }
            })
        }
        "application/yaml"
        | "application/apply-patch+yaml"
        | "application/x-yaml"
        | "text/yaml" => yaml(body),
        "application/vnd.kubernetes.protobuf" => kube_lite_api::protobuf::decode(body)
            .map_err(|e| ApiError::new(415, "UnsupportedMediaType", e.to_string())),
        _ => Err(ApiError::unsupported_media_type(&ct)),
    }
}

fn json_error(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
}

fn yaml(body: &[u8]) -> Result<Value, ApiError> {
    let v: serde_yaml::Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?;
    serde_json::to_value(v)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

fn gzip_ok(req: &HeaderMap) -> bool {
    req.get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A response with `bytes` as the body of `content_type`.
pub fn bytes_response(
    req: &HeaderMap,
    code: StatusCode,
    content_type: &str,
    bytes: Vec<u8>,
    warnings: &[String],
) -> Response<Body> {
    let mut b = Response::builder().status(code);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        b = b.header(header::CONTENT_TYPE, v);
    }
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(v) = HeaderValue::from_str(&text) {
            b = b.header("Warning", v);
        }
    }
    let body = if bytes.len() >= GZIP_THRESHOLD && gzip_ok(req) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        match enc.write_all(&bytes).and_then(|_| enc.finish()) {
            Ok(z) => {
                b = b.header(header::CONTENT_ENCODING, "gzip");
                z
            }
            Err(_) => bytes,
        }
    } else {
        bytes
    };
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A JSON (or YAML when asked) response.
pub fn object_response(
    req: &HeaderMap,
    code: StatusCode,
    v: &Value,
    warnings: &[String],
) -> Response<Body> {
    if wanted(req) == Ok(Wanted::Yaml) {
        if let Ok(y) = serde_yaml::to_string(v) {
            return bytes_response(req, code, "application/yaml", y.into_bytes(), warnings);
        }
    }
    bytes_response(
        req,
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
        warnings,
    )
}

/// The Status response of an error.
pub fn error_response(req: &HeaderMap, e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = bytes_response(
        req,
        code,
        "application/json",
        serde_json::to_vec(&e.to_status()).unwrap_or_default(),
        &[],
    );
    if e.code == 429 || e.code == 503 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            k,
            HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
        );
        m
    }

    #[test]
    fn accept_headers_of_real_clients() {
        assert_eq!(wanted(&HeaderMap::new()).ok(), Some(Wanted::Json));
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(wanted(&h(header::ACCEPT, table)).ok(), Some(Wanted::Table));
        assert_eq!(
            wanted(&h(header::ACCEPT, "application/json, */*")).ok(),
            Some(Wanted::Json)
        );
        assert_eq!(
            wanted(&h(header::ACCEPT, "application/vnd.kubernetes.protobuf")).map_err(|e| e.code),
            Err(406)
        );
        let agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(&h(header::ACCEPT, agg)));
        assert!(!wants_aggregated(&h(header::ACCEPT, "application/json")));
    }

    #[test]
    fn bodies() {
        assert!(decode_body(&HeaderMap::new(), b"{\"a\":1}").is_ok());
        assert_eq!(
            decode_body(&h(header::CONTENT_TYPE, "application/json"), b"{").map_err(|e| e.code),
            Err(400)
        );
        assert_eq!(
            decode_body(
                &h(header::CONTENT_TYPE, "application/vnd.kubernetes.protobuf"),
                b"x"
            )
            .map_err(|e| e.code),
            Err(415)
        );
        assert!(decode_body(&h(header::CONTENT_TYPE, "application/yaml"), b"a: 1\n").is_ok());
    }
}
