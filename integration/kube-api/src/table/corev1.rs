//! Printers of core/v1 kinds: pods, nodes, services, endpoints, namespaces,
//! events, configmaps, secrets, serviceaccounts.

use super::{
    age, arr_at, bool_at, format_labels, int0, int_at, join_host_port, len_at, map_at, since,
    str_at, time_at, CellsFn, Col, Ctx, Printer, AGE_DESC, NAME_DESC,
};
use crate::ResourceInfo;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub(super) fn printer(res: &ResourceInfo) -> Option<Printer> {
    if !res.group.is_empty() {
        return None;
    }
    let (columns, cells): (&'static [Col], CellsFn) = match res.plural {
        "pods" => (POD_COLUMNS, pod_cells),
        "nodes" => (NODE_COLUMNS, node_cells),
        "services" => (SERVICE_COLUMNS, service_cells),
        "endpoints" => (ENDPOINTS_COLUMNS, endpoints_cells),
        "namespaces" => (NAMESPACE_COLUMNS, namespace_cells),
        "events" => (EVENT_COLUMNS, event_cells),
        "configmaps" => (CONFIGMAP_COLUMNS, configmap_cells),
        "secrets" => (SECRET_COLUMNS, secret_cells),
        "serviceaccounts" => (SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

// ---- pods ----

const POD_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
    Col("Status", "string", "The aggregate status of the containers in this pod.", 0),
    Col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
    Col("Node", "string", "NodeName indicates in which node this pod is scheduled.", 1),
    Col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.", 1),
    Col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
];

fn has_condition(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, "/type") == ty && str_at(c, "/status") == "True")
}

/// Updates `last` to `t` when `t` is later (Go's `lastRestartDate.Before`).
fn later(last: &mut Option<i64>, t: Option<i64>) {
    if let Some(t) = t {
        if last.is_none_or(|l| l < t) {
            *last = Some(t);
        }
    }
}

fn is_set(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).is_some_and(Value::is_object)
}

/// The Completed row condition of a Succeeded or Failed pod (kubectl uses it
/// to tell finished pods apart).
pub(super) fn pod_row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

fn pod_cells(pod: &Value, ctx: &Ctx) -> Vec<Value> {
    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let containers = arr_at(pod, "/spec/containers");
    let init_containers = arr_at(pod, "/spec/initContainers");
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<i64> = None;
    let mut last_restartable_init_restart: Option<i64> = None;
    let conditions = arr_at(pod, "/status/conditions");

    let phase = str_at(pod, "/status/phase");
    let mut reason = phase.to_string();
    let status_reason = str_at(pod, "/status/reason");
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in conditions {
        if str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }

    let restartable = |name: &str| {
        init_containers
            .iter()
            .any(|c| str_at(c, "/name") == name && str_at(c, "/restartPolicy") == "Always")
    };
    total += init_containers
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .count();

    let mut initializing = false;
    for (i, c) in arr_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let count = int0(c, "/restartCount");
        restarts = restarts.saturating_add(count);
        let finished = time_at(c, "/lastState/terminated/finishedAt");
        if is_set(c, "/lastState/terminated") {
            later(&mut last_restart, finished);
        }
        let is_restartable = restartable(str_at(c, "/name"));
        if is_restartable {
            restartable_init_restarts = restartable_init_restarts.saturating_add(count);
            if is_set(c, "/lastState/terminated") {
                later(&mut last_restartable_init_restart, finished);
            }
        }
        let terminated = is_set(c, "/state/terminated");
        let waiting_reason = str_at(c, "/state/waiting/reason");
        if terminated && int0(c, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if is_restartable && bool_at(c, "/started") == Some(true) {
            if bool_at(c, "/ready") == Some(true) {
                ready += 1;
            }
            continue;
        }
        if terminated {
            let r = str_at(c, "/state/terminated/reason");
            reason = if r.is_empty() {
                let signal = int0(c, "/state/terminated/signal");
                if signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!("Init:ExitCode:{}", int0(c, "/state/terminated/exitCode"))
                }
            } else {
                format!("Init:{r}")
            };
        } else if is_set(c, "/state/waiting")
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(conditions, "Initialized") {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for c in arr_at(pod, "/status/containerStatuses").iter().rev() {
            restarts = restarts.saturating_add(int0(c, "/restartCount"));
            if is_set(c, "/lastState/terminated") {
                later(
                    &mut last_restart,
                    time_at(c, "/lastState/terminated/finishedAt"),
                );
            }
            let waiting_reason = str_at(c, "/state/waiting/reason");
            let terminated = is_set(c, "/state/terminated");
            let terminated_reason = str_at(c, "/state/terminated/reason");
            if is_set(c, "/state/waiting") && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated && !terminated_reason.is_empty() {
                reason = terminated_reason.to_string();
            } else if terminated {
                let signal = int0(c, "/state/terminated/signal");
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", int0(c, "/state/terminated/exitCode"))
                };
            } else if bool_at(c, "/ready") == Some(true) && is_set(c, "/state/running") {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = crate::meta::is_deleting(pod);
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".into();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), ctx.now)),
        _ => restarts.to_string(),
    };

    let mut ip = arr_at(pod, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .unwrap_or("");
    if ip.is_empty() {
        ip = str_at(pod, "/status/podIP");
    }
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = arr_at(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_conditions = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == ty)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{true_conditions}/{}", gates.len())
    };
    vec![
        json!(crate::meta::name(pod)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        json!(age(pod, ctx.now)),
        json!(or_none(ip)),
        json!(or_none(str_at(pod, "/spec/nodeName"))),
        json!(or_none(str_at(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]
}

// ---- nodes ----

const NODE_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Status", "string", "The status of the node", 0),
    Col("Roles", "string", "The roles of the node", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Version", "string", "Kubelet Version reported by the node.", 0),
    Col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
    Col("External-IP", "string", "List of addresses reachable to the node.", 1),
    Col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
    Col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    Col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1),
];

fn node_address(node: &Value, ty: &str) -> String {
    arr_at(node, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == ty)
        .map(|a| str_at(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn node_cells(node: &Value, ctx: &Ctx) -> Vec<Value> {
    // The last Ready condition wins, as upstream's condition map.
    let ready = arr_at(node, "/status/conditions")
        .iter()
        .rfind(|c| str_at(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, "/spec/unschedulable") == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in map_at(node, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" {
            if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                roles.insert(v.to_string());
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let info = |f: &str| {
        let s = str_at(node, &format!("/status/nodeInfo/{f}"));
        if s.is_empty() {
            "<unknown>".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        json!(crate::meta::name(node)),
        json!(status.join(",")),
        json!(roles),
        json!(age(node, ctx.now)),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

// ---- services ----

const SERVICE_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.", 0),
    Col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly.", 0),
    Col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
    Col("Port(s)", "string", "The list of ports that are exposed by this service.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", 1),
];

fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    arr_at(v, ptr)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn service_external_ip(svc: &Value) -> String {
    let external = strings_at(svc, "/spec/externalIPs");
    match str_at(svc, "/spec/type") {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            // The server prints wide: no truncation to 16 characters.
            let lb: BTreeSet<String> = arr_at(svc, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    let ip = str_at(i, "/ip");
                    let host = str_at(i, "/hostname");
                    [ip, host]
                        .into_iter()
                        .find(|s| !s.is_empty())
                        .map(str::to_string)
                })
                .collect();
            let mut results: Vec<String> = lb.into_iter().collect();
            if !external.is_empty() {
                results.extend(external);
                return results.join(",");
            }
            if results.is_empty() {
                "<pending>".into()
            } else {
                results.join(",")
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_cells(svc: &Value, ctx: &Ctx) -> Vec<Value> {
    let mut cluster_ip = arr_at(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("");
    if cluster_ip.is_empty() {
        cluster_ip = str_at(svc, "/spec/clusterIP");
    }
    let cluster_ip = if cluster_ip.is_empty() {
        "<none>"
    } else {
        cluster_ip
    };
    let ports: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int0(p, "/port");
            let proto = str_at(p, "/protocol");
            match int_at(p, "/nodePort") {
                Some(np) if np > 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        json!(crate::meta::name(svc)),
        json!(str_at(svc, "/spec/type")),
        json!(cluster_ip),
        json!(service_external_ip(svc)),
        json!(ports),
        json!(age(svc, ctx.now)),
        json!(format_labels(map_at(svc, "/spec/selector"))),
    ]
}

// ---- endpoints ----

const ENDPOINTS_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
];

/// `formatEndpoints` with all ports: at most 3 `ip:port`, then `+ N more...`.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, "/addresses");
        let ports = arr_at(ss, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, "/ip"), int0(p, "/port")));
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(MAX));
    }
    ret
}

fn endpoints_cells(ep: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(ep)),
        json!(format_endpoints(ep)),
        json!(age(ep, ctx.now)),
    ]
}

// ---- namespaces, configmaps, secrets, serviceaccounts ----

const NAMESPACE_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Status", "string", "The status of the namespace", 0),
    Col("Age", "string", AGE_DESC, 0),
];

fn namespace_cells(ns: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(ns)),
        json!(str_at(ns, "/status/phase")),
        json!(age(ns, ctx.now)),
    ]
}

const CONFIGMAP_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Data", "string", "Data contains the configuration data.", 0),
    Col("Age", "string", AGE_DESC, 0),
];

fn configmap_cells(cm: &Value, ctx: &Ctx) -> Vec<Value> {
    let n = len_at(cm, "/data").saturating_add(len_at(cm, "/binaryData"));
    vec![
        json!(crate::meta::name(cm)),
        json!(n),
        json!(age(cm, ctx.now)),
    ]
}

const SECRET_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
        0,
    ),
    Col("Data", "string", "Data contains the secret data.", 0),
    Col("Age", "string", AGE_DESC, 0),
];

fn secret_cells(s: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(s)),
        json!(str_at(s, "/type")),
        json!(len_at(s, "/data")),
        json!(age(s, ctx.now)),
    ]
}

const SERVICEACCOUNT_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", 0),
    Col("Age", "string", AGE_DESC, 0),
];

fn serviceaccount_cells(sa: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(sa)),
        json!(len_at(sa, "/secrets")),
        json!(age(sa, ctx.now)),
    ]
}

// ---- events ----

const EVENT_COLUMNS: &[Col] = &[
    Col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded.", 0),
    Col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future", 0),
    Col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
    Col("Object", "string", "The object that this event is about.", 0),
    Col("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].", 1),
    Col("Source", "string", "The component reporting this event. Should be a short machine understandable string.", 1),
    Col("Message", "string", "A human-readable description of the status of this operation.", 0),
    Col("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1),
    Col("Count", "string", "The number of times this event has occurred.", 1),
    Col("Name", "string", NAME_DESC, 1),
];

fn event_cells(ev: &Value, ctx: &Ctx) -> Vec<Value> {
    let first = match time_at(ev, "/firstTimestamp") {
        Some(t) => since(Some(t), ctx.now),
        None => since(time_at(ev, "/eventTime"), ctx.now),
    };
    let mut last = match time_at(ev, "/lastTimestamp") {
        Some(t) => since(Some(t), ctx.now),
        None => first.clone(),
    };
    let mut count = int0(ev, "/count");
    if ev.get("series").is_some_and(Value::is_object) {
        last = since(time_at(ev, "/series/lastObservedTime"), ctx.now);
        count = int0(ev, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(ev, "/involvedObject/kind").to_lowercase();
    let name = str_at(ev, "/involvedObject/name");
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_at(ev, "/source/component"),
        str_at(ev, "/reportingComponent"),
    );
    let host = first_non_empty(str_at(ev, "/source/host"), str_at(ev, "/reportingInstance"));
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(str_at(ev, "/type")),
        json!(str_at(ev, "/reason")),
        json!(target),
        json!(str_at(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(ev, "/message").trim()),
        json!(first),
        json!(count),
        json!(crate::meta::name(ev)),
    ]
}
