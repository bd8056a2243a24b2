//! `apps/v1`: Deployments, ReplicaSets, DaemonSets, StatefulSets and
//! ControllerRevisions: defaults (`pkg/apis/apps/v1/defaults.go`),
//! validation (selectors matching templates, strategies, ranges) and the
//! immutable fields of updates (selectors; most of a StatefulSet's spec).

use super::pod;
use super::util::*;
use crate::Cause;
use serde_json::{json, Value};

pub fn defaults(kind: &str, obj: &mut Value) {
    if kind == "ControllerRevision" {
        return;
    }
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    if let Some(t) = ensure_obj(spec, "template") {
        pod::default_template(t);
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    match kind {
        "Deployment" => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            if let Some(st) = ensure_obj(spec, "strategy") {
                set_default_str(st, "type", "RollingUpdate");
                if s(st, "type") == "RollingUpdate" {
                    if let Some(ru) = ensure_obj(st, "rollingUpdate") {
                        set_default(ru, "maxUnavailable", json!("25%"));
                        set_default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
        }
        "ReplicaSet" => {
            set_default(spec, "replicas", json!(1));
            remove(spec, "revisionHistoryLimit");
        }
        "DaemonSet" => {
            if let Some(st) = ensure_obj(spec, "updateStrategy") {
                set_default_str(st, "type", "RollingUpdate");
                if s(st, "type") == "RollingUpdate" {
                    if let Some(ru) = ensure_obj(st, "rollingUpdate") {
                        set_default(ru, "maxUnavailable", json!(1));
                        set_default(ru, "maxSurge", json!(0));
                    }
                }
            }
        }
        "StatefulSet" => {
            set_default(spec, "replicas", json!(1));
            set_default_str(spec, "podManagementPolicy", "OrderedReady");
            if let Some(st) = ensure_obj(spec, "updateStrategy") {
                set_default_str(st, "type", "RollingUpdate");
                if s(st, "type") == "RollingUpdate" {
                    if let Some(ru) = ensure_obj(st, "rollingUpdate") {
                        set_default(ru, "partition", json!(0));
                    }
                }
            }
            if let Some(p) = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
                set_default_str(p, "whenDeleted", "Retain");
                set_default_str(p, "whenScaled", "Retain");
            }
            each_mut(spec, "volumeClaimTemplates", |t| {
                if let Some(ts) = ensure_obj(t, "spec") {
                    set_default(ts, "volumeMode", json!("Filesystem"));
                }
                set_default(t, "status", json!({"phase": "Pending"}));
            });
        }
        _ => {}
    }
}

pub fn validate(kind: &str, obj: &Value, c: &mut Vec<Cause>) {
    if kind == "ControllerRevision" {
        if int(obj, "revision").is_some_and(|r| r < 0) {
            c.push(Cause::invalid(
                "revision",
                &json!(int(obj, "revision")),
                "must be greater than or equal to 0",
            ));
        }
        return;
    }
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    non_negative(c, spec, "replicas", "spec.replicas");
    non_negative(c, spec, "minReadySeconds", "spec.minReadySeconds");
    non_negative(c, spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    let sel = spec.get("selector").unwrap_or(&null);
    let tpl = spec.get("template").unwrap_or(&null);
    let lower = kind.to_lowercase();
    if sel.is_null() {
        c.push(Cause::required("spec.selector"));
    } else {
        validate_selector(c, sel, "spec.selector");
        if selector_is_empty(sel) {
            c.push(Cause::invalid(
                "spec.selector",
                sel,
                &format!("empty selector is invalid for {lower}"),
            ));
        } else {
            let labels = tpl.pointer("/metadata/labels").and_then(Value::as_object);
            if !selector_matches(sel, labels) {
                c.push(Cause::invalid(
                    "spec.template.metadata.labels",
                    &json!(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    pod::validate_template(c, tpl, "spec.template");
    let rp = tpl
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !rp.is_empty() && rp != "Always" {
        c.push(Cause::not_supported(
            "spec.template.spec.restartPolicy",
            &json!(rp),
            &["Always"],
        ));
    }
    if tpl
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        c.push(Cause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    match kind {
        "Deployment" => {
            let st = spec.get("strategy").unwrap_or(&null);
            let ty = s(st, "type");
            check_enum(
                c,
                "spec.strategy.type",
                ty,
                &["Recreate", "RollingUpdate"],
                true,
            );
            if ty == "Recreate" && get(st, "rollingUpdate").is_some() {
                c.push(Cause::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
            if let Some(ru) = get(st, "rollingUpdate") {
                let p = "spec.strategy.rollingUpdate";
                let mu =
                    int_or_percent(c, ru.get("maxUnavailable"), &format!("{p}.maxUnavailable"));
                let ms = int_or_percent(c, ru.get("maxSurge"), &format!("{p}.maxSurge"));
                if mu == Some(0) && ms == Some(0) {
                    c.push(Cause::invalid(
                        &format!("{p}.maxUnavailable"),
                        ru.get("maxUnavailable").unwrap_or(&null),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
            if let Some(pd) = int(spec, "progressDeadlineSeconds") {
                let mrs = int(spec, "minReadySeconds").unwrap_or(0);
                if pd <= 0 {
                    c.push(Cause::invalid(
                        "spec.progressDeadlineSeconds",
                        &json!(pd),
                        "must be greater than 0",
                    ));
                } else if pd <= mrs {
                    c.push(Cause::invalid(
                        "spec.progressDeadlineSeconds",
                        &json!(pd),
                        "must be greater than minReadySeconds",
                    ));
                }
            }
        }
        "DaemonSet" => {
            let st = spec.get("updateStrategy").unwrap_or(&null);
            let ty = s(st, "type");
            check_enum(
                c,
                "spec.updateStrategy.type",
                ty,
                &["OnDelete", "RollingUpdate"],
                true,
            );
            if let Some(ru) = get(st, "rollingUpdate") {
                let p = "spec.updateStrategy.rollingUpdate";
                let mu =
                    int_or_percent(c, ru.get("maxUnavailable"), &format!("{p}.maxUnavailable"));
                let ms = int_or_percent(c, ru.get("maxSurge"), &format!("{p}.maxSurge"));
                if mu == Some(0) && ms.unwrap_or(0) == 0 {
                    c.push(Cause::invalid(
                        &format!("{p}.maxUnavailable"),
                        ru.get("maxUnavailable").unwrap_or(&null),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        }
        "StatefulSet" => {
            check_enum(
                c,
                "spec.podManagementPolicy",
                s(spec, "podManagementPolicy"),
                &["OrderedReady", "Parallel"],
                true,
            );
            let st = spec.get("updateStrategy").unwrap_or(&null);
            check_enum(
                c,
                "spec.updateStrategy.type",
                s(st, "type"),
                &["OnDelete", "RollingUpdate"],
                true,
            );
            if let Some(ru) = get(st, "rollingUpdate") {
                non_negative(
                    c,
                    ru,
                    "partition",
                    "spec.updateStrategy.rollingUpdate.partition",
                );
            }
            let pol = spec
                .get("persistentVolumeClaimRetentionPolicy")
                .unwrap_or(&null);
            for k in ["whenDeleted", "whenScaled"] {
                check_enum(
                    c,
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{k}"),
                    s(pol, k),
                    &["Delete", "Retain"],
                    false,
                );
            }
            let svc = s(spec, "serviceName");
            if !svc.is_empty() {
                invalid_each(c, "spec.serviceName", svc, super::names::dns1123_label(svc));
            }
        }
        _ => {}
    }
}

pub fn validate_update(kind: &str, old: &Value, new: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    let os = old.get("spec").unwrap_or(&null);
    let ns = new.get("spec").unwrap_or(&null);
    if kind == "ControllerRevision" {
        if old.get("data") != new.get("data") {
            c.push(Cause::immutable("data", new.get("data").unwrap_or(&null)));
        }
        return;
    }
    if os.get("selector") != ns.get("selector") {
        c.push(Cause::immutable(
            "spec.selector",
            ns.get("selector").unwrap_or(&null),
        ));
    }
    if kind == "StatefulSet" {
        let strip = |v: &Value| {
            let mut v = v.clone();
            for k in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
                "selector",
            ] {
                remove(&mut v, k);
            }
            v
        };
        if strip(os) != strip(ns) {
            c.push(Cause::forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
        }
    }
}
