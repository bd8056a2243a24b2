use super::*;
use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as asv1, autoscaling::v2 as asv2, batch::v1 as batch,
    coordination::v1 as coord, core::v1 as core, discovery::v1 as disc, policy::v1 as policy,
    rbac::v1 as rbac, scheduling::v1 as sched,
};
use std::collections::HashSet;

#[test]
fn keys_follow_kube_apiserver() {
    let nodes = find("", "v1", "nodes").expect("nodes");
    assert_eq!(nodes.key("/registry", None, "n1"), "/registry/minions/n1");
    let svc = find("", "v1", "services").expect("services");
    assert_eq!(
        svc.key("/registry", Some("default"), "kubernetes"),
        "/registry/services/specs/default/kubernetes"
    );
    let ep = find("", "v1", "endpoints").expect("endpoints");
    assert_eq!(
        ep.key("/registry/", Some("default"), "kubernetes"),
        "/registry/services/endpoints/default/kubernetes"
    );
    let lease = find("coordination.k8s.io", "v1", "leases").expect("leases");
    assert_eq!(
        lease.key("/registry", Some("kube-node-lease"), "n1"),
        "/registry/leases/kube-node-lease/n1"
    );
    let crb = find("rbac.authorization.k8s.io", "v1", "clusterrolebindings").expect("crb");
    assert_eq!(
        crb.key("/registry", Some("ignored"), "admin"),
        "/registry/clusterrolebindings/admin"
    );
    let pods = find("", "v1", "pods").expect("pods");
    assert_eq!(pods.key_prefix("/registry"), "/registry/pods/");
    assert_eq!(
        pods.namespace_prefix("/registry", "kube-system"),
        "/registry/pods/kube-system/"
    );
}

#[test]
fn every_stored_segment_is_upstreams() {
    let expect: &[(&str, &str, &str)] = &[
        ("", "configmaps", "configmaps"),
        ("", "secrets", "secrets"),
        ("", "pods", "pods"),
        ("", "services", "services/specs"),
        ("", "endpoints", "services/endpoints"),
        ("", "nodes", "minions"),
        ("", "namespaces", "namespaces"),
        ("", "events", "events"),
        ("", "serviceaccounts", "serviceaccounts"),
        ("apps", "deployments", "deployments"),
        ("apps", "replicasets", "replicasets"),
        ("apps", "daemonsets", "daemonsets"),
        ("apps", "statefulsets", "statefulsets"),
        ("apps", "controllerrevisions", "controllerrevisions"),
        ("batch", "jobs", "jobs"),
        ("batch", "cronjobs", "cronjobs"),
        (
            "autoscaling",
            "horizontalpodautoscalers",
            "horizontalpodautoscalers",
        ),
        ("coordination.k8s.io", "leases", "leases"),
        ("discovery.k8s.io", "endpointslices", "endpointslices"),
        ("policy", "poddisruptionbudgets", "poddisruptionbudgets"),
        ("rbac.authorization.k8s.io", "roles", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterroles", "clusterroles"),
        (
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "clusterrolebindings",
        ),
        ("scheduling.k8s.io", "priorityclasses", "priorityclasses"),
    ];
    for (g, plural, seg) in expect {
        let v = preferred_version(g).expect("served group");
        let r = find(g, v, plural).unwrap_or_else(|| panic!("{g}/{plural}"));
        assert_eq!(r.storage, *seg, "{g}/{plural}");
        assert!(r.is_stored());
    }
    let bindings = find("", "v1", "bindings").expect("bindings");
    assert!(!bindings.is_stored());
    assert_eq!(bindings.verbs, &["create"]);
    // Every stored resource is in the list above.
    let stored = all().iter().filter(|r| r.is_stored()).count();
    assert_eq!(stored, expect.len() + 1, "autoscaling v1 and v2 share one");
}

#[test]
fn plurals_kinds_and_short_names_are_unique_per_group_version() {
    let mut plurals = HashSet::new();
    let mut kinds = HashSet::new();
    let mut names = HashSet::new();
    for r in all() {
        assert!(
            plurals.insert((r.group, r.version, r.plural)),
            "{}",
            r.plural
        );
        assert!(kinds.insert((r.group, r.version, r.kind)), "{}", r.kind);
        for n in std::iter::once(r.singular).chain(r.short_names.iter().copied()) {
            assert!(names.insert((r.group, r.version, n)), "{n}");
        }
    }
    // Short names do not clash across groups either (kubectl would have to
    // pick one), except the one HPA served in two versions.
    let mut short = HashSet::new();
    for r in all()
        .iter()
        .filter(|r| !(r.group == "autoscaling" && r.version == "v1"))
    {
        for s in r.short_names {
            assert!(short.insert(*s), "{s}");
        }
    }
}

#[test]
fn verbs_are_sorted_and_known() {
    for r in all() {
        let mut sorted = r.verbs.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, r.verbs, "{}", r.plural);
        for v in r.verbs {
            assert!(RW_VERBS.contains(v), "{v}");
        }
    }
    assert!(!find("", "v1", "namespaces")
        .expect("ns")
        .allows("deletecollection"));
    assert!(find("", "v1", "pods")
        .expect("pods")
        .allows("deletecollection"));
}

#[test]
fn groups_table_matches_resources() {
    for r in all() {
        let versions = group_versions(r.group).expect("group listed");
        assert!(versions.contains(&r.version), "{}/{}", r.group, r.version);
        assert!(group_versions(r.group).is_some());
    }
    for (g, versions) in GROUPS {
        for v in *versions {
            assert!(
                in_group_version(g, v).next().is_some(),
                "{g}/{v} serves nothing"
            );
        }
    }
    assert_eq!(preferred_version("autoscaling"), Some("v2"));
    assert_eq!(preferred_version(""), Some("v1"));
    assert_eq!(preferred_version("extensions"), None);
}

#[test]
fn hpa_is_served_twice_and_stored_as_v2() {
    let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").expect("v1");
    let v2 = find("autoscaling", "v2", "horizontalpodautoscalers").expect("v2");
    assert_eq!(v1.storage, v2.storage);
    assert_eq!(v1.storage_version, "v2");
    assert_eq!(v2.storage_version, "v2");
    assert_eq!(
        find_kind("autoscaling", "HorizontalPodAutoscaler").map(|r| r.version),
        Some("v2")
    );
    assert_eq!(
        find_gvk("autoscaling", "v1", "HorizontalPodAutoscaler").map(|r| r.version),
        Some("v1")
    );
    for r in all().iter().filter(|r| r.group != "autoscaling") {
        assert_eq!(r.storage_version, r.version, "{}", r.plural);
    }
}

#[test]
fn only_pods_and_serviceaccounts_return_the_deleted_object() {
    let mut returning: Vec<_> = all()
        .iter()
        .filter(|r| r.return_deleted_object)
        .map(|r| r.plural)
        .collect();
    returning.sort_unstable();
    assert_eq!(returning, ["pods", "serviceaccounts"]);
}

#[test]
fn subresources_as_upstream() {
    let pods = find("", "v1", "pods").expect("pods");
    for s in [
        "status",
        "binding",
        "eviction",
        "log",
        "exec",
        "attach",
        "portforward",
    ] {
        let sub = Subresource::from_name(s).expect(s);
        assert_eq!(sub.name(), s);
        assert!(pods.has_subresource(sub), "{s}");
    }
    assert_eq!(Subresource::from_name("proxy"), None);
    let ev = Subresource::Eviction.kind_of(pods);
    assert_eq!(ev.group_version, Some(("policy", "v1")));
    assert_eq!(ev.kind, "Eviction");
    assert_eq!(Subresource::Log.kind_of(pods).kind, "Pod");
    assert_eq!(Subresource::Log.kind_of(pods).verbs, &["get"]);
    let deploy = find("apps", "v1", "deployments").expect("deploy");
    let scale = Subresource::Scale.kind_of(deploy);
    assert_eq!(scale.group_version, Some(("autoscaling", "v1")));
    assert_eq!(scale.kind, "Scale");
    assert_eq!(Subresource::Status.kind_of(deploy).kind, "Deployment");
    let with_scale: HashSet<_> = all()
        .iter()
        .filter(|r| r.has_subresource(Subresource::Scale))
        .map(|r| r.plural)
        .collect();
    assert_eq!(
        with_scale,
        HashSet::from(["deployments", "replicasets", "statefulsets"])
    );
    let sa = find("", "v1", "serviceaccounts").expect("sa");
    let token = Subresource::Token.kind_of(sa);
    assert_eq!(token.group_version, Some(("authentication.k8s.io", "v1")));
    assert_eq!(token.verbs, &["create"]);
    for plural in ["configmaps", "secrets", "events", "endpoints"] {
        assert!(find("", "v1", plural)
            .expect(plural)
            .subresources
            .is_empty());
    }
}

#[test]
fn lookup_by_short_name_and_singular() {
    assert_eq!(
        find_by_any_name("", "v1", "po").map(|r| r.plural),
        Some("pods")
    );
    assert_eq!(
        find_by_any_name("", "v1", "Pod").map(|r| r.plural),
        Some("pods")
    );
    assert_eq!(
        find_by_any_name("apps", "v1", "deploy").map(|r| r.plural),
        Some("deployments")
    );
    assert_eq!(find_by_any_name("", "v1", "nope"), None);
}

fn check<T: k8s_openapi::Resource>(namespaced: bool) {
    let r = find(T::GROUP, T::VERSION, T::URL_PATH_SEGMENT)
        .unwrap_or_else(|| panic!("{} not served", T::API_VERSION));
    assert_eq!(r.kind, T::KIND);
    assert_eq!(r.namespaced, namespaced, "{}", T::KIND);
    assert_eq!(r.api_version(), T::API_VERSION);
    assert_eq!(
        find_gvk(T::GROUP, T::VERSION, T::KIND).map(|r| r.plural),
        Some(T::URL_PATH_SEGMENT)
    );
}

#[test]
fn names_and_scope_agree_with_k8s_openapi() {
    check::<core::Binding>(true);
    check::<core::ConfigMap>(true);
    check::<core::Endpoints>(true);
    check::<core::Event>(true);
    check::<core::Namespace>(false);
    check::<core::Node>(false);
    check::<core::Pod>(true);
    check::<core::Secret>(true);
    check::<core::ServiceAccount>(true);
    check::<core::Service>(true);
    check::<apps::ControllerRevision>(true);
    check::<apps::DaemonSet>(true);
    check::<apps::Deployment>(true);
    check::<apps::ReplicaSet>(true);
    check::<apps::StatefulSet>(true);
    check::<asv1::HorizontalPodAutoscaler>(true);
    check::<asv2::HorizontalPodAutoscaler>(true);
    check::<batch::CronJob>(true);
    check::<batch::Job>(true);
    check::<policy::PodDisruptionBudget>(true);
    check::<rbac::ClusterRoleBinding>(false);
    check::<rbac::ClusterRole>(false);
    check::<rbac::RoleBinding>(true);
    check::<rbac::Role>(true);
    check::<sched::PriorityClass>(false);
    check::<coord::Lease>(true);
    check::<disc::EndpointSlice>(true);
    assert_eq!(all().len(), 27);
}
