//! `autoscaling` HorizontalPodAutoscalers (v1 and v2): defaults,
//! validation, and the v1 <-> v2 conversion (v1 objects are stored as v2:
//! `targetCPUUtilizationPercentage` is a Resource cpu Utilization metric,
//! `currentCPUUtilizationPercentage` its current value; what v1 cannot
//! express travels in the `autoscaling.alpha.kubernetes.io/*` annotations,
//! as upstream's conversion does).

use super::util::*;
use crate::Cause;
use serde_json::{json, Map, Value};

const ANN_METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const ANN_CURRENT: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const ANN_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const ANN_BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const DEFAULT_CPU: i64 = 80;

fn cpu_metric(n: i64) -> Value {
    json!({"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":n}}})
}

fn default_rules(rules: &mut Value, window: i64, policies: Value) {
    set_default(rules, "stabilizationWindowSeconds", json!(window));
    set_default_str(rules, "selectPolicy", "Max");
    if arr(rules, "policies").is_empty() {
        put(rules, "policies", policies);
    }
}

pub fn defaults(version: &str, kind: &str, obj: &mut Value) {
    if kind != "HorizontalPodAutoscaler" {
        return;
    }
    let Some(spec) = ensure_obj(obj, "spec") else {
        return;
    };
    set_default(spec, "minReplicas", json!(1));
    if version == "v2" {
        if arr(spec, "metrics").is_empty() {
            put(spec, "metrics", json!([cpu_metric(DEFAULT_CPU)]));
        }
        if let Some(b) = child_mut(spec, "behavior") {
            if let Some(up) = ensure_obj(b, "scaleUp") {
                default_rules(
                    up,
                    0,
                    json!([{"type":"Pods","value":4,"periodSeconds":15},{"type":"Percent","value":100,"periodSeconds":15}]),
                );
            }
            if let Some(down) = ensure_obj(b, "scaleDown") {
                default_rules(
                    down,
                    300,
                    json!([{"type":"Percent","value":100,"periodSeconds":15}]),
                );
            }
        }
    }
}

pub fn validate(version: &str, kind: &str, obj: &Value, c: &mut Vec<Cause>) {
    if kind != "HorizontalPodAutoscaler" {
        return;
    }
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    let r = spec.get("scaleTargetRef").unwrap_or(&null);
    for k in ["kind", "name"] {
        if s(r, k).is_empty() {
            c.push(Cause::required(&format!("spec.scaleTargetRef.{k}")));
        }
    }
    let min = int(spec, "minReplicas").unwrap_or(1);
    if min < 1 {
        c.push(Cause::invalid(
            "spec.minReplicas",
            &json!(min),
            "must be greater than or equal to 1",
        ));
    }
    let max = int(spec, "maxReplicas").unwrap_or(0);
    if max < min {
        c.push(Cause::invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    if version == "v1" {
        if let Some(t) = int(spec, "targetCPUUtilizationPercentage") {
            if t < 1 {
                c.push(Cause::invalid(
                    "spec.targetCPUUtilizationPercentage",
                    &json!(t),
                    "must be greater than or equal to 1",
                ));
            }
        }
        return;
    }
    for (i, m) in arr(spec, "metrics").iter().enumerate() {
        let p = format!("spec.metrics[{i}]");
        let ty = s(m, "type");
        check_enum(
            c,
            &format!("{p}.type"),
            ty,
            &[
                "ContainerResource",
                "External",
                "Object",
                "Pods",
                "Resource",
            ],
            true,
        );
        let key = match ty {
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            "Pods" => "pods",
            "Object" => "object",
            "External" => "external",
            _ => continue,
        };
        let Some(src) = get(m, key) else {
            c.push(Cause::required(&format!("{p}.{key}")));
            continue;
        };
        if (key == "resource" || key == "containerResource") && s(src, "name").is_empty() {
            c.push(Cause::required(&format!("{p}.{key}.name")));
        }
        let t = src.get("target").unwrap_or(&null);
        check_enum(
            c,
            &format!("{p}.{key}.target.type"),
            s(t, "type"),
            &["AverageValue", "Utilization", "Value"],
            true,
        );
        if let Some(u) = int(t, "averageUtilization") {
            if u < 1 {
                c.push(Cause::invalid(
                    &format!("{p}.{key}.target.averageUtilization"),
                    &json!(u),
                    "must be greater than 0",
                ));
            }
        }
    }
}

fn is_cpu_utilization(m: &Value) -> bool {
    s(m, "type") == "Resource"
        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && m.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization")
}

fn annotations_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let md = crate::meta::metadata_mut(obj);
    let a = md.entry("annotations").or_insert_with(|| json!({}));
    if !a.is_object() {
        *a = json!({});
    }
    match a {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

fn drop_empty_annotations(obj: &mut Value) {
    let md = crate::meta::metadata_mut(obj);
    if md
        .get("annotations")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        md.remove("annotations");
    }
}

/// autoscaling/v2 -> autoscaling/v1.
pub fn v2_to_v1(mut obj: Value) -> Value {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let status = obj.get("status").cloned();
    let mut v1spec = Map::new();
    for k in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = get(&spec, k) {
            v1spec.insert(k.into(), v.clone());
        }
    }
    let mut others = Vec::new();
    for m in arr(&spec, "metrics") {
        if is_cpu_utilization(m) && !v1spec.contains_key("targetCPUUtilizationPercentage") {
            if let Some(u) = m.pointer("/resource/target/averageUtilization") {
                v1spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
                continue;
            }
        }
        others.push(m.clone());
    }
    let mut ann: Vec<(&str, Value)> = Vec::new();
    if !others.is_empty() {
        ann.push((ANN_METRICS, Value::Array(others)));
    }
    if let Some(b) = get(&spec, "behavior") {
        ann.push((ANN_BEHAVIOR, b.clone()));
    }
    let mut v1status = Map::new();
    if let Some(st) = &status {
        for k in [
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ] {
            if let Some(v) = get(st, k) {
                v1status.insert(k.into(), v.clone());
            }
        }
        v1status
            .entry("currentReplicas")
            .or_insert_with(|| json!(0));
        v1status
            .entry("desiredReplicas")
            .or_insert_with(|| json!(0));
        let mut cur_others = Vec::new();
        for m in arr(st, "currentMetrics") {
            let cpu = s(m, "type") == "Resource"
                && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu");
            match m.pointer("/resource/current/averageUtilization") {
                Some(u) if cpu && !v1status.contains_key("currentCPUUtilizationPercentage") => {
                    v1status.insert("currentCPUUtilizationPercentage".into(), u.clone());
                }
                _ => cur_others.push(m.clone()),
            }
        }
        if !cur_others.is_empty() {
            ann.push((ANN_CURRENT, Value::Array(cur_others)));
        }
        if let Some(cond) = get(st, "conditions") {
            ann.push((ANN_CONDITIONS, cond.clone()));
        }
    }
    put(&mut obj, "apiVersion", json!("autoscaling/v1"));
    put(&mut obj, "spec", Value::Object(v1spec));
    if status.is_some() {
        put(&mut obj, "status", Value::Object(v1status));
    }
    if !ann.is_empty() {
        let a = annotations_mut(&mut obj);
        for (k, v) in ann {
            a.insert(k.into(), json!(v.to_string()));
        }
    }
    obj
}

/// autoscaling/v1 -> autoscaling/v2.
pub fn v1_to_v2(mut obj: Value) -> Value {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let status = obj.get("status").cloned();
    let mut taken: Map<String, Value> = Map::new();
    {
        let a = annotations_mut(&mut obj);
        for k in [ANN_METRICS, ANN_CURRENT, ANN_CONDITIONS, ANN_BEHAVIOR] {
            if let Some(v) = a.remove(k) {
                if let Some(parsed) = v.as_str().and_then(|t| serde_json::from_str(t).ok()) {
                    taken.insert(k.into(), parsed);
                }
            }
        }
    }
    drop_empty_annotations(&mut obj);
    let mut v2spec = Map::new();
    for k in ["scaleTargetRef", "minReplicas", "maxReplicas"] {
        if let Some(v) = get(&spec, k) {
            v2spec.insert(k.into(), v.clone());
        }
    }
    let mut metrics = Vec::new();
    if let Some(t) = int(&spec, "targetCPUUtilizationPercentage") {
        metrics.push(cpu_metric(t));
    }
    if let Some(Value::Array(more)) = taken.remove(ANN_METRICS) {
        metrics.extend(more);
    }
    if metrics.is_empty() {
        metrics.push(cpu_metric(DEFAULT_CPU));
    }
    v2spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = taken.remove(ANN_BEHAVIOR) {
        v2spec.insert("behavior".into(), b);
    }
    put(&mut obj, "apiVersion", json!("autoscaling/v2"));
    put(&mut obj, "spec", Value::Object(v2spec));
    if let Some(st) = status {
        let mut v2status = Map::new();
        for k in [
            "observedGeneration",
            "lastScaleTime",
            "currentReplicas",
            "desiredReplicas",
        ] {
            if let Some(v) = get(&st, k) {
                v2status.insert(k.into(), v.clone());
            }
        }
        let mut cur = Vec::new();
        if let Some(u) = int(&st, "currentCPUUtilizationPercentage") {
            cur.push(json!({"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":u}}}));
        }
        if let Some(Value::Array(more)) = taken.remove(ANN_CURRENT) {
            cur.extend(more);
        }
        if !cur.is_empty() {
            v2status.insert("currentMetrics".into(), Value::Array(cur));
        }
        if let Some(cond) = taken.remove(ANN_CONDITIONS) {
            v2status.insert("conditions".into(), cond);
        }
        put(&mut obj, "status", Value::Object(v2status));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_round_trips_through_v2() {
        let v1 = json!({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler",
            "metadata":{"name":"web","namespace":"default"},
            "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
                    "minReplicas":1,"maxReplicas":5,"targetCPUUtilizationPercentage":50},
            "status":{"currentReplicas":2,"desiredReplicas":3,"currentCPUUtilizationPercentage":70}});
        let v2 = v1_to_v2(v1.clone());
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert_eq!(
            v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            70
        );
        assert_eq!(v2_to_v1(v2), v1);
    }

    #[test]
    fn v2_only_data_survives_a_v1_round_trip() {
        let v2 = json!({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler",
            "metadata":{"name":"web"},
            "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"minReplicas":1,"maxReplicas":5,
                "metrics":[{"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"1Gi"}}}]},
            "status":{"currentReplicas":1,"desiredReplicas":1,"conditions":[{"type":"AbleToScale","status":"True"}]}});
        let v1 = v2_to_v1(v2.clone());
        assert!(v1["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert_eq!(v1_to_v2(v1), v2);
    }
}
