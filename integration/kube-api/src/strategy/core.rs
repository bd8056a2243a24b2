//! Core-group (`v1`) kinds: pods (via `pod`), services, nodes, namespaces,
//! configmaps, secrets, serviceaccounts, endpoints, events, pod templates,
//! replication controllers and volumes: defaults, create/update
//! preparation, validation and immutable fields, as upstream's
//! `pkg/apis/core/v1/defaults.go`, `pkg/apis/core/validation` and
//! `pkg/registry/core/*/strategy.go`.

use super::names;
use super::pod;
use super::util::*;
use crate::Cause;
use base64::Engine;
use serde_json::{json, Value};

pub fn defaults(kind: &str, obj: &mut Value, create: bool) {
    match kind {
        "Pod" => pod::default_pod(obj, create),
        "Service" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                default_service(spec);
            }
        }
        "Node" => default_node(obj),
        "Namespace" => {
            let name = crate::meta::name(obj).to_string();
            if !name.is_empty() {
                let md = crate::meta::metadata_mut(obj);
                let labels = md.entry("labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                put(labels, "kubernetes.io/metadata.name", json!(name));
            }
        }
        "Secret" => default_secret(obj),
        "Endpoints" => each_mut(obj, "subsets", |ss| {
            each_mut(ss, "ports", |p| set_default(p, "protocol", json!("TCP")))
        }),
        "PodTemplate" => {
            if let Some(t) = ensure_obj(obj, "template") {
                pod::default_template(t);
            }
        }
        "ReplicationController" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "minReadySeconds", json!(0));
                if let Some(t) = ensure_obj(spec, "template") {
                    pod::default_template(t);
                }
                if obj_is_empty(spec.get("selector")) {
                    if let Some(l) = spec.pointer("/template/metadata/labels").cloned() {
                        put(spec, "selector", l);
                    }
                }
            }
        }
        "PersistentVolume" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(spec) = ensure_obj(obj, "spec") {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        _ => {}
    }
}

fn obj_is_empty(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).is_none_or(|m| m.is_empty())
}

fn default_service(spec: &mut Value) {
    set_default_str(spec, "type", "ClusterIP");
    set_default_str(spec, "sessionAffinity", "None");
    if s(spec, "sessionAffinity") == "ClientIP" {
        if let Some(cfg) = ensure_obj(spec, "sessionAffinityConfig") {
            if let Some(ip) = ensure_obj(cfg, "clientIP") {
                set_default(ip, "timeoutSeconds", json!(10800));
            }
        }
    }
    each_mut(spec, "ports", |p| {
        set_default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(st)) => st.is_empty(),
            _ => false,
        };
        if unset {
            if let Some(port) = get(p, "port").cloned() {
                put(p, "targetPort", port);
            }
        }
    });
    let ty = s(spec, "type").to_string();
    if ty == "ExternalName" {
        return;
    }
    let ip = s(spec, "clusterIP").to_string();
    let ips = arr(spec, "clusterIPs").to_vec();
    if ips.is_empty() && !ip.is_empty() {
        put(spec, "clusterIPs", json!([ip]));
    } else if ip.is_empty() {
        if let Some(first) = ips.first().and_then(Value::as_str) {
            put(spec, "clusterIP", json!(first));
        }
    }
    set_default_str(spec, "internalTrafficPolicy", "Cluster");
    if arr(spec, "ipFamilies").is_empty() {
        let ips = arr(spec, "clusterIPs").to_vec();
        let fams: Vec<Value> = ips
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| json!(if ip.is_ipv6() { "IPv6" } else { "IPv4" }))
            .collect();
        let fams = if fams.is_empty() {
            vec![json!("IPv4")]
        } else {
            fams
        };
        let dual = fams.len() > 1;
        put(spec, "ipFamilies", Value::Array(fams));
        if dual {
            set_default_str(spec, "ipFamilyPolicy", "RequireDualStack");
        }
    }
    set_default_str(spec, "ipFamilyPolicy", "SingleStack");
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

fn default_node(obj: &mut Value) {
    if let Some(spec) = child_mut(obj, "spec") {
        let cidr = s(spec, "podCIDR").to_string();
        if !cidr.is_empty() && arr(spec, "podCIDRs").is_empty() {
            put(spec, "podCIDRs", json!([cidr]));
        }
    }
    if let Some(status) = child_mut(obj, "status") {
        if let Some(cap) = get(status, "capacity").cloned() {
            set_default(status, "allocatable", cap);
        }
    }
}

fn default_secret(obj: &mut Value) {
    set_default_str(obj, "type", "Opaque");
    // stringData is write-only: it is merged into data (and wins).
    if let Some(Value::Object(sd)) = remove(obj, "stringData") {
        if sd.is_empty() {
            return;
        }
        set_default(obj, "data", json!({}));
        if let Some(Value::Object(data)) = obj.get_mut("data") {
            for (k, v) in sd {
                let enc = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or("").as_bytes());
                data.insert(k, json!(enc));
            }
        }
    }
}

pub fn prepare_create(kind: &str, obj: &mut Value) {
    if kind == "Namespace" {
        put(obj, "status", json!({"phase": "Active"}));
        if let Some(spec) = ensure_obj(obj, "spec") {
            let mut fins = arr(spec, "finalizers").to_vec();
            if !fins.contains(&json!("kubernetes")) {
                fins.push(json!("kubernetes"));
            }
            put(spec, "finalizers", Value::Array(fins));
        }
    }
    if kind == "PersistentVolume" || kind == "PersistentVolumeClaim" {
        put(obj, "status", json!({"phase": "Pending"}));
    }
}

/// Update preparation beyond the generic status/spec split: namespaces keep
/// spec.finalizers and status on main updates; services keep allocated
/// cluster IPs and node ports when the update leaves them empty (as
/// upstream's `patchAllocatedValues`, which `kubectl replace` relies on).
pub fn prepare_update(kind: &str, status: bool, old: &Value, new: &mut Value) {
    match kind {
        "Namespace" => {
            if status {
                return;
            }
            match old.get("status") {
                Some(st) => put(new, "status", st.clone()),
                None => {
                    remove(new, "status");
                }
            }
            let fins = old.pointer("/spec/finalizers").cloned();
            if let Some(spec) = ensure_obj(new, "spec") {
                match fins {
                    Some(f) => put(spec, "finalizers", f),
                    None => {
                        remove(spec, "finalizers");
                    }
                }
            }
        }
        "Service" if !status => {
            let Some(os) = old.get("spec") else { return };
            let Some(ns) = child_mut(new, "spec") else {
                return;
            };
            if s(ns, "type") == "ExternalName" || s(os, "type") == "ExternalName" {
                return;
            }
            if s(ns, "clusterIP").is_empty() {
                for k in ["clusterIP", "clusterIPs"] {
                    if let Some(v) = os.get(k) {
                        put(ns, k, v.clone());
                    }
                }
            }
            if get(ns, "healthCheckNodePort").is_none() {
                if let Some(v) = get(os, "healthCheckNodePort") {
                    put(ns, "healthCheckNodePort", v.clone());
                }
            }
            let ty = s(ns, "type");
            if ty == "NodePort" || ty == "LoadBalancer" {
                let olds = arr(os, "ports").to_vec();
                each_mut(ns, "ports", |p| {
                    if int(p, "nodePort").unwrap_or(0) != 0 {
                        return;
                    }
                    let same = olds.iter().find(|o| {
                        o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol")
                    });
                    if let Some(np) = same.and_then(|o| get(o, "nodePort")) {
                        put(p, "nodePort", np.clone());
                    }
                });
            }
        }
        _ => {}
    }
}

pub fn validate(kind: &str, obj: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    match kind {
        "Pod" => pod::validate_spec(c, spec, "spec"),
        "Service" => validate_service(c, spec),
        "Node" => validate_node(c, spec),
        "Namespace" => {
            for (i, f) in arr(spec, "finalizers").iter().enumerate() {
                let f = f.as_str().unwrap_or("");
                invalid_each(
                    c,
                    &format!("spec.finalizers[{i}]"),
                    f,
                    names::qualified_name(f),
                );
            }
        }
        "ConfigMap" => validate_data(c, obj, false),
        "Secret" => {
            validate_data(c, obj, true);
            validate_secret_type(c, obj);
        }
        "Endpoints" => validate_endpoints(c, obj),
        "Event" => {
            let ns = crate::meta::namespace(obj).unwrap_or("");
            let io = s(obj.get("involvedObject").unwrap_or(&null), "namespace");
            if !io.is_empty() && io != ns {
                c.push(Cause::invalid(
                    "involvedObject.namespace",
                    &json!(io),
                    "does not match event.namespace",
                ));
            }
        }
        "PodTemplate" => {
            pod::validate_template(c, obj.get("template").unwrap_or(&null), "template")
        }
        "ReplicationController" => {
            non_negative(c, spec, "replicas", "spec.replicas");
            let sel = obj_of(spec, "selector");
            if sel.is_none_or(|m| m.is_empty()) {
                c.push(Cause::required("spec.selector"));
            }
            validate_labels(c, sel, "spec.selector");
            let tpl = spec.get("template").unwrap_or(&null);
            let labels = tpl.pointer("/metadata/labels").and_then(Value::as_object);
            if let Some(sel) = sel.filter(|m| !m.is_empty()) {
                if !sel
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
                {
                    c.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        &json!(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            pod::validate_template(c, tpl, "spec.template");
        }
        "PersistentVolumeClaim" if arr(spec, "accessModes").is_empty() => {
            c.push(Cause::required("spec.accessModes"));
        }
        _ => {}
    }
}

fn obj_of<'a>(v: &'a Value, k: &str) -> Option<&'a serde_json::Map<String, Value>> {
    obj(v, k)
}

fn validate_service(c: &mut Vec<Cause>, spec: &Value) {
    let ty = s(spec, "type");
    check_enum(
        c,
        "spec.type",
        ty,
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        true,
    );
    check_enum(
        c,
        "spec.sessionAffinity",
        s(spec, "sessionAffinity"),
        &["ClientIP", "None"],
        true,
    );
    let ip = s(spec, "clusterIP");
    let headless = ip == "None";
    let ports = arr(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        c.push(Cause::required("spec.ports"));
    }
    let mut seen_names = std::collections::HashSet::new();
    let mut seen_ports = std::collections::HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = s(p, "name");
        if name.is_empty() {
            if ports.len() > 1 {
                c.push(Cause::required(&format!("{pp}.name")));
            }
        } else {
            invalid_each(c, &format!("{pp}.name"), name, names::dns1123_label(name));
            if !seen_names.insert(name) {
                c.push(Cause::duplicate(&format!("{pp}.name"), &json!(name)));
            }
        }
        let port = int(p, "port").unwrap_or(0);
        if !(1..=65535).contains(&port) {
            c.push(Cause::invalid(
                &format!("{pp}.port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let proto = s(p, "protocol");
        check_enum(
            c,
            &format!("{pp}.protocol"),
            proto,
            &["SCTP", "TCP", "UDP"],
            true,
        );
        if !seen_ports.insert((port, proto)) {
            c.push(Cause::duplicate(
                &pp,
                &json!({"port": port, "protocol": proto}),
            ));
        }
        match p.get("targetPort") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(0);
                if !(1..=65535).contains(&n) {
                    c.push(Cause::invalid(
                        &format!("{pp}.targetPort"),
                        &json!(n),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            Some(Value::String(t)) => {
                invalid_each(c, &format!("{pp}.targetPort"), t, names::port_name(t))
            }
            _ => {}
        }
        let np = int(p, "nodePort").unwrap_or(0);
        if np != 0 {
            if ty == "ClusterIP" || ty == "ExternalName" {
                c.push(Cause::forbidden(
                    &format!("{pp}.nodePort"),
                    &format!("may not be used when `type` is '{ty}'"),
                ));
            } else if !(1..=65535).contains(&np) {
                c.push(Cause::invalid(
                    &format!("{pp}.nodePort"),
                    &json!(np),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
    if ty == "ExternalName" {
        let en = s(spec, "externalName");
        if en.is_empty() {
            c.push(Cause::required("spec.externalName"));
        } else {
            let en = en.strip_suffix('.').unwrap_or(en);
            invalid_each(c, "spec.externalName", en, names::dns1123_subdomain(en));
        }
        if !ip.is_empty() {
            c.push(Cause::forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            ));
        }
    } else {
        let ips = arr(spec, "clusterIPs");
        for (i, v) in ips.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            if v == "None" {
                if i > 0 || ips.len() > 1 {
                    c.push(Cause::invalid(
                        "spec.clusterIPs",
                        &json!(ips),
                        "'None' must be the first and only value",
                    ));
                }
            } else if let Ok(addr) = v.parse::<std::net::IpAddr>() {
                let fam = arr(spec, "ipFamilies")
                    .get(i)
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let want = if addr.is_ipv6() { "IPv6" } else { "IPv4" };
                if !fam.is_empty() && fam != want {
                    c.push(Cause::invalid(
                        &format!("spec.clusterIPs[{i}]"),
                        &json!(v),
                        &format!("expected an {fam} value as indicated by `ipFamilies[{i}]`"),
                    ));
                }
            } else {
                c.push(Cause::invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    &json!(v),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
        if let Some(first) = ips.first().and_then(Value::as_str) {
            if first != ip {
                c.push(Cause::invalid(
                    "spec.clusterIPs",
                    &json!(ips),
                    "first value must match `spec.clusterIP`",
                ));
            }
        }
        if headless && (ty == "NodePort" || ty == "LoadBalancer") {
            c.push(Cause::invalid(
                "spec.clusterIPs[0]",
                &json!("None"),
                &format!("may not be set to 'None' for {ty} services"),
            ));
        }
        for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
            check_enum(
                c,
                &format!("spec.ipFamilies[{i}]"),
                f.as_str().unwrap_or(""),
                &["IPv4", "IPv6"],
                true,
            );
        }
        check_enum(
            c,
            "spec.ipFamilyPolicy",
            s(spec, "ipFamilyPolicy"),
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
            false,
        );
        check_enum(
            c,
            "spec.internalTrafficPolicy",
            s(spec, "internalTrafficPolicy"),
            &["Cluster", "Local"],
            false,
        );
    }
    let etp = s(spec, "externalTrafficPolicy");
    if !etp.is_empty() {
        if ty != "NodePort" && ty != "LoadBalancer" {
            c.push(Cause::invalid(
                "spec.externalTrafficPolicy",
                &json!(etp),
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ));
        } else {
            check_enum(
                c,
                "spec.externalTrafficPolicy",
                etp,
                &["Cluster", "Local"],
                false,
            );
        }
    }
    validate_labels(c, obj(spec, "selector"), "spec.selector");
    for (i, e) in arr(spec, "externalIPs").iter().enumerate() {
        let e = e.as_str().unwrap_or("");
        if !names::is_ip(e) {
            c.push(Cause::invalid(
                &format!("spec.externalIPs[{i}]"),
                &json!(e),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
}

fn valid_cidr(s: &str) -> bool {
    s.parse::<ipnet::IpNet>().is_ok()
}

fn validate_node(c: &mut Vec<Cause>, spec: &Value) {
    let cidr = s(spec, "podCIDR");
    if !cidr.is_empty() && !valid_cidr(cidr) {
        c.push(Cause::invalid(
            "spec.podCIDR",
            &json!(cidr),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
    }
    let cidrs = arr(spec, "podCIDRs");
    for (i, v) in cidrs.iter().enumerate() {
        let v = v.as_str().unwrap_or("");
        if !valid_cidr(v) {
            c.push(Cause::invalid(
                &format!("spec.podCIDRs[{i}]"),
                &json!(v),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if cidrs.len() > 2 {
        c.push(Cause::invalid(
            "spec.podCIDRs",
            &json!(cidrs),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    if let Some(first) = cidrs.first().and_then(Value::as_str) {
        if !cidr.is_empty() && first != cidr {
            c.push(Cause::invalid(
                "spec.podCIDRs",
                &json!(cidrs),
                "first value must match `spec.podCIDR`",
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in arr(spec, "taints").iter().enumerate() {
        let p = format!("spec.taints[{i}]");
        let key = s(t, "key");
        if key.is_empty() {
            c.push(Cause::required(&format!("{p}.key")));
        } else {
            invalid_each(c, &format!("{p}.key"), key, names::qualified_name(key));
        }
        let v = s(t, "value");
        invalid_each(c, &format!("{p}.value"), v, names::label_value(v));
        let effect = s(t, "effect");
        check_enum(
            c,
            &format!("{p}.effect"),
            effect,
            &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            true,
        );
        if !seen.insert((key, effect)) {
            c.push(Cause::duplicate(&p, &json!(format!("{key}:{effect}"))));
        }
    }
}

fn validate_data(c: &mut Vec<Cause>, o: &Value, secret: bool) {
    let mut total = 0usize;
    let bin = obj(o, "binaryData");
    for (k, v) in obj(o, "data").into_iter().flatten() {
        invalid_each(c, &format!("data[{k}]"), k, names::config_key(k));
        total += v.as_str().map_or(0, str::len);
        if bin.is_some_and(|b| b.contains_key(k)) {
            c.push(Cause::invalid(
                &format!("data[{k}]"),
                &json!(k),
                "duplicate of key present in binaryData",
            ));
        }
    }
    for (k, v) in bin.into_iter().flatten() {
        invalid_each(c, &format!("binaryData[{k}]"), k, names::config_key(k));
        total += v.as_str().map_or(0, str::len);
    }
    let max = 1024 * 1024;
    // Secret data is base64 on the wire; upstream limits the decoded bytes.
    let total = if secret { total / 4 * 3 } else { total };
    if total > max {
        let field = if secret { "data" } else { "" };
        c.push(Cause::new(
            "FieldValueTooLong",
            field,
            format!("Too long: must have at most {max} bytes"),
        ));
    }
}

fn validate_secret_type(c: &mut Vec<Cause>, o: &Value) {
    let data = obj(o, "data");
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let need = |c: &mut Vec<Cause>, k: &str| {
        if !has(k) {
            c.push(Cause::required(&format!("data[{k}]")));
        }
    };
    match s(o, "type") {
        "kubernetes.io/service-account-token" => {
            let ann = crate::meta::annotations(o);
            if ann
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                c.push(Cause::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                ));
            }
        }
        "kubernetes.io/dockercfg" => need(c, ".dockercfg"),
        "kubernetes.io/dockerconfigjson" => need(c, ".dockerconfigjson"),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            c.push(Cause::required("data[username]"));
            c.push(Cause::required("data[password]"));
        }
        "kubernetes.io/ssh-auth" => need(c, "ssh-privatekey"),
        "kubernetes.io/tls" => {
            need(c, "tls.crt");
            need(c, "tls.key");
        }
        _ => {}
    }
}

fn validate_endpoints(c: &mut Vec<Cause>, obj: &Value) {
    for (i, ss) in arr(obj, "subsets").iter().enumerate() {
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(ss, list).iter().enumerate() {
                let ip = s(a, "ip");
                if !names::is_ip(ip) {
                    c.push(Cause::invalid(
                        &format!("subsets[{i}].{list}[{j}].ip"),
                        &json!(ip),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        let ports = arr(ss, "ports");
        for (j, p) in ports.iter().enumerate() {
            let pp = format!("subsets[{i}].ports[{j}]");
            let name = s(p, "name");
            if !name.is_empty() {
                invalid_each(c, &format!("{pp}.name"), name, names::dns1123_label(name));
            } else if ports.len() > 1 {
                c.push(Cause::required(&format!("{pp}.name")));
            }
            let port = int(p, "port").unwrap_or(0);
            if !(1..=65535).contains(&port) {
                c.push(Cause::invalid(
                    &format!("{pp}.port"),
                    &json!(port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            check_enum(
                c,
                &format!("{pp}.protocol"),
                s(p, "protocol"),
                &["SCTP", "TCP", "UDP"],
                true,
            );
        }
    }
}

pub fn validate_update(kind: &str, old: &Value, new: &Value, c: &mut Vec<Cause>) {
    let null = Value::Null;
    let os = old.get("spec").unwrap_or(&null);
    let ns = new.get("spec").unwrap_or(&null);
    match kind {
        "Pod" => pod::validate_update(c, old, new),
        "Service" => {
            let (ot, nt) = (s(os, "type"), s(ns, "type"));
            if ot != "ExternalName" && nt != "ExternalName" {
                if s(os, "clusterIP") != s(ns, "clusterIP")
                    || os.get("clusterIPs").is_some_and(|o| {
                        let n = arr(ns, "clusterIPs");
                        o.as_array().and_then(|a| a.first()) != n.first()
                    })
                {
                    c.push(Cause::invalid(
                        "spec.clusterIPs[0]",
                        &json!(s(ns, "clusterIP")),
                        "may not change once set",
                    ));
                }
                if os.get("ipFamilies").is_some() {
                    let of = arr(os, "ipFamilies");
                    let nf = arr(ns, "ipFamilies");
                    if of.first() != nf.first() {
                        c.push(Cause::invalid(
                            "spec.ipFamilies[0]",
                            &json!(nf.first()),
                            "may not change once set",
                        ));
                    }
                }
            }
        }
        "Node" => {
            let (o, n) = (s(os, "podCIDR"), s(ns, "podCIDR"));
            if !o.is_empty() && o != n {
                c.push(Cause::forbidden(
                    "spec.podCIDR",
                    "node updates may not change podCIDR except from \"\" to valid",
                ));
            }
            let (o, n) = (arr(os, "podCIDRs"), arr(ns, "podCIDRs"));
            if !o.is_empty() && o != n {
                c.push(Cause::forbidden(
                    "spec.podCIDRs",
                    "node updates may not change podCIDR except from \"\" to valid",
                ));
            }
            let (o, n) = (s(os, "providerID"), s(ns, "providerID"));
            if !o.is_empty() && o != n {
                c.push(Cause::forbidden(
                    "spec.providerID",
                    "node updates may not change providerID except from \"\" to valid",
                ));
            }
        }
        "ConfigMap" | "Secret" => {
            if flag(old, "immutable") {
                if !flag(new, "immutable") {
                    c.push(Cause::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if old.get("data") != new.get("data") {
                    c.push(Cause::forbidden(
                        "data",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if old.get("binaryData") != new.get("binaryData") {
                    c.push(Cause::forbidden(
                        "binaryData",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
            if kind == "Secret" && s(old, "type") != s(new, "type") {
                c.push(Cause::immutable("type", &json!(s(new, "type"))));
            }
        }
        "ReplicationController" => {}
        "PersistentVolumeClaim" => {
            let strip = |v: &Value| {
                let mut v = v.clone();
                remove(&mut v, "resources");
                remove(&mut v, "volumeAttributesClassName");
                if s(os, "volumeName").is_empty() {
                    remove(&mut v, "volumeName");
                }
                v
            };
            if strip(os) != strip(ns) {
                c.push(Cause::forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
            }
        }
        _ => {}
    }
}
