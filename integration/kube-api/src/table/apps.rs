//! Printers of workload kinds: apps/v1 deployments, replicasets, daemonsets,
//! statefulsets, controllerrevisions; batch/v1 jobs, cronjobs; autoscaling
//! horizontalpodautoscalers (v1 and v2); policy/v1 poddisruptionbudgets.

use super::{
    age, arr_at, bool_at, containers_and_images, format_label_selector, format_labels,
    human_duration, int0, int_at, label_selector_string, map_at, since, str_at, time_at, CellsFn,
    Col, Ctx, Printer, AGE_DESC, CONTAINERS_DESC, IMAGES_DESC, NAME_DESC,
};
use crate::ResourceInfo;
use serde_json::{json, Value};

pub(super) fn printer(res: &ResourceInfo) -> Option<Printer> {
    let (columns, cells): (&'static [Col], CellsFn) = match (res.group, res.plural) {
        ("apps", "deployments") => (DEPLOYMENT_COLUMNS, deployment_cells),
        ("apps", "replicasets") => (REPLICASET_COLUMNS, replicaset_cells),
        ("apps", "daemonsets") => (DAEMONSET_COLUMNS, daemonset_cells),
        ("apps", "statefulsets") => (STATEFULSET_COLUMNS, statefulset_cells),
        ("apps", "controllerrevisions") => (REVISION_COLUMNS, revision_cells),
        ("batch", "jobs") => (JOB_COLUMNS, job_cells),
        ("batch", "cronjobs") => (CRONJOB_COLUMNS, cronjob_cells),
        ("autoscaling", "horizontalpodautoscalers") => (HPA_COLUMNS, hpa_cells),
        ("policy", "poddisruptionbudgets") => (PDB_COLUMNS, pdb_cells),
        _ => return None,
    };
    Some(Printer { columns, cells })
}

/// `spec.replicas`, which upstream defaulting sets to 1 when absent.
fn replicas(obj: &Value) -> i64 {
    int_at(obj, "/spec/replicas").unwrap_or(1)
}

fn template_containers(obj: &Value, template: &str) -> (String, String) {
    containers_and_images(arr_at(obj, &format!("{template}/spec/containers")))
}

const DEPLOYMENT_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Ready", "string", "Number of the pod with ready state", 0),
    Col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
    Col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
    Col("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", 1),
];

fn deployment_cells(d: &Value, ctx: &Ctx) -> Vec<Value> {
    let (names, images) = template_containers(d, "/spec/template");
    let selector =
        label_selector_string(d.pointer("/spec/selector")).unwrap_or_else(|()| "<invalid>".into());
    vec![
        json!(crate::meta::name(d)),
        json!(format!(
            "{}/{}",
            int0(d, "/status/readyReplicas"),
            replicas(d)
        )),
        json!(int0(d, "/status/updatedReplicas")),
        json!(int0(d, "/status/availableReplicas")),
        json!(age(d, ctx.now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

const REPLICASET_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods.",
        0,
    ),
    Col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods.",
        0,
    ),
    Col(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
    Col(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
        1,
    ),
];

fn replicaset_cells(rs: &Value, ctx: &Ctx) -> Vec<Value> {
    let (names, images) = template_containers(rs, "/spec/template");
    vec![
        json!(crate::meta::name(rs)),
        json!(replicas(rs)),
        json!(int0(rs, "/status/replicas")),
        json!(int0(rs, "/status/readyReplicas")),
        json!(age(rs, ctx.now)),
        json!(names),
        json!(images),
        json!(format_label_selector(rs.pointer("/spec/selector"))),
    ]
}

const DAEMONSET_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).", 0),
    Col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", 0),
    Col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.", 0),
    Col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod", 0),
    Col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", 0),
    Col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
    Col("Selector", "string", "A label query over pods that are managed by the daemon set.", 1),
];

fn daemonset_cells(ds: &Value, ctx: &Ctx) -> Vec<Value> {
    let (names, images) = template_containers(ds, "/spec/template");
    vec![
        json!(crate::meta::name(ds)),
        json!(int0(ds, "/status/desiredNumberScheduled")),
        json!(int0(ds, "/status/currentNumberScheduled")),
        json!(int0(ds, "/status/numberReady")),
        json!(int0(ds, "/status/updatedNumberScheduled")),
        json!(int0(ds, "/status/numberAvailable")),
        json!(format_labels(map_at(
            ds,
            "/spec/template/spec/nodeSelector"
        ))),
        json!(age(ds, ctx.now)),
        json!(names),
        json!(images),
        json!(format_label_selector(ds.pointer("/spec/selector"))),
    ]
}

const STATEFULSET_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Ready", "string", "Number of the pod with ready state", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
];

fn statefulset_cells(sts: &Value, ctx: &Ctx) -> Vec<Value> {
    let (names, images) = template_containers(sts, "/spec/template");
    vec![
        json!(crate::meta::name(sts)),
        json!(format!(
            "{}/{}",
            int0(sts, "/status/readyReplicas"),
            replicas(sts)
        )),
        json!(age(sts, ctx.now)),
        json!(names),
        json!(images),
    ]
}

const REVISION_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Controller", "string", "Controller of the object", 0),
    Col(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
];

fn revision_cells(cr: &Value, ctx: &Ctx) -> Vec<Value> {
    let controller = arr_at(cr, "/metadata/ownerReferences")
        .iter()
        .find(|o| bool_at(o, "/controller") == Some(true))
        .map(|o| {
            let api_version = str_at(o, "/apiVersion");
            let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = str_at(o, "/kind");
            let name = str_at(o, "/name");
            match (kind.is_empty(), group.is_empty()) {
                (true, true) => name.to_string(),
                (_, true) => format!("{}/{name}", kind.to_lowercase()),
                _ => format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase()),
            }
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(crate::meta::name(cr)),
        json!(controller),
        json!(int0(cr, "/revision")),
        json!(age(cr, ctx.now)),
    ]
}

const JOB_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Status", "string", "Status of the job.", 0),
    Col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
        0,
    ),
    Col(
        "Duration",
        "string",
        "Time required to complete the job.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
    Col(
        "Selector",
        "string",
        "A label query over pods that should match the pod count.",
        1,
    ),
];

/// `hasJobCondition`: the first condition of that type decides.
fn has_job_condition(job: &Value, ty: &str) -> bool {
    arr_at(job, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == ty)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

fn job_cells(job: &Value, ctx: &Ctx) -> Vec<Value> {
    let succeeded = int0(job, "/status/succeeded");
    let completions = match int_at(job, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(job, "/spec/parallelism") {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time_at(job, "/status/startTime"),
        time_at(job, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(ctx.now.saturating_sub(start)),
        (Some(start), Some(end)) => human_duration(end.saturating_sub(start)),
    };
    let status = if has_job_condition(job, "Complete") {
        "Complete"
    } else if has_job_condition(job, "Failed") {
        "Failed"
    } else if crate::meta::is_deleting(job) {
        "Terminating"
    } else if has_job_condition(job, "Suspended") {
        "Suspended"
    } else if has_job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(job, "/spec/template");
    vec![
        json!(crate::meta::name(job)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(job, ctx.now)),
        json!(names),
        json!(images),
        json!(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

const CRONJOB_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0),
    Col("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.", 0),
    Col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.", 0),
    Col("Active", "integer", "A list of pointers to currently running jobs.", 0),
    Col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled.", 0),
    Col("Age", "string", AGE_DESC, 0),
    Col("Containers", "string", CONTAINERS_DESC, 1),
    Col("Images", "string", IMAGES_DESC, 1),
    Col("Selector", "string", "A label query over pods that should match the pod count.", 1),
];

fn cronjob_cells(cj: &Value, ctx: &Ctx) -> Vec<Value> {
    let last_schedule = match time_at(cj, "/status/lastScheduleTime") {
        Some(t) => since(Some(t), ctx.now),
        None => "<none>".into(),
    };
    let tz = cj
        .pointer("/spec/timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // Upstream defaulting sets suspend=false.
    let suspend = if bool_at(cj, "/spec/suspend") == Some(true) {
        "True"
    } else {
        "False"
    };
    let (names, images) = template_containers(cj, "/spec/jobTemplate/spec/template");
    vec![
        json!(crate::meta::name(cj)),
        json!(str_at(cj, "/spec/schedule")),
        json!(tz),
        json!(suspend),
        json!(arr_at(cj, "/status/active").len()),
        json!(last_schedule),
        json!(age(cj, ctx.now)),
        json!(names),
        json!(images),
        json!(format_label_selector(
            cj.pointer("/spec/jobTemplate/spec/selector")
        )),
    ]
}

const HPA_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col("Reference", "string", "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.", 0),
    Col("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).", 0),
    Col("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.", 0),
    Col("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.", 0),
    Col("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.", 0),
    Col("Age", "string", AGE_DESC, 0),
];

/// A quantity as JSON holds it (a string, or a bare number).
fn quantity(v: &Value, ptr: &str) -> Option<String> {
    match v.pointer(ptr)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn percent(v: &Value, ptr: &str) -> Option<String> {
    int_at(v, ptr).map(|p| format!("{p}%"))
}

/// `formatHPAMetrics` over autoscaling/v2 `spec.metrics` and
/// `status.currentMetrics`: at most 2, then `+ N more...`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let unknown = || "<unknown>".to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i).unwrap_or(&Value::Null);
        let entry = match str_at(spec, "/type") {
            "External" | "Object" => {
                let key = if str_at(spec, "/type") == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = format!("/{key}/target");
                let current = format!("/{key}/current");
                let has_status = status.get(key).is_some_and(Value::is_object);
                if let Some(avg) = quantity(spec, &format!("{target}/averageValue")) {
                    let cur = quantity(status, &format!("{current}/averageValue"))
                        .filter(|_| has_status)
                        .unwrap_or_else(unknown);
                    format!("{cur}/{avg} (avg)")
                } else {
                    let cur = if has_status {
                        quantity(status, &format!("{current}/value")).unwrap_or_else(|| "0".into())
                    } else {
                        unknown()
                    };
                    let value =
                        quantity(spec, &format!("{target}/value")).unwrap_or_else(|| "0".into());
                    format!("{cur}/{value}")
                }
            }
            "Pods" => {
                let cur = if status.get("pods").is_some_and(Value::is_object) {
                    quantity(status, "/pods/current/averageValue").unwrap_or_else(|| "0".into())
                } else {
                    unknown()
                };
                let target =
                    quantity(spec, "/pods/target/averageValue").unwrap_or_else(|| "0".into());
                format!("{cur}/{target}")
            }
            "Resource" | "ContainerResource" => {
                let key = if str_at(spec, "/type") == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let name = str_at(spec, &format!("/{key}/name"));
                let has_status = status.get(key).is_some_and(Value::is_object);
                if let Some(avg) = quantity(spec, &format!("/{key}/target/averageValue")) {
                    let cur = if has_status {
                        quantity(status, &format!("/{key}/current/averageValue"))
                            .unwrap_or_else(|| "0".into())
                    } else {
                        unknown()
                    };
                    format!("{name}: {cur}/{avg}")
                } else {
                    let cur = percent(status, &format!("/{key}/current/averageUtilization"))
                        .filter(|_| has_status)
                        .unwrap_or_else(unknown);
                    let target = percent(spec, &format!("/{key}/target/averageUtilization"))
                        .unwrap_or_else(|| "<auto>".into());
                    format!("{name}: {cur}/{target}")
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(entry);
    }
    const MAX: usize = 2;
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

fn hpa_cells(hpa: &Value, ctx: &Ctx) -> Vec<Value> {
    let metrics = if ctx.res.version == "v1" {
        // autoscaling/v1 converts to one CPU utilization metric.
        match int_at(hpa, "/spec/targetCPUUtilizationPercentage") {
            Some(target) => {
                let cur = percent(hpa, "/status/currentCPUUtilizationPercentage")
                    .unwrap_or_else(|| "<unknown>".into());
                format!("cpu: {cur}/{target}%")
            }
            None => "<none>".into(),
        }
    } else {
        format_hpa_metrics(
            arr_at(hpa, "/spec/metrics"),
            arr_at(hpa, "/status/currentMetrics"),
        )
    };
    let min = int_at(hpa, "/spec/minReplicas")
        .map(|m| m.to_string())
        .unwrap_or_else(|| "<unset>".into());
    vec![
        json!(crate::meta::name(hpa)),
        json!(format!(
            "{}/{}",
            str_at(hpa, "/spec/scaleTargetRef/kind"),
            str_at(hpa, "/spec/scaleTargetRef/name")
        )),
        json!(metrics),
        json!(min),
        json!(int0(hpa, "/spec/maxReplicas")),
        json!(int0(hpa, "/status/currentReplicas")),
        json!(age(hpa, ctx.now)),
    ]
}

const PDB_COLUMNS: &[Col] = &[
    Col("Name", "string", NAME_DESC, 0),
    Col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
        0,
    ),
    Col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
        0,
    ),
    Col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
        0,
    ),
    Col("Age", "string", AGE_DESC, 0),
];

/// An IntOrString as upstream prints it; `N/A` when unset.
fn int_or_string(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".into(),
    }
}

fn pdb_cells(pdb: &Value, ctx: &Ctx) -> Vec<Value> {
    vec![
        json!(crate::meta::name(pdb)),
        json!(int_or_string(pdb, "/spec/minAvailable")),
        json!(int_or_string(pdb, "/spec/maxUnavailable")),
        json!(int0(pdb, "/status/disruptionsAllowed")),
        json!(age(pdb, ctx.now)),
    ]
}
