//! Round trips: messages built with prost-reflect from JSON literals (the
//! proto3 JSON mapping of upstream's generated.proto), wrapped the way
//! client-go wraps them, decoded back into Go's JSON.

use super::*;
use base64::Engine;
use proptest::prelude::*;
use prost_reflect::prost::Message;
use prost_reflect::DynamicMessage;
use serde_json::json;

/// The protobuf message of `obj` (proto JSON), as a typed-client body.
fn body(api_version: &str, kind: &str, obj: Value) -> Vec<u8> {
    let pool = pool().expect("descriptor set");
    let desc = envelope::message_for(pool, api_version, kind).expect("a message");
    let raw = DynamicMessage::deserialize(desc, obj)
        .expect("the literal fits the message")
        .encode_to_vec();
    let unknown = pool
        .get_message_by_name("k8s.io.apimachinery.pkg.runtime.Unknown")
        .expect("Unknown");
    let env = DynamicMessage::deserialize(
        unknown,
        json!({
            "typeMeta": {"apiVersion": api_version, "kind": kind},
            "raw": base64::engine::general_purpose::STANDARD.encode(raw),
            "contentType": "",
        }),
    )
    .expect("envelope");
    [b"k8s\x00".as_slice(), &env.encode_to_vec()].concat()
}

fn roundtrip(api_version: &str, kind: &str, obj: Value) -> Value {
    decode(&body(api_version, kind, obj)).expect("decodes")
}

#[test]
fn namespace() {
    let v = roundtrip(
        "v1",
        "Namespace",
        json!({"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]}}),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"},
               "spec": {"finalizers": ["kubernetes"]}, "status": {}})
    );
}

#[test]
fn configmap_like_kubectl_create() {
    // Go writes every non-pointer string, so an empty namespace is on the wire.
    let v = roundtrip(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "cfg", "namespace": ""}, "data": {"a": "1"},
               "binaryData": {"b": "AAE="}}),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
               "data": {"a": "1"}, "binaryData": {"b": "AAE="}})
    );
}

#[test]
fn secret_binary_data_is_base64() {
    let v = roundtrip(
        "v1",
        "Secret",
        json!({"metadata": {"name": "s"}, "data": {"k": "AAEC/w=="}, "type": "Opaque",
               "immutable": false}),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {"k": "AAEC/w=="}, "type": "Opaque", "immutable": false})
    );
}

#[test]
fn pod_containers_ports_quantities_probes_security_context() {
    let v = roundtrip(
        "v1",
        "Pod",
        json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"a": "b"},
                         "creationTimestamp": {"seconds": 1_700_000_000}},
            "spec": {"containers": [{
                "name": "c", "image": "busybox",
                "ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": 0}],
                "resources": {"limits": {"cpu": {"string": "100m"}},
                              "requests": {"memory": {"string": "64Mi"}}},
                "livenessProbe": {"handler": {"httpGet": {"path": "/",
                    "port": {"type": 0, "intVal": 8080}}},
                    "initialDelaySeconds": 0, "periodSeconds": 10},
                "readinessProbe": {"handler": {"tcpSocket": {"port": {"type": 1, "strVal": "http"}}}},
                "securityContext": {"privileged": false}
            }], "restartPolicy": "Always"}
        }),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": {"a": "b"},
                         "creationTimestamp": "2023-11-14T22:13:20Z"},
            "spec": {"containers": [{
                "name": "c", "image": "busybox",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "100m"}, "requests": {"memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 10},
                "readinessProbe": {"tcpSocket": {"port": "http"}},
                "securityContext": {"privileged": false}
            }], "restartPolicy": "Always"},
            "status": {}})
    );
}

fn deployment_literal() -> Value {
    json!({
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                         "spec": {"containers": [{"name": "busybox", "image": "busybox"}]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": {"type": 1, "strVal": "25%"},
                "maxUnavailable": {"type": 0, "intVal": 1}}},
            "paused": false, "minReadySeconds": 0
        }
    })
}

#[test]
fn deployment_keeps_pointer_zero_replicas_and_intstr() {
    let v = roundtrip("apps/v1", "Deployment", deployment_literal());
    assert_eq!(
        v,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "d"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                             "resources": {}}]}},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}
            },
            "status": {}})
    );
}

#[test]
fn service_target_ports_string_int_and_zero() {
    let v = roundtrip(
        "v1",
        "Service",
        json!({"metadata": {"name": "svc"}, "spec": {"type": "ClusterIP", "ports": [
            {"name": "a", "port": 80, "targetPort": {"type": 1, "strVal": "http"}},
            {"name": "b", "port": 443, "targetPort": {"intVal": 8443}},
            {"port": 53, "protocol": "UDP"}]}}),
    );
    assert_eq!(
        v["spec"]["ports"],
        json!([{"name": "a", "port": 80, "targetPort": "http"},
               {"name": "b", "port": 443, "targetPort": 8443},
               {"port": 53, "protocol": "UDP", "targetPort": 0}])
    );
    assert_eq!(v["spec"]["type"], "ClusterIP");
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn job_and_cronjob() {
    let pod = json!({"spec": {"containers": [{"name": "j", "image": "busybox",
                                              "command": ["date"]}],
                              "restartPolicy": "Never"}});
    let job = roundtrip(
        "batch/v1",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"template": pod, "backoffLimit": 0}}),
    );
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["date"])
    );
    assert_eq!(job["spec"]["template"]["metadata"], json!({}));
    assert_eq!(job["status"], json!({}));
    let cj = roundtrip(
        "batch/v1",
        "CronJob",
        json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/1 * * * *",
            "suspend": false, "jobTemplate": {"metadata": {"name": "cj"},
            "spec": {"template": pod}}}}),
    );
    assert_eq!(cj["spec"]["schedule"], "*/1 * * * *");
    assert_eq!(cj["spec"]["suspend"], false);
    assert_eq!(cj["spec"]["jobTemplate"]["metadata"], json!({"name": "cj"}));
    assert_eq!(
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"],
        "Never"
    );
}

#[test]
fn cluster_role_binding_and_role() {
    let v = roundtrip(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        json!({"metadata": {"name": "crb"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                             "name": "alice", "namespace": ""}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "view"}}),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "crb"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                             "name": "alice"}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "view"}})
    );
    // PolicyRule.verbs has no omitempty: a nil slice is null, as in Go.
    let role = roundtrip(
        "rbac.authorization.k8s.io/v1",
        "Role",
        json!({"metadata": {"name": "r"}, "rules": [{"resources": ["pods"]}]}),
    );
    assert_eq!(
        role["rules"],
        json!([{"resources": ["pods"], "verbs": null}])
    );
}

#[test]
fn node_and_lease_micro_time() {
    let v = roundtrip(
        "v1",
        "Node",
        json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.0.0/24",
               "podCIDRs": ["10.244.0.0/24"]},
               "status": {"capacity": {"cpu": {"string": "2"}},
                          "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}),
    );
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
               "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
               "status": {"capacity": {"cpu": "2"},
                          "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                          "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                              "kernelVersion": "", "osImage": "",
                              "containerRuntimeVersion": "", "kubeletVersion": "",
                              "kubeProxyVersion": "", "operatingSystem": "",
                              "architecture": ""}}})
    );
    let lease = roundtrip(
        "coordination.k8s.io/v1",
        "Lease",
        json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "n1",
               "leaseDurationSeconds": 40,
               "renewTime": {"seconds": 1_700_000_000, "nanos": 123_456_789}}}),
    );
    assert_eq!(
        lease["spec"],
        json!({"holderIdentity": "n1", "leaseDurationSeconds": 40,
               "renewTime": "2023-11-14T22:13:20.123456Z"})
    );
}

#[test]
fn zero_creation_timestamp_is_omitted() {
    let v = roundtrip(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "c", "creationTimestamp": {"seconds": -62_135_596_800i64}}}),
    );
    assert_eq!(v["metadata"], json!({"name": "c"}));
    // What Go writes for a zero Time: an empty message (kubectl's
    // Deployment template metadata).
    let v = roundtrip(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "c", "creationTimestamp": {}}}),
    );
    assert_eq!(v["metadata"], json!({"name": "c"}));
    // The Unix epoch is a time like any other.
    let v = roundtrip(
        "v1",
        "ConfigMap",
        json!({"metadata": {"name": "c", "creationTimestamp": {"seconds": 0}}}),
    );
    assert_eq!(v["metadata"]["creationTimestamp"], "1970-01-01T00:00:00Z");
}

#[test]
fn go_durations() {
    for (d, s) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (300_000_000, "300ms"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (-90_000_000_000, "-1m30s"),
    ] {
        assert_eq!(json::go_duration(d), s, "{d}");
    }
}

#[test]
fn every_served_kind_has_a_message() {
    let pool = pool().expect("descriptor set");
    for r in crate::resources::all() {
        let av = r.api_version();
        assert!(
            envelope::message_for(pool, &av, r.kind).is_some(),
            "{av} {}",
            r.kind
        );
    }
    for (av, kind) in [
        ("autoscaling/v1", "Scale"),
        ("policy/v1", "Eviction"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("apps/v1", "DeleteOptions"),
    ] {
        assert!(
            envelope::message_for(pool, av, kind).is_some(),
            "{av} {kind}"
        );
    }
}

#[test]
fn the_field_table_covers_every_served_message() {
    let pool = pool().expect("descriptor set");
    let special = [
        "IntOrString",
        "Quantity",
        "QuantityValue",
        "Time",
        "MicroTime",
        "Duration",
        "FieldsV1",
        "RawExtension",
        // core/v1's `type List metav1.List`: a named type, no struct.
        "List",
    ];
    let mut missing = Vec::new();
    for m in pool.all_messages() {
        if m.is_map_entry()
            || special.contains(&m.name())
            || omitempty::TABLE.is_array(m.full_name())
        {
            continue;
        }
        for f in m.fields() {
            if !omitempty::TABLE.known(m.full_name(), f.name()) {
                missing.push(format!("{}.{}", m.full_name(), f.name()));
            }
        }
    }
    assert!(missing.is_empty(), "no Go rule for {missing:?}");
}

#[test]
fn malformed_bodies_are_errors() {
    let good = body("apps/v1", "Deployment", deployment_literal());
    assert!(decode(&good).is_ok());
    assert_eq!(decode(b"{}"), Err(ProtobufError::Magic));
    assert_eq!(decode(b"k8s\x01rest"), Err(ProtobufError::Magic));
    let mut e = decode(&body("v1", "ConfigMap", json!({})));
    assert!(e.is_ok());
    for cut in 0..good.len() {
        // Every strict prefix either fails cleanly or (cut at a field
        // boundary) decodes a smaller object; never a panic.
        e = decode(&good[..cut]);
        if cut < 6 {
            assert!(e.is_err(), "{cut}");
        }
    }
    let truncated = decode(&good[..good.len() - 3]).expect_err("truncated raw");
    assert!(
        truncated.to_string().contains("runtime.Unknown"),
        "{truncated}"
    );
}

#[test]
fn unknown_kinds_and_empty_envelopes_are_named() {
    let pool = pool().expect("descriptor set");
    let unknown = pool
        .get_message_by_name("k8s.io.apimachinery.pkg.runtime.Unknown")
        .expect("Unknown");
    let wrap = |tm: Value| {
        let env = DynamicMessage::deserialize(unknown.clone(), json!({"typeMeta": tm}))
            .expect("envelope");
        [b"k8s\x00".as_slice(), &env.encode_to_vec()].concat()
    };
    let e = decode(&wrap(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"}),
    ))
    .expect_err("not served");
    assert_eq!(
        e,
        ProtobufError::UnknownKind {
            api_version: "networking.k8s.io/v1".into(),
            kind: "Ingress".into()
        }
    );
    assert!(
        e.to_string().contains("networking.k8s.io/v1 Ingress"),
        "{e}"
    );
    assert_eq!(decode(&wrap(json!({}))), Err(ProtobufError::NoKind));
    // A raw that is not the named message.
    let env = DynamicMessage::deserialize(
        unknown,
        json!({"typeMeta": {"apiVersion": "v1", "kind": "Pod"}, "raw": "/////w=="}),
    )
    .expect("envelope");
    let e = decode(&[b"k8s\x00".as_slice(), &env.encode_to_vec()].concat()).expect_err("junk");
    assert!(e.to_string().contains("v1 Pod"), "{e}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut body = b"k8s\x00".to_vec();
        body.extend(b);
        let _ = decode(&body);
    }

    #[test]
    fn arbitrary_raw_in_a_pod_envelope_never_panics(
        b in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let mut body = body("v1", "Pod", json!({}));
        body.extend(b);
        let _ = decode(&body);
    }
}

/// A body built by hand, byte by byte (no prost on the encoding side).
#[test]
fn hand_built_configmap() {
    fn ld(num: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![num << 3 | 2, b.len() as u8];
        v.extend_from_slice(b);
        v
    }
    let md = ld(1, b"cfg");
    let entry = [ld(1, b"a"), ld(2, b"1")].concat();
    let raw = [ld(1, &md), ld(2, &entry)].concat();
    let tm = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
    let body = [b"k8s\x00".to_vec(), ld(1, &tm), ld(2, &raw)].concat();
    assert_eq!(
        decode(&body).expect("decodes"),
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1"}})
    );
}
