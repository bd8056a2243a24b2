use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResourceList, APIVersions,
};
use k8s_openapi::apimachinery::pkg::version::Info;

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["resources"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["name"] == name || r["resource"] == name)
        })
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn version_decodes_as_version_info() {
    let info: Info = serde_json::from_value(version_info()).expect("Info");
    assert_eq!(info.major, "1");
    assert_eq!(info.minor, "37");
    assert_eq!(info.git_version, "v1.37.0+kube-lite");
    assert_eq!(info.platform, "linux/amd64");
    assert_eq!(info.go_version, "rust");
}

#[test]
fn api_versions_names_the_server() {
    let v: APIVersions =
        serde_json::from_value(api_versions("127.0.0.1:6443")).expect("APIVersions");
    assert_eq!(v.versions, ["v1"]);
    assert_eq!(
        v.server_address_by_client_cidrs[0].server_address,
        "127.0.0.1:6443"
    );
}

#[test]
fn group_list_has_every_group_and_prefers_autoscaling_v2() {
    let doc = api_group_list();
    let list: APIGroupList = serde_json::from_value(doc.clone()).expect("APIGroupList");
    let names: Vec<_> = list.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "apps",
            "autoscaling",
            "batch",
            "policy",
            "rbac.authorization.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "discovery.k8s.io"
        ]
    );
    let autoscaling = &doc["groups"][1];
    assert_eq!(
        autoscaling,
        &json!({"name":"autoscaling","versions":[
            {"groupVersion":"autoscaling/v2","version":"v2"},
            {"groupVersion":"autoscaling/v1","version":"v1"}],
            "preferredVersion":{"groupVersion":"autoscaling/v2","version":"v2"}})
    );
    // The recorded shape for apps.
    assert_eq!(
        doc["groups"][0],
        json!({"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],
            "preferredVersion":{"groupVersion":"apps/v1","version":"v1"}})
    );
}

#[test]
fn api_group_is_served_for_known_groups_only() {
    let g: APIGroup = serde_json::from_value(api_group("batch").expect("batch")).expect("APIGroup");
    assert_eq!(g.name, "batch");
    assert_eq!(api_group("batch").expect("batch")["kind"], "APIGroup");
    assert!(api_group("extensions").is_none());
    assert!(api_group("").is_none());
}

#[test]
fn core_resource_list_matches_recorded_shapes() {
    let list = api_resource_list("", "v1").expect("core");
    let _: APIResourceList = serde_json::from_value(list.clone()).expect("APIResourceList");
    assert_eq!(list["groupVersion"], "v1");
    assert_eq!(
        entry(&list, "pods"),
        &json!({"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod",
            "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
            "shortNames":["po"],"categories":["all"]})
    );
    assert_eq!(
        entry(&list, "pods/status"),
        &json!({"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod",
            "verbs":["get","patch","update"]})
    );
    assert_eq!(
        entry(&list, "pods/eviction"),
        &json!({"name":"pods/eviction","singularName":"","namespaced":true,"group":"policy",
            "version":"v1","kind":"Eviction","verbs":["create"]})
    );
    assert_eq!(entry(&list, "pods/log")["kind"], "Pod");
    assert_eq!(entry(&list, "pods/log")["verbs"], json!(["get"]));
    assert_eq!(entry(&list, "pods/exec")["kind"], "PodExecOptions");
    assert_eq!(entry(&list, "pods/exec")["verbs"], json!(["create", "get"]));
    assert_eq!(entry(&list, "pods/attach")["kind"], "PodAttachOptions");
    assert_eq!(
        entry(&list, "pods/portforward")["kind"],
        "PodPortForwardOptions"
    );
    assert_eq!(entry(&list, "pods/binding")["kind"], "Binding");
    assert_eq!(
        entry(&list, "serviceaccounts/token"),
        &json!({"name":"serviceaccounts/token","singularName":"","namespaced":true,
            "group":"authentication.k8s.io","version":"v1","kind":"TokenRequest","verbs":["create"]})
    );
    assert_eq!(entry(&list, "bindings")["verbs"], json!(["create"]));
    assert_eq!(entry(&list, "nodes")["namespaced"], false);
    assert_eq!(
        entry(&list, "namespaces")["verbs"],
        json!(["create", "delete", "get", "list", "patch", "update", "watch"])
    );
    // Sorted by name, as upstream.
    let names: Vec<String> = list["resources"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn scale_entries_carry_autoscaling_v1() {
    let apps = api_resource_list("apps", "v1").expect("apps");
    for r in ["deployments", "replicasets", "statefulsets"] {
        assert_eq!(
            entry(&apps, &format!("{r}/scale")),
            &json!({"name":format!("{r}/scale"),"singularName":"","namespaced":true,
                "group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]})
        );
    }
    assert_eq!(apps["groupVersion"], "apps/v1");
    let names: Vec<_> = apps["resources"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|n| !n.contains('/'))
        .collect();
    assert_eq!(
        names,
        [
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets"
        ]
    );
}

#[test]
fn unserved_group_versions_are_none() {
    assert!(api_resource_list("apps", "v1beta1").is_none());
    assert!(api_resource_list("extensions", "v1beta1").is_none());
    assert!(api_resource_list("", "v2").is_none());
    assert!(api_resource_list("autoscaling", "v1").is_some());
    assert!(api_resource_list("autoscaling", "v2").is_some());
    for (g, versions) in GROUPS {
        for v in *versions {
            let list = api_resource_list(g, v).expect("served");
            let _: APIResourceList = serde_json::from_value(list).expect("decodes");
        }
    }
}

#[test]
fn aggregated_apis_matches_recorded_shape() {
    let doc = aggregated(false);
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
    let items = doc["items"].as_array().expect("items");
    assert_eq!(items.len(), GROUPS.len());
    let apps = &items[0];
    assert_eq!(apps["metadata"], json!({"name":"apps"}));
    let v1 = &apps["versions"][0];
    assert_eq!(v1["version"], "v1");
    assert_eq!(v1["freshness"], "Current");
    assert_eq!(
        entry(v1, "deployments"),
        &json!({"resource":"deployments",
            "responseKind":{"group":"","version":"","kind":"Deployment"},
            "scope":"Namespaced","singularResource":"deployment",
            "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
            "shortNames":["deploy"],"categories":["all"],
            "subresources":[
                {"subresource":"scale","responseKind":{"group":"autoscaling","version":"v1","kind":"Scale"},
                 "verbs":["get","patch","update"]},
                {"subresource":"status","responseKind":{"group":"","version":"","kind":"Deployment"},
                 "verbs":["get","patch","update"]}]})
    );
    let autoscaling = &items[1];
    assert_eq!(autoscaling["versions"][0]["version"], "v2");
    assert_eq!(autoscaling["versions"][1]["version"], "v1");
    let rbac = items
        .iter()
        .find(|i| i["metadata"]["name"] == "rbac.authorization.k8s.io")
        .expect("rbac");
    let crb = entry(&rbac["versions"][0], "clusterroles");
    assert_eq!(crb["scope"], "Cluster");
    assert!(crb.get("shortNames").is_none());
    assert!(crb.get("subresources").is_none());
}

#[test]
fn aggregated_core_is_one_unnamed_group() {
    let doc = aggregated(true);
    let items = doc["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"], json!({}));
    let v1 = &items[0]["versions"][0];
    assert_eq!(v1["version"], "v1");
    let pods = entry(v1, "pods");
    assert_eq!(pods["scope"], "Namespaced");
    assert_eq!(pods["singularResource"], "pod");
    let eviction = pods["subresources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["subresource"] == "eviction"))
        .expect("eviction");
    assert_eq!(
        eviction,
        &json!({"subresource":"eviction","responseKind":{"group":"policy","version":"v1","kind":"Eviction"},"verbs":["create"]})
    );
    assert_eq!(entry(v1, "nodes")["scope"], "Cluster");
}

#[test]
fn aggregated_and_legacy_list_the_same_resources() {
    for (core, groups) in [
        (true, vec![("", vec!["v1"])]),
        (
            false,
            GROUPS.iter().map(|(g, v)| (*g, v.to_vec())).collect(),
        ),
    ] {
        let doc = aggregated(core);
        for (i, (g, versions)) in groups.iter().enumerate() {
            for (j, v) in versions.iter().enumerate() {
                let legacy = api_resource_list(g, v).expect("legacy");
                let agg = &doc["items"][i]["versions"][j];
                assert_eq!(agg["version"], *v);
                let mut n_legacy = 0;
                for r in legacy["resources"].as_array().expect("array") {
                    let name = r["name"].as_str().expect("name");
                    match name.split_once('/') {
                        None => {
                            n_legacy += 1;
                            let a = entry(agg, name);
                            assert_eq!(a["verbs"], r["verbs"], "{name}");
                        }
                        Some((parent, sub)) => {
                            let a = entry(agg, parent);
                            let s = a["subresources"]
                                .as_array()
                                .and_then(|s| s.iter().find(|s| s["subresource"] == sub))
                                .unwrap_or_else(|| panic!("{name}"));
                            assert_eq!(s["verbs"], r["verbs"], "{name}");
                            assert_eq!(s["responseKind"]["kind"], r["kind"], "{name}");
                        }
                    }
                }
                assert_eq!(agg["resources"].as_array().map(Vec::len), Some(n_legacy));
            }
        }
    }
}

#[test]
fn aggregated_accept_headers() {
    // kubectl 1.32 and kube-rs 5.
    assert!(accepts_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"));
    // client-go HEAD.
    assert!(accepts_aggregated(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,application/json"
    ));
    assert!(accepts_aggregated(
        "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"
    ));
    assert!(!accepts_aggregated("application/json, */*"));
    assert!(!accepts_aggregated(""));
    assert!(!accepts_aggregated("*/*"));
    assert!(!accepts_aggregated(
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    ));
    assert!(!accepts_aggregated(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0"
    ));
    assert!(!accepts_aggregated(
        "application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    ));
    assert_eq!(
        AGGREGATED_CONTENT_TYPE,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
}
