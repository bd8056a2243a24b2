//! Tests of the OpenAPI documents: what kubectl reads from them.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};

use super::gnostic::decode::{self, Field};
use super::schemas::refs;
use super::*;
use crate::resources;

fn served_paths() -> BTreeSet<String> {
    resources::all()
        .iter()
        .map(|r| {
            if r.group.is_empty() {
                format!("api/{}", r.version)
            } else {
                format!("apis/{}/{}", r.group, r.version)
            }
        })
        .collect()
}

/// Every served document, parsed once for all tests.
fn parsed(path: &str) -> &'static Value {
    static DOCS: std::sync::OnceLock<std::collections::BTreeMap<String, Value>> =
        std::sync::OnceLock::new();
    static NULL: Value = Value::Null;
    DOCS.get_or_init(|| {
        served_paths()
            .into_iter()
            .map(|p| {
                let doc = v3_document(&p).unwrap_or_default();
                (p, doc)
            })
            .collect()
    })
    .get(path)
    .unwrap_or(&NULL)
}

#[test]
fn index_lists_every_served_group_version_with_a_hash() {
    let index = v3_index();
    let paths = index["paths"].as_object().cloned().unwrap_or_default();
    let listed: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(listed, served_paths());
    for (path, entry) in &paths {
        let url = entry["serverRelativeURL"].as_str().unwrap_or_default();
        let prefix = format!("/openapi/v3/{path}?hash=");
        assert!(url.starts_with(&prefix), "{url}");
        let hash = &url[prefix.len()..];
        assert_eq!(hash.len(), 32, "128-bit hex: {hash}");
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(v3_document(path).is_some(), "{path}");
        // The hash changes exactly when the served bytes do (kubectl caches by URL).
        assert_eq!(
            Some(digest(
                std::str::from_utf8(v3_document_bytes(path).unwrap_or_default())
                    .unwrap_or_default()
            )),
            Some(hash.to_string())
        );
        assert!(v3_document(url).is_some(), "{url}");
    }
    assert!(v3_document("apis/nothing.example.com/v1").is_none());
}

#[test]
fn every_served_kind_has_a_schema_with_its_gvk() {
    for r in resources::all() {
        let path = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        let doc = parsed(&path);
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let want = json!({"group": r.group, "kind": r.kind, "version": r.version});
        let found = schemas.values().any(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(&want))
        });
        assert!(found, "no schema for {want} in {path}");
    }
}

#[test]
fn pod_schema_is_upstreams() {
    let doc = v3_document("api/v1").unwrap_or_default();
    let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    assert!(pod["description"]
        .as_str()
        .unwrap_or_default()
        .contains("collection of containers"));
    // metadata is optional upstream; k8s-openapi's Rust field is not.
    assert!(pod.get("required").is_none(), "{}", pod["required"]);
    // A described ref becomes allOf + description, as in upstream's v3.
    assert_eq!(
        pod["properties"]["spec"]["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
    );
    assert!(pod["properties"]["spec"]["description"].is_string());
    let containers =
        &doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    let list = &doc["components"]["schemas"]["io.k8s.api.core.v1.PodList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "PodList"
    );
    let ios = &doc["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["format"], "int-or-string");
    assert!(ios["oneOf"].is_array());
    assert!(doc["components"]["schemas"]
        .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        .is_some());
}

#[test]
fn all_refs_resolve_inside_each_document() {
    for path in served_paths() {
        let doc = parsed(&path);
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/");
            let name = name.unwrap_or_else(|| panic!("{path}: foreign ref {r}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{path}: {r} dangles"
            );
        }
    }
    let v2 = v2_json();
    let mut found = Vec::new();
    refs(&v2, &mut found);
    for r in found {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("v2: foreign ref {r}"));
        assert!(v2["definitions"].get(name).is_some(), "v2: {r} dangles");
    }
}

/// What cli-runtime's QueryParamVerifierV3 does: find the PATCH operation
/// with the kind's GVK and look for the `fieldValidation` query parameter.
fn supports_field_validation(doc: &Value, gvk: &Value) -> bool {
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    paths
        .values()
        .filter_map(|item| item.get("patch"))
        .find(|op| &op["x-kubernetes-group-version-kind"] == gvk)
        .is_some_and(|op| {
            op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
            })
        })
}

#[test]
fn kubectl_sees_server_side_field_validation_for_every_patchable_kind() {
    let core = v3_document("api/v1").unwrap_or_default();
    let ns = &core["paths"]["/api/v1/namespaces/{name}"]["patch"];
    assert_eq!(
        ns["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "Namespace", "version": "v1"})
    );
    for r in resources::all()
        .iter()
        .filter(|r| r.verbs.contains(&"patch"))
    {
        let path = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        let doc = parsed(&path);
        let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
        assert!(supports_field_validation(doc, &gvk), "{gvk}");
    }
}

#[test]
fn patch_operations_do_not_offer_strategic_merge_patch() {
    // kubectl would build its strategic merge patches from these schemas,
    // which lack the merge keys; without the type it uses its built-ins.
    let doc = v3_document("api/v1").unwrap_or_default();
    let content = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
        ["requestBody"]["content"];
    assert!(content.get("application/merge-patch+json").is_some());
    assert!(content
        .get("application/strategic-merge-patch+json")
        .is_none());
}

#[test]
fn explain_finds_the_kind_from_the_list_path() {
    // kubectl explain's template reads the GVK of the list or item path.
    let doc = v3_document("apis/apps/v1").unwrap_or_default();
    let get = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"];
    assert_eq!(get["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    let strategy = &doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]
        ["strategy"];
    assert!(strategy["description"].is_string());
}

#[test]
fn v2_document_has_definitions_and_paths() {
    let v2 = v2_json();
    assert_eq!(v2["swagger"], "2.0");
    let pod = &v2["definitions"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    assert_eq!(
        pod["properties"]["spec"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodSpec"
    );
    let ios = &v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["type"], "string");
    assert_eq!(ios["format"], "int-or-string");
    let patch = &v2["paths"]["/api/v1/namespaces/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Namespace"
    );
    assert!(patch["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation")));
}

fn named(list: &[Vec<u8>], name: &str) -> Option<Vec<(u32, Field)>> {
    list.iter()
        .filter_map(|b| decode::fields(b))
        .find(|f| decode::string(f, 1) == name)
        .and_then(|f| decode::all(&f, 2).first().and_then(|b| decode::fields(b)))
}

#[test]
fn protobuf_decodes_back_to_the_json_document() {
    let json = v2_json();
    let pb = v2_protobuf();
    let doc = decode::fields(&pb).unwrap_or_default();
    assert_eq!(decode::string(&doc, 1), "2.0");
    let info = decode::fields(&decode::all(&doc, 2)[0]).unwrap_or_default();
    assert_eq!(decode::string(&info, 1), "Kubernetes");

    // definitions (9): one NamedSchema per JSON definition.
    let defs = decode::fields(&decode::all(&doc, 9)[0]).unwrap_or_default();
    let named_schemas = decode::all(&defs, 1);
    assert_eq!(
        named_schemas.len(),
        json["definitions"].as_object().map_or(0, |m| m.len())
    );
    let pod = named(&named_schemas, "io.k8s.api.core.v1.Pod").unwrap_or_default();
    assert!(decode::string(&pod, 4).contains("collection of containers"));
    // vendor_extension (31): x-kubernetes-group-version-kind as Any{yaml}.
    let ext = named(&decode::all(&pod, 31), "x-kubernetes-group-version-kind").unwrap_or_default();
    let yaml: Value = serde_json::from_str(&decode::string(&ext, 2)).unwrap_or_default();
    assert_eq!(yaml, json!([{"group": "", "kind": "Pod", "version": "v1"}]));
    // properties (25) → spec → $ref (1).
    let props = decode::fields(&decode::all(&pod, 25)[0]).unwrap_or_default();
    let spec = named(&decode::all(&props, 1), "spec").unwrap_or_default();
    assert_eq!(
        decode::string(&spec, 1),
        "#/definitions/io.k8s.api.core.v1.PodSpec"
    );
    // type (22) of PodSpec.containers and its items (23).
    let podspec = named(&named_schemas, "io.k8s.api.core.v1.PodSpec").unwrap_or_default();
    let props = decode::fields(&decode::all(&podspec, 25)[0]).unwrap_or_default();
    let containers = named(&decode::all(&props, 1), "containers").unwrap_or_default();
    let ty = decode::fields(&decode::all(&containers, 22)[0]).unwrap_or_default();
    assert_eq!(decode::string(&ty, 1), "array");
    let items = decode::fields(&decode::all(&containers, 23)[0]).unwrap_or_default();
    let item = decode::fields(&decode::all(&items, 1)[0]).unwrap_or_default();
    assert_eq!(
        decode::string(&item, 1),
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    // required (19) of Container.
    let container = named(&named_schemas, "io.k8s.api.core.v1.Container").unwrap_or_default();
    assert_eq!(decode::all(&container, 19), vec![b"name".to_vec()]);

    // paths (8): the namespace PATCH with its GVK and fieldValidation.
    let paths = decode::fields(&decode::all(&doc, 8)[0]).unwrap_or_default();
    let ns = named(&decode::all(&paths, 2), "/api/v1/namespaces/{name}").unwrap_or_default();
    let patch = decode::fields(&decode::all(&ns, 8)[0]).unwrap_or_default();
    let gvk =
        named(&decode::all(&patch, 13), "x-kubernetes-group-version-kind").unwrap_or_default();
    let gvk: Value = serde_json::from_str(&decode::string(&gvk, 2)).unwrap_or_default();
    assert_eq!(
        gvk,
        json!({"group": "", "kind": "Namespace", "version": "v1"})
    );
    let query_names: Vec<String> = decode::all(&patch, 8)
        .iter()
        .filter_map(|b| decode::fields(b))
        .filter_map(|item| {
            decode::all(&item, 1)
                .first()
                .and_then(|b| decode::fields(b))
        })
        .filter_map(|param| {
            decode::all(&param, 2)
                .first()
                .and_then(|b| decode::fields(b))
        })
        .filter_map(|nb| decode::all(&nb, 3).first().and_then(|b| decode::fields(b)))
        .map(|q| decode::string(&q, 4))
        .collect();
    assert!(
        query_names.contains(&"fieldValidation".to_string()),
        "{query_names:?}"
    );
}

#[test]
fn documents_are_deterministic() {
    let gv = kinds::GROUP_VERSIONS.iter().find(|gv| gv.group.is_empty());
    let gv = gv.unwrap_or_else(|| panic!("no core group"));
    assert_eq!(v3::document(gv).to_string(), v3::document(gv).to_string());
    let served = served();
    let a = v2::document(&served);
    assert_eq!(a.to_string(), v2::document(&served).to_string());
    assert_eq!(gnostic::encode(&a), v2_protobuf());
}

#[test]
fn building_everything_is_fast() {
    // Every group/version with all its kinds served: the size the full
    // resource table gives (generation happens once, on first use).
    let start = Instant::now();
    let mut bytes = 0;
    for (gv, res) in synthetic_resources() {
        bytes += v3::document_with(gv, paths::paths_of(gv, &res))
            .to_string()
            .len();
    }
    let all: Vec<_> = kinds::GROUP_VERSIONS.iter().collect();
    let v2 = v2::document(&all);
    bytes += gnostic::encode(&v2).len();
    let elapsed = start.elapsed();
    eprintln!("built every document ({bytes} bytes) in {elapsed:?}");
    assert!(elapsed.as_secs_f64() < 5.0, "{elapsed:?}");
}

/// Writes the documents under /tmp/kube-lite-openapi for manual checks with
/// kubectl (`cargo test -p kube-lite-api --lib openapi::tests::dump -- --ignored`).
#[test]
#[ignore]
fn dump() {
    let dir = std::path::Path::new("/tmp/kube-lite-openapi");
    let _ = std::fs::create_dir_all(dir.join("v3"));
    let write = |name: &str, bytes: &[u8]| {
        if let Err(e) = std::fs::write(dir.join(name), bytes) {
            panic!("{name}: {e}");
        }
    };
    write("v3-index.json", v3_index().to_string().as_bytes());
    for path in served_paths() {
        let doc = parsed(&path);
        write(
            &format!("v3/{}.json", path.replace('/', "__")),
            doc.to_string().as_bytes(),
        );
    }
    write("v2.json", v2_json().to_string().as_bytes());
    write("v2.pb", &v2_protobuf());
}

/// A resource for every kind of every group/version document, as the full
/// resource table will have them (the table may still serve fewer).
fn synthetic_resources() -> Vec<(&'static kinds::GroupVersion, Vec<resources::ResourceInfo>)> {
    use resources::{ResourceInfo, Subresource};
    kinds::GROUP_VERSIONS
        .iter()
        .map(|gv| {
            let res = gv
                .kinds
                .iter()
                .filter(|k| k.list_kind.is_some() && k.group == gv.group && k.version == gv.version)
                .map(|k| {
                    let plural: &'static str =
                        Box::leak(format!("{}s", k.kind.to_lowercase()).into_boxed_str());
                    ResourceInfo {
                        group: k.group,
                        version: k.version,
                        plural,
                        singular: plural,
                        kind: k.kind,
                        namespaced: k.kind != "Namespace",
                        short_names: &[],
                        categories: &[],
                        verbs: resources::RW_VERBS,
                        subresources: &[
                            Subresource::Status,
                            Subresource::Scale,
                            Subresource::Eviction,
                            Subresource::Binding,
                            Subresource::Token,
                        ],
                        storage: plural,
                        storage_version: k.version,
                        return_deleted_object: false,
                    }
                })
                .collect();
            (gv, res)
        })
        .collect()
}

#[test]
fn every_group_version_document_is_complete_once_all_kinds_are_served() {
    for (gv, res) in synthetic_resources() {
        let doc = v3::document_with(gv, paths::paths_of(gv, &res));
        let mut found = Vec::new();
        refs(&doc, &mut found);
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_default();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{}: {r} dangles",
                gv.path()
            );
        }
        assert!(!res.is_empty(), "{}", gv.path());
        for r in &res {
            let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
            assert!(supports_field_validation(&doc, &gvk), "{gvk}");
            let list = if r.namespaced {
                format!("/{}/namespaces/{{namespace}}/{}", gv.path(), r.plural)
            } else {
                format!("/{}/{}", gv.path(), r.plural)
            };
            assert_eq!(
                doc["paths"][&list]["get"]["x-kubernetes-group-version-kind"], gvk,
                "{list}"
            );
            let has_schema = doc["components"]["schemas"].as_object().is_some_and(|m| {
                m.values().any(|s| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|l| l.contains(&gvk))
                })
            });
            assert!(has_schema, "{gvk}");
        }
    }
}

#[test]
fn first_calls_are_fast() {
    let start = Instant::now();
    let _ = v3_index();
    let v3 = start.elapsed();
    let _ = v2_protobuf();
    let v2 = start.elapsed() - v3;
    eprintln!("v3_index first call {v3:?}, v2 first call {v2:?}");
    assert!(v3.as_secs_f64() + v2.as_secs_f64() < 5.0);
}
