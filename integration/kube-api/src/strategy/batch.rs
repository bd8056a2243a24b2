//! `batch/v1` Jobs and CronJobs: defaults, the generated Job selector and
//! template labels (from `metadata.uid`, which the registry sets before
//! `prepare_create`), validation and the immutable Job fields.

use super::pod;
use super::util::*;
use crate::Cause;
use serde_json::{json, Map, Value};

const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

fn default_job_spec(spec: &mut Value) {
    if get(spec, "completions").is_none() && get(spec, "parallelism").is_none() {
        put(spec, "completions", json!(1));
        put(spec, "parallelism", json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    let per_index = get(spec, "backoffLimitPerIndex").is_some();
    set_default(
        spec,
        "backoffLimit",
        json!(if per_index { i32::MAX } else { 6 }),
    );
    set_default_str(spec, "completionMode", "NonIndexed");
    set_default(spec, "suspend", json!(false));
    let prp = if get(spec, "podFailurePolicy").is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_default_str(spec, "podReplacementPolicy", prp);
    if let Some(t) = ensure_obj(spec, "template") {
        pod::default_template(t);
    }
}

pub fn defaults(kind: &str, obj: &mut Value) {
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    match kind {
        "Job" => default_job_spec(spec),
        "CronJob" => {
            set_default_str(spec, "concurrencyPolicy", "Allow");
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(jt) = ensure_obj(spec, "jobTemplate") {
                if let Some(js) = ensure_obj(jt, "spec") {
                    default_job_spec(js);
                }
            }
        }
        _ => {}
    }
}

/// The Job's generated selector and template labels (unless
/// `manualSelector: true`), as upstream's `generateSelector`.
pub fn prepare_create(kind: &str, obj: &mut Value) {
    if kind != "Job" {
        return;
    }
    let uid = crate::meta::uid(obj).to_string();
    let name = crate::meta::name(obj).to_string();
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    if flag(spec, "manualSelector") || uid.is_empty() {
        return;
    }
    let mut add = Map::new();
    add.insert(CONTROLLER_UID.into(), json!(uid));
    add.insert("controller-uid".into(), json!(uid));
    add.insert(JOB_NAME.into(), json!(name));
    add.insert("job-name".into(), json!(name));
    if let Some(tpl) = ensure_obj(spec, "template") {
        if let Some(md) = ensure_obj(tpl, "metadata") {
            if let Some(Value::Object(labels)) = ensure_obj(md, "labels") {
                for (k, v) in &add {
                    labels.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
    }
    if selector_is_empty(spec.get("selector").unwrap_or(&Value::Null)) {
        put(
            spec,
            "selector",
            json!({"matchLabels": {CONTROLLER_UID: uid}}),
        );
    }
}

fn validate_job_spec(c: &mut Vec<Cause>, spec: &Value, p: &str, is_template: bool) {
    for k in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        non_negative(c, spec, k, &format!("{p}.{k}"));
    }
    positive(
        c,
        spec,
        "activeDeadlineSeconds",
        &format!("{p}.activeDeadlineSeconds"),
    );
    check_enum(
        c,
        &format!("{p}.completionMode"),
        s(spec, "completionMode"),
        &["NonIndexed", "Indexed"],
        false,
    );
    if s(spec, "completionMode") == "Indexed" && get(spec, "completions").is_none() {
        c.push(Cause::required(&format!("{p}.completions")));
    }
    check_enum(
        c,
        &format!("{p}.podReplacementPolicy"),
        s(spec, "podReplacementPolicy"),
        &["TerminatingOrFailed", "Failed"],
        false,
    );
    let null = Value::Null;
    let tpl = spec.get("template").unwrap_or(&null);
    if !is_template {
        let sel = spec.get("selector").unwrap_or(&null);
        if sel.is_null() {
            c.push(Cause::required(&format!("{p}.selector")));
        } else {
            validate_selector(c, sel, &format!("{p}.selector"));
            let labels = tpl.pointer("/metadata/labels").and_then(Value::as_object);
            if !selector_matches(sel, labels) {
                c.push(Cause::invalid(
                    &format!("{p}.template.metadata.labels"),
                    &json!(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    pod::validate_template(c, tpl, &format!("{p}.template"));
    let rp = tpl
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "OnFailure" && rp != "Never" {
        c.push(Cause::new(
            "FieldValueNotSupported",
            &format!("{p}.template.spec.restartPolicy"),
            format!("Unsupported value: \"{rp}\": supported values: \"OnFailure\", \"Never\""),
        ));
    }
}

/// A cron schedule: five fields, or an `@` descriptor, optionally after
/// `TZ=`/`CRON_TZ=` (which upstream forbids in favour of `timeZone`).
fn schedule_ok(s: &str) -> Result<(), String> {
    let s = s.trim();
    if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    if let Some(d) = s.strip_prefix('@') {
        return if matches!(
            d,
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly"
        ) || d.starts_with("every ")
        {
            Ok(())
        } else {
            Err(format!("unrecognized descriptor: @{d}"))
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let ok = fields.iter().all(|f| {
        f.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '*' | '/' | ',' | '-' | '?'))
    });
    if ok {
        Ok(())
    } else {
        Err("invalid schedule".into())
    }
}

pub fn validate(kind: &str, obj: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    match kind {
        "Job" => validate_job_spec(c, spec, "spec", false),
        "CronJob" => {
            let sched = s(spec, "schedule");
            if sched.is_empty() {
                c.push(Cause::required("spec.schedule"));
            } else if let Err(e) = schedule_ok(sched) {
                c.push(Cause::invalid("spec.schedule", &json!(sched), &e));
            }
            check_enum(
                c,
                "spec.concurrencyPolicy",
                s(spec, "concurrencyPolicy"),
                &["Allow", "Forbid", "Replace"],
                true,
            );
            for k in [
                "startingDeadlineSeconds",
                "successfulJobsHistoryLimit",
                "failedJobsHistoryLimit",
            ] {
                non_negative(c, spec, k, &format!("spec.{k}"));
            }
            let name = crate::meta::name(obj);
            if name.len() > 52 {
                c.push(Cause::invalid(
                    "metadata.name",
                    &json!(name),
                    "must be no more than 52 characters",
                ));
            }
            let js = spec.pointer("/jobTemplate/spec").unwrap_or(&null);
            validate_job_spec(c, js, "spec.jobTemplate.spec", true);
        }
        _ => {}
    }
}

pub fn validate_update(kind: &str, old: &Value, new: &Value, c: &mut Vec<Cause>) {
    if kind != "Job" {
        return;
    }
    let null = Value::Null;
    let os = old.get("spec").unwrap_or(&null);
    let ns = new.get("spec").unwrap_or(&null);
    for k in [
        "selector",
        "completionMode",
        "podFailurePolicy",
        "manualSelector",
    ] {
        if os.get(k) != ns.get(k) {
            c.push(Cause::immutable(
                &format!("spec.{k}"),
                ns.get(k).unwrap_or(&null),
            ));
        }
    }
    if os.get("completions") != ns.get("completions") && s(ns, "completionMode") != "Indexed" {
        c.push(Cause::immutable(
            "spec.completions",
            ns.get("completions").unwrap_or(&null),
        ));
    }
    // A suspended job that never started may change its scheduling
    // directives (nodeSelector, affinity, tolerations, labels, annotations,
    // schedulingGates); everything else in the template is immutable.
    let strip = |t: &Value, suspended: bool| {
        let mut t = t.clone();
        if suspended {
            remove(&mut t, "metadata");
            if let Some(sp) = child_mut(&mut t, "spec") {
                for k in ["nodeSelector", "affinity", "tolerations", "schedulingGates"] {
                    remove(sp, k);
                }
            }
        }
        t
    };
    let suspended = flag(os, "suspend") && old.pointer("/status/startTime").is_none();
    let (ot, nt) = (
        os.get("template").unwrap_or(&null),
        ns.get("template").unwrap_or(&null),
    );
    if strip(ot, suspended) != strip(nt, suspended) {
        c.push(Cause::immutable("spec.template", nt));
    }
}
