//! The stock kubectl's typed `create` subcommands send
//! `application/vnd.kubernetes.protobuf` bodies; each object they store must
//! equal what the same command's `--dry-run=client -o json` output stores
//! through `kubectl create -f -` (a JSON body), modulo what the server
//! assigns (uid, resourceVersion, timestamps, managedFields, allocated
//! cluster IPs) and status, which controllers own.

#[macro_use]
mod common;

use common::Cluster;
use serde_json::Value;

/// Replaces every string equal to `from` by `to`, recursively.
fn rename(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| rename(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| rename(x, from, to)),
        _ => {}
    }
}

/// The stored object without what the server assigns or controllers own.
fn comparable(mut v: Value, name: &str) -> Value {
    let uid = v["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(md) = v["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "namespace",
        ] {
            md.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(spec) = v["spec"].as_object_mut() {
        for k in ["clusterIP", "clusterIPs"] {
            spec.remove(k);
        }
    }
    if !uid.is_empty() {
        rename(&mut v, &uid, "UID");
    }
    rename(&mut v, name, "NAME");
    v
}

/// `kubectl create <args>` once as protobuf (object `<name>-pb` in
/// namespace `pb-<tag>`) and once as JSON (`<name>-js` in `js-<tag>`);
/// both stored objects must match.
fn same_as_json(c: &Cluster, tag: &str, resource: &str, args: &[&str], namespaced: bool) {
    let (pb, js) = (format!("pb-{tag}"), format!("js-{tag}"));
    // Flags go right after `create`: a trailing `-- <command>` (job,
    // cronjob) would swallow them.
    let run = |ns: &str, name: &str, extra: &[&str]| {
        let mut all = vec![args[0]];
        if namespaced {
            all.extend_from_slice(&["-n", ns]);
        }
        all.extend_from_slice(extra);
        all.extend(
            args[1..]
                .iter()
                .map(|a| if *a == "NAME" { name } else { a }),
        );
        all.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let (pb_name, js_name) = (format!("{tag}-pb"), format!("{tag}-js"));
    let proto_args = run(&pb, &pb_name, &[]);
    c.kubectl_ok(&proto_args.iter().map(String::as_str).collect::<Vec<_>>());
    let dry = run(&js, &js_name, &["--dry-run=client", "-o", "json"]);
    let doc = c.kubectl_ok(&dry.iter().map(String::as_str).collect::<Vec<_>>());
    let mut create = vec!["create", "-f", "-"];
    if namespaced {
        create.extend_from_slice(&["-n", &js]);
    }
    let out = c.kubectl_io(&create, Some(&doc));
    check!(
        c,
        out.ok,
        "kubectl create -f - of\n{doc}\nfailed: {}",
        out.stderr
    );
    let get = |ns: &str, name: &str| {
        let mut a = vec![resource, name];
        if namespaced {
            a.extend_from_slice(&["-n", ns]);
        }
        c.get_json(&a)
    };
    let from_pb = comparable(get(&pb, &pb_name), &pb_name);
    let from_js = comparable(get(&js, &js_name), &js_name);
    check_eq!(
        c,
        from_pb,
        from_js,
        "{resource}: stored from protobuf vs from JSON ({})",
        args.join(" ")
    );
}

fn namespaces(c: &Cluster, tag: &str) {
    c.namespace(&format!("pb-{tag}"));
    c.namespace(&format!("js-{tag}"));
}

/// A Deployment (which the old hand decoder refused with 415): kubectl's
/// `-v=8` log shows one POST with a protobuf request body, answered 201.
#[test]
fn kubectl_really_sends_protobuf() {
    let c = Cluster::shared();
    let ns = c.namespace("proto-wire");
    let out = c.kubectl(&[
        "create",
        "deployment",
        "wire",
        "--image=busybox",
        "--replicas=0",
        "-n",
        &ns,
        "-v=8",
    ]);
    check!(c, out.ok, "create deployment -v=8 failed: {}", out.stderr);
    let log = out.stderr.to_lowercase();
    check!(
        c,
        log.contains("content-type: application/vnd.kubernetes.protobuf")
            || log.contains("\"content-type\"=\"application/vnd.kubernetes.protobuf\""),
        "kubectl -v=8 shows no protobuf request Content-Type:\n{}",
        out.stderr
    );
    check!(c, !log.contains(" 415 "), "a 415 fallback:\n{}", out.stderr);
    check_eq!(
        c,
        c.get_json(&["deployment", "wire", "-n", &ns])["spec"]["replicas"],
        Value::from(0),
        "the protobuf Deployment's replicas"
    );
}

#[test]
fn workloads() {
    let c = Cluster::shared();
    namespaces(&c, "wl");
    same_as_json(
        &c,
        "wl",
        "deployment",
        &[
            "create",
            "deployment",
            "NAME",
            "--image=busybox",
            "--replicas=0",
        ],
        true,
    );
    let d = c.get_json(&["deployment", "wl-pb", "-n", "pb-wl"]);
    check_eq!(
        c,
        d["spec"]["replicas"],
        Value::from(0),
        "replicas 0 survives"
    );
    same_as_json(
        &c,
        "wl",
        "job",
        &["create", "job", "NAME", "--image=busybox", "--", "date"],
        true,
    );
    same_as_json(
        &c,
        "wl",
        "cronjob",
        &[
            "create",
            "cronjob",
            "NAME",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--",
            "date",
        ],
        true,
    );
    same_as_json(
        &c,
        "wl",
        "poddisruptionbudget",
        &[
            "create",
            "poddisruptionbudget",
            "NAME",
            "--selector=app=x",
            "--min-available=1",
        ],
        true,
    );
}

#[test]
fn services_config_and_accounts() {
    let c = Cluster::shared();
    namespaces(&c, "svc");
    same_as_json(
        &c,
        "svc",
        "service",
        &[
            "create",
            "service",
            "clusterip",
            "NAME",
            "--tcp=80:8080",
            "--tcp=443:8443",
        ],
        true,
    );
    same_as_json(
        &c,
        "svc",
        "configmap",
        &[
            "create",
            "configmap",
            "NAME",
            "--from-literal=a=1",
            "--from-literal=b=",
        ],
        true,
    );
    same_as_json(
        &c,
        "svc",
        "secret",
        &[
            "create",
            "secret",
            "generic",
            "NAME",
            "--from-literal=k=v\u{1}\u{ff}",
        ],
        true,
    );
    same_as_json(
        &c,
        "svc",
        "serviceaccount",
        &["create", "serviceaccount", "NAME"],
        true,
    );
    let out = c.kubectl(&["create", "token", "svc-pb", "-n", "pb-svc"]);
    check!(
        c,
        out.ok,
        "create token (a protobuf TokenRequest) failed: {}",
        out.stderr
    );
    check_eq!(
        c,
        out.stdout.trim().split('.').count(),
        3,
        "create token printed a JWT: {}",
        out.stdout
    );
}

#[test]
fn rbac_and_scheduling() {
    let c = Cluster::shared();
    namespaces(&c, "rbac");
    same_as_json(
        &c,
        "rbac",
        "role",
        &[
            "create",
            "role",
            "NAME",
            "--verb=get,list",
            "--resource=pods,configmaps",
        ],
        true,
    );
    same_as_json(
        &c,
        "rbac",
        "rolebinding",
        &[
            "create",
            "rolebinding",
            "NAME",
            "--role=r",
            "--user=alice",
            "--group=devs",
        ],
        true,
    );
    same_as_json(
        &c,
        "rbac",
        "clusterrole",
        &[
            "create",
            "clusterrole",
            "NAME",
            "--verb=get",
            "--resource=nodes",
        ],
        false,
    );
    same_as_json(
        &c,
        "rbac",
        "clusterrolebinding",
        &[
            "create",
            "clusterrolebinding",
            "NAME",
            "--clusterrole=view",
            "--user=alice",
        ],
        false,
    );
    same_as_json(
        &c,
        "rbac",
        "priorityclass",
        &[
            "create",
            "priorityclass",
            "NAME",
            "--value=1000",
            "--description=proto",
        ],
        false,
    );
    same_as_json(
        &c,
        "rbac",
        "namespace",
        &["create", "namespace", "NAME"],
        false,
    );
}
