//! The stock kubectl (1.37.1) from the machine's own shell against `kube-lite apiserver` through
//! its 127.0.0.1 socket: version, api-resources, apply (multi-document, default validation,
//! upstream flannel's kube-flannel.yml, three-way merge on re-apply), get in every output form
//! with selectors, -A and -w, describe, label, annotate, patch (all three types), scale, delete
//! (graceful pods, cascade policies), explain, wait, create; and the etcd key layout behind it.
//! All tests share one lab and API server; each uses its own Kubernetes namespace.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{recv_line, table_rows, wait_for, Cluster};
use serde_json::Value;

const FLANNEL_YML: &str = include_str!("fixtures/kube-flannel.yml");

/// Every line with runs of whitespace collapsed to one space (for `describe` output).
fn squash(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn lines_set(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.pointer("/metadata/name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn jsonpath(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    let flag = format!("-o=jsonpath={path}");
    all.push(&flag);
    c.kubectl_ok(&all)
}

#[test]
fn version_and_cluster_info() {
    let c = Cluster::shared();
    let out = c.kubectl(&["version"]);
    check!(
        c,
        out.ok,
        "kubectl version failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    check!(
        c,
        out.stdout.contains("Client Version: v1.37") && out.stdout.contains("Server Version: v1."),
        "kubectl version printed:\n{}",
        out.stdout
    );
    check!(
        c,
        !out.stderr.contains("version difference"),
        "kubectl warns about the server's version:\n{}",
        out.stderr
    );
    let v: Value = serde_json::from_str(&c.kubectl_ok(&["version", "-o", "json"]))
        .unwrap_or_else(|e| c.fail(&format!("kubectl version -o json: {e}")));
    let sv = &v["serverVersion"];
    check_eq!(c, sv["major"].as_str(), Some("1"), "serverVersion.major");
    for field in ["minor", "gitVersion", "platform", "goVersion", "buildDate"] {
        check!(
            c,
            sv[field].as_str().is_some_and(|s| !s.is_empty()),
            "serverVersion.{field} missing: {sv}"
        );
    }
    let info = c.kubectl_ok(&["cluster-info"]);
    check!(
        c,
        info.contains("Kubernetes control plane")
            && info.contains(&format!("https://127.0.0.1:{}", c.api.port())),
        "kubectl cluster-info printed:\n{info}"
    );
}

#[test]
fn api_resources_lists_every_kind_of_the_issue() {
    let c = Cluster::shared();
    let out = c.kubectl_ok(&["api-resources"]);
    let rows = table_rows(&out);
    // name, shortnames, group (APIVERSION prefix), namespaced, kind
    let want: &[(&str, &str, &str, &str, &str)] = &[
        ("namespaces", "ns", "v1", "false", "Namespace"),
        ("nodes", "no", "v1", "false", "Node"),
        ("pods", "po", "v1", "true", "Pod"),
        ("services", "svc", "v1", "true", "Service"),
        ("endpoints", "ep", "v1", "true", "Endpoints"),
        ("configmaps", "cm", "v1", "true", "ConfigMap"),
        ("secrets", "", "v1", "true", "Secret"),
        ("serviceaccounts", "sa", "v1", "true", "ServiceAccount"),
        ("events", "ev", "v1", "true", "Event"),
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        ("replicasets", "rs", "apps/v1", "true", "ReplicaSet"),
        ("daemonsets", "ds", "apps/v1", "true", "DaemonSet"),
        ("statefulsets", "sts", "apps/v1", "true", "StatefulSet"),
        (
            "controllerrevisions",
            "",
            "apps/v1",
            "true",
            "ControllerRevision",
        ),
        ("jobs", "", "batch/v1", "true", "Job"),
        ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
        (
            "horizontalpodautoscalers",
            "hpa",
            "autoscaling/",
            "true",
            "HorizontalPodAutoscaler",
        ),
        (
            "endpointslices",
            "",
            "discovery.k8s.io/v1",
            "true",
            "EndpointSlice",
        ),
        ("leases", "", "coordination.k8s.io/v1", "true", "Lease"),
        ("roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"),
        (
            "clusterroles",
            "",
            "rbac.authorization.k8s.io/v1",
            "false",
            "ClusterRole",
        ),
        (
            "rolebindings",
            "",
            "rbac.authorization.k8s.io/v1",
            "true",
            "RoleBinding",
        ),
        (
            "clusterrolebindings",
            "",
            "rbac.authorization.k8s.io/v1",
            "false",
            "ClusterRoleBinding",
        ),
        (
            "priorityclasses",
            "pc",
            "scheduling.k8s.io/v1",
            "false",
            "PriorityClass",
        ),
        (
            "poddisruptionbudgets",
            "pdb",
            "policy/v1",
            "true",
            "PodDisruptionBudget",
        ),
    ];
    for (name, short, gv, namespaced, kind) in want {
        let row = rows.iter().find(|r| {
            r.get("NAME").map(String::as_str) == Some(name)
                && r.get("APIVERSION").is_some_and(|v| v.starts_with(gv))
        });
        let Some(row) = row else {
            c.fail(&format!(
                "kubectl api-resources has no row {name} {gv}:\n{out}"
            ));
        };
        check_eq!(c, row["SHORTNAMES"], *short, "SHORTNAMES of {name}");
        check_eq!(c, row["NAMESPACED"], *namespaced, "NAMESPACED of {name}");
        check_eq!(c, row["KIND"], *kind, "KIND of {name}");
    }
    // Wide output: verbs and categories (`kubectl get all` depends on them).
    let wide = table_rows(&c.kubectl_ok(&["api-resources", "-o", "wide", "--api-group="]));
    let pods = wide
        .iter()
        .find(|r| r.get("NAME").map(String::as_str) == Some("pods"))
        .unwrap_or_else(|| c.fail("no pods row in kubectl api-resources -o wide --api-group="));
    check_eq!(
        c,
        pods["VERBS"],
        "create,delete,deletecollection,get,list,patch,update,watch",
        "verbs of pods"
    );
    check_eq!(c, pods["CATEGORIES"], "all", "categories of pods");
    let versions = lines_set(&c.kubectl_ok(&["api-versions"]));
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "autoscaling/v1",
        "autoscaling/v2",
        "discovery.k8s.io/v1",
        "coordination.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "scheduling.k8s.io/v1",
        "policy/v1",
    ] {
        check!(
            c,
            versions.contains(gv),
            "kubectl api-versions lacks {gv}: {versions:?}"
        );
    }
}

#[test]
fn apply_upstream_kube_flannel_yml() {
    let c = Cluster::shared();
    let out = c.apply(FLANNEL_YML, &[]);
    let want: BTreeSet<String> = [
        "namespace/kube-flannel created",
        "clusterrole.rbac.authorization.k8s.io/flannel created",
        "clusterrolebinding.rbac.authorization.k8s.io/flannel created",
        "serviceaccount/flannel created",
        "configmap/kube-flannel-cfg created",
        "daemonset.apps/kube-flannel-ds created",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    check_eq!(
        c,
        lines_set(&out),
        want,
        "kubectl apply -f kube-flannel.yml output"
    );

    // What the user sees.
    let ds = table_rows(&c.kubectl_ok(&["get", "ds", "-n", "kube-flannel"]));
    check_eq!(c, ds.len(), 1, "daemonsets in kube-flannel");
    let header: Vec<&str> = ds[0].keys().map(String::as_str).collect();
    for col in [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ] {
        check!(
            c,
            header.contains(&col),
            "kubectl get ds has no column {col}: {header:?}"
        );
    }
    check_eq!(c, ds[0]["NAME"], "kube-flannel-ds", "daemonset name");
    check_eq!(
        c,
        ds[0]["DESIRED"],
        "0",
        "DESIRED of a daemonset no controller handled"
    );

    // Stored and defaulted as upstream.
    let d = c.get_json(&["ds", "kube-flannel-ds", "-n", "kube-flannel"]);
    let checks: &[(&str, Value)] = &[
        ("/metadata/generation", 1.into()),
        ("/spec/updateStrategy/type", "RollingUpdate".into()),
        (
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            1.into(),
        ),
        ("/spec/revisionHistoryLimit", 10.into()),
        ("/spec/template/spec/restartPolicy", "Always".into()),
        ("/spec/template/spec/dnsPolicy", "ClusterFirst".into()),
        (
            "/spec/template/spec/schedulerName",
            "default-scheduler".into(),
        ),
        (
            "/spec/template/spec/terminationGracePeriodSeconds",
            30.into(),
        ),
        (
            "/spec/template/spec/priorityClassName",
            "system-node-critical".into(),
        ),
        (
            "/spec/template/spec/containers/0/imagePullPolicy",
            "IfNotPresent".into(),
        ),
        (
            "/spec/template/spec/containers/0/ports/0/protocol",
            "TCP".into(),
        ),
        (
            "/spec/template/spec/containers/0/terminationMessagePath",
            "/dev/termination-log".into(),
        ),
        ("/spec/template/spec/hostNetwork", true.into()),
        ("/spec/template/spec/serviceAccountName", "flannel".into()),
    ];
    for (ptr, want) in checks {
        check_eq!(c, d.pointer(ptr), Some(want), "daemonset {ptr}");
    }
    check!(
        c,
        d.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("kube-flannel-ds") && s.ends_with('\n')),
        "last-applied-configuration annotation not stored verbatim: {}",
        d["metadata"]
    );
    let net_conf = jsonpath(
        &c,
        &["cm", "kube-flannel-cfg", "-n", "kube-flannel"],
        "{.data.net-conf\\.json}",
    );
    check!(
        c,
        net_conf.contains("\"Network\": \"10.244.0.0/16\"")
            && net_conf.contains("\"Type\": \"vxlan\""),
        "net-conf.json as stored: {net_conf}"
    );
    let ns_labels = c.get_json(&["ns", "kube-flannel"]);
    check_eq!(
        c,
        ns_labels.pointer("/metadata/labels/pod-security.kubernetes.io~1enforce"),
        Some(&Value::from("privileged")),
        "namespace label from the file"
    );
    check_eq!(
        c,
        ns_labels.pointer("/metadata/labels/kubernetes.io~1metadata.name"),
        Some(&Value::from("kube-flannel")),
        "namespace label kubernetes.io/metadata.name set by the server"
    );
    let crb = c.get_json(&["clusterrolebinding", "flannel"]);
    check_eq!(
        c,
        crb.pointer("/subjects/0/namespace"),
        Some(&Value::from("kube-flannel")),
        "clusterrolebinding subject"
    );

    // The same file again: nothing to do.
    let again = c.apply(FLANNEL_YML, &[]);
    check!(
        c,
        again
            .lines()
            .all(|l| l.trim().is_empty() || l.ends_with(" unchanged")),
        "re-applying the same file changed something:\n{again}"
    );

    // Another writer adds an annotation and a toleration; then the file gets a new image.
    c.kubectl_ok(&[
        "annotate",
        "ds",
        "kube-flannel-ds",
        "-n",
        "kube-flannel",
        "other-writer=kept",
    ]);
    let edited = FLANNEL_YML.replace(
        "image: ghcr.io/flannel-io/flannel:v0.28.9",
        "image: ghcr.io/flannel-io/flannel:v0.28.10",
    );
    let out = c.apply(&edited, &[]);
    check!(
        c,
        out.contains("daemonset.apps/kube-flannel-ds configured")
            && out.contains("configmap/kube-flannel-cfg unchanged"),
        "apply after an edit printed:\n{out}"
    );
    let d = c.get_json(&["ds", "kube-flannel-ds", "-n", "kube-flannel"]);
    check_eq!(
        c,
        d.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("ghcr.io/flannel-io/flannel:v0.28.10")),
        "edited image"
    );
    check_eq!(
        c,
        d.pointer("/spec/template/spec/initContainers/1/image"),
        Some(&Value::from("ghcr.io/flannel-io/flannel:v0.28.10")),
        "edited init container image"
    );
    check_eq!(
        c,
        d.pointer("/spec/template/spec/initContainers/0/image"),
        Some(&Value::from(
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"
        )),
        "untouched init container image"
    );
    check_eq!(
        c,
        d.pointer("/metadata/annotations/other-writer"),
        Some(&Value::from("kept")),
        "another writer's annotation after the three-way merge"
    );
    check_eq!(
        c,
        d.pointer("/metadata/generation"),
        Some(&Value::from(2)),
        "generation after a spec change"
    );
}

#[test]
fn apply_multi_document_three_way_merge() {
    let c = Cluster::shared();
    let ns = c.namespace("t-apply");
    let v1 = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-cfg
  labels: {app: web, old: "yes"}
data: {a: "1", b: "2"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c1
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: c2
        image: busybox:1.36
        command: [sleep, "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
"#;
    let out = c.apply(v1, &["-n", &ns]);
    let want: BTreeSet<String> = [
        "configmap/web-cfg created",
        "deployment.apps/web created",
        "service/web created",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    check_eq!(c, lines_set(&out), want, "first apply");
    let svc_ip = jsonpath(&c, &["svc", "web", "-n", &ns], "{.spec.clusterIP}");

    // Other writers.
    c.kubectl_ok(&["label", "deploy", "web", "-n", &ns, "owner=other"]);
    c.kubectl_ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        &ns,
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c1","env":[{"name":"EXTRA","value":"x"}]}]}}}}"#,
    ]);
    c.kubectl_ok(&[
        "patch",
        "cm",
        "web-cfg",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"data":{"c":"3"}}"#,
    ]);

    // The edited file: a changed, b removed, label old removed, replicas 3, new image, env B gone.
    let v2 = v1
        .replace(r#"labels: {app: web, old: "yes"}"#, "labels: {app: web}")
        .replace(r#"data: {a: "1", b: "2"}"#, r#"data: {a: "10"}"#)
        .replace("replicas: 2", "replicas: 3")
        .replace("image: nginx:1.25", "image: nginx:1.26")
        .replace("        - {name: B, value: \"2\"}\n", "");
    let out = c.apply(&v2, &["-n", &ns]);
    let want: BTreeSet<String> = [
        "configmap/web-cfg configured",
        "deployment.apps/web configured",
        "service/web unchanged",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    check_eq!(c, lines_set(&out), want, "second apply");

    let cm = c.get_json(&["cm", "web-cfg", "-n", &ns]);
    check_eq!(
        c,
        cm["data"],
        serde_json::json!({"a": "10", "c": "3"}),
        "configmap data: a changed, b (removed from the file) deleted, c (other writer) kept"
    );
    check_eq!(
        c,
        cm["metadata"]["labels"],
        serde_json::json!({"app": "web"}),
        "configmap labels"
    );
    let d = c.get_json(&["deploy", "web", "-n", &ns]);
    check_eq!(
        c,
        d.pointer("/spec/replicas"),
        Some(&Value::from(3)),
        "replicas"
    );
    check_eq!(
        c,
        d.pointer("/metadata/labels/owner"),
        Some(&Value::from("other")),
        "other writer's label"
    );
    let containers = d
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    check_eq!(
        c,
        containers.len(),
        2,
        "containers after the merge: {containers:?}"
    );
    let c1 = containers
        .iter()
        .find(|x| x["name"] == "c1")
        .cloned()
        .unwrap_or_default();
    let c2 = containers
        .iter()
        .find(|x| x["name"] == "c2")
        .cloned()
        .unwrap_or_default();
    check_eq!(c, c1["image"], Value::from("nginx:1.26"), "c1 image");
    check_eq!(c, c2["image"], Value::from("busybox:1.36"), "c2 image");
    let env: BTreeSet<String> = c1["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let want_env: BTreeSet<String> = ["A", "EXTRA"].iter().map(|s| s.to_string()).collect();
    check_eq!(
        c,
        env,
        want_env,
        "c1 env: B removed by the file, EXTRA (other writer) kept"
    );
    check_eq!(
        c,
        d.pointer("/metadata/generation"),
        Some(&Value::from(3)),
        "generation (create, patch, apply)"
    );
    check_eq!(
        c,
        jsonpath(&c, &["svc", "web", "-n", &ns], "{.spec.clusterIP}"),
        svc_ip,
        "service clusterIP across applies"
    );

    // Server-side apply from kubectl.
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-cfg\ndata:\n  k: v1\n";
    let out = c.apply(ssa, &["-n", &ns, "--server-side"]);
    check!(
        c,
        out.contains("configmap/ssa-cfg serverside-applied"),
        "apply --server-side printed {out}"
    );
    let out = c.apply(
        &ssa.replace("k: v1", "k: v2"),
        &["-n", &ns, "--server-side"],
    );
    check!(
        c,
        out.contains("configmap/ssa-cfg serverside-applied"),
        "second apply --server-side printed {out}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["cm", "ssa-cfg", "-n", &ns], "{.data.k}"),
        "v2",
        "server-side applied value"
    );
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: p1, labels: {app: a, tier: fe}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p2, labels: {app: b}}
spec: {containers: [{name: c, image: nginx}, {name: d, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p3, labels: {app: a, tier: be}}
spec: {nodeName: node-x, containers: [{name: c, image: nginx}]}
"#;

#[test]
fn get_in_every_output_form() {
    let c = Cluster::shared();
    let ns = c.namespace("t-get");
    c.apply(PODS, &["-n", &ns]);

    let out = c.kubectl_ok(&["get", "pods", "-n", &ns]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    check_eq!(
        c,
        header,
        vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "get pods header"
    );
    let rows = table_rows(&out);
    let names_col: Vec<&str> = rows.iter().map(|r| r["NAME"].as_str()).collect();
    check_eq!(
        c,
        names_col,
        vec!["p1", "p2", "p3"],
        "get pods rows:\n{out}"
    );
    check_eq!(c, rows[0]["READY"], "0/1", "READY of p1");
    check_eq!(c, rows[1]["READY"], "0/2", "READY of p2 (two containers)");
    check_eq!(c, rows[0]["STATUS"], "Pending", "STATUS of p1");
    check_eq!(c, rows[0]["RESTARTS"], "0", "RESTARTS of p1");
    check!(
        c,
        rows[0]["AGE"].ends_with('s') || rows[0]["AGE"].ends_with('m'),
        "AGE of p1: {out}"
    );

    let wide = c.kubectl_ok(&["get", "pods", "-n", &ns, "-o", "wide"]);
    let rows = table_rows(&wide);
    let first = wide.lines().next().unwrap_or_default();
    check!(
        c,
        squash(first) == "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
        "get pods -o wide header: {first}"
    );
    check_eq!(c, rows[2]["NODE"], "node-x", "NODE of p3");
    check_eq!(c, rows[0]["NODE"], "<none>", "NODE of p1");
    check_eq!(c, rows[0]["IP"], "<none>", "IP of p1");

    let list = c.get_json(&["pods", "-n", &ns]);
    check_eq!(c, names(&list), vec!["p1", "p2", "p3"], "get pods -o json");
    for item in list["items"].as_array().cloned().unwrap_or_default() {
        for ptr in [
            "/metadata/uid",
            "/metadata/resourceVersion",
            "/metadata/creationTimestamp",
        ] {
            check!(
                c,
                item.pointer(ptr)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                "{ptr} missing in {item}"
            );
        }
        check_eq!(
            c,
            item.pointer("/status/phase"),
            Some(&Value::from("Pending")),
            "status.phase"
        );
        check_eq!(
            c,
            item.pointer("/spec/restartPolicy"),
            Some(&Value::from("Always")),
            "restartPolicy default"
        );
        check_eq!(
            c,
            item.pointer("/spec/dnsPolicy"),
            Some(&Value::from("ClusterFirst")),
            "dnsPolicy default"
        );
        check_eq!(
            c,
            item.pointer("/spec/containers/0/imagePullPolicy"),
            Some(&Value::from("Always")),
            "imagePullPolicy default of an untagged image"
        );
    }

    let yaml = c.kubectl_ok(&["get", "pod", "p2", "-n", &ns, "-o", "yaml"]);
    let y: serde_yaml::Value = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| c.fail(&format!("get -o yaml is not YAML ({e}):\n{yaml}")));
    check_eq!(c, y["kind"].as_str(), Some("Pod"), "kind in -o yaml");
    check_eq!(
        c,
        y["metadata"]["name"].as_str(),
        Some("p2"),
        "name in -o yaml"
    );

    let jp = jsonpath(&c, &["pods", "-n", &ns], "{.items[*].metadata.name}");
    check_eq!(c, jp, "p1 p2 p3", "jsonpath over the list");
    let name_out = c.kubectl_ok(&["get", "pods", "-n", &ns, "-o", "name"]);
    check_eq!(
        c,
        lines_set(&name_out),
        lines_set("pod/p1\npod/p2\npod/p3"),
        "-o name"
    );

    let sel = |args: &[&str]| -> String {
        let mut all = vec!["pods", "-n", ns.as_str()];
        all.extend_from_slice(args);
        jsonpath(&c, &all, "{.items[*].metadata.name}")
    };
    check_eq!(c, sel(&["-l", "app=a"]), "p1 p3", "-l app=a");
    check_eq!(
        c,
        sel(&["-l", "app in (a,b),tier!=fe"]),
        "p2 p3",
        "-l 'app in (a,b),tier!=fe'"
    );
    check_eq!(c, sel(&["-l", "!tier"]), "p2", "-l '!tier'");
    check_eq!(c, sel(&["-l", "tier"]), "p1 p3", "-l tier");
    check_eq!(c, sel(&["-l", "app notin (a)"]), "p2", "-l 'app notin (a)'");
    check_eq!(
        c,
        sel(&["--field-selector", "metadata.name=p2"]),
        "p2",
        "--field-selector metadata.name=p2"
    );
    check_eq!(
        c,
        sel(&["--field-selector", "spec.nodeName=node-x"]),
        "p3",
        "--field-selector spec.nodeName"
    );
    check_eq!(
        c,
        sel(&["--field-selector", "status.phase=Pending,metadata.name!=p1"]),
        "p2 p3",
        "--field-selector status.phase=Pending,metadata.name!=p1"
    );
    let err = c.kubectl_err(&["get", "pods", "-n", &ns, "--field-selector", "spec.bogus=x"]);
    check!(
        c,
        err.contains("field label not supported: spec.bogus"),
        "unsupported field selector: {err}"
    );

    let all = c.kubectl_ok(&["get", "pods", "-A"]);
    let rows = table_rows(&all);
    check!(
        c,
        all.lines()
            .next()
            .unwrap_or_default()
            .starts_with("NAMESPACE"),
        "get pods -A header: {all}"
    );
    check!(
        c,
        rows.iter()
            .any(|r| r["NAMESPACE"] == ns && r["NAME"] == "p3"),
        "get pods -A lacks {ns}/p3:\n{all}"
    );
    let everything = c.kubectl_ok(&["get", "all", "-n", &ns]);
    check!(
        c,
        everything.contains("pod/p1"),
        "kubectl get all (category all):\n{everything}"
    );
}

#[test]
fn get_watch_prints_changes() {
    let c = Cluster::shared();
    let ns = c.namespace("t-watch-cli");
    c.kubectl_ok(&[
        "create",
        "configmap",
        "before",
        "-n",
        &ns,
        "--from-literal=k=v",
    ]);
    let (mut child, rx) = c.kubectl_background(&[
        "get",
        "configmaps",
        "-n",
        &ns,
        "-w",
        "--output-watch-events",
    ]);
    let mut step = |what: &str, pred: &dyn Fn(&str) -> bool| {
        if let Err(e) = recv_line(&rx, Duration::from_secs(15), pred) {
            let _ = child.kill();
            c.fail(&format!("kubectl get -w: {what}: {e:#}"));
        }
    };
    step("the existing configmap", &|l| l.contains("before"));
    c.kubectl_ok(&["create", "configmap", "w1", "-n", &ns, "--from-literal=a=1"]);
    step("ADDED w1", &|l| l.contains("ADDED") && l.contains("w1"));
    c.kubectl_ok(&["label", "configmap", "w1", "-n", &ns, "x=y"]);
    step("MODIFIED w1", &|l| {
        l.contains("MODIFIED") && l.contains("w1")
    });
    c.kubectl_ok(&["delete", "configmap", "w1", "-n", &ns]);
    step("DELETED w1", &|l| l.contains("DELETED") && l.contains("w1"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn describe_shows_objects_like_upstream() {
    let c = Cluster::shared();
    let ns = c.namespace("t-describe");
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "nginx:1.25", ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec: {containers: [{name: c, image: "nginx:1.25"}]}
"#,
        &["-n", &ns],
    );
    let d = squash(&c.kubectl_ok(&["describe", "deployment", "web", "-n", &ns]));
    for want in [
        "Name: web",
        &format!("Namespace: {ns}"),
        "Labels: app=web",
        "Selector: app=web",
        "Replicas: 2 desired",
        "StrategyType: RollingUpdate",
        "RollingUpdateStrategy: 25% max unavailable, 25% max surge",
        "Image: nginx:1.25",
        "Port: 80/TCP",
    ] {
        check!(
            c,
            d.contains(want),
            "kubectl describe deployment lacks {want:?}:\n{d}"
        );
    }
    let p = squash(&c.kubectl_ok(&["describe", "pod", "solo", "-n", &ns]));
    for want in [
        "Name: solo",
        "Status: Pending",
        "Image: nginx:1.25",
        "Events: <none>",
    ] {
        check!(
            c,
            p.contains(want),
            "kubectl describe pod lacks {want:?}:\n{p}"
        );
    }
    let n = squash(&c.kubectl_ok(&["describe", "namespace", &ns]));
    check!(
        c,
        n.contains("Status: Active"),
        "kubectl describe namespace:\n{n}"
    );
}

#[test]
fn label_and_annotate() {
    let c = Cluster::shared();
    let ns = c.namespace("t-label");
    c.kubectl_ok(&["create", "configmap", "x", "-n", &ns, "--from-literal=k=v"]);
    let out = c.kubectl_ok(&["label", "cm", "x", "-n", &ns, "tier=fe"]);
    check!(
        c,
        out.contains("configmap/x labeled"),
        "label printed {out}"
    );
    let shown = table_rows(&c.kubectl_ok(&["get", "cm", "x", "-n", &ns, "--show-labels"]));
    check_eq!(c, shown[0]["LABELS"], "tier=fe", "--show-labels");
    let err = c.kubectl_err(&["label", "cm", "x", "-n", &ns, "tier=be"]);
    check!(
        c,
        err.contains("--overwrite is false"),
        "label without --overwrite: {err}"
    );
    c.kubectl_ok(&["label", "cm", "x", "-n", &ns, "tier=be", "--overwrite"]);
    check_eq!(
        c,
        jsonpath(&c, &["cm", "x", "-n", &ns], "{.metadata.labels.tier}"),
        "be",
        "overwritten label"
    );
    let out = c.kubectl_ok(&["label", "cm", "x", "-n", &ns, "tier-"]);
    check!(
        c,
        out.contains("configmap/x unlabeled"),
        "label tier- printed {out}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["cm", "x", "-n", &ns], "{.metadata.labels}"),
        "",
        "labels after removal"
    );

    // A stale --resource-version precondition is a 409 from the server.
    let rv = jsonpath(&c, &["cm", "x", "-n", &ns], "{.metadata.resourceVersion}");
    c.kubectl_ok(&["label", "cm", "x", "-n", &ns, "bump=1"]);
    let err = c.kubectl_err(&[
        "label",
        "cm",
        "x",
        "-n",
        &ns,
        "late=1",
        "--resource-version",
        &rv,
    ]);
    check!(
        c,
        err.contains("Error from server (Conflict)")
            && err.contains("the object has been modified"),
        "label with a stale --resource-version: {err}"
    );

    let out = c.kubectl_ok(&["annotate", "cm", "x", "-n", &ns, "note=hello world"]);
    check!(
        c,
        out.contains("configmap/x annotated"),
        "annotate printed {out}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["cm", "x", "-n", &ns], "{.metadata.annotations.note}"),
        "hello world",
        "annotation"
    );
    c.kubectl_ok(&["annotate", "cm", "x", "-n", &ns, "note-"]);
    check_eq!(
        c,
        jsonpath(&c, &["cm", "x", "-n", &ns], "{.metadata.annotations.note}"),
        "",
        "annotation removed"
    );
    // Selector-wide labelling.
    c.kubectl_ok(&["create", "configmap", "y", "-n", &ns, "--from-literal=k=v"]);
    c.kubectl_ok(&["label", "cm", "--all", "-n", &ns, "batch=yes"]);
    check_eq!(
        c,
        jsonpath(
            &c,
            &["cm", "-n", &ns, "-l", "batch=yes"],
            "{.items[*].metadata.name}"
        ),
        "x y",
        "label --all"
    );
}

#[test]
fn patch_with_all_three_types() {
    let c = Cluster::shared();
    let ns = c.namespace("t-patch");
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: {app: d}}
spec:
  replicas: 1
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - {name: c1, image: "nginx:1.25"}
      - {name: c2, image: "busybox:1.36"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: m}
data: {a: "1", k: "v"}
"#,
        &["-n", &ns],
    );
    let images = |c: &Cluster| {
        jsonpath(
            c,
            &["deploy", "d", "-n", &ns],
            "{.spec.template.spec.containers[*].image}",
        )
    };

    // Strategic merge (the default): containers merge by name.
    let out = c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c2","image":"busybox:1.37"}]}}}}"#,
    ]);
    check!(
        c,
        out.contains("deployment.apps/d patched"),
        "patch printed {out}"
    );
    check_eq!(
        c,
        images(&c),
        "nginx:1.25 busybox:1.37",
        "images after a strategic merge patch"
    );
    let out = c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c2","image":"busybox:1.37"}]}}}}"#,
    ]);
    check!(
        c,
        out.contains("patched (no change)"),
        "a no-op patch printed {out}"
    );

    // JSON merge patch: null deletes, lists are replaced.
    c.kubectl_ok(&[
        "patch",
        "cm",
        "m",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"data":{"a":null,"b":"2"}}"#,
    ]);
    check_eq!(
        c,
        c.get_json(&["cm", "m", "-n", &ns])["data"],
        serde_json::json!({"b": "2", "k": "v"}),
        "data after a merge patch"
    );
    c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c1","image":"nginx:1.26"}]}}}}"#,
    ]);
    check_eq!(
        c,
        images(&c),
        "nginx:1.26",
        "a merge patch replaces the containers list"
    );

    // JSON patch.
    c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels/j","value":"1"}]"#,
    ]);
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.spec.replicas}"),
        "4",
        "replicas after a JSON patch"
    );
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.metadata.labels.j}"),
        "1",
        "label added by a JSON patch"
    );
    let gen_before = jsonpath(&c, &["deploy", "d", "-n", &ns], "{.metadata.generation}");
    let err = c.kubectl_err(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":99},{"op":"replace","path":"/spec/replicas","value":7}]"#,
    ]);
    check!(
        c,
        // 422 without details, as upstream answers a failed JSON patch.
        err.contains("The request is invalid") && err.contains("test /spec/replicas"),
        "a failing JSON patch test op: {err}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.spec.replicas}"),
        "4",
        "replicas after a failed JSON patch"
    );

    // The status subresource: status changes, generation does not.
    c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":7}}"#,
    ]);
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.status.replicas}"),
        "7",
        "status.replicas via /status"
    );
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.metadata.generation}"),
        gen_before,
        "generation after a status patch"
    );
    // A spec patch through the main resource leaves status alone.
    c.kubectl_ok(&[
        "patch",
        "deploy",
        "d",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":1}}"#,
    ]);
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "d", "-n", &ns], "{.status.replicas}"),
        "7",
        "status after a main-resource patch of status"
    );
}

#[test]
fn scale_deployments_and_statefulsets() {
    let c = Cluster::shared();
    let ns = c.namespace("t-scale");
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: s}
spec:
  replicas: 1
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec: {containers: [{name: c, image: "nginx:1.25"}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: "postgres:16"}]}
"#,
        &["-n", &ns],
    );
    let out = c.kubectl_ok(&["scale", "deploy", "s", "-n", &ns, "--replicas=3"]);
    check!(
        c,
        out.contains("deployment.apps/s scaled"),
        "scale printed {out}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "s", "-n", &ns], "{.spec.replicas}"),
        "3",
        "replicas after scale"
    );
    let err = c.kubectl_err(&[
        "scale",
        "deploy",
        "s",
        "-n",
        &ns,
        "--current-replicas=2",
        "--replicas=5",
    ]);
    check!(
        c,
        err.contains("2") && err.contains("3"),
        "scale with a wrong --current-replicas: {err}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["deploy", "s", "-n", &ns], "{.spec.replicas}"),
        "3",
        "replicas after a refused scale"
    );
    let raw = c.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/s/scale"),
    ]);
    let scale: Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| c.fail(&format!("scale JSON ({e}): {raw}")));
    check_eq!(c, scale["kind"], Value::from("Scale"), "kind of /scale");
    check_eq!(
        c,
        scale["apiVersion"],
        Value::from("autoscaling/v1"),
        "apiVersion of /scale"
    );
    check_eq!(
        c,
        scale.pointer("/spec/replicas"),
        Some(&Value::from(3)),
        "spec.replicas of /scale"
    );
    check_eq!(
        c,
        scale.pointer("/status/selector"),
        Some(&Value::from("app=s")),
        "status.selector of /scale"
    );
    let out = c.kubectl_ok(&["scale", "sts", "db", "-n", &ns, "--replicas=2"]);
    check!(
        c,
        out.contains("statefulset.apps/db scaled"),
        "scale sts printed {out}"
    );
    check_eq!(
        c,
        jsonpath(&c, &["sts", "db", "-n", &ns], "{.spec.replicas}"),
        "2",
        "statefulset replicas"
    );
}

#[test]
fn delete_objects_pods_and_cascades() {
    let c = Cluster::shared();
    let ns = c.namespace("t-delete");
    c.kubectl_ok(&["create", "configmap", "x", "-n", &ns, "--from-literal=k=v"]);
    let out = c.kubectl_ok(&["delete", "cm", "x", "-n", &ns]);
    check!(
        c,
        out.contains("configmap \"x\" deleted"),
        "delete printed {out}"
    );
    let err = c.kubectl_err(&["get", "cm", "x", "-n", &ns]);
    check!(
        c,
        err.contains("Error from server (NotFound): configmaps \"x\" not found"),
        "get after delete: {err}"
    );
    check!(
        c,
        c.etcd_get(&format!("/registry/configmaps/{ns}/x"))
            .is_none(),
        "etcd key of a deleted configmap still exists"
    );

    // By label.
    for n in ["l1", "l2", "l3"] {
        c.kubectl_ok(&["create", "configmap", n, "-n", &ns, "--from-literal=k=v"]);
    }
    c.kubectl_ok(&["label", "cm", "l1", "l2", "-n", &ns, "del=yes"]);
    c.kubectl_ok(&["delete", "cm", "-n", &ns, "-l", "del=yes"]);
    check_eq!(
        c,
        jsonpath(&c, &["cm", "-n", &ns], "{.items[*].metadata.name}")
            .split_whitespace()
            .filter(|n| n.starts_with('l'))
            .collect::<Vec<_>>(),
        vec!["l3"],
        "configmaps left after delete -l"
    );

    // A pod no node runs yet is deleted at once (upstream's pod strategy).
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: u}\nspec: {containers: [{name: c, image: nginx}]}\n", &["-n", &ns]);
    c.kubectl_ok(&["delete", "pod", "u", "-n", &ns, "--wait=false"]);
    check!(
        c,
        !c.kubectl(&["get", "pod", "u", "-n", &ns]).ok,
        "an unscheduled pod still exists after delete"
    );
    // Graceful deletion of a bound pod leaves it Terminating until its kubelet (or --force) ends it.
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n1, containers: [{name: c, image: nginx}]}\n", &["-n", &ns]);
    c.kubectl_ok(&["delete", "pod", "p", "-n", &ns, "--wait=false"]);
    let pod = c.get_json(&["pod", "p", "-n", &ns]);
    check!(
        c,
        pod.pointer("/metadata/deletionTimestamp").is_some(),
        "no deletionTimestamp on a gracefully deleted pod: {}",
        pod["metadata"]
    );
    check_eq!(
        c,
        pod.pointer("/metadata/deletionGracePeriodSeconds"),
        Some(&Value::from(30)),
        "deletionGracePeriodSeconds"
    );
    let rows = table_rows(&c.kubectl_ok(&["get", "pod", "p", "-n", &ns]));
    check_eq!(
        c,
        rows[0]["STATUS"],
        "Terminating",
        "STATUS of a deleted pod"
    );
    let out = c.kubectl(&[
        "delete",
        "pod",
        "p",
        "-n",
        &ns,
        "--grace-period=0",
        "--force",
    ]);
    check!(
        c,
        out.ok && out.stdout.contains("pod \"p\" force deleted"),
        "force delete: {out:?}"
    );
    wait_for(
        &c,
        "the force-deleted pod to be gone",
        Duration::from_secs(10),
        || (!c.kubectl(&["get", "pod", "p", "-n", &ns]).ok).then_some(()),
    );

    // Cascade policies: background deletes now; orphan and foreground leave the object with
    // upstream's finalizer for the garbage collector.
    let dep = |n: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {n}}}\nspec:\n  selector: {{matchLabels: {{app: {n}}}}}\n  template:\n    metadata: {{labels: {{app: {n}}}}}\n    spec: {{containers: [{{name: c, image: nginx}}]}}\n"
        )
    };
    for n in ["bg", "orph", "fg"] {
        c.apply(&dep(n), &["-n", &ns]);
    }
    let out = c.kubectl_ok(&["delete", "deploy", "bg", "-n", &ns, "--cascade=background"]);
    check!(
        c,
        out.contains("deployment.apps \"bg\" deleted"),
        "delete --cascade=background printed {out}"
    );
    check!(
        c,
        !c.kubectl(&["get", "deploy", "bg", "-n", &ns]).ok,
        "deployment bg still exists after a background delete"
    );
    for (n, policy, finalizer) in [
        ("orph", "orphan", "orphan"),
        ("fg", "foreground", "foregroundDeletion"),
    ] {
        c.kubectl_ok(&[
            "delete",
            "deploy",
            n,
            "-n",
            &ns,
            &format!("--cascade={policy}"),
            "--wait=false",
        ]);
        let d = c.get_json(&["deploy", n, "-n", &ns]);
        check!(
            c,
            d.pointer("/metadata/deletionTimestamp").is_some(),
            "no deletionTimestamp after delete --cascade={policy}: {}",
            d["metadata"]
        );
        let fins: Vec<&str> = d
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        check!(
            c,
            fins.contains(&finalizer),
            "finalizers after delete --cascade={policy}: {fins:?}"
        );
        // Removing the last finalizer of a deleted object removes it.
        c.kubectl_ok(&[
            "patch",
            "deploy",
            n,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
        wait_for(
            &c,
            &format!("deployment {n} to go once its finalizer is removed"),
            Duration::from_secs(10),
            || (!c.kubectl(&["get", "deploy", n, "-n", &ns]).ok).then_some(()),
        );
    }
}

#[test]
fn explain_built_in_kinds() {
    let c = Cluster::shared();
    let out = c.kubectl_ok(&["explain", "pods.spec.containers"]);
    let s = squash(&out);
    for want in [
        "KIND: Pod",
        "VERSION: v1",
        "FIELD: containers <[]Container>",
        "DESCRIPTION:",
        "image <string>",
    ] {
        check!(
            c,
            s.contains(want),
            "kubectl explain pods.spec.containers lacks {want:?}:\n{out}"
        );
    }
    let out = squash(&c.kubectl_ok(&["explain", "deployment.spec.strategy.rollingUpdate"]));
    check!(
        c,
        out.contains("GROUP: apps") && out.contains("maxSurge"),
        "kubectl explain deployment.spec.strategy.rollingUpdate:\n{out}"
    );
    let out = squash(&c.kubectl_ok(&["explain", "node.spec.podCIDR"]));
    check!(
        c,
        out.contains("podCIDR <string>"),
        "kubectl explain node.spec.podCIDR:\n{out}"
    );
}

#[test]
fn wait_for_jsonpath_and_delete() {
    let c = Cluster::shared();
    let ns = c.namespace("t-wait");
    c.kubectl_ok(&[
        "create",
        "configmap",
        "w",
        "-n",
        &ns,
        "--from-literal=k=old",
    ]);
    // Already satisfied: returns at once.
    let out = c.kubectl_ok(&[
        "wait",
        "cm/w",
        "-n",
        &ns,
        "--for=jsonpath={.data.k}=old",
        "--timeout=10s",
    ]);
    check!(
        c,
        out.contains("configmap/w condition met"),
        "wait (already true) printed {out}"
    );
    // Satisfied later, through a watch.
    let (mut child, rx) = c.kubectl_background(&[
        "wait",
        "cm/w",
        "-n",
        &ns,
        "--for=jsonpath={.data.k}=new",
        "--timeout=30s",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    c.kubectl_ok(&[
        "patch",
        "cm",
        "w",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"data":{"k":"new"}}"#,
    ]);
    if let Err(e) = recv_line(&rx, Duration::from_secs(30), |l| {
        l.contains("condition met")
    }) {
        let _ = child.kill();
        c.fail(&format!(
            "kubectl wait --for=jsonpath did not see the change: {e:#}"
        ));
    }
    let _ = child.wait();
    // --for=delete
    let (mut child, rx) =
        c.kubectl_background(&["wait", "cm/w", "-n", &ns, "--for=delete", "--timeout=30s"]);
    std::thread::sleep(Duration::from_millis(1500));
    c.kubectl_ok(&["delete", "cm", "w", "-n", &ns, "--wait=false"]);
    if let Err(e) = recv_line(&rx, Duration::from_secs(30), |l| {
        l.contains("condition met")
    }) {
        let _ = child.kill();
        c.fail(&format!(
            "kubectl wait --for=delete did not see the deletion: {e:#}"
        ));
    }
    let _ = child.wait();
}

#[test]
fn create_namespace_configmap_secret() {
    let c = Cluster::shared();
    let out = c.kubectl_ok(&["create", "namespace", "t-create"]);
    check!(
        c,
        out.contains("namespace/t-create created"),
        "create namespace printed {out}"
    );
    let rows = table_rows(&c.kubectl_ok(&["get", "ns", "t-create"]));
    check_eq!(c, rows[0]["STATUS"], "Active", "STATUS of a new namespace");
    let out = c.kubectl_ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "t-create",
        "--from-literal=a=1",
        "--from-literal=b=two",
    ]);
    check!(
        c,
        out.contains("configmap/c created"),
        "create configmap printed {out}"
    );
    check_eq!(
        c,
        c.get_json(&["cm", "c", "-n", "t-create"])["data"],
        serde_json::json!({"a": "1", "b": "two"}),
        "configmap data"
    );
    let rows = table_rows(&c.kubectl_ok(&["get", "cm", "c", "-n", "t-create"]));
    check_eq!(c, rows[0]["DATA"], "2", "DATA column");
    let err = c.kubectl_err(&[
        "create",
        "configmap",
        "c",
        "-n",
        "t-create",
        "--from-literal=a=1",
    ]);
    check!(
        c,
        // kubectl's `create configmap` wraps the server's AlreadyExists
        // message: "error: failed to create configmap: configmaps "c" already exists".
        err.contains("configmaps \"c\" already exists"),
        "create of an existing configmap: {err}"
    );
    c.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "t-create",
        "--from-literal=p=x",
    ]);
    check_eq!(
        c,
        jsonpath(&c, &["secret", "s", "-n", "t-create"], "{.data.p}"),
        "eA==",
        "secret data (base64)"
    );
    check_eq!(
        c,
        jsonpath(&c, &["secret", "s", "-n", "t-create"], "{.type}"),
        "Opaque",
        "secret type default"
    );
    let err = c.kubectl_err(&["create", "namespace", "Bad_Name"]);
    check!(
        c,
        err.contains("The Namespace \"Bad_Name\" is invalid") && err.contains("metadata.name"),
        "create namespace with an invalid name: {err}"
    );
    let err = c.kubectl_err(&[
        "create",
        "configmap",
        "c",
        "-n",
        "no-such-ns",
        "--from-literal=a=1",
    ]);
    check!(
        c,
        err.contains("namespaces \"no-such-ns\" not found"),
        "create in a missing namespace: {err}"
    );
}

#[test]
fn etcd_key_layout_and_values() {
    let c = Cluster::shared();
    let ns = c.namespace("t-etcd");
    c.apply(
        r#"
apiVersion: v1
kind: Node
metadata: {name: n-etcd-1, labels: {kubernetes.io/hostname: n-etcd-1}}
spec: {podCIDR: 10.244.9.0/24}
"#,
        &[],
    );
    c.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  selector: {app: s}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: c, image: nginx}]}
"#,
        &["-n", &ns],
    );
    let expect = |key: &str, kind: &str, api_version: &str| -> (Value, i64) {
        let Some((v, rev)) = c.etcd_get(key) else {
            c.fail(&format!(
                "etcd has no key {key}; keys under /registry:\n{}",
                c.etcd_keys("/registry").join("\n")
            ));
        };
        check_eq!(c, v["kind"].as_str(), Some(kind), "kind stored at {key}");
        check_eq!(
            c,
            v["apiVersion"].as_str(),
            Some(api_version),
            "apiVersion stored at {key}"
        );
        check!(
            c,
            v.pointer("/metadata/resourceVersion").is_none(),
            "{key} stores a resourceVersion: {}",
            v["metadata"]
        );
        check!(
            c,
            v.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .is_some_and(|u| u.len() == 36),
            "{key} has no uid: {}",
            v["metadata"]
        );
        (v, rev)
    };
    let (node, node_rev) = expect("/registry/minions/n-etcd-1", "Node", "v1");
    check_eq!(
        c,
        node.pointer("/spec/podCIDR"),
        Some(&Value::from("10.244.9.0/24")),
        "node spec in etcd"
    );
    check_eq!(
        c,
        jsonpath(&c, &["node", "n-etcd-1"], "{.metadata.resourceVersion}"),
        node_rev.to_string(),
        "resourceVersion of the node = its etcd mod_revision"
    );
    let (svc, _) = expect(&format!("/registry/services/specs/{ns}/s"), "Service", "v1");
    check!(
        c,
        svc.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|ip| ip.starts_with("10.")),
        "service clusterIP in etcd: {}",
        svc["spec"]
    );
    let (_, cm_rev) = expect(&format!("/registry/configmaps/{ns}/c"), "ConfigMap", "v1");
    check_eq!(
        c,
        jsonpath(&c, &["cm", "c", "-n", &ns], "{.metadata.resourceVersion}"),
        cm_rev.to_string(),
        "resourceVersion of the configmap = its etcd mod_revision"
    );
    expect(
        &format!("/registry/deployments/{ns}/d"),
        "Deployment",
        "apps/v1",
    );
    expect(&format!("/registry/namespaces/{ns}"), "Namespace", "v1");
    // Bootstrap objects, where kube-apiserver keeps them.
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        expect(&format!("/registry/namespaces/{ns}"), "Namespace", "v1");
    }
    let (k8s, _) = expect(
        "/registry/services/specs/default/kubernetes",
        "Service",
        "v1",
    );
    check_eq!(
        c,
        k8s.pointer("/spec/clusterIP"),
        Some(&Value::from("10.96.0.1")),
        "clusterIP of the kubernetes Service"
    );
    let (ep, _) = expect(
        "/registry/services/endpoints/default/kubernetes",
        "Endpoints",
        "v1",
    );
    check_eq!(
        c,
        ep.pointer("/subsets/0/addresses/0/ip"),
        Some(&Value::from("198.18.0.254")),
        "kubernetes Endpoints point at the advertise address"
    );
    check_eq!(
        c,
        ep.pointer("/subsets/0/ports/0/port"),
        Some(&Value::from(6443)),
        "kubernetes Endpoints port"
    );
    expect(
        "/registry/priorityclasses/system-node-critical",
        "PriorityClass",
        "scheduling.k8s.io/v1",
    );
    expect(
        "/registry/priorityclasses/system-cluster-critical",
        "PriorityClass",
        "scheduling.k8s.io/v1",
    );
    let rows = table_rows(&c.kubectl_ok(&["get", "priorityclasses"]));
    let pc = rows
        .iter()
        .find(|r| r["NAME"] == "system-node-critical")
        .cloned()
        .unwrap_or_default();
    check_eq!(
        c,
        pc.get("VALUE").map(String::as_str),
        Some("2000001000"),
        "value of system-node-critical"
    );
    for key in [
        "/registry/ranges/serviceips",
        "/registry/ranges/servicenodeports",
    ] {
        check!(
            c,
            !c.etcd_keys(key).is_empty(),
            "etcd has no allocator key {key}"
        );
    }
    // kubectl get of the node shows the node table.
    let out = c.kubectl_ok(&["get", "node", "n-etcd-1"]);
    let first = out.lines().next().unwrap_or_default();
    check_eq!(
        c,
        squash(first),
        "NAME STATUS ROLES AGE VERSION",
        "get node header"
    );
    c.kubectl_ok(&["delete", "node", "n-etcd-1"]);
    check!(
        c,
        c.etcd_get("/registry/minions/n-etcd-1").is_none(),
        "the node's key is still in etcd after delete"
    );
}
