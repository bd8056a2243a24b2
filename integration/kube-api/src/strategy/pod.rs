//! Pods and pod templates: upstream's `SetDefaults_PodSpec`/`Container`/
//! `Probe`/`Volume` defaults, the admission defaults a bare kube-apiserver
//! applies to pods (ServiceAccount, Priority, DefaultTolerationSeconds), the
//! pod-spec validation (`ValidatePodSpec`, shared by every template) and the
//! pod update rules (`ValidatePodUpdate`).

use super::names;
use super::util::*;
use crate::Cause;
use serde_json::{json, Value};

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Defaults of a pod spec (pods and templates).
pub fn default_spec(spec: &mut Value) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "enableServiceLinks", json!(true));
    let host_net = flag(spec, "hostNetwork");
    for list in CONTAINER_LISTS {
        each_mut(spec, list, |c| default_container(c, host_net));
    }
    each_mut(spec, "volumes", default_volume);
}

fn default_container(c: &mut Value, host_net: bool) {
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    if s(c, "imagePullPolicy").is_empty() {
        let image = s(c, "image");
        // The tag is after the last ':' that follows the last '/'.
        let last = image.rsplit('/').next().unwrap_or(image);
        let last = last.split('@').next().unwrap_or(last);
        let tag = last.split_once(':').map(|(_, t)| t);
        let policy = if image.contains('@') {
            "IfNotPresent"
        } else {
            match tag {
                None | Some("latest") => "Always",
                Some(_) => "IfNotPresent",
            }
        };
        put(c, "imagePullPolicy", json!(policy));
    }
    set_default(c, "resources", json!({}));
    each_mut(c, "ports", |p| {
        set_default(p, "protocol", json!("TCP"));
        if host_net {
            if let Some(cp) = get(p, "containerPort").cloned() {
                if int(p, "hostPort").unwrap_or(0) == 0 {
                    put(p, "hostPort", cp);
                }
            }
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child_mut(c, probe) {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            default_handler(p);
        }
    }
    if let Some(l) = child_mut(c, "lifecycle") {
        for h in ["postStart", "preStop"] {
            if let Some(h) = child_mut(l, h) {
                default_handler(h);
            }
        }
    }
    each_mut(c, "env", |e| {
        if let Some(fr) = e.pointer_mut("/valueFrom/fieldRef") {
            set_default(fr, "apiVersion", json!("v1"));
        }
    });
}

fn default_handler(h: &mut Value) {
    if let Some(g) = child_mut(h, "httpGet") {
        set_default_str(g, "path", "/");
        set_default(g, "scheme", json!("HTTP"));
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn default_volume(v: &mut Value) {
    if !VOLUME_SOURCES.iter().any(|k| get(v, k).is_some()) {
        put(v, "emptyDir", json!({}));
    }
    if let Some(h) = child_mut(v, "hostPath") {
        set_default(h, "type", json!(""));
    }
    for k in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(src) = child_mut(v, k) {
            set_default(src, "defaultMode", json!(420));
        }
    }
}

/// Defaults a Pod gets on top of its spec's: requests copied from limits,
/// and on create what kube-apiserver's default admission plugins set
/// (ServiceAccount, Priority, DefaultTolerationSeconds).
pub fn default_pod(pod: &mut Value, create: bool) {
    let seed = format!("{}/{}", crate::meta::uid(pod), crate::meta::name(pod));
    let mirror = crate::meta::annotations(pod)
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    let Some(spec) = ensure_obj(pod, "spec") else {
        return;
    };
    default_spec(spec);
    for list in ["containers", "initContainers"] {
        each_mut(spec, list, |c| {
            let Some(res) = child_mut(c, "resources") else {
                return;
            };
            let Some(limits) = obj(res, "limits").cloned() else {
                return;
            };
            if let Some(Value::Object(req)) = ensure_obj(res, "requests") {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        });
    }
    if !create {
        return;
    }
    if !mirror {
        set_default_str(spec, "serviceAccountName", "default");
        let sa = s(spec, "serviceAccountName").to_string();
        set_default_str(spec, "serviceAccount", &sa);
        mount_service_account_token(spec, &seed);
    }
    if get(spec, "priority").is_none() {
        let prio = match s(spec, "priorityClassName") {
            "system-node-critical" => 2_000_001_000,
            "system-cluster-critical" => 2_000_000_000,
            _ => 0,
        };
        put(spec, "priority", json!(prio));
    }
    if get(spec, "priorityClassName").is_some() {
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    let mut tols = arr(spec, "tolerations").to_vec();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = tols.iter().any(|t| {
            let k = s(t, "key");
            let e = s(t, "effect");
            (k == key || (k.is_empty() && s(t, "operator") == "Exists"))
                && (e.is_empty() || e == "NoExecute")
        });
        if !covered {
            tols.push(
                json!({"key":key,"operator":"Exists","effect":"NoExecute","tolerationSeconds":300}),
            );
        }
    }
    put(spec, "tolerations", Value::Array(tols));
}

const SA_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount admission plugin's projected token volume
/// (`kube-api-access-<5 chars>`: token, kube-root-ca.crt, namespace),
/// mounted read-only into every container, unless the pod opts out with
/// `automountServiceAccountToken: false` or already mounts that path. The
/// suffix is derived from the pod's uid (upstream: random).
fn mount_service_account_token(spec: &mut Value, seed: &str) {
    if spec.get("automountServiceAccountToken") == Some(&json!(false)) {
        return;
    }
    let mounted = ["containers", "initContainers"].iter().any(|l| {
        arr(spec, l).iter().any(|c| {
            arr(c, "volumeMounts")
                .iter()
                .any(|m| s(m, "mountPath") == SA_MOUNT)
        })
    });
    if mounted {
        return;
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // FNV-1a over the seed, then base-27 digits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let suffix: String = (0..5)
        .map(|i| {
            let d = (h >> (i * 12)) as usize % ALPHABET.len();
            ALPHABET.get(d).map_or('x', |&c| c as char)
        })
        .collect();
    let name = format!("kube-api-access-{suffix}");
    let volume = json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}
    ]}});
    let mut vols = arr(spec, "volumes").to_vec();
    vols.push(volume);
    put(spec, "volumes", Value::Array(vols));
    for list in ["containers", "initContainers"] {
        each_mut(spec, list, |c| {
            let mut mounts = arr(c, "volumeMounts").to_vec();
            mounts.push(json!({"name": name, "readOnly": true, "mountPath": SA_MOUNT}));
            put(c, "volumeMounts", Value::Array(mounts));
        });
    }
}

/// `status` of a new pod: Pending with its QoS class.
pub fn initial_status(pod: &Value) -> Value {
    json!({"phase": "Pending", "qosClass": qos_class(pod.get("spec").unwrap_or(&Value::Null))})
}

fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for list in ["containers", "initContainers"] {
        for c in arr(spec, list) {
            let res = c.get("resources").unwrap_or(&Value::Null);
            let req = obj(res, "requests");
            let lim = obj(res, "limits");
            for m in [req, lim].into_iter().flatten() {
                if m.keys().any(|k| k == "cpu" || k == "memory") {
                    any = true;
                }
            }
            for r in ["cpu", "memory"] {
                let l = lim.and_then(|m| m.get(r));
                let q = req.and_then(|m| m.get(r));
                if l.is_none() || (q.is_some() && q != l) {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// `ValidatePodSpec` (the parts kube-lite checks) at `path` (`spec` or
/// `spec.template.spec`).
pub fn validate_spec(c: &mut Vec<Cause>, spec: &Value, path: &str) {
    let volumes: Vec<&str> = arr(spec, "volumes").iter().map(|v| s(v, "name")).collect();
    let mut seen_vol = std::collections::HashSet::new();
    for (i, v) in arr(spec, "volumes").iter().enumerate() {
        let p = format!("{path}.volumes[{i}]");
        let n = s(v, "name");
        if n.is_empty() {
            c.push(Cause::required(&format!("{p}.name")));
        } else {
            invalid_each(c, &format!("{p}.name"), n, names::dns1123_label(n));
            if !seen_vol.insert(n) {
                c.push(Cause::duplicate(&format!("{p}.name"), &json!(n)));
            }
        }
        let sources = VOLUME_SOURCES
            .iter()
            .filter(|k| get(v, k).is_some())
            .count();
        if sources > 1 {
            c.push(Cause::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
        }
        if let Some(h) = get(v, "hostPath") {
            if s(h, "path").is_empty() {
                c.push(Cause::required(&format!("{p}.hostPath.path")));
            }
            check_enum(
                c,
                &format!("{p}.hostPath.type"),
                s(h, "type"),
                &[
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ],
                false,
            );
        }
        for (k, key) in [("configMap", "name"), ("secret", "secretName")] {
            if let Some(src) = get(v, k) {
                if k == "configMap" && s(src, key).is_empty() {
                    c.push(Cause::required(&format!("{p}.configMap.name")));
                }
            }
        }
        if let Some(pvc) = get(v, "persistentVolumeClaim") {
            if s(pvc, "claimName").is_empty() {
                c.push(Cause::required(&format!(
                    "{p}.persistentVolumeClaim.claimName"
                )));
            }
        }
    }
    if arr(spec, "containers").is_empty() {
        c.push(Cause::required(&format!("{path}.containers")));
    }
    let host_net = flag(spec, "hostNetwork");
    let mut seen = std::collections::HashSet::new();
    for list in CONTAINER_LISTS {
        for (i, ct) in arr(spec, list).iter().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            let n = s(ct, "name");
            if n.is_empty() {
                c.push(Cause::required(&format!("{p}.name")));
            } else {
                invalid_each(c, &format!("{p}.name"), n, names::dns1123_label(n));
                if !seen.insert(n) {
                    c.push(Cause::duplicate(&format!("{p}.name"), &json!(n)));
                }
            }
            validate_container(c, ct, &p, &volumes, host_net, list);
        }
    }
    check_enum(
        c,
        &format!("{path}.restartPolicy"),
        s(spec, "restartPolicy"),
        &["Always", "OnFailure", "Never"],
        true,
    );
    check_enum(
        c,
        &format!("{path}.dnsPolicy"),
        s(spec, "dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        true,
    );
    if s(spec, "dnsPolicy") == "None" && get(spec, "dnsConfig").is_none() {
        c.push(Cause::required(&format!("{path}.dnsConfig")));
    }
    positive(
        c,
        spec,
        "activeDeadlineSeconds",
        &format!("{path}.activeDeadlineSeconds"),
    );
    validate_labels(
        c,
        obj(spec, "nodeSelector"),
        &format!("{path}.nodeSelector"),
    );
    for k in ["serviceAccountName", "nodeName", "priorityClassName"] {
        let v = s(spec, k);
        if !v.is_empty() {
            invalid_each(c, &format!("{path}.{k}"), v, names::dns1123_subdomain(v));
        }
    }
    for k in ["hostname", "subdomain"] {
        let v = s(spec, k);
        if !v.is_empty() {
            invalid_each(c, &format!("{path}.{k}"), v, names::dns1123_label(v));
        }
    }
    validate_tolerations(c, arr(spec, "tolerations"), &format!("{path}.tolerations"));
    if let Some(aff) = get(spec, "affinity") {
        validate_affinity(c, aff, &format!("{path}.affinity"));
    }
}

fn validate_container(
    c: &mut Vec<Cause>,
    ct: &Value,
    p: &str,
    volumes: &[&str],
    host_net: bool,
    list: &str,
) {
    if s(ct, "image").is_empty() {
        c.push(Cause::required(&format!("{p}.image")));
    }
    check_enum(
        c,
        &format!("{p}.imagePullPolicy"),
        s(ct, "imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
        true,
    );
    check_enum(
        c,
        &format!("{p}.terminationMessagePolicy"),
        s(ct, "terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
        true,
    );
    let mut port_names = std::collections::HashSet::new();
    for (j, port) in arr(ct, "ports").iter().enumerate() {
        let pp = format!("{p}.ports[{j}]");
        let name = s(port, "name");
        if !name.is_empty() {
            invalid_each(c, &format!("{pp}.name"), name, names::port_name(name));
            if !port_names.insert(name) {
                c.push(Cause::duplicate(&format!("{pp}.name"), &json!(name)));
            }
        }
        let cp = int(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            c.push(Cause::required(&format!("{pp}.containerPort")));
        } else if !(1..=65535).contains(&cp) {
            c.push(Cause::invalid(
                &format!("{pp}.containerPort"),
                &json!(cp),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let hp = int(port, "hostPort").unwrap_or(0);
        if hp != 0 && !(1..=65535).contains(&hp) {
            c.push(Cause::invalid(
                &format!("{pp}.hostPort"),
                &json!(hp),
                "must be between 1 and 65535, inclusive",
            ));
        }
        if host_net && hp != 0 && hp != cp {
            c.push(Cause::invalid(
                &format!("{pp}.hostPort"),
                &json!(hp),
                "must match `containerPort` when `hostNetwork` is true",
            ));
        }
        check_enum(
            c,
            &format!("{pp}.protocol"),
            s(port, "protocol"),
            &["SCTP", "TCP", "UDP"],
            true,
        );
    }
    for (j, e) in arr(ct, "env").iter().enumerate() {
        let n = s(e, "name");
        if n.is_empty() {
            c.push(Cause::required(&format!("{p}.env[{j}].name")));
        } else if n.contains('=') || !n.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            c.push(Cause::invalid(
                &format!("{p}.env[{j}].name"),
                &json!(n),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
    }
    validate_resources(
        c,
        ct.get("resources").unwrap_or(&Value::Null),
        &format!("{p}.resources"),
    );
    for (j, m) in arr(ct, "volumeMounts").iter().enumerate() {
        let mp = format!("{p}.volumeMounts[{j}]");
        let n = s(m, "name");
        if n.is_empty() {
            c.push(Cause::required(&format!("{mp}.name")));
        } else if !volumes.contains(&n) {
            c.push(Cause::new(
                "FieldValueNotFound",
                &format!("{mp}.name"),
                format!("Not found: \"{n}\""),
            ));
        }
        if s(m, "mountPath").is_empty() {
            c.push(Cause::required(&format!("{mp}.mountPath")));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(pr) = get(ct, probe) else { continue };
        let pp = format!("{p}.{probe}");
        if list == "initContainers" && s(ct, "restartPolicy") != "Always" {
            c.push(Cause::forbidden(
                &pp,
                "may not be set for init containers without restartPolicy=Always",
            ));
        }
        for k in [
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ] {
            non_negative(c, pr, k, &format!("{pp}.{k}"));
        }
        if probe != "readinessProbe" && int(pr, "successThreshold").is_some_and(|n| n != 1) {
            c.push(Cause::invalid(
                &format!("{pp}.successThreshold"),
                &json!(int(pr, "successThreshold")),
                "must be 1",
            ));
        }
        let handlers = ["exec", "httpGet", "tcpSocket", "grpc"]
            .iter()
            .filter(|k| get(pr, k).is_some())
            .count();
        if handlers == 0 {
            c.push(Cause::required(&pp));
        } else if handlers > 1 {
            c.push(Cause::forbidden(
                &pp,
                "may not specify more than 1 handler type",
            ));
        }
    }
}

/// Container resources: names, quantity syntax, non-negative, requests at
/// most the limits.
fn validate_resources(c: &mut Vec<Cause>, res: &Value, path: &str) {
    let mut parsed = std::collections::BTreeMap::new();
    for which in ["limits", "requests"] {
        for (k, v) in obj(res, which).into_iter().flatten() {
            let field = format!("{path}.{which}[{k}]");
            let standard = matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage")
                || k.starts_with("hugepages-");
            if !standard {
                if !k.contains('/') {
                    c.push(Cause::invalid(
                        &field,
                        &json!(k),
                        "must be a standard resource type or fully qualified",
                    ));
                } else {
                    invalid_each(c, &field, k, names::qualified_name(k));
                }
            }
            let q = v.as_str().unwrap_or("");
            match names::parse_quantity(q) {
                None => c.push(Cause::invalid(&field, &json!(q), "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
                Some(n) if n < 0.0 => c.push(Cause::invalid(
                    &field,
                    &json!(q),
                    "must be greater than or equal to 0",
                )),
                Some(n) => {
                    parsed.insert((which, k.clone()), (n, q.to_string()));
                }
            }
        }
    }
    for ((which, k), (req, q)) in &parsed {
        if *which != "requests" {
            continue;
        }
        if let Some((lim, lq)) = parsed.get(&("limits", k.clone())) {
            if req > lim {
                c.push(Cause::invalid(
                    &format!("{path}.requests"),
                    &json!(q),
                    &format!("must be less than or equal to {k} limit of {lq}"),
                ));
            }
        }
    }
}

fn validate_affinity(c: &mut Vec<Cause>, aff: &Value, path: &str) {
    let Some(na) = get(aff, "nodeAffinity") else {
        return;
    };
    let req = "requiredDuringSchedulingIgnoredDuringExecution";
    if let Some(sel) = get(na, req) {
        let p = format!("{path}.nodeAffinity.{req}.nodeSelectorTerms");
        let terms = arr(sel, "nodeSelectorTerms");
        if terms.is_empty() {
            c.push(Cause::new(
                "FieldValueRequired",
                &p,
                "Required value: must have at least one node selector term",
            ));
        }
        for (i, t) in terms.iter().enumerate() {
            validate_node_selector_term(c, t, &format!("{p}[{i}]"));
        }
    }
    let pref = "preferredDuringSchedulingIgnoredDuringExecution";
    for (i, t) in arr(na, pref).iter().enumerate() {
        let p = format!("{path}.nodeAffinity.{pref}[{i}]");
        let w = int(t, "weight").unwrap_or(0);
        if !(1..=100).contains(&w) {
            c.push(Cause::invalid(
                &format!("{p}.weight"),
                &json!(w),
                "must be in the range 1-100",
            ));
        }
        validate_node_selector_term(
            c,
            t.get("preference").unwrap_or(&Value::Null),
            &format!("{p}.preference"),
        );
    }
}

fn validate_node_selector_term(c: &mut Vec<Cause>, t: &Value, path: &str) {
    for (j, e) in arr(t, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{j}]");
        let key = s(e, "key");
        invalid_each(c, &format!("{p}.key"), key, names::qualified_name(key));
        let n = arr(e, "values").len();
        match s(e, "operator") {
            "In" | "NotIn" if n == 0 => c.push(Cause::new(
                "FieldValueRequired",
                &format!("{p}.values"),
                "Required value: must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if n > 0 => c.push(Cause::forbidden(
                &format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "Gt" | "Lt" if n != 1 => c.push(Cause::new(
                "FieldValueRequired",
                &format!("{p}.values"),
                "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
            op => c.push(Cause::not_supported(
                &format!("{p}.operator"),
                &json!(op),
                &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"],
            )),
        }
    }
}

/// Tolerations: operators, effects, keys.
pub fn validate_tolerations(c: &mut Vec<Cause>, tols: &[Value], path: &str) {
    for (i, t) in tols.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let key = s(t, "key");
        if !key.is_empty() {
            invalid_each(c, &format!("{p}.key"), key, names::qualified_name(key));
        }
        let op = s(t, "operator");
        if key.is_empty() && op != "Exists" {
            c.push(Cause::invalid(
                &format!("{p}.operator"),
                &json!(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        match op {
            "" | "Equal" => {
                let v = s(t, "value");
                invalid_each(c, &format!("{p}.value"), v, names::label_value(v));
            }
            "Exists" => {
                if !s(t, "value").is_empty() {
                    c.push(Cause::invalid(
                        &format!("{p}.operator"),
                        &json!(t.get("value")),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            _ => c.push(Cause::not_supported(
                &format!("{p}.operator"),
                &json!(op),
                &["Equal", "Exists"],
            )),
        }
        let effect = s(t, "effect");
        check_enum(
            c,
            &format!("{p}.effect"),
            effect,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            false,
        );
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            c.push(Cause::invalid(
                &format!("{p}.effect"),
                &json!(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
    }
}

/// Defaults of a pod template (`spec.template` of workloads).
pub fn default_template(tpl: &mut Value) {
    if let Some(spec) = ensure_obj(tpl, "spec") {
        default_spec(spec);
    }
}

/// A pod template at `path` (`spec.template`): labels, annotations, spec.
pub fn validate_template(c: &mut Vec<Cause>, tpl: &Value, path: &str) {
    let md = tpl.get("metadata").unwrap_or(&Value::Null);
    validate_labels(c, obj(md, "labels"), &format!("{path}.metadata.labels"));
    validate_annotations(
        c,
        obj(md, "annotations"),
        &format!("{path}.metadata.annotations"),
    );
    validate_spec(
        c,
        tpl.get("spec").unwrap_or(&Value::Null),
        &format!("{path}.spec"),
    );
}

/// `ValidatePodUpdate`: only images, activeDeadlineSeconds, tolerations,
/// terminationGracePeriodSeconds and schedulingGates (removals) may change;
/// `nodeName` may go from empty to set (the binding subresource).
pub fn validate_update(c: &mut Vec<Cause>, old: &Value, new: &Value) {
    let (Some(os), Some(ns)) = (old.get("spec"), new.get("spec")) else {
        return;
    };
    let mut probe = ns.clone();
    for list in CONTAINER_LISTS {
        let olds = arr(os, list);
        if let Some(Value::Array(a)) = probe.get_mut(list) {
            if a.len() == olds.len() {
                for (n, o) in a.iter_mut().zip(olds) {
                    if let Some(img) = o.get("image") {
                        put(n, "image", img.clone());
                    }
                }
            }
        }
    }
    for k in [
        "activeDeadlineSeconds",
        "tolerations",
        "terminationGracePeriodSeconds",
        "schedulingGates",
    ] {
        match os.get(k) {
            Some(v) => put(&mut probe, k, v.clone()),
            None => {
                remove(&mut probe, k);
            }
        }
    }
    if s(os, "nodeName").is_empty() {
        match os.get("nodeName") {
            Some(v) => put(&mut probe, "nodeName", v.clone()),
            None => {
                remove(&mut probe, "nodeName");
            }
        }
    }
    if &probe != os {
        c.push(Cause::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
    }
    let removed_gates = arr(ns, "schedulingGates")
        .iter()
        .any(|g| !arr(os, "schedulingGates").contains(g));
    if removed_gates {
        c.push(Cause::forbidden(
            "spec.schedulingGates",
            "only deletion is allowed, but found new scheduling gate",
        ));
    }
    if let (Some(o), Some(n)) = (
        int(os, "activeDeadlineSeconds"),
        int(ns, "activeDeadlineSeconds"),
    ) {
        if n > o {
            c.push(Cause::invalid(
                "spec.activeDeadlineSeconds",
                &json!(n),
                "must be less than or equal to previous value",
            ));
        }
    }
    for t in arr(os, "tolerations") {
        if !arr(ns, "tolerations").contains(t) {
            c.push(Cause::forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (img, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/x", "Always"),
            ("localhost:5000/x:v1", "IfNotPresent"),
            ("x@sha256:abc", "IfNotPresent"),
        ] {
            let mut c = json!({"name":"c","image":img});
            default_container(&mut c, false);
            assert_eq!(c["imagePullPolicy"], want, "{img}");
        }
    }

    #[test]
    fn qos() {
        let g = json!({"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}}]});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"containers":[{"resources":{"requests":{"cpu":"1"}}}]});
        assert_eq!(qos_class(&b), "Burstable");
        assert_eq!(qos_class(&json!({"containers":[{}]})), "BestEffort");
    }
}
