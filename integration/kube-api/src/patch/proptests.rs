//! Property tests: no patch type panics on arbitrary input; `{}` is the
//! identity; strategic merge without lists or directives is JSON merge;
//! strategic patches without `$patch`/delete directives are idempotent.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{apply, server_side_apply, PatchType};

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "Node",
    "CronJob",
    "Widget",
    "ConfigMap",
];

/// Keys that hit the interesting paths of the type graph and the directives.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "metadata",
        "spec",
        "status",
        "template",
        "containers",
        "conditions",
        "finalizers",
        "ownerReferences",
        "podCIDRs",
        "name",
        "type",
        "uid",
        "image",
        "env",
        "a",
        "b",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$setElementOrder/finalizers",
        "$deleteFromPrimitiveList/finalizers",
        "$deleteFromPrimitiveList",
        "$bogus",
    ])
    .prop_map(str::to_string)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u8..4).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "c", "delete", "replace", "merge", "name"])
            .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Plain keys only (no directives) and no lists.
fn list_free_value() -> impl Strategy<Value = Value> {
    let plain = prop::sample::select(vec!["metadata", "spec", "status", "template", "a", "b"])
        .prop_map(str::to_string);
    scalar().prop_recursive(4, 32, 4, move |inner| {
        prop::collection::vec((plain.clone(), inner), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    })
}

/// Kubernetes-shaped pod patches and objects: keyed containers, env, sets of
/// finalizers, labels, nulls; no `$patch` or delete directives.
fn pod_like() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["a", "b", "c"]).prop_map(Value::from);
    let opt_scalar = prop_oneof![Just(Value::Null), scalar()];
    let env = (name.clone(), opt_scalar.clone())
        .prop_map(|(n, v)| serde_json::json!({"name": n, "value": v}));
    let container = (
        name.clone(),
        opt_scalar.clone(),
        prop::option::of(prop::collection::vec(env, 0..3)),
    )
        .prop_map(|(n, image, env)| {
            let mut c = serde_json::json!({"name": n, "image": image});
            if let (Some(env), Some(m)) = (env, c.as_object_mut()) {
                m.insert("env".into(), Value::Array(env));
            }
            c
        });
    (
        prop::option::of(prop::collection::vec(name.clone(), 0..4)),
        prop::option::of(prop::collection::vec((name, opt_scalar.clone()), 0..3)),
        prop::option::of(prop::collection::vec(container, 0..4)),
        prop::option::of(opt_scalar),
    )
        .prop_map(|(fin, labels, containers, node)| {
            let mut meta = Map::new();
            if let Some(f) = fin {
                meta.insert("finalizers".into(), Value::Array(f));
            }
            if let Some(l) = labels {
                let m: Map<String, Value> = l
                    .into_iter()
                    .filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v)))
                    .collect();
                meta.insert("labels".into(), Value::Object(m));
            }
            let mut spec = Map::new();
            if let Some(c) = containers {
                spec.insert("containers".into(), Value::Array(c));
            }
            if let Some(n) = node {
                spec.insert("nodeName".into(), n);
            }
            serde_json::json!({"metadata": meta, "spec": spec})
        })
}

fn without_nulls(v: Value) -> Value {
    super::strategic::discard_nulls(v)
}

proptest! {
    // No regression files: they would land outside src/patch; the cases
    // proptest found are unit tests in `tests.rs`.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_patch_type_panics(doc in json_value(), patch in json_value(), k in 0..KINDS.len()) {
        let kind = KINDS.get(k).copied().unwrap_or("Pod");
        for pt in [PatchType::Json, PatchType::Merge, PatchType::Strategic, PatchType::Apply] {
            let _ = apply(kind, pt, &doc, &patch);
        }
        let _ = server_side_apply(kind, Some(&doc), &patch, "m", false);
        let _ = server_side_apply(kind, None, &patch, "m", true);
    }

    #[test]
    fn object_patches_never_panic(doc in json_object(), patch in json_object(), k in 0..KINDS.len()) {
        let kind = KINDS.get(k).copied().unwrap_or("Pod");
        let _ = apply(kind, PatchType::Strategic, &doc, &patch);
        let once = server_side_apply(kind, Some(&doc), &patch, "m", false);
        if let Ok(live) = once {
            let _ = server_side_apply(kind, Some(&live), &doc, "m", false);
        }
    }

    #[test]
    fn json_patch_ops_never_panic(doc in json_object(), ops in prop::collection::vec(
        (prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "x"]),
         prop::sample::select(vec!["", "/", "/a", "/a/0", "/a/-", "/spec/b", "a", "/~2"]),
         json_value()), 0..4)) {
        let patch: Vec<Value> = ops.into_iter().map(|(op, path, v)| serde_json::json!(
            {"op": op, "path": path, "from": "/a", "value": v})).collect();
        let _ = apply("Pod", PatchType::Json, &doc, &Value::Array(patch));
    }

    #[test]
    fn empty_patch_is_the_identity(doc in json_object(), k in 0..KINDS.len()) {
        let kind = KINDS.get(k).copied().unwrap_or("Pod");
        let empty = Value::Object(Map::new());
        prop_assert_eq!(apply(kind, PatchType::Merge, &doc, &empty), Ok(doc.clone()));
        prop_assert_eq!(apply(kind, PatchType::Strategic, &doc, &empty), Ok(doc.clone()));
        prop_assert_eq!(apply(kind, PatchType::Json, &doc, &Value::Array(vec![])), Ok(doc));
    }

    #[test]
    fn strategic_without_lists_is_json_merge(doc in json_object(), patch in list_free_value(),
                                             k in 0..KINDS.len()) {
        prop_assume!(patch.is_object());
        let kind = KINDS.get(k).copied().unwrap_or("Pod");
        let s = apply(kind, PatchType::Strategic, &doc, &patch);
        let m = apply(kind, PatchType::Merge, &doc, &patch);
        prop_assert_eq!(s, m);
    }

    #[test]
    fn strategic_patches_are_idempotent(doc in pod_like(), patch in pod_like(),
                                        k in 0..3usize) {
        let kind = ["Pod", "Widget", "ConfigMap"].get(k).copied().unwrap_or("Pod");
        let doc = without_nulls(doc);
        if let Ok(once) = apply(kind, PatchType::Strategic, &doc, &patch) {
            let twice = apply(kind, PatchType::Strategic, &once, &patch);
            prop_assert_eq!(twice, Ok(once));
        }
    }

    #[test]
    fn arbitrary_directive_free_patches_are_idempotent(doc in json_object(),
                                                       patch in json_object()) {
        let text = patch.to_string();
        prop_assume!(!text.contains("$patch") && !text.contains("$deleteFromPrimitiveList"));
        let doc = without_nulls(doc);
        if let Ok(once) = apply("Pod", PatchType::Strategic, &doc, &patch) {
            let twice = apply("Pod", PatchType::Strategic, &once, &patch);
            prop_assert_eq!(twice, Ok(once));
        }
    }
}
