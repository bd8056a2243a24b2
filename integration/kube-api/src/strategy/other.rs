//! Kinds of the remaining groups: RBAC (roles, bindings), policy
//! (PodDisruptionBudget), scheduling (PriorityClass), coordination (Lease),
//! discovery (EndpointSlice), events.k8s.io Events, networking
//! (NetworkPolicy, Ingress) and apiextensions (CRD names): their defaults,
//! validation and immutable fields.

use super::names;
use super::util::*;
use crate::Cause;
use serde_json::{json, Value};

const RBAC: &str = "rbac.authorization.k8s.io";

pub fn defaults(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        (RBAC, "RoleBinding" | "ClusterRoleBinding") => {
            each_mut(obj, "subjects", |sub| match s(sub, "kind") {
                "User" | "Group" => set_default_str(sub, "apiGroup", RBAC),
                // Go's `apiGroup,omitempty`: the "" default of a
                // ServiceAccount subject is not serialized.
                "ServiceAccount" if s(sub, "apiGroup").is_empty() => {
                    if let Some(m) = sub.as_object_mut() {
                        m.remove("apiGroup");
                    }
                }
                _ => {}
            })
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            set_default_str(obj, "preemptionPolicy", "PreemptLowerPriority")
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            each_mut(obj, "ports", |p| set_default(p, "protocol", json!("TCP")))
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            let Some(spec) = ensure_obj(obj, "spec") else {
                return;
            };
            for dir in ["ingress", "egress"] {
                each_mut(spec, dir, |rule| {
                    each_mut(rule, "ports", |p| set_default(p, "protocol", json!("TCP")))
                });
            }
            if arr(spec, "policyTypes").is_empty() {
                let mut types = vec![json!("Ingress")];
                if get(spec, "egress").is_some() {
                    types.push(json!("Egress"));
                }
                put(spec, "policyTypes", Value::Array(types));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                if let Some(conv) = ensure_obj(spec, "conversion") {
                    set_default_str(conv, "strategy", "None");
                }
                if let Some(n) = ensure_obj(spec, "names") {
                    let kind = s(n, "kind").to_string();
                    if !kind.is_empty() {
                        set_default_str(n, "listKind", &format!("{kind}List"));
                    }
                    if s(n, "singular").is_empty() && !kind.is_empty() {
                        put(n, "singular", json!(kind.to_lowercase()));
                    }
                }
            }
        }
        _ => {}
    }
}

pub fn validate(group: &str, kind: &str, obj: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    match (group, kind) {
        (RBAC, "Role" | "ClusterRole") => {
            for (i, r) in arr(obj, "rules").iter().enumerate() {
                let p = format!("rules[{i}]");
                if arr(r, "verbs").is_empty() {
                    c.push(Cause::required(&format!("{p}.verbs")));
                }
                let urls = arr(r, "nonResourceURLs");
                let resources = arr(r, "resources");
                if !urls.is_empty() {
                    if kind == "Role" {
                        c.push(Cause::invalid(
                            &format!("{p}.nonResourceURLs"),
                            &json!(urls),
                            "namespaced rules cannot apply to non-resource URLs",
                        ));
                    }
                    if !resources.is_empty() || !arr(r, "apiGroups").is_empty() {
                        c.push(Cause::invalid(
                            &format!("{p}.nonResourceURLs"),
                            &json!(urls),
                            "rules cannot apply to both regular resources and non-resource URLs",
                        ));
                    }
                } else {
                    if arr(r, "apiGroups").is_empty() {
                        c.push(Cause::new(
                            "FieldValueRequired",
                            &format!("{p}.apiGroups"),
                            "Required value: resource rules must supply at least one api group",
                        ));
                    }
                    if resources.is_empty() {
                        c.push(Cause::new(
                            "FieldValueRequired",
                            &format!("{p}.resources"),
                            "Required value: resource rules must supply at least one resource",
                        ));
                    }
                }
            }
        }
        (RBAC, "RoleBinding" | "ClusterRoleBinding") => {
            let rr = obj.get("roleRef").unwrap_or(&null);
            if s(rr, "apiGroup") != RBAC {
                c.push(Cause::not_supported(
                    "roleRef.apiGroup",
                    &json!(s(rr, "apiGroup")),
                    &[RBAC],
                ));
            }
            let kinds: &[&str] = if kind == "RoleBinding" {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            check_enum(c, "roleRef.kind", s(rr, "kind"), kinds, false);
            let rn = s(rr, "name");
            if rn.is_empty() {
                c.push(Cause::required("roleRef.name"));
            } else {
                invalid_each(c, "roleRef.name", rn, names::path_segment_name(rn));
            }
            for (i, sub) in arr(obj, "subjects").iter().enumerate() {
                let p = format!("subjects[{i}]");
                let name = s(sub, "name");
                if name.is_empty() {
                    c.push(Cause::required(&format!("{p}.name")));
                }
                match s(sub, "kind") {
                    "ServiceAccount" => {
                        if !name.is_empty() {
                            invalid_each(
                                c,
                                &format!("{p}.name"),
                                name,
                                names::dns1123_subdomain(name),
                            );
                        }
                        if !s(sub, "apiGroup").is_empty() {
                            c.push(Cause::not_supported(
                                &format!("{p}.apiGroup"),
                                &json!(s(sub, "apiGroup")),
                                &[""],
                            ));
                        }
                        if kind == "ClusterRoleBinding" && s(sub, "namespace").is_empty() {
                            c.push(Cause::required(&format!("{p}.namespace")));
                        }
                    }
                    "User" | "Group" => {
                        if s(sub, "apiGroup") != RBAC {
                            c.push(Cause::not_supported(
                                &format!("{p}.apiGroup"),
                                &json!(s(sub, "apiGroup")),
                                &[RBAC],
                            ));
                        }
                    }
                    other => c.push(Cause::not_supported(
                        &format!("{p}.kind"),
                        &json!(other),
                        &["ServiceAccount", "User", "Group"],
                    )),
                }
            }
        }
        ("policy", "PodDisruptionBudget") => {
            let min = spec.get("minAvailable").filter(|v| !v.is_null());
            let max = spec.get("maxUnavailable").filter(|v| !v.is_null());
            if min.is_some() && max.is_some() {
                c.push(Cause::invalid(
                    "spec",
                    spec,
                    "minAvailable and maxUnavailable cannot be both set",
                ));
            }
            int_or_percent(c, min, "spec.minAvailable");
            int_or_percent(c, max, "spec.maxUnavailable");
            if let Some(sel) = get(spec, "selector") {
                validate_selector(c, sel, "spec.selector");
            }
            check_enum(
                c,
                "spec.unhealthyPodEvictionPolicy",
                s(spec, "unhealthyPodEvictionPolicy"),
                &["AlwaysAllow", "IfHealthyBudget"],
                false,
            );
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            let name = crate::meta::name(obj);
            let value = int(obj, "value").unwrap_or(0);
            let system = matches!(name, "system-node-critical" | "system-cluster-critical");
            if name.starts_with("system-") && !system {
                c.push(Cause::forbidden(
                    "metadata.name",
                    "priority class names with 'system-' prefix are reserved",
                ));
            }
            if !system && value > 1_000_000_000 {
                c.push(Cause::forbidden(
                    "value",
                    "maximum allowed value of a user defined priority is 1000000000",
                ));
            }
            check_enum(
                c,
                "preemptionPolicy",
                s(obj, "preemptionPolicy"),
                &["Never", "PreemptLowerPriority"],
                false,
            );
        }
        ("coordination.k8s.io", "Lease") => {
            positive(c, spec, "leaseDurationSeconds", "spec.leaseDurationSeconds");
            non_negative(c, spec, "leaseTransitions", "spec.leaseTransitions");
        }
        ("discovery.k8s.io", "EndpointSlice") => validate_slice(c, obj),
        ("events.k8s.io", "Event") => {
            for k in [
                "reportingController",
                "reportingInstance",
                "action",
                "reason",
            ] {
                if s(obj, k).is_empty() {
                    c.push(Cause::required(k));
                }
            }
            if get(obj, "eventTime").is_none() {
                c.push(Cause::required("eventTime"));
            }
            check_enum(c, "type", s(obj, "type"), &["Normal", "Warning"], true);
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            for (i, t) in arr(spec, "policyTypes").iter().enumerate() {
                check_enum(
                    c,
                    &format!("spec.policyTypes[{i}]"),
                    t.as_str().unwrap_or(""),
                    &["Egress", "Ingress"],
                    true,
                );
            }
            if let Some(sel) = get(spec, "podSelector") {
                validate_selector(c, sel, "spec.podSelector");
            }
        }
        ("networking.k8s.io", "Ingress") => {
            for (i, r) in arr(spec, "rules").iter().enumerate() {
                let paths = r.pointer("/http/paths").and_then(Value::as_array);
                for (j, p) in paths.into_iter().flatten().enumerate() {
                    check_enum(
                        c,
                        &format!("spec.rules[{i}].http.paths[{j}].pathType"),
                        s(p, "pathType"),
                        &["Exact", "ImplementationSpecific", "Prefix"],
                        true,
                    );
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let n = spec.get("names").unwrap_or(&null);
            let want = format!("{}.{}", s(n, "plural"), s(spec, "group"));
            let name = crate::meta::name(obj);
            if !name.is_empty() && name != want {
                c.push(Cause::invalid(
                    "metadata.name",
                    &json!(name),
                    "must be spec.names.plural+\".\"+spec.group",
                ));
            }
            check_enum(
                c,
                "spec.scope",
                s(spec, "scope"),
                &["Cluster", "Namespaced"],
                true,
            );
            let versions = arr(spec, "versions");
            if versions.is_empty() {
                c.push(Cause::required("spec.versions"));
            } else if versions.iter().filter(|v| flag(v, "storage")).count() != 1 {
                c.push(Cause::invalid(
                    "spec.versions",
                    &json!(versions.iter().map(|v| s(v, "name")).collect::<Vec<_>>()),
                    "must have exactly one version marked as storage version",
                ));
            }
        }
        _ => {}
    }
}

fn validate_slice(c: &mut Vec<Cause>, obj: &Value) {
    let at = s(obj, "addressType");
    check_enum(c, "addressType", at, &["FQDN", "IPv4", "IPv6"], true);
    for (i, e) in arr(obj, "endpoints").iter().enumerate() {
        let addrs = arr(e, "addresses");
        if addrs.is_empty() {
            c.push(Cause::required(&format!("endpoints[{i}].addresses")));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let ok = match at {
                "IPv4" => names::is_ipv4(a),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => names::dns1123_subdomain(a).is_empty(),
            };
            if !ok {
                c.push(Cause::invalid(
                    &format!("endpoints[{i}].addresses[{j}]"),
                    &json!(a),
                    "must be a valid IP address",
                ));
            }
        }
    }
    for (i, p) in arr(obj, "ports").iter().enumerate() {
        let name = s(p, "name");
        if !name.is_empty() {
            invalid_each(
                c,
                &format!("ports[{i}].name"),
                name,
                names::dns1123_label(name),
            );
        }
        if let Some(n) = int(p, "port") {
            if !(0..=65535).contains(&n) {
                c.push(Cause::invalid(
                    &format!("ports[{i}].port"),
                    &json!(n),
                    "must be between 0 and 65535, inclusive",
                ));
            }
        }
        check_enum(
            c,
            &format!("ports[{i}].protocol"),
            s(p, "protocol"),
            &["SCTP", "TCP", "UDP"],
            true,
        );
    }
}

pub fn validate_update(group: &str, kind: &str, old: &Value, new: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    match (group, kind) {
        (RBAC, "RoleBinding" | "ClusterRoleBinding")
            if old.get("roleRef") != new.get("roleRef") =>
        {
            c.push(Cause::invalid(
                "roleRef",
                new.get("roleRef").unwrap_or(&null),
                "cannot change roleRef",
            ));
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if old.get("value") != new.get("value") {
                c.push(Cause::forbidden(
                    "value",
                    "may not be changed in an update.",
                ));
            }
            if old.get("preemptionPolicy") != new.get("preemptionPolicy") {
                c.push(Cause::immutable(
                    "preemptionPolicy",
                    new.get("preemptionPolicy").unwrap_or(&null),
                ));
            }
        }
        ("discovery.k8s.io", "EndpointSlice")
            if old.get("addressType") != new.get("addressType") =>
        {
            c.push(Cause::immutable(
                "addressType",
                new.get("addressType").unwrap_or(&null),
            ));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            for k in ["group", "scope"] {
                let (o, n) = (
                    old.pointer(&format!("/spec/{k}")),
                    new.pointer(&format!("/spec/{k}")),
                );
                if o != n && k == "group" {
                    c.push(Cause::immutable(&format!("spec.{k}"), n.unwrap_or(&null)));
                }
            }
        }
        _ => {}
    }
}
