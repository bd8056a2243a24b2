//! Behaviour tests of the strategies through the public API: what a client
//! sends (kubectl run/create/apply bodies, flannel's manifest), what is
//! stored (defaults), and which requests fail with which status and fields.

use super::*;
use crate::{ApiError, ResourceInfo, Subresource};
use proptest::prelude::*;
use serde_json::{json, Value};

fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        plural: "things",
        singular: "thing",
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: &[],
        subresources: &[Subresource::Status],
        storage: "things",
        storage_version: version,
        return_deleted_object: false,
    }
}

fn pods() -> ResourceInfo {
    res("", "v1", "Pod", true)
}
fn deployments() -> ResourceInfo {
    res("apps", "v1", "Deployment", true)
}
fn services() -> ResourceInfo {
    res("", "v1", "Service", true)
}
fn nodes() -> ResourceInfo {
    res("", "v1", "Node", false)
}

fn create(r: &ResourceInfo, obj: Value) -> Result<Prepared, ApiError> {
    let ns = if r.namespaced { Some("default") } else { None };
    prepare_create(r, ns, obj, FieldValidation::Strict)
}

fn created(r: &ResourceInfo, obj: Value) -> Value {
    match create(r, obj) {
        Ok(p) => {
            assert!(p.warnings.is_empty(), "warnings: {:?}", p.warnings);
            p.object
        }
        Err(e) => panic!("create failed: {}", e.message),
    }
}

fn update(
    r: &ResourceInfo,
    sub: Option<Subresource>,
    old: &Value,
    new: Value,
) -> Result<Value, ApiError> {
    prepare_update(r, sub, old, new, FieldValidation::Strict).map(|p| p.object)
}

fn fields(e: &ApiError) -> Vec<String> {
    assert_eq!(e.code, 422, "{}", e.message);
    e.details
        .as_ref()
        .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
        .unwrap_or_default()
}

fn kubectl_run_pod() -> Value {
    json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p2","creationTimestamp":null,"labels":{"run":"p2"}},
        "spec":{"containers":[{"name":"p2","image":"nginx","resources":{}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst"},
        "status":{}})
}

fn kubectl_create_deployment() -> Value {
    json!({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},
        "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"nginx","image":"nginx:1.25","resources":{}}]}},
            "strategy":{}},
        "status":{}})
}

#[test]
fn kubectl_run_pod_gets_upstream_defaults() {
    let p = created(&pods(), kubectl_run_pod());
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(p["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert_eq!(p["spec"]["serviceAccount"], "default");
    assert_eq!(p["spec"]["enableServiceLinks"], true);
    assert_eq!(p["spec"]["securityContext"], json!({}));
    assert_eq!(p["spec"]["priority"], 0);
    let vol = &p["spec"]["volumes"][0];
    let vname = vol["name"].as_str().unwrap();
    assert!(
        vname.starts_with("kube-api-access-") && vname.len() == 21,
        "{vname}"
    );
    assert_eq!(
        vol["projected"]["sources"][0]["serviceAccountToken"]["path"],
        "token"
    );
    assert_eq!(
        c["volumeMounts"][0],
        json!({"name": vname, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    );
    assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        p["status"],
        json!({"phase":"Pending","qosClass":"BestEffort"})
    );
    assert_eq!(p["metadata"]["generation"], 1);
    assert_eq!(p["metadata"]["namespace"], "default");
    assert_eq!(p["apiVersion"], "v1");
    assert_eq!(p["kind"], "Pod");
    assert!(p["metadata"].get("creationTimestamp").is_none());
}

#[test]
fn registry_metadata_passes_through() {
    let mut pod = kubectl_run_pod();
    pod["metadata"]["uid"] = json!("1234");
    pod["metadata"]["creationTimestamp"] = json!("2026-12-02T08:00:00Z");
    pod["metadata"]["resourceVersion"] = json!("42");
    let p = created(&pods(), pod);
    assert_eq!(p["metadata"]["uid"], "1234");
    assert_eq!(p["metadata"]["creationTimestamp"], "2026-12-02T08:00:00Z");
    assert_eq!(p["metadata"]["resourceVersion"], "42");
}

#[test]
fn type_errors_are_400_naming_the_field() {
    let e = create(
        &pods(),
        json!({"metadata":{"name":"p"},"spec":{"containers":"nginx"}}),
    )
    .unwrap_err();
    assert_eq!(e.code, 400);
    assert!(
        e.message.starts_with("Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field Pod.spec.containers"),
        "{}",
        e.message
    );
    let e = create(&pods(), json!([1, 2])).unwrap_err();
    assert_eq!(e.code, 400);
}

#[test]
fn unknown_fields_follow_field_validation() {
    let mut pod = kubectl_run_pod();
    pod["spec"]["foo"] = json!(1);
    pod["spec"]["containers"][0]["bar"] = json!("x");
    let e = prepare_create(
        &pods(),
        Some("default"),
        pod.clone(),
        FieldValidation::Strict,
    )
    .unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "strict decoding error: unknown field \"spec.containers[0].bar\", unknown field \"spec.foo\""
    );
    let w = prepare_create(&pods(), Some("default"), pod.clone(), FieldValidation::Warn).unwrap();
    assert_eq!(
        w.warnings,
        vec![
            "unknown field \"spec.containers[0].bar\"".to_string(),
            "unknown field \"spec.foo\"".to_string()
        ]
    );
    assert!(w.object["spec"].get("foo").is_none());
    let i = prepare_create(&pods(), Some("default"), pod, FieldValidation::Ignore).unwrap();
    assert!(i.warnings.is_empty());
}

#[test]
fn free_form_fields_are_not_unknown() {
    let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default",
        "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"a\":1}\n"},"labels":{"app":"web"}},
        "data":{"a":"1","weird.key":"x"}});
    let o = created(&res("", "v1", "ConfigMap", true), cm);
    assert_eq!(o["data"]["weird.key"], "x");
    // Quantities given as numbers, int-or-string ports, null fields.
    let mut pod = kubectl_run_pod();
    pod["spec"]["containers"][0]["resources"] = json!({"limits":{"cpu":1,"memory":"1Gi"}});
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"httpGet":{"port":"http"}});
    pod["spec"]["containers"][0]["ports"] = json!([{"name":"http","containerPort":80}]);
    pod["spec"]["nodeSelector"] = Value::Null;
    let p = created(&pods(), pod);
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["cpu"], "1");
    assert_eq!(c["resources"]["requests"]["memory"], "1Gi");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTP");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    // Requests default to the limits, which makes the pod Guaranteed.
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
}

#[test]
fn invalid_pods_report_every_field() {
    let pod = json!({"metadata":{"name":"Bad_Name","labels":{"bad key!":"v"}},"spec":{
        "restartPolicy":"Sometimes",
        "containers":[{"name":"a","image":"","ports":[{"containerPort":70000}]},{"name":"a","image":"x",
            "volumeMounts":[{"name":"nope","mountPath":"/x"}]}]}});
    let e = create(&pods(), pod).unwrap_err();
    let f = fields(&e);
    for want in [
        "metadata.name",
        "metadata.labels",
        "spec.containers[0].image",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[1].name",
        "spec.containers[1].volumeMounts[0].name",
        "spec.restartPolicy",
    ] {
        assert!(f.contains(&want.to_string()), "{want} not in {f:?}");
    }
    let d = e.details.as_ref().unwrap();
    assert_eq!(d.kind, "Pod");
    assert_eq!(d.name, "Bad_Name");
    let pod = json!({"metadata":{"name":"r"},"spec":{"containers":[{"name":"a","image":"x",
        "env":[{"name":"A=B"}],
        "resources":{"limits":{"cpu":"1"},"requests":{"cpu":"2","memory":"lots"}}}],
        "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
            {"matchExpressions":[{"key":"kubernetes.io/os","operator":"Near","values":["linux"]}]}]}}}}});
    let f = fields(&create(&pods(), pod).unwrap_err());
    assert_eq!(
        f,
        vec![
            "spec.containers[0].env[0].name",
            "spec.containers[0].resources.requests[memory]",
            "spec.containers[0].resources.requests",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
        ]
    );
    let e = create(&pods(), json!({"metadata":{},"spec":{"containers":[]}})).unwrap_err();
    assert_eq!(fields(&e), vec!["metadata.name", "spec.containers"]);
    assert_eq!(
        e.details.unwrap().causes[0].message,
        "Required value: name or generateName is required"
    );
}

#[test]
fn pod_updates_allow_images_only_and_keep_status() {
    let r = pods();
    let mut old = created(&r, kubectl_run_pod());
    old["status"] = json!({"phase":"Running"});
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    new["status"] = json!({"phase":"Failed"});
    let u = update(&r, None, &old, new).unwrap();
    assert_eq!(u["status"]["phase"], "Running");
    assert_eq!(u["metadata"]["generation"], 2);
    let mut new = old.clone();
    new["spec"]["restartPolicy"] = json!("Never");
    let e = update(&r, None, &old, new).unwrap_err();
    assert_eq!(fields(&e), vec!["spec"]);
    // Labels do not bump the generation.
    let mut new = old.clone();
    new["metadata"]["labels"]["x"] = json!("y");
    let u = update(&r, None, &old, new).unwrap();
    assert_eq!(u["metadata"]["generation"], 1);
    // Status writes keep the spec and take the status.
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("evil");
    new["status"] = json!({"phase":"Succeeded"});
    let u = update(&r, Some(Subresource::Status), &old, new).unwrap();
    assert_eq!(u["spec"], old["spec"]);
    assert_eq!(u["status"]["phase"], "Succeeded");
    // Binding: nodeName from empty to set.
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!("node1");
    assert!(update(&r, None, &old, new.clone()).is_ok());
    let bound = update(&r, None, &old, new).unwrap();
    let mut again = bound.clone();
    again["spec"]["nodeName"] = json!("node2");
    assert_eq!(
        fields(&update(&r, None, &bound, again).unwrap_err()),
        vec!["spec"]
    );
    // Name is immutable.
    let mut new = old.clone();
    new["metadata"]["name"] = json!("other");
    assert_eq!(
        fields(&update(&r, None, &old, new).unwrap_err()),
        vec!["metadata.name"]
    );
}

#[test]
fn priority_comes_from_system_classes() {
    let mut pod = kubectl_run_pod();
    pod["spec"]["priorityClassName"] = json!("system-node-critical");
    let p = created(&pods(), pod);
    assert_eq!(p["spec"]["priority"], 2_000_001_000);
    assert_eq!(p["spec"]["preemptionPolicy"], "PreemptLowerPriority");
}

#[test]
fn services_get_defaults_and_keep_cluster_ips() {
    let r = services();
    let svc = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"app":"web"}},
        "spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":80}],"selector":{"app":"web"}},"status":{"loadBalancer":{}}});
    let s = created(&r, svc);
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["sessionAffinity"], "None");
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
    assert!(s["spec"].get("externalTrafficPolicy").is_none());
    assert!(s["metadata"].get("generation").is_none());
    let np = created(
        &r,
        json!({"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[{"port":53,"protocol":"UDP"}]}}),
    );
    assert_eq!(np["spec"]["ports"][0]["targetPort"], 53);
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    // Headless without ports is fine; a ClusterIP service without ports is not.
    created(
        &r,
        json!({"metadata":{"name":"h"},"spec":{"clusterIP":"None","selector":{"app":"x"}}}),
    );
    let e = create(&r, json!({"metadata":{"name":"noports"},"spec":{}})).unwrap_err();
    assert_eq!(fields(&e), vec!["spec.ports"]);
    let e = create(
        &r,
        json!({"metadata":{"name":"1bad"},"spec":{"clusterIP":"10.0.0.300","ports":[{"port":0},{"port":80,"name":"a"}]}}),
    )
    .unwrap_err();
    let f = fields(&e);
    for want in [
        "metadata.name",
        "spec.ports[0].name",
        "spec.ports[0].port",
        "spec.clusterIPs[0]",
    ] {
        assert!(f.contains(&want.to_string()), "{want} not in {f:?}");
    }
    let e = create(
        &r,
        json!({"metadata":{"name":"cip"},"spec":{"clusterIP":"10.0.0.5","clusterIPs":["10.0.0.6"],"ports":[{"port":80}]}}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), vec!["spec.clusterIPs"]);
    // After allocation: a replace without clusterIP keeps it; a change is refused.
    let mut stored = s.clone();
    stored["spec"]["clusterIP"] = json!("10.96.0.10");
    stored["spec"]["clusterIPs"] = json!(["10.96.0.10"]);
    let mut replace = stored.clone();
    replace["spec"].as_object_mut().unwrap().remove("clusterIP");
    replace["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterIPs");
    let u = update(&r, None, &stored, replace).unwrap();
    assert_eq!(u["spec"]["clusterIP"], "10.96.0.10");
    assert_eq!(u["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    let mut change = stored.clone();
    change["spec"]["clusterIP"] = json!("10.96.0.11");
    change["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    assert_eq!(
        fields(&update(&r, None, &stored, change).unwrap_err()),
        vec!["spec.clusterIPs[0]"]
    );
}

#[test]
fn deployments_get_defaults_and_generations() {
    let r = deployments();
    let d = created(&r, kubectl_create_deployment());
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    let ts = &d["spec"]["template"]["spec"];
    assert_eq!(ts["restartPolicy"], "Always");
    assert_eq!(ts["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert!(ts.get("serviceAccountName").is_none());
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["status"], json!({}));
    // Spec change bumps generation; metadata change does not.
    let mut scaled = d.clone();
    scaled["spec"]["replicas"] = json!(3);
    let u = update(&r, None, &d, scaled).unwrap();
    assert_eq!(u["metadata"]["generation"], 2);
    let mut labelled = u.clone();
    labelled["metadata"]["labels"]["x"] = json!("y");
    let u2 = update(&r, None, &u, labelled).unwrap();
    assert_eq!(u2["metadata"]["generation"], 2);
    // Status update keeps spec and generation, takes status.
    let mut st = u2.clone();
    st["spec"]["replicas"] = json!(9);
    st["status"] = json!({"observedGeneration":2,"replicas":3});
    let u3 = update(&r, Some(Subresource::Status), &u2, st).unwrap();
    assert_eq!(u3["spec"]["replicas"], 3);
    assert_eq!(u3["status"]["replicas"], 3);
    assert_eq!(u3["metadata"]["generation"], 2);
    // Main update keeps status.
    let mut m = u3.clone();
    m["status"] = json!({});
    assert_eq!(update(&r, None, &u3, m).unwrap()["status"]["replicas"], 3);
    // Selector is immutable.
    let mut sel = u3.clone();
    sel["spec"]["selector"] = json!({"matchLabels":{"app":"web","v":"2"}});
    sel["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
    assert_eq!(
        fields(&update(&r, None, &u3, sel).unwrap_err()),
        vec!["spec.selector"]
    );
}

#[test]
fn invalid_deployments() {
    let r = deployments();
    let mut d = kubectl_create_deployment();
    d["spec"]["replicas"] = json!(-1);
    d["spec"]["template"]["metadata"]["labels"] = json!({"app":"other"});
    d["spec"]["strategy"] =
        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":0}});
    let f = fields(&create(&r, d).unwrap_err());
    assert_eq!(
        f,
        vec![
            "spec.replicas",
            "spec.template.metadata.labels",
            "spec.strategy.rollingUpdate.maxUnavailable"
        ]
    );
    let mut d = kubectl_create_deployment();
    d["spec"]["selector"] = json!({});
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    let f = fields(&create(&r, d).unwrap_err());
    assert_eq!(f, vec!["spec.selector", "spec.template.spec.restartPolicy"]);
}

fn flannel_objects() -> Vec<Value> {
    serde_json::from_str(include_str!("testdata/kube-flannel.json")).unwrap()
}

fn resource_of(obj: &Value) -> ResourceInfo {
    match obj["kind"].as_str().unwrap() {
        "Namespace" => res("", "v1", "Namespace", false),
        "ClusterRole" => res("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
        "ClusterRoleBinding" => res(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            false,
        ),
        "ServiceAccount" => res("", "v1", "ServiceAccount", true),
        "ConfigMap" => res("", "v1", "ConfigMap", true),
        "DaemonSet" => res("apps", "v1", "DaemonSet", true),
        k => panic!("unexpected kind {k}"),
    }
}

#[test]
fn upstream_flannel_manifest_is_accepted() {
    let objs = flannel_objects();
    assert_eq!(objs.len(), 6);
    for o in objs {
        let r = resource_of(&o);
        let ns = if r.namespaced {
            Some("kube-flannel")
        } else {
            None
        };
        let p = prepare_create(&r, ns, o, FieldValidation::Strict)
            .unwrap_or_else(|e| panic!("{}: {}", r.kind, e.message));
        assert!(p.warnings.is_empty(), "{}: {:?}", r.kind, p.warnings);
        let o = p.object;
        match r.kind {
            "Namespace" => {
                assert_eq!(
                    o["metadata"]["labels"]["kubernetes.io/metadata.name"],
                    "kube-flannel"
                );
                assert_eq!(
                    o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
                    "privileged"
                );
                assert_eq!(o["spec"]["finalizers"], json!(["kubernetes"]));
                assert_eq!(o["status"]["phase"], "Active");
            }
            "DaemonSet" => {
                assert_eq!(
                    o["spec"]["updateStrategy"],
                    json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}})
                );
                assert_eq!(o["spec"]["revisionHistoryLimit"], 10);
                let ts = &o["spec"]["template"]["spec"];
                assert_eq!(ts["containers"][0]["ports"][0]["hostPort"], 8081);
                assert_eq!(ts["volumes"][0]["hostPath"]["type"], "");
                assert_eq!(ts["volumes"][3]["configMap"]["defaultMode"], 420);
                assert_eq!(ts["containers"][0]["livenessProbe"]["timeoutSeconds"], 1);
                assert_eq!(ts["initContainers"][0]["imagePullPolicy"], "IfNotPresent");
                assert_eq!(
                    ts["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
                    "v1"
                );
            }
            "ClusterRoleBinding" => {
                // omitempty: the ServiceAccount subject's "" apiGroup is not stored.
                assert!(o["subjects"][0].get("apiGroup").is_none());
            }
            "ConfigMap" => assert!(o["data"]["net-conf.json"]
                .as_str()
                .unwrap()
                .contains("vxlan")),
            _ => {}
        }
    }
}

#[test]
fn flannel_node_status_patch_keeps_annotations() {
    let r = nodes();
    let node = created(
        &r,
        json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/os":"linux"}},
            "spec":{"podCIDR":"10.244.1.0/24"},
            "status":{"capacity":{"cpu":"2","pods":"110"},"conditions":[{"type":"Ready","status":"True"}]}}),
    );
    assert_eq!(node["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
    assert_eq!(node["status"]["allocatable"]["cpu"], "2");
    assert_eq!(node["status"]["conditions"][0]["type"], "Ready");
    let mut patched = node.clone();
    patched["metadata"]["annotations"] = json!({"flannel.alpha.coreos.com/backend-type":"vxlan","flannel.alpha.coreos.com/kube-subnet-manager":"true"});
    patched["status"]["conditions"] = json!([{"type":"Ready","status":"True"},{"type":"NetworkUnavailable","status":"False","reason":"FlannelIsUp"}]);
    patched["spec"]["unschedulable"] = json!(true);
    let u = update(&r, Some(Subresource::Status), &node, patched).unwrap();
    assert_eq!(
        u["metadata"]["annotations"]["flannel.alpha.coreos.com/backend-type"],
        "vxlan"
    );
    assert_eq!(u["status"]["conditions"][1]["reason"], "FlannelIsUp");
    assert!(u["spec"].get("unschedulable").is_none());
    // Main updates keep status; podCIDR may not change once set.
    let mut m = u.clone();
    m["status"] = json!({});
    m["spec"]["unschedulable"] = json!(true);
    let u2 = update(&r, None, &u, m).unwrap();
    assert_eq!(u2["status"]["conditions"][1]["reason"], "FlannelIsUp");
    assert_eq!(u2["spec"]["unschedulable"], true);
    let mut cidr = u2.clone();
    cidr["spec"]["podCIDR"] = json!("10.244.2.0/24");
    cidr["spec"]["podCIDRs"] = json!(["10.244.2.0/24"]);
    assert_eq!(
        fields(&update(&r, None, &u2, cidr).unwrap_err()),
        vec!["spec.podCIDR", "spec.podCIDRs"]
    );
    // From unset to set is allowed.
    let bare = created(&r, json!({"metadata":{"name":"node2"}}));
    let mut set = bare.clone();
    set["spec"] = json!({"podCIDR":"10.244.3.0/24"});
    let u = update(&r, None, &bare, set).unwrap();
    assert_eq!(u["spec"]["podCIDRs"], json!(["10.244.3.0/24"]));
}

#[test]
fn namespaces() {
    let r = res("", "v1", "Namespace", false);
    let e = create(&r, json!({"metadata":{"name":"a.b"}})).unwrap_err();
    assert_eq!(fields(&e), vec!["metadata.name"]);
    let ns = created(
        &r,
        json!({"metadata":{"name":"team","namespace":"ignored"}}),
    );
    assert!(ns["metadata"].get("namespace").is_none());
    let mut new = ns.clone();
    new["spec"]["finalizers"] = json!([]);
    new["status"]["phase"] = json!("Terminating");
    let u = update(&r, None, &ns, new).unwrap();
    assert_eq!(u["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(u["status"]["phase"], "Active");
}

#[test]
fn configmaps_and_secrets() {
    let cm_r = res("", "v1", "ConfigMap", true);
    let e = create(&cm_r, json!({"metadata":{"name":"c"},"data":{"a b":"1"}})).unwrap_err();
    assert_eq!(fields(&e), vec!["data[a b]"]);
    let old = created(
        &cm_r,
        json!({"metadata":{"name":"c"},"data":{"a":"1"},"immutable":true}),
    );
    let mut new = old.clone();
    new["data"]["a"] = json!("2");
    assert_eq!(
        fields(&update(&cm_r, None, &old, new).unwrap_err()),
        vec!["data"]
    );

    let sec_r = res("", "v1", "Secret", true);
    let s = created(
        &sec_r,
        json!({"metadata":{"name":"s"},"data":{"a":"YQ=="},"stringData":{"b":"hello"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"a":"YQ==","b":"aGVsbG8="}));
    assert!(s.get("stringData").is_none());
    let mut new = s.clone();
    new["type"] = json!("kubernetes.io/tls");
    let f = fields(&update(&sec_r, None, &s, new).unwrap_err());
    assert!(f.contains(&"type".to_string()), "{f:?}");
    let e = create(
        &sec_r,
        json!({"metadata":{"name":"t"},"type":"kubernetes.io/tls","data":{"tls.crt":"YQ=="}}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), vec!["data[tls.key]"]);
    let e = create(
        &sec_r,
        json!({"metadata":{"name":"t"},"data":{"a":"not base64!"}}),
    )
    .unwrap_err();
    assert_eq!(e.code, 400);
}

#[test]
fn jobs_get_generated_selectors() {
    let r = res("batch", "v1", "Job", true);
    let job = json!({"metadata":{"name":"pi","uid":"u-1"},"spec":{"template":{"spec":{
        "containers":[{"name":"pi","image":"perl"}],"restartPolicy":"Never"}}}});
    let j = created(&r, job.clone());
    assert_eq!(
        j["spec"]["selector"],
        json!({"matchLabels":{"batch.kubernetes.io/controller-uid":"u-1"}})
    );
    let labels = &j["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["controller-uid"], "u-1");
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(j["spec"]["completions"], 1);
    assert_eq!(j["spec"]["parallelism"], 1);
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completionMode"], "NonIndexed");
    assert_eq!(j["spec"]["suspend"], false);
    let mut bad = job;
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert_eq!(
        fields(&create(&r, bad).unwrap_err()),
        vec!["spec.template.spec.restartPolicy"]
    );
    let mut new = j.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
    assert_eq!(
        fields(&update(&r, None, &j, new).unwrap_err()),
        vec!["spec.template"]
    );
    let mut par = j.clone();
    par["spec"]["parallelism"] = json!(3);
    assert!(update(&r, None, &j, par).is_ok());
}

#[test]
fn cronjobs_statefulsets_replicasets() {
    let cj = created(
        &res("batch", "v1", "CronJob", true),
        json!({"metadata":{"name":"hello"},"spec":{"schedule":"*/1 * * * *","jobTemplate":{"spec":{"template":{"spec":{
            "containers":[{"name":"c","image":"busybox"}],"restartPolicy":"OnFailure"}}}}}}),
    );
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
    let e = create(
        &res("batch", "v1", "CronJob", true),
        json!({"metadata":{"name":"bad"},"spec":{"schedule":"every minute","jobTemplate":{"spec":{"template":{"spec":{
            "containers":[{"name":"c","image":"busybox"}],"restartPolicy":"OnFailure"}}}}}}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), vec!["spec.schedule"]);

    let sts_r = res("apps", "v1", "StatefulSet", true);
    let sts = created(
        &sts_r,
        json!({"metadata":{"name":"db"},"spec":{"serviceName":"db","selector":{"matchLabels":{"app":"db"}},
            "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"pg"}]}}}}),
    );
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"partition":0}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted":"Retain","whenScaled":"Retain"})
    );
    let mut new = sts.clone();
    new["spec"]["serviceName"] = json!("other");
    assert_eq!(
        fields(&update(&sts_r, None, &sts, new).unwrap_err()),
        vec!["spec"]
    );
    let mut new = sts.clone();
    new["spec"]["replicas"] = json!(3);
    assert!(update(&sts_r, None, &sts, new).is_ok());

    let rs = created(
        &res("apps", "v1", "ReplicaSet", true),
        json!({"metadata":{"name":"rs"},"spec":{"selector":{"matchExpressions":[{"key":"app","operator":"In","values":["a"]}]},
            "template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
}

#[test]
fn hpa_v1_is_stored_as_v2() {
    let v1 = res("autoscaling", "v1", "HorizontalPodAutoscaler", true);
    let v2 = res("autoscaling", "v2", "HorizontalPodAutoscaler", true);
    let h = created(
        &v1,
        json!({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"},
            "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":5,
                "targetCPUUtilizationPercentage":50}}),
    );
    assert_eq!(h["spec"]["minReplicas"], 1);
    let stored = to_storage(&v1, h.clone()).unwrap();
    assert_eq!(stored["apiVersion"], "autoscaling/v2");
    assert_eq!(
        stored["spec"]["metrics"][0],
        json!({"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}})
    );
    assert_eq!(from_storage(&v1, stored.clone()), h);
    assert_eq!(from_storage(&v2, stored.clone()), stored);
    assert_eq!(to_storage(&v2, stored.clone()).unwrap(), stored);
    // v2 defaults: cpu 80% when no metrics.
    let h2 = created(
        &v2,
        json!({"metadata":{"name":"w"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3}}),
    );
    assert_eq!(
        h2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    let e = create(
        &v2,
        json!({"metadata":{"name":"w"},"spec":{"scaleTargetRef":{"kind":"Deployment"},"minReplicas":4,"maxReplicas":3}}),
    )
    .unwrap_err();
    assert_eq!(
        fields(&e),
        vec!["spec.scaleTargetRef.name", "spec.maxReplicas"]
    );
    // Other kinds are stored as they are.
    let p = created(&pods(), kubectl_run_pod());
    assert_eq!(to_storage(&pods(), p.clone()).unwrap(), p);
    assert_eq!(from_storage(&pods(), p.clone()), p);
}

#[test]
fn rbac_priority_lease_and_custom_resources() {
    let rb = res("rbac.authorization.k8s.io", "v1", "RoleBinding", true);
    let b = created(
        &rb,
        json!({"metadata":{"name":"system:read"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},
            "subjects":[{"kind":"User","name":"alice"}]}),
    );
    assert_eq!(b["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    let mut new = b.clone();
    new["roleRef"]["name"] = json!("other");
    assert_eq!(
        fields(&update(&rb, None, &b, new).unwrap_err()),
        vec!["roleRef"]
    );
    let e = create(
        &res("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
        json!({"metadata":{"name":"x"},"rules":[{"apiGroups":[""],"resources":["pods"]}]}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), vec!["rules[0].verbs"]);

    let pc = res("scheduling.k8s.io", "v1", "PriorityClass", false);
    let sys = created(
        &pc,
        json!({"metadata":{"name":"system-node-critical"},"value":2000001000,"description":"x"}),
    );
    assert_eq!(sys["preemptionPolicy"], "PreemptLowerPriority");
    let e = create(&pc, json!({"metadata":{"name":"high"},"value":2000000001})).unwrap_err();
    assert_eq!(fields(&e), vec!["value"]);

    let lease = created(
        &res("coordination.k8s.io", "v1", "Lease", true),
        json!({"metadata":{"name":"node1","namespace":"kube-node-lease"},
            "spec":{"holderIdentity":"node1","leaseDurationSeconds":40,"renewTime":"2026-12-02T01:02:03.123456Z"}}),
    );
    assert_eq!(lease["spec"]["renewTime"], "2026-12-02T01:02:03.123456Z");

    let cr = json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"anything":[1,2]}});
    let w = created(&res("example.com", "v1", "Widget", true), cr);
    assert_eq!(w["spec"]["anything"], json!([1, 2]));
}

#[test]
fn endpoints_and_slices_default_protocols() {
    let ep = created(
        &res("", "v1", "Endpoints", true),
        json!({"metadata":{"name":"kubernetes"},"subsets":[{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"name":"https","port":6443}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    let e = create(
        &res("", "v1", "Endpoints", true),
        json!({"metadata":{"name":"x"},"subsets":[{"addresses":[{"ip":"nope"}]}]}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), vec!["subsets[0].addresses[0].ip"]);
    let sl = created(
        &res("discovery.k8s.io", "v1", "EndpointSlice", true),
        json!({"metadata":{"name":"kubernetes"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]}],"ports":[{"name":"https","port":6443}]}),
    );
    assert_eq!(sl["ports"][0]["protocol"], "TCP");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-zA-Z0-9:/._-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("metadata".to_string()),
            Just("spec".to_string()),
            Just("status".to_string()),
            Just("name".to_string()),
            Just("containers".to_string()),
            Just("ports".to_string()),
            Just("selector".to_string()),
            Just("template".to_string()),
            Just("labels".to_string()),
            Just("clusterIP".to_string()),
            Just("data".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in arb_json(), old in arb_json()) {
        let kinds = [
            pods(),
            services(),
            deployments(),
            nodes(),
            res("", "v1", "ConfigMap", true),
            res("", "v1", "Secret", true),
            res("batch", "v1", "Job", true),
            res("autoscaling", "v1", "HorizontalPodAutoscaler", true),
        ];
        for r in &kinds {
            let _ = prepare_create(r, Some("default"), body.clone(), FieldValidation::Warn);
            for sub in [None, Some(Subresource::Status)] {
                let _ = prepare_update(r, sub, &old, body.clone(), FieldValidation::Strict);
            }
            let _ = to_storage(r, body.clone());
            let _ = from_storage(r, body.clone());
        }
    }

    #[test]
    fn valid_pods_survive_a_second_pass(name in "[a-z][a-z0-9-]{0,20}[a-z0-9]", image in "[a-z]{1,8}(:[a-z0-9.]{1,5})?") {
        let pod = json!({"metadata":{"name":name},"spec":{"containers":[{"name":"c","image":image}]}});
        let first = created(&pods(), pod);
        // Defaulting is idempotent: an update with the stored object changes nothing.
        let again = update(&pods(), None, &first, first.clone()).unwrap();
        prop_assert_eq!(again, first);
    }
}

#[test]
fn the_served_table_entries_work() {
    let pods = crate::resources::find("", "v1", "pods").expect("pods");
    let p = prepare_create(
        pods,
        Some("default"),
        kubectl_run_pod(),
        FieldValidation::Strict,
    )
    .expect("pod");
    assert_eq!(p.object["status"]["phase"], "Pending");
    let nss = crate::resources::find("", "v1", "namespaces").expect("namespaces");
    let ns = prepare_create(
        nss,
        None,
        json!({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x","creationTimestamp":null},"spec":{},"status":{}}),
        FieldValidation::Strict,
    )
    .expect("namespace");
    assert_eq!(ns.object["status"]["phase"], "Active");
    // Every served kind survives an empty-ish body without panicking and
    // answers 400/422 or success.
    for r in crate::resources::all() {
        match prepare_create(
            r,
            Some("default"),
            json!({"metadata":{"name":"x"}}),
            FieldValidation::Strict,
        ) {
            Ok(_) => {}
            Err(e) => assert!(e.code == 400 || e.code == 422, "{}: {}", r.kind, e.message),
        }
    }
}
