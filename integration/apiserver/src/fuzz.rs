//! Property tests of everything the server decodes from the network before
//! it reaches the pure core: request paths, query strings (list, write and
//! delete options, continue tokens), Accept/Content-Type headers and bodies
//! of every content type. Each must answer a value or an ApiError, never
//! panic. (Patches, selectors, tokens and strategies have their own property
//! tests next to their code.)

use crate::http::{negotiate, route};
use crate::query::{DeleteOptions, ListOptions, Query, WriteOptions};
use crate::registry::decode_continue;
use axum::http::{header, HeaderMap, HeaderValue};
use proptest::prelude::*;

const CONTENT_TYPES: &[&str] = &[
    "",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
    "application/json;charset=utf-8",
];

const ACCEPTS: &[&str] = &[
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
    "application/vnd.kubernetes.protobuf",
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    "*/*",
    ";;;,,,=",
];

/// Path segments that real clients send, mixed with noise.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_string()),
        Just("apis".to_string()),
        Just("v1".to_string()),
        Just("apps".to_string()),
        Just("namespaces".to_string()),
        Just("pods".to_string()),
        Just("deployments".to_string()),
        Just("status".to_string()),
        Just("scale".to_string()),
        Just("".to_string()),
        Just("%".to_string()),
        Just("%zz".to_string()),
        Just("..".to_string()),
        "[a-z0-9.%-]{0,12}",
        ".{0,8}",
    ]
}

fn query_pair() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("labelSelector"),
        Just("fieldSelector"),
        Just("limit"),
        Just("continue"),
        Just("resourceVersion"),
        Just("resourceVersionMatch"),
        Just("watch"),
        Just("allowWatchBookmarks"),
        Just("timeoutSeconds"),
        Just("sendInitialEvents"),
        Just("dryRun"),
        Just("fieldManager"),
        Just("fieldValidation"),
        Just("force"),
        Just("gracePeriodSeconds"),
        Just("propagationPolicy"),
        Just("orphanDependents"),
    ];
    (key, ".{0,16}").prop_map(|(k, v)| format!("{k}={v}"))
}

fn headers(ct: &str, accept: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(header::ACCEPT, v);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn paths_never_panic(segs in prop::collection::vec(segment(), 0..9), raw in ".{0,40}") {
        let _ = route::parse(&format!("/{}", segs.join("/")));
        let _ = route::parse(&raw);
    }

    #[test]
    fn queries_never_panic(pairs in prop::collection::vec(query_pair(), 0..8), raw in ".{0,60}") {
        for q in [pairs.join("&"), raw] {
            let q = Query::parse(Some(&q));
            let _ = ListOptions::parse(&q);
            let _ = WriteOptions::parse(&q);
            let _ = DeleteOptions::parse(&q, None);
            let _ = DeleteOptions::parse(&q, Some(&serde_json::json!({"gracePeriodSeconds": "x"})));
        }
    }

    #[test]
    fn continue_tokens_never_panic(t in ".{0,60}", b in prop::collection::vec(any::<u8>(), 0..48)) {
        use base64::Engine as _;
        let _ = decode_continue(&t);
        let _ = decode_continue(&base64::engine::general_purpose::STANDARD.encode(&b));
        let _ = decode_continue(&base64::engine::general_purpose::URL_SAFE.encode(&b));
    }

    #[test]
    fn bodies_never_panic(
        ct in prop::sample::select(CONTENT_TYPES),
        accept in prop::sample::select(ACCEPTS),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            ".{0,200}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..200)
                .prop_map(|b| [b"k8s\0".as_slice(), &b].concat()),
        ],
    ) {
        let h = headers(ct, accept);
        let _ = negotiate::wanted(&h);
        let _ = negotiate::decode_body(&h, &body);
    }
}

/// Nesting far past serde's recursion limit is an error, not a stack overflow.
#[test]
fn deep_nesting_is_refused_not_overflowing() {
    for depth in [1usize, 127, 128, 129, 500, 100_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let _ = negotiate::decode_body(&headers("application/json", "*/*"), body.as_bytes());
        let yaml = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let _ = negotiate::decode_body(&headers("application/yaml", "*/*"), yaml.as_bytes());
        let deep_obj = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let r = negotiate::decode_body(&headers("application/json", "*/*"), deep_obj.as_bytes());
        if depth > 200 {
            assert!(r.is_err(), "nesting {depth} accepted");
        }
    }
}
