//! Behaviour tests of the patch types, with the patches real clients send
//! (research §3.1, §4, §8.1) and upstream's strategicpatch test cases.

use serde_json::{json, Value};

use super::{apply, server_side_apply, ssa, PatchType};

fn smp(kind: &str, original: Value, patch: Value) -> Value {
    match apply(kind, PatchType::Strategic, &original, &patch) {
        Ok(v) => v,
        Err(e) => panic!("strategic patch {patch} failed: {e}"),
    }
}

fn smp_err(kind: &str, original: Value, patch: Value) -> String {
    match apply(kind, PatchType::Strategic, &original, &patch) {
        Ok(v) => panic!("strategic patch {patch} should fail, gave {v}"),
        Err(e) => e.0,
    }
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"a": "1"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": containers, "restartPolicy": "Always"}}}
    })
}

fn containers(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]["containers"]
}

fn node() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                     "finalizers": ["a", "b", "c"]},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                {"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated"}
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]
        }
    })
}

#[test]
fn content_types_map_to_patch_types() {
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
        Some(PatchType::Strategic)
    );
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json"),
        Some(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml"),
        Some(PatchType::Apply)
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
}

#[test]
fn kubectl_apply_deployment_patch_with_set_element_order_changes_the_image_only() {
    let orig = deployment(json!([
        {"name": "c", "image": "nginx:1.18", "imagePullPolicy": "IfNotPresent",
         "ports": [{"containerPort": 80, "protocol": "TCP"}]}
    ]));
    // Recorded, kubectl 1.20.2 (research §3.1).
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"x\":1}\n"}},
        "spec": {"replicas": 2, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}],
            "containers": [{"image": "nginx:1.20", "name": "c"}]}}}
    });
    let out = smp("Deployment", orig, patch);
    assert_eq!(out["spec"]["replicas"], 2);
    assert_eq!(
        containers(&out),
        &json!([{"name": "c", "image": "nginx:1.20", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]}])
    );
    let ann = &out["metadata"]["annotations"];
    assert_eq!(ann["a"], "1");
    assert_eq!(
        ann["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"x\":1}\n"
    );
    assert_eq!(out["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(out["spec"]["template"]["spec"]
        .get("$setElementOrder/containers")
        .is_none());
}

#[test]
fn set_element_order_reorders_and_keeps_server_only_items() {
    let orig = deployment(json!([{"name": "a"}, {"name": "b", "x": 1}, {"name": "side"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "new"}, {"name": "a"}],
        "containers": [{"name": "new", "image": "i"}]}}}});
    let out = smp("Deployment", orig, patch);
    let names: Vec<&str> = containers(&out)
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["b", "new", "a", "side"]);
    assert_eq!(containers(&out)[0]["x"], 1);
}

#[test]
fn set_element_order_mismatching_the_patch_list_is_an_error() {
    let orig = deployment(json!([{"name": "a"}, {"name": "b"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "zzz"}]}}}});
    smp_err("Deployment", orig.clone(), patch);
    let bad = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": "a"}}}});
    smp_err("Deployment", orig.clone(), bad);
    let no_slash = json!({"spec": {"template": {"spec": {"$setElementOrder": []}}}});
    smp_err("Deployment", orig, no_slash);
}

#[test]
fn kubectl_apply_configmap_data_change() {
    let orig = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old\n"}},
        "data": {"a": "1", "b": "keep"}});
    let patch = json!({"data": {"a": "2"},
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new\n"}}});
    let out = smp("ConfigMap", orig, patch);
    assert_eq!(out["data"], json!({"a": "2", "b": "keep"}));
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "new\n"
    );
}

#[test]
fn flannel_annotation_patch_on_node_status_keeps_other_annotations() {
    let patch = json!({"metadata": {"annotations": {
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/public-ip": "10.0.0.1",
        "flannel.alpha.coreos.com/kube-subnet-manager": "true"}}});
    let out = smp("Node", node(), patch);
    let ann = &out["metadata"]["annotations"];
    assert_eq!(ann["node.alpha.kubernetes.io/ttl"], "0");
    assert_eq!(ann["flannel.alpha.coreos.com/backend-type"], "vxlan");
    assert_eq!(out["status"], node()["status"]);
}

#[test]
fn flannel_network_unavailable_condition_keeps_ready_and_replaces_same_type() {
    // flannel CompleteLease (research §8.1).
    let patch = json!({"status": {"conditions": [{
        "type": "NetworkUnavailable", "status": "False", "reason": "FlannelIsUp",
        "message": "Flannel is running on this node",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}});
    let out = smp("Node", node(), patch.clone());
    let conds = out["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conds.len(), 3, "{conds:?}");
    let by_type = |t: &str| conds.iter().find(|c| c["type"] == t).cloned();
    assert_eq!(
        by_type("Ready").map(|c| c["reason"].clone()),
        Some(json!("KubeletReady"))
    );
    let nu = by_type("NetworkUnavailable").unwrap_or_default();
    assert_eq!(nu["status"], "False");
    assert_eq!(nu["reason"], "FlannelIsUp");
    assert_eq!(nu["message"], "Flannel is running on this node");
    assert_eq!(out["status"]["addresses"], node()["status"]["addresses"]);
    // The same patch as a JSON merge patch would drop Ready: SMP is required.
    let merged = apply("Node", PatchType::Merge, &node(), &patch).unwrap_or_default();
    assert_eq!(
        merged["status"]["conditions"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn patch_delete_directive_removes_a_container() {
    let orig = deployment(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}});
    let out = smp("Deployment", orig, patch);
    assert_eq!(containers(&out), &json!([{"name": "b", "image": "y"}]));
}

#[test]
fn patch_replace_directive_in_a_list_replaces_the_list() {
    let orig = deployment(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "z"}, {"$patch": "replace"}]}}}});
    let out = smp("Deployment", orig, patch);
    assert_eq!(containers(&out), &json!([{"name": "c", "image": "z"}]));
}

#[test]
fn patch_replace_and_delete_directives_on_maps() {
    let orig = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
                      "spec": {"nodeSelector": {"x": "y"}, "containers": []}});
    let out = smp(
        "Pod",
        orig.clone(),
        json!({"metadata": {"labels": {"c": "3", "$patch": "replace"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(out["metadata"]["name"], "p");
    let out = smp(
        "Pod",
        orig.clone(),
        json!({"spec": {"nodeSelector": {"$patch": "delete"}}}),
    );
    assert_eq!(out["spec"]["nodeSelector"], json!({}));
    let out = smp(
        "Pod",
        orig.clone(),
        json!({"metadata": {"labels": {"c": "3", "$patch": "merge"}}}),
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"a": "1", "b": "2", "c": "3"})
    );
    smp_err(
        "Pod",
        orig.clone(),
        json!({"metadata": {"labels": {"$patch": "explode"}}}),
    );
    smp_err("Pod", orig, json!({"metadata": {"labels": {"$patch": 1}}}));
}

#[test]
fn bad_list_directives_are_errors() {
    let orig = deployment(json!([{"name": "a"}]));
    for el in [
        json!({"name": "a", "$patch": "merge"}),
        json!({"name": "a", "$patch": "bogus"}),
        json!({"$patch": "delete"}),
        json!({"image": "no-name"}),
    ] {
        let patch = json!({"spec": {"template": {"spec": {"containers": [el]}}}});
        smp_err("Deployment", orig.clone(), patch);
    }
    smp_err(
        "Deployment",
        orig.clone(),
        json!({"spec": {"$unknownDirective": 1}}),
    );
    smp_err("Deployment", orig.clone(), json!([1, 2]));
    smp_err("Deployment", json!("not an object"), json!({}));
}

#[test]
fn retain_keys_keeps_only_the_listed_keys() {
    let orig = deployment(json!([{"name": "a"}]));
    let mut orig = orig;
    orig["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = smp("Deployment", orig.clone(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    // A patched key missing from $retainKeys is an error, as upstream.
    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    smp_err("Deployment", orig.clone(), bad);
    let bad = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
    smp_err("Deployment", orig, bad);
}

#[test]
fn retain_keys_on_volume_sources() {
    let orig = json!({"spec": {"volumes": [
        {"name": "v", "emptyDir": {}}, {"name": "w", "hostPath": {"path": "/w"}}]}});
    let patch = json!({"spec": {"volumes": [
        {"name": "v", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}});
    let out = smp("Pod", orig, patch);
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "hostPath": {"path": "/w"}}])
    );
}

#[test]
fn delete_from_primitive_list_removes_finalizers() {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}});
    let out = smp("Node", node(), patch);
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    // kubectl's form when b is replaced by d, with the order directive.
    let patch = json!({"metadata": {
        "$setElementOrder/finalizers": ["a", "d", "c"],
        "$deleteFromPrimitiveList/finalizers": ["b"],
        "finalizers": ["d"]}});
    let out = smp("Node", node(), patch);
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "d", "c"]));
    // Deleting from an absent list adds nothing.
    let out = smp(
        "Pod",
        json!({"metadata": {}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
    );
    assert_eq!(out["metadata"], json!({}));
    smp_err(
        "Node",
        node(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": {"a": 1}}}),
    );
    smp_err(
        "Node",
        node(),
        json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
    );
}

#[test]
fn primitive_merge_lists_are_sets_and_other_lists_are_replaced() {
    let out = smp(
        "Node",
        node(),
        json!({"metadata": {"finalizers": ["c", "z"]}, "spec": {"podCIDRs": ["fd00::/64"]}}),
    );
    let fin: Vec<&str> = out["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(fin.len(), 4);
    for f in ["a", "b", "c", "z"] {
        assert!(fin.contains(&f), "{fin:?}");
    }
    assert_eq!(
        out["spec"]["podCIDRs"].as_array().map(Vec::len),
        Some(2),
        "{out}"
    );
    // Tolerations have no patchStrategy upstream: replaced.
    let pod = json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}});
    let out = smp("Pod", pod, json!({"spec": {"tolerations": [{"key": "c"}]}}));
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "c"}]));
}

#[test]
fn merge_list_order_follows_upstream() {
    // Upstream mergeSortedSlice: an item the original lacks goes after the
    // patch item in front of it; a lone new item goes first.
    let orig = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "b", "image": "x"}, {"name": "d"}]}}}});
    let out = smp("Deployment", orig.clone(), patch);
    let names: Vec<&str> = containers(&out)
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["a", "b", "d", "c"]);
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "z"}]}}}});
    let out = smp("Deployment", orig, patch);
    assert_eq!(containers(&out)[0]["name"], "z");
    assert_eq!(containers(&out).as_array().map(Vec::len), Some(4));
}

#[test]
fn nested_merge_lists_in_containers_merge_by_their_keys() {
    let orig = deployment(json!([{"name": "c",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "ports": [{"containerPort": 80}], "volumeMounts": [{"mountPath": "/a", "name": "v"}],
        "args": ["x", "y"]}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c",
        "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"}],
        "ports": [{"containerPort": 443, "name": "https"}],
        "volumeMounts": [{"mountPath": "/a", "readOnly": true}],
        "args": ["z"]}]}}}});
    let out = smp("Deployment", orig, patch);
    let c = &containers(&out)[0];
    assert_eq!(c["env"], json!([{"name": "B", "value": "3"}]));
    assert_eq!(c["ports"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        c["volumeMounts"],
        json!([{"mountPath": "/a", "name": "v", "readOnly": true}])
    );
    assert_eq!(c["args"], json!(["z"]));
}

#[test]
fn cronjob_job_template_reaches_the_pod_spec() {
    let orig = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "image": "3"}]}}}}}});
    let out = smp("CronJob", orig, patch);
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "1"}, {"name": "b", "image": "3"}])
    );
}

#[test]
fn unknown_kinds_replace_lists_but_merge_metadata() {
    let orig = json!({"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "a"}]}});
    let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "b"}]}});
    let out = smp("Widget", orig, patch);
    assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
    assert_eq!(
        out["metadata"]["finalizers"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn nulls_delete_keys_and_are_not_stored() {
    let orig = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
    let patch = json!({"metadata": {"labels": {"a": null, "c": null}},
                       "data": null, "new": {"x": null, "y": 1}});
    for pt in [PatchType::Strategic, PatchType::Merge] {
        let out = apply("ConfigMap", pt, &orig, &patch).unwrap_or_default();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2"}}, "new": {"y": 1}}),
            "{pt:?}"
        );
    }
}

#[test]
fn kubectl_label_and_cordon_and_restart_patches() {
    let orig = deployment(json!([{"name": "c"}]));
    let out = apply(
        "Deployment",
        PatchType::Merge,
        &orig,
        &json!({"metadata": {"labels": {"tier": "fe"}}}),
    )
    .unwrap_or_default();
    assert_eq!(out["metadata"]["labels"]["tier"], "fe");
    assert_eq!(out["metadata"]["annotations"]["a"], "1");
    let out = smp("Node", node(), json!({"spec": {"unschedulable": true}}));
    assert_eq!(out["spec"]["unschedulable"], true);
    assert_eq!(out["spec"]["podCIDR"], "10.244.0.0/24");
    let out = smp(
        "Deployment",
        orig,
        json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}}),
    );
    assert_eq!(
        out["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"},
               "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}})
    );
}

#[test]
fn rollout_undo_json_patch_replaces_template_and_annotations() {
    let orig = deployment(json!([{"name": "c", "image": "nginx:1.20"}]));
    // Recorded, kubectl rollout undo (research §4).
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": {
            "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.18", "resources": {}}]}}},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {"deployment.kubernetes.io/revision": "2"}}
    ]);
    let out = apply("Deployment", PatchType::Json, &orig, &patch).unwrap_or_default();
    assert_eq!(containers(&out)[0]["image"], "nginx:1.18");
    assert_eq!(
        out["metadata"]["annotations"],
        json!({"deployment.kubernetes.io/revision": "2"})
    );
    assert_eq!(out["spec"]["replicas"], 1);
}

#[test]
fn bad_json_patches_are_errors_naming_the_operation() {
    let orig = deployment(json!([{"name": "c"}]));
    let e = |p: Value| match apply("Deployment", PatchType::Json, &orig, &p) {
        Ok(v) => panic!("{p} should fail, gave {v}"),
        Err(e) => e.0,
    };
    let m = e(json!({"op": "add"}));
    assert!(m.contains("array"), "{m}");
    let m = e(json!([{"op": "test", "path": "/spec/replicas", "value": 5}]));
    assert!(m.contains("test /spec/replicas"), "{m}");
    let m = e(json!([
        {"op": "add", "path": "/metadata/labels", "value": {}},
        {"op": "remove", "path": "/spec/nope"}
    ]));
    assert!(
        m.contains("operation 1") && m.contains("remove /spec/nope"),
        "{m}"
    );
    let m = e(json!([{"op": "frobnicate", "path": "/a"}]));
    assert!(m.contains("operation 0"), "{m}");
    let m = e(json!([{"op": "replace", "path": "no-slash", "value": 1}]));
    assert!(m.contains("operation 0"), "{m}");
    // A passing test op and an add work.
    let ok = apply(
        "Deployment",
        PatchType::Json,
        &orig,
        &json!([{"op": "test", "path": "/spec/replicas", "value": 1},
                {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]),
    );
    assert_eq!(
        ok.map(|v| v["metadata"]["labels"].clone()),
        Ok(json!({"x": "y"}))
    );
}

#[test]
fn merge_patch_must_be_an_object() {
    assert!(apply("ConfigMap", PatchType::Merge, &json!({}), &json!([1])).is_err());
    assert!(apply("ConfigMap", PatchType::Merge, &json!({}), &json!("x")).is_err());
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cfg", "namespace": "default", "labels": {"app": "web"}},
           "data": data})
}

fn entries(v: &Value) -> Vec<Value> {
    v["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn server_side_apply_creates_with_a_managed_fields_entry() {
    let out = ssa::server_side_apply_at("ConfigMap", None, &cm(json!({"a": "2"})), "kubectl", 0)
        .unwrap_or_default();
    assert_eq!(out["data"], json!({"a": "2"}));
    let e = entries(&out);
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0],
        json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
               "time": "1970-01-01T00:00:00Z", "fieldsType": "FieldsV1",
               "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}})
    );
}

#[test]
fn server_side_apply_merges_and_removes_what_the_manager_dropped() {
    let first = cm(json!({"a": "1", "b": "1"}));
    let live = ssa::server_side_apply_at("ConfigMap", None, &first, "mgr", 0).unwrap_or_default();
    // Another writer adds c (not an Apply entry of mgr).
    let mut live = live;
    live["data"]["c"] = json!("other");
    let second = cm(json!({"a": "2"}));
    let out =
        ssa::server_side_apply_at("ConfigMap", Some(&live), &second, "mgr", 60).unwrap_or_default();
    assert_eq!(out["data"], json!({"a": "2", "c": "other"}));
    let e = entries(&out);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["time"], "1970-01-01T00:01:00Z");
    assert_eq!(e[0]["fieldsV1"]["f:data"], json!({"f:a": {}}));
    // A field another manager also applied is kept.
    let other =
        ssa::server_side_apply_at("ConfigMap", Some(&out), &cm(json!({"a": "2"})), "two", 61)
            .unwrap_or_default();
    assert_eq!(entries(&other).len(), 2);
    let dropped = ssa::server_side_apply_at("ConfigMap", Some(&other), &cm(json!({})), "mgr", 62)
        .unwrap_or_default();
    assert_eq!(dropped["data"]["a"], "2");
}

#[test]
fn server_side_apply_merges_containers_by_name() {
    let live = deployment(
        json!([{"name": "a", "image": "1", "terminationMessagePath": "/t"},
                                 {"name": "b", "image": "2"}]),
    );
    let applied = deployment(json!([{"name": "a", "image": "9"}]));
    let out =
        server_side_apply("Deployment", Some(&live), &applied, "kube-rs", true).unwrap_or_default();
    assert_eq!(
        containers(&out),
        &json!([{"name": "a", "image": "9", "terminationMessagePath": "/t"},
                {"name": "b", "image": "2"}])
    );
    let set = &entries(&out)[0]["fieldsV1"];
    assert_eq!(
        set["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"],
        json!({".": {}, "f:image": {}, "f:name": {}})
    );
    // Dropping container a from the applied configuration removes it.
    let applied2 = deployment(json!([{"name": "c", "image": "3"}]));
    let out2 =
        server_side_apply("Deployment", Some(&out), &applied2, "kube-rs", true).unwrap_or_default();
    let names: Vec<&str> = containers(&out2)
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["b", "c"]);
    assert!(server_side_apply("Deployment", Some(&out), &json!([]), "m", false).is_err());
}

#[test]
fn apply_patch_type_through_apply_merges_without_an_entry() {
    let live = cm(json!({"a": "1"}));
    let out =
        apply("ConfigMap", PatchType::Apply, &live, &cm(json!({"b": "2"}))).unwrap_or_default();
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
    assert!(out["metadata"].get("managedFields").is_none());
}

#[test]
fn failing_json_patch_move_is_an_error_not_a_panic() {
    // json-patch 5.0.0's `patch` panics undoing this (the failed move had
    // already removed /a); we must not.
    let doc = json!({});
    let p = json!([{"op": "add", "path": "/a", "value": null},
                   {"op": "move", "from": "/a", "path": "/spec/b"}]);
    let r = apply("Pod", PatchType::Json, &doc, &p);
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn malformed_directives_fail_whether_or_not_the_original_has_the_field() {
    // Found by proptest: these used to pass on a missing field and fail on
    // an existing one.
    for orig in [json!({}), json!({"metadata": {}})] {
        smp_err(
            "Pod",
            orig.clone(),
            json!({"metadata": {"$retainKeys": null}}),
        );
        smp_err(
            "Pod",
            orig.clone(),
            json!({"metadata": {"$retainKeys": [], "labels": {}}}),
        );
        smp_err("Pod", orig, json!({"metadata": {"x": {"$patch": "nope"}}}));
    }
}

#[test]
fn duplicate_merge_keys_in_a_new_list_collapse_into_one_element() {
    // Upstream stores a new list as is; we merge it into an empty list, so
    // that applying the patch again changes nothing.
    let patch = json!({"spec": {"containers": [
        {"name": "b", "image": null, "env": [{"name": "a", "value": null}, {"name": "a", "value": false}]},
        {"name": "b", "env": []}]}});
    let once = smp("Pod", json!({"spec": {}}), patch.clone());
    assert_eq!(
        once["spec"]["containers"],
        json!([{"name": "b", "env": [{"name": "a", "value": false}]}])
    );
    assert_eq!(smp("Pod", once.clone(), patch), once);
}

#[test]
fn set_element_order_with_a_delete_keeps_server_only_items_before_added_ones() {
    // kubectl apply replacing container a by c while the server has "side":
    // upstream orders server-only items by the original list as mergeSlice
    // left it (a deleted, c appended), so "side" stays before "c".
    let orig = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "side"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "new"}, {"name": "a", "$patch": "delete"}]}}}});
    let out = smp("Deployment", orig, patch);
    assert_eq!(
        containers(&out),
        &json!([{"name": "b"}, {"name": "side"}, {"name": "c", "image": "new"}])
    );
}

#[test]
fn upstream_test_type_lists_merge_by_name_and_sets() {
    use super::schema::Ty;
    let orig = json!({"mergingList": [{"name": 1}, {"name": 2, "value": 2}],
                      "mergingIntList": [1, 2], "nonMergingIntList": [1, 2],
                      "replacingItem": {"a": 1, "b": 2}});
    let patch = json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
                       "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
                       "mergingIntList": [3], "nonMergingIntList": [3],
                       "replacingItem": {"c": 3}});
    let out = super::strategic::apply(Some(Ty::MergeItem), &orig, &patch);
    assert_eq!(
        out,
        Ok(
            json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1}, {"name": 2, "value": 2},
                                  {"name": 3, "value": 3}],
                  "mergingIntList": [3, 1, 2], "nonMergingIntList": [3],
                  "replacingItem": {"c": 3}})
        )
    );
}

#[test]
fn server_side_apply_keeps_elements_another_manager_shares() {
    let live = deployment(json!([{"name": "a", "image": "1"}]));
    let applied = deployment(json!([{"name": "a", "image": "1"}]));
    let one = ssa::server_side_apply_at("Deployment", Some(&live), &applied, "one", 0)
        .unwrap_or_default();
    // Manager two owns only container a's image.
    let two_applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}});
    let two = ssa::server_side_apply_at("Deployment", Some(&one), &two_applied, "two", 1)
        .unwrap_or_default();
    assert_eq!(containers(&two), &json!([{"name": "a", "image": "2"}]));
    // One drops its containers: a stays (two owns its image), with its name.
    let one_again = deployment(json!([]));
    let out = ssa::server_side_apply_at("Deployment", Some(&two), &one_again, "one", 2)
        .unwrap_or_default();
    assert_eq!(containers(&out), &json!([{"name": "a", "image": "2"}]));
    assert_eq!(entries(&out).len(), 2);
}

#[test]
fn server_side_apply_tracks_sets_and_keeps_other_entries() {
    let mut live = cm(json!({"a": "1"}));
    live["metadata"]["finalizers"] = json!(["x", "y"]);
    live["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply",
        "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:a": {}}}}]);
    let mut applied = cm(json!({"b": "2"}));
    applied["metadata"]["finalizers"] = json!(["z"]);
    let out =
        ssa::server_side_apply_at("ConfigMap", Some(&live), &applied, "m", 0).unwrap_or_default();
    assert_eq!(out["metadata"]["finalizers"], json!(["x", "y", "z"]));
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
    let e = entries(&out);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0]["manager"], "kubectl-client-side-apply");
    assert_eq!(
        e[1]["fieldsV1"]["f:metadata"]["f:finalizers"],
        json!({"v:\"z\"": {}})
    );
    // Dropping the finalizer it applied removes only that one.
    let again = cm(json!({"b": "2"}));
    let out =
        ssa::server_side_apply_at("ConfigMap", Some(&out), &again, "m", 1).unwrap_or_default();
    assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
}

#[test]
fn large_merge_lists_merge_quickly_and_correctly() {
    // Upstream's lookups are quadratic; ours are hashed. 5000 containers
    // took 35 s before (debug build); the bound is generous for a busy box.
    let n = 5000;
    let orig: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
        .collect();
    let patch: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{}", i * 2), "image": "y"}))
        .collect();
    let order: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{}", i * 2)}))
        .collect();
    let start = std::time::Instant::now();
    let out = smp(
        "Pod",
        json!({"spec": {"containers": orig}}),
        json!({"spec": {"containers": patch, "$setElementOrder/containers": order}}),
    );
    let list = out["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), n + n / 2);
    assert_eq!(list[0], json!({"name": "c0", "image": "y"}));
    assert_eq!(list.iter().filter(|c| c["image"] == "y").count(), n);
    let fin: Vec<Value> = (0..n).map(|i| json!(format!("f{i}"))).collect();
    let out = smp(
        "Pod",
        json!({"metadata": {"finalizers": fin.clone()}}),
        json!({"metadata": {"finalizers": fin.clone(), "$deleteFromPrimitiveList/finalizers": fin}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!([]));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn server_side_apply_of_large_lists_is_quick() {
    let n = 5000;
    let many = |m: usize| -> Value {
        Value::Array(
            (0..m)
                .map(|i| json!({"name": format!("c{i}"), "image": "x"}))
                .collect(),
        )
    };
    let start = std::time::Instant::now();
    let one = ssa::server_side_apply_at("Deployment", None, &deployment(many(n)), "m", 0)
        .unwrap_or_default();
    let two = ssa::server_side_apply_at("Deployment", Some(&one), &deployment(many(n / 2)), "m", 1)
        .unwrap_or_default();
    assert_eq!(containers(&two).as_array().map(Vec::len), Some(n / 2));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}
