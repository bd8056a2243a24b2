use super::*;
use crate::meta::rfc3339;
use crate::resources::{all, find};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;

fn ago(secs: i64) -> String {
    rfc3339(NOW - secs)
}

fn res(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
    find(group, version, plural).expect("served")
}

fn row(group: &str, plural: &str, obj: Value) -> Vec<Value> {
    let r = res(
        group,
        crate::resources::preferred_version(group).expect("group"),
        plural,
    );
    let t = table(r, &[obj], json!({}), IncludeObject::None, NOW);
    t["rows"][0]["cells"].as_array().expect("cells").clone()
}

fn columns(group: &str, plural: &str) -> Vec<(String, i64)> {
    let r = res(
        group,
        crate::resources::preferred_version(group).expect("group"),
        plural,
    );
    column_definitions(r)
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["priority"].as_i64().expect("priority"),
            )
        })
        .collect()
}

fn names(cols: &[(String, i64)], priority: i64) -> Vec<&str> {
    cols.iter()
        .filter(|(_, p)| *p == priority)
        .map(|(n, _)| n.as_str())
        .collect()
}

#[test]
fn human_duration_matches_apimachinery() {
    for (secs, want) in [
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (8 * 86_400, "8d"),
        (729 * 86_400, "729d"),
        (730 * 86_400, "2y"),
        (775 * 86_400, "2y45d"),
        (8 * 365 * 86_400, "8y"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}s");
    }
}

#[test]
fn pod_columns_are_upstreams() {
    let cols = columns("", "pods");
    assert_eq!(
        names(&cols, 0),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(
        names(&cols, 1),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    let defs = column_definitions(res("", "v1", "pods"));
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(defs[1]["format"], "");
    assert_eq!(defs[0]["type"], "string");
}

fn pod(status: Value) -> Value {
    json!({"metadata":{"name":"web-1","namespace":"default","creationTimestamp":ago(300)},
        "spec":{"containers":[{"name":"c","image":"nginx"}],"nodeName":"n1"},
        "status":status})
}

#[test]
fn running_pod() {
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Running","podIP":"10.244.1.5",
        "podIPs":[{"ip":"10.244.1.5"}],
        "conditions":[{"type":"Ready","status":"True"}],
        "containerStatuses":[{"name":"c","ready":true,"restartCount":0,"state":{"running":{"startedAt":ago(290)}}}]})),
    );
    assert_eq!(
        cells,
        [
            json!("web-1"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.244.1.5"),
            json!("n1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pending_and_creating_pods() {
    let cells = row("", "pods", pod(json!({"phase":"Pending"})));
    assert_eq!(cells[1], "0/1");
    assert_eq!(cells[2], "Pending");
    assert_eq!(cells[5], "<none>");
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Pending","containerStatuses":[
        {"name":"c","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]})),
    );
    assert_eq!(cells[2], "ContainerCreating");
}

#[test]
fn crashlooping_pod_shows_restarts_ago() {
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Running","containerStatuses":[
        {"name":"c","ready":false,"restartCount":5,
         "state":{"waiting":{"reason":"CrashLoopBackOff"}},
         "lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":ago(300)}}}]})),
    );
    assert_eq!(cells[1], "0/1");
    assert_eq!(cells[2], "CrashLoopBackOff");
    assert_eq!(cells[3], "5 (5m ago)");
    // Restarts without a lastState timestamp print bare.
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Running","containerStatuses":[
        {"name":"c","ready":true,"restartCount":2,"state":{"running":{}}}]})),
    );
    assert_eq!(cells[3], "2");
}

#[test]
fn completed_pod_has_the_completed_row_condition() {
    let p = pod(json!({"phase":"Succeeded","containerStatuses":[
        {"name":"c","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}));
    let t = table(
        res("", "v1", "pods"),
        &[p],
        json!({}),
        IncludeObject::None,
        NOW,
    );
    assert_eq!(t["rows"][0]["cells"][2], "Completed");
    assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
    let t = table(
        res("", "v1", "pods"),
        &[pod(json!({"phase":"Running"}))],
        json!({}),
        IncludeObject::None,
        NOW,
    );
    assert!(t["rows"][0].get("conditions").is_none());
}

#[test]
fn terminated_container_without_reason() {
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Failed","containerStatuses":[
        {"name":"c","state":{"terminated":{"exitCode":137}}}]})),
    );
    assert_eq!(cells[2], "ExitCode:137");
    let cells = row(
        "",
        "pods",
        pod(json!({"phase":"Failed","containerStatuses":[
        {"name":"c","state":{"terminated":{"exitCode":0,"signal":9}}}]})),
    );
    assert_eq!(cells[2], "Signal:9");
}

#[test]
fn terminating_and_node_lost_pods() {
    let mut p = pod(json!({"phase":"Running","containerStatuses":[
        {"name":"c","ready":true,"state":{"running":{}}}]}));
    p["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(row("", "pods", p.clone())[2], "Terminating");
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(row("", "pods", p.clone())[2], "Unknown");
    // A finished pod being deleted keeps its terminal status.
    let mut done = pod(json!({"phase":"Succeeded","containerStatuses":[
        {"name":"c","state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}));
    done["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(row("", "pods", done)[2], "Completed");
}

#[test]
fn init_containers() {
    let mut p = pod(json!({"phase":"Pending","initContainerStatuses":[
        {"name":"init","ready":false,"restartCount":0,"state":{"waiting":{"reason":"PodInitializing"}}}],
        "containerStatuses":[{"name":"c","state":{"waiting":{"reason":"PodInitializing"}}}]}));
    p["spec"]["initContainers"] = json!([{"name":"init","image":"busybox"}]);
    assert_eq!(row("", "pods", p.clone())[2], "Init:0/1");
    p["status"]["initContainerStatuses"][0]["state"] =
        json!({"waiting":{"reason":"ImagePullBackOff"}});
    assert_eq!(row("", "pods", p.clone())[2], "Init:ImagePullBackOff");
    p["status"]["initContainerStatuses"][0]["state"] = json!({"terminated":{"exitCode":2}});
    assert_eq!(row("", "pods", p.clone())[2], "Init:ExitCode:2");
    p["status"]["initContainerStatuses"][0]["state"] =
        json!({"terminated":{"exitCode":1,"reason":"Error"}});
    assert_eq!(row("", "pods", p.clone())[2], "Init:Error");
    // Finished init container: the main containers decide.
    p["status"]["initContainerStatuses"][0]["state"] =
        json!({"terminated":{"exitCode":0,"reason":"Completed"}});
    assert_eq!(row("", "pods", p)[2], "PodInitializing");
}

#[test]
fn sidecar_counts_towards_ready() {
    let mut p = pod(json!({"phase":"Running",
        "conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True"}],
        "initContainerStatuses":[{"name":"side","ready":true,"started":true,"restartCount":1,
            "state":{"running":{}},"lastState":{"terminated":{"exitCode":1,"finishedAt":ago(60)}}}],
        "containerStatuses":[{"name":"c","ready":true,"restartCount":0,"state":{"running":{}}}]}));
    p["spec"]["initContainers"] = json!([{"name":"side","image":"envoy","restartPolicy":"Always"}]);
    let cells = row("", "pods", p);
    assert_eq!(cells[1], "2/2");
    assert_eq!(cells[2], "Running");
    assert_eq!(cells[3], "1 (60s ago)");
}

#[test]
fn readiness_gates_and_scheduling_gates() {
    let mut p = pod(json!({"phase":"Running","conditions":[
        {"type":"example.com/a","status":"True"},{"type":"example.com/b","status":"False"}]}));
    p["spec"]["readinessGates"] =
        json!([{"conditionType":"example.com/a"},{"conditionType":"example.com/b"}]);
    assert_eq!(row("", "pods", p)[8], "1/2");
    let p = pod(json!({"phase":"Pending","conditions":[
        {"type":"PodScheduled","status":"False","reason":"SchedulingGated"}]}));
    assert_eq!(row("", "pods", p)[2], "SchedulingGated");
}

#[test]
fn nodes() {
    let cols = columns("", "nodes");
    assert_eq!(
        names(&cols, 0),
        ["Name", "Status", "Roles", "Age", "Version"]
    );
    assert_eq!(
        names(&cols, 1),
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    let node = json!({"metadata":{"name":"n1","creationTimestamp":ago(3 * 86_400 + 3600),
            "labels":{"node-role.kubernetes.io/control-plane":"","node-role.kubernetes.io/worker":"",
                "kubernetes.io/hostname":"n1"}},
        "spec":{"unschedulable":true},
        "status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
            "addresses":[{"type":"InternalIP","address":"192.168.1.10"},{"type":"Hostname","address":"n1"}],
            "nodeInfo":{"kubeletVersion":"v1.37.0","osImage":"Debian GNU/Linux 12 (bookworm)",
                "kernelVersion":"6.1.0","containerRuntimeVersion":"containerd://1.7.0"}}});
    assert_eq!(
        row("", "nodes", node),
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("3d1h"),
            json!("v1.37.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0"),
            json!("containerd://1.7.0")
        ]
    );
    let bare = json!({"metadata":{"name":"n2","labels":{"kubernetes.io/role":"edge"}}});
    let cells = row("", "nodes", bare);
    assert_eq!(cells[1], "Unknown");
    assert_eq!(cells[2], "edge");
    assert_eq!(cells[3], "<unknown>");
    assert_eq!(cells[7], "<unknown>");
    let not_ready = json!({"metadata":{"name":"n3"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}});
    assert_eq!(row("", "nodes", not_ready)[1], "NotReady");
}

#[test]
fn services() {
    let svc =
        |spec: Value| json!({"metadata":{"name":"web","creationTimestamp":ago(10)},"spec":spec});
    assert_eq!(
        row(
            "",
            "services",
            svc(json!({"type":"ClusterIP","clusterIP":"10.96.0.10",
            "clusterIPs":["10.96.0.10"],"ports":[{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}],
            "selector":{"k8s-app":"kube-dns"}}))
        ),
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("53/UDP,53/TCP"),
            json!("10s"),
            json!("k8s-app=kube-dns")
        ]
    );
    let np = row(
        "",
        "services",
        svc(json!({"type":"NodePort","clusterIPs":["10.96.1.1"],
        "ports":[{"port":80,"nodePort":30080,"protocol":"TCP"}]})),
    );
    assert_eq!(np[4], "80:30080/TCP");
    assert_eq!(np[6], "<none>");
    let lb = row(
        "",
        "services",
        svc(json!({"type":"LoadBalancer","clusterIPs":["10.96.1.2"]})),
    );
    assert_eq!(lb[3], "<pending>");
    let lb = row(
        "",
        "services",
        json!({"metadata":{"name":"lb"},
        "spec":{"type":"LoadBalancer","externalIPs":["1.2.3.4"]},
        "status":{"loadBalancer":{"ingress":[{"ip":"5.6.7.8"},{"hostname":"lb.example.com"}]}}}),
    );
    assert_eq!(lb[3], "5.6.7.8,lb.example.com,1.2.3.4");
    let ext = row(
        "",
        "services",
        svc(json!({"type":"ExternalName","externalName":"example.com"})),
    );
    assert_eq!(ext[2], "<none>");
    assert_eq!(ext[3], "example.com");
    assert_eq!(ext[4], "<none>");
}

#[test]
fn endpoints() {
    let ep = json!({"metadata":{"name":"web"},"subsets":[{"addresses":[
        {"ip":"10.0.0.1"},{"ip":"10.0.0.2"},{"ip":"10.0.0.3"},{"ip":"10.0.0.4"},{"ip":"10.0.0.5"}],
        "ports":[{"port":80}]}]});
    assert_eq!(
        row("", "endpoints", ep)[1],
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."
    );
    assert_eq!(
        row("", "endpoints", json!({"metadata":{"name":"e"}}))[1],
        "<none>"
    );
    let v6 = json!({"metadata":{"name":"e"},"subsets":[{"addresses":[{"ip":"fd00::1"}],"ports":[{"port":443}]}]});
    assert_eq!(row("", "endpoints", v6)[1], "[fd00::1]:443");
    let headless = json!({"metadata":{"name":"e"},"subsets":[{"addresses":[{"ip":"10.0.0.9"}]}]});
    assert_eq!(row("", "endpoints", headless)[1], "10.0.0.9");
}

#[test]
fn small_core_kinds() {
    let ns = json!({"metadata":{"name":"default","creationTimestamp":ago(7200)},"status":{"phase":"Active"}});
    assert_eq!(
        row("", "namespaces", ns),
        [json!("default"), json!("Active"), json!("120m")]
    );
    let cm = json!({"metadata":{"name":"cfg"},"data":{"a":"1","b":"2"},"binaryData":{"c":"AA=="}});
    assert_eq!(row("", "configmaps", cm)[1], 3);
    let s = json!({"metadata":{"name":"tls"},"type":"kubernetes.io/tls","data":{"tls.crt":"","tls.key":""}});
    assert_eq!(
        row("", "secrets", s)[1..3],
        [json!("kubernetes.io/tls"), json!(2)]
    );
    let sa = json!({"metadata":{"name":"default"}});
    assert_eq!(row("", "serviceaccounts", sa)[1], 0);
}

#[test]
fn events() {
    let cols = columns("", "events");
    assert_eq!(
        names(&cols, 0),
        ["Last Seen", "Type", "Reason", "Object", "Message"]
    );
    assert_eq!(
        names(&cols, 1),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    let ev = json!({"metadata":{"name":"web-1.1234"},"type":"Normal","reason":"Scheduled",
        "involvedObject":{"kind":"Pod","name":"web-1","fieldPath":"spec.containers{c}"},
        "source":{"component":"default-scheduler"},
        "message":"Successfully assigned default/web-1 to n1\n",
        "firstTimestamp":ago(600),"lastTimestamp":ago(30)});
    assert_eq!(
        row("", "events", ev),
        [
            json!("30s"),
            json!("Normal"),
            json!("Scheduled"),
            json!("pod/web-1"),
            json!("spec.containers{c}"),
            json!("default-scheduler"),
            json!("Successfully assigned default/web-1 to n1"),
            json!("10m"),
            json!(1),
            json!("web-1.1234")
        ]
    );
    let series = json!({"metadata":{"name":"e"},"eventTime":"2027-01-15T08:00:00.123456Z",
        "series":{"count":4,"lastObservedTime":ago(5)},
        "reportingComponent":"kubelet","reportingInstance":"n1","involvedObject":{"kind":"Node"}});
    let cells = row("", "events", series);
    assert_eq!(cells[0], "5s");
    assert_eq!(cells[3], "node");
    assert_eq!(cells[5], "kubelet, n1");
    assert_eq!(cells[8], 4);
}

#[test]
fn deployments_and_replicasets() {
    let cols = columns("apps", "deployments");
    assert_eq!(
        names(&cols, 0),
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    assert_eq!(names(&cols, 1), ["Containers", "Images", "Selector"]);
    let d = json!({"metadata":{"name":"web","creationTimestamp":ago(90)},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"},
            "matchExpressions":[{"key":"tier","operator":"In","values":["front","back"]}]},
            "template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"},{"name":"side","image":"busybox"}]}}},
        "status":{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}});
    assert_eq!(
        row("apps", "deployments", d),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("90s"),
            json!("nginx,side"),
            json!("nginx:1.27,busybox"),
            json!("app=web,tier in (back,front)")
        ]
    );
    let bare = row("apps", "deployments", json!({"metadata":{"name":"x"}}));
    assert_eq!(bare[1], "0/1");
    assert_eq!(bare[7], "");
    let bad = row(
        "apps",
        "deployments",
        json!({"spec":{"selector":{"matchExpressions":[{"key":"a","operator":"Bogus"}]}}}),
    );
    assert_eq!(bad[7], "<invalid>");
    let rs = json!({"metadata":{"name":"web-abc"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}}},
        "status":{"replicas":3,"readyReplicas":1}});
    assert_eq!(
        row("apps", "replicasets", rs)[..4],
        [json!("web-abc"), json!(3), json!(3), json!(1)]
    );
    let rs_none = row("apps", "replicasets", json!({"spec":{"selector":{}}}));
    assert_eq!(rs_none[7], "<none>");
}

#[test]
fn daemonsets_statefulsets_revisions() {
    let ds = json!({"metadata":{"name":"kube-flannel-ds"},
        "spec":{"selector":{"matchLabels":{"app":"flannel"}},
            "template":{"spec":{"nodeSelector":{"kubernetes.io/os":"linux"},"containers":[{"name":"kube-flannel","image":"flannel"}]}}},
        "status":{"desiredNumberScheduled":3,"currentNumberScheduled":3,"numberReady":2,"updatedNumberScheduled":3,"numberAvailable":2}});
    let cells = row("apps", "daemonsets", ds);
    assert_eq!(
        cells[1..7],
        [
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux")
        ]
    );
    assert_eq!(cells[10], "app=flannel");
    let sts = json!({"metadata":{"name":"db"},"spec":{"replicas":2},"status":{"readyReplicas":2}});
    assert_eq!(row("apps", "statefulsets", sts)[1], "2/2");
    let cr = json!({"metadata":{"name":"db-7d9","ownerReferences":[
        {"apiVersion":"apps/v1","kind":"StatefulSet","name":"db","controller":true,"uid":"u"}]},"revision":3});
    assert_eq!(
        row("apps", "controllerrevisions", cr)[1..3],
        [json!("statefulset.apps/db"), json!(3)]
    );
    assert_eq!(row("apps", "controllerrevisions", json!({}))[1], "<none>");
}

#[test]
fn jobs_and_cronjobs() {
    let cols = columns("batch", "jobs");
    assert_eq!(
        names(&cols, 0),
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    let job = json!({"metadata":{"name":"pi","creationTimestamp":ago(400)},
        "spec":{"completions":1,"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"u"}}},
        "status":{"succeeded":1,"startTime":ago(390),"completionTime":ago(300),
            "conditions":[{"type":"Complete","status":"True"}]}});
    assert_eq!(
        row("batch", "jobs", job)[..5],
        [
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("90s"),
            json!("6m40s")
        ]
    );
    let running = json!({"spec":{"parallelism":3},"status":{"startTime":ago(30)}});
    assert_eq!(
        row("batch", "jobs", running)[1..4],
        [json!("Running"), json!("0/1 of 3"), json!("30s")]
    );
    let failed = json!({"status":{"conditions":[{"type":"Failed","status":"True"}]}});
    assert_eq!(
        row("batch", "jobs", failed)[1..4],
        [json!("Failed"), json!("0/1"), json!("")]
    );
    let cj = json!({"metadata":{"name":"hello"},"spec":{"schedule":"*/1 * * * *",
        "jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"hello","image":"busybox"}]}}}}},
        "status":{"active":[{"name":"hello-1"}],"lastScheduleTime":ago(20)}});
    assert_eq!(
        row("batch", "cronjobs", cj)[..6],
        [
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("20s")
        ]
    );
}

#[test]
fn hpa_pdb() {
    let hpa = json!({"metadata":{"name":"web"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},
        "minReplicas":1,"maxReplicas":10,"metrics":[{"type":"Resource","resource":{"name":"cpu",
            "target":{"type":"Utilization","averageUtilization":80}}}]},
        "status":{"currentReplicas":2,"currentMetrics":[{"type":"Resource","resource":{"name":"cpu",
            "current":{"averageUtilization":50,"averageValue":"100m"}}}]}});
    assert_eq!(
        row("autoscaling", "horizontalpodautoscalers", hpa)[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: 50%/80%"),
            json!("1"),
            json!(10),
            json!(2)
        ]
    );
    let v1 = res("autoscaling", "v1", "horizontalpodautoscalers");
    let old = json!({"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3,
        "targetCPUUtilizationPercentage":70}});
    let t = table(v1, &[old], json!({}), IncludeObject::None, NOW);
    assert_eq!(t["rows"][0]["cells"][2], "cpu: <unknown>/70%");
    assert_eq!(t["rows"][0]["cells"][3], "<unset>");
    let many = json!({"spec":{"metrics":[
        {"type":"Pods","pods":{"target":{"averageValue":"1k"}}},
        {"type":"External","external":{"target":{"value":"10"}}},
        {"type":"Object","object":{"target":{"averageValue":"5"}}}]}});
    assert_eq!(
        row("autoscaling", "horizontalpodautoscalers", many)[2],
        "<unknown>/1k, <unknown>/10 + 1 more..."
    );
    let pdb = json!({"metadata":{"name":"p"},"spec":{"minAvailable":"50%"},"status":{"disruptionsAllowed":1}});
    assert_eq!(
        row("policy", "poddisruptionbudgets", pdb)[1..4],
        [json!("50%"), json!("N/A"), json!(1)]
    );
}

#[test]
fn other_groups() {
    let lease = json!({"metadata":{"name":"n1"},"spec":{"holderIdentity":"n1"}});
    assert_eq!(row("coordination.k8s.io", "leases", lease)[1], "n1");
    let slice = json!({"metadata":{"name":"kubernetes"},"addressType":"IPv4",
        "ports":[{"name":"https","port":6443}],"endpoints":[{"addresses":["192.168.1.10"]}]});
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", slice)[1..4],
        [json!("IPv4"), json!("6443"), json!("192.168.1.10")]
    );
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", json!({}))[2..4],
        [json!("<unset>"), json!("<unset>")]
    );
    let pc = json!({"metadata":{"name":"system-node-critical"},"value":2000001000,"preemptionPolicy":"PreemptLowerPriority"});
    assert_eq!(
        row("scheduling.k8s.io", "priorityclasses", pc)[1..3],
        [json!(2000001000), json!(false)]
    );
    let rb = json!({"metadata":{"name":"rb"},"roleRef":{"kind":"ClusterRole","name":"view"},
        "subjects":[{"kind":"User","name":"alice"},{"kind":"ServiceAccount","name":"sa","namespace":"kube-system"},
            {"kind":"Group","name":"devs"},{"kind":"User","name":"bob"}]});
    assert_eq!(
        row("rbac.authorization.k8s.io", "rolebindings", rb)[1..6],
        [
            json!("ClusterRole/view"),
            json!("<unknown>"),
            json!("alice, bob"),
            json!("devs"),
            json!("kube-system/sa")
        ]
    );
}

#[test]
fn roles_use_the_default_convertor() {
    let cols = columns("rbac.authorization.k8s.io", "roles");
    assert_eq!(names(&cols, 0), ["Name", "Created At"]);
    let defs = column_definitions(res("rbac.authorization.k8s.io", "v1", "roles"));
    assert_eq!(defs[1]["type"], "date");
    let role = json!({"metadata":{"name":"r","creationTimestamp":"2026-12-02T08:00:00Z"}});
    assert_eq!(
        row("rbac.authorization.k8s.io", "roles", role),
        [json!("r"), json!("2026-12-02T08:00:00Z")]
    );
    assert_eq!(
        row("rbac.authorization.k8s.io", "clusterroles", json!({}))[1],
        "0001-01-01T00:00:00Z"
    );
}

#[test]
fn label_selectors_format_as_apimachinery() {
    let f = |v: Value| format_label_selector(Some(&v));
    assert_eq!(format_label_selector(None), "<none>");
    assert_eq!(f(json!({})), "<none>");
    assert_eq!(
        f(json!({"matchLabels":{"b":"2","a":"1"},"matchExpressions":[
            {"key":"c","operator":"Exists"},{"key":"d","operator":"DoesNotExist"},
            {"key":"e","operator":"NotIn","values":["y","x"]}]})),
        "a=1,b=2,c,!d,e notin (x,y)"
    );
    assert_eq!(
        f(json!({"matchExpressions":[{"key":"c","operator":"In"}]})),
        "<error>"
    );
    assert_eq!(f(json!("nonsense")), "<error>");
}

#[test]
fn rows_carry_partial_object_metadata_or_the_object() {
    let p = json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"default",
        "labels":{"app":"web"},"uid":"u1","resourceVersion":"42"},"spec":{"containers":[]}});
    let pods = res("", "v1", "pods");
    let meta = json!({"resourceVersion":"42","continue":"abc"});
    let t = table(
        pods,
        std::slice::from_ref(&p),
        meta.clone(),
        IncludeObject::Metadata,
        NOW,
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], meta);
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":p["metadata"]})
    );
    let t = table(
        pods,
        std::slice::from_ref(&p),
        Value::Null,
        IncludeObject::Object,
        NOW,
    );
    assert_eq!(t["rows"][0]["object"], p);
    assert_eq!(t["metadata"], json!({}));
    let t = table(
        pods,
        std::slice::from_ref(&p),
        json!({}),
        IncludeObject::None,
        NOW,
    );
    assert!(t["rows"][0].get("object").is_none());
    let t = table(pods, &[], json!({}), IncludeObject::Metadata, NOW);
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(9));
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::parse("bogus"), None);
}

#[test]
fn every_resource_prints_one_cell_per_column() {
    for r in all() {
        let n = column_definitions(r).as_array().map(Vec::len).unwrap_or(0);
        assert!(n >= 2, "{}", r.plural);
        for obj in [
            json!({}),
            json!(null),
            json!([1, 2]),
            json!({"metadata":{"name":"x"}}),
        ] {
            let t = table(r, &[obj], json!({}), IncludeObject::Metadata, NOW);
            assert_eq!(
                t["rows"][0]["cells"].as_array().map(Vec::len),
                Some(n),
                "{}",
                r.plural
            );
        }
    }
}

/// Field names the printers read, so that random objects reach their code paths.
const KEYS: &[&str] = &[
    "metadata",
    "name",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "ownerReferences",
    "controller",
    "apiVersion",
    "kind",
    "spec",
    "status",
    "containers",
    "initContainers",
    "restartPolicy",
    "image",
    "phase",
    "reason",
    "conditions",
    "type",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "waiting",
    "running",
    "terminated",
    "exitCode",
    "signal",
    "finishedAt",
    "restartCount",
    "ready",
    "started",
    "podIPs",
    "ip",
    "podIP",
    "nodeName",
    "readinessGates",
    "conditionType",
    "addresses",
    "address",
    "nodeInfo",
    "unschedulable",
    "clusterIPs",
    "ports",
    "port",
    "nodePort",
    "protocol",
    "externalIPs",
    "loadBalancer",
    "ingress",
    "hostname",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "subsets",
    "replicas",
    "readyReplicas",
    "template",
    "completions",
    "parallelism",
    "succeeded",
    "startTime",
    "completionTime",
    "jobTemplate",
    "active",
    "lastScheduleTime",
    "suspend",
    "timeZone",
    "metrics",
    "currentMetrics",
    "resource",
    "pods",
    "object",
    "external",
    "target",
    "current",
    "averageValue",
    "averageUtilization",
    "value",
    "minAvailable",
    "maxUnavailable",
    "series",
    "count",
    "involvedObject",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "eventTime",
    "endpoints",
    "subjects",
    "roleRef",
    "holderIdentity",
    "data",
    "secrets",
    "targetCPUUtilizationPercentage",
    "revision",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        prop_oneof![
            Just("True".to_string()),
            Just("Always".to_string()),
            Just("Ready".to_string()),
            Just("Resource".to_string()),
            Just("In".to_string()),
            Just("2026-12-02T08:00:00Z".to_string()),
            Just("2026-12-02T08:00:00.123456+01:00".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn any_object_prints_without_panicking(obj in arb_json(), now in any::<i64>()) {
        for r in all() {
            let n = column_definitions(r).as_array().map(Vec::len).unwrap_or(0);
            let t = table(r, std::slice::from_ref(&obj), json!({}), IncludeObject::Metadata, now);
            prop_assert_eq!(t["rows"][0]["cells"].as_array().map(Vec::len), Some(n));
        }
    }
}
