//! Subresources beyond status: `scale` (autoscaling/v1 Scale of
//! deployments, replicasets and statefulsets; writes change the parent's
//! spec.replicas under the parent's resourceVersion), `pods/binding` (the
//! scheduler's assignment: spec.nodeName + PodScheduled, refused when
//! already bound or deleting) and `pods/eviction` (a graceful delete;
//! PodDisruptionBudgets are not consulted yet).

use crate::query::{DeleteOptions, WriteOptions};
use crate::registry::{Registry, Written};
use kube_lite_api::patch::{self, PatchType};
use kube_lite_api::selector::LabelSelector;
use kube_lite_api::{meta, resources, status, ApiError, Cause, ResourceInfo};
use serde_json::{json, Value};

/// The Scale of a parent object.
pub fn scale_of(parent: &Value) -> Value {
    let selector = parent
        .pointer("/spec/selector")
        .map(|s| {
            LabelSelector::from_api(s)
                .map(|l| l.to_string())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let md = parent.get("metadata").cloned().unwrap_or(json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md.get("name"),
            "namespace": md.get("namespace"),
            "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion"),
            "creationTimestamp": md.get("creationTimestamp"),
        },
        "spec": {"replicas": parent.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": parent.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

fn replicas_of(scale: &Value, name: &str) -> Result<i64, ApiError> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(r) if r >= 0 && r <= i64::from(i32::MAX) => Ok(r),
            _ => Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![Cause::invalid(
                    "spec.replicas",
                    v,
                    "must be greater than or equal to 0",
                )],
            )),
        },
    }
}

impl Registry {
    pub async fn get_scale(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(&self.get(res, ns, name).await?))
    }

    /// PUT (`ptype` None, `body` a Scale) or PATCH of a Scale.
    pub async fn write_scale(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        ptype: Option<PatchType>,
        body: Value,
        w: &WriteOptions,
    ) -> Result<Value, ApiError> {
        if ptype.is_none() {
            if let Some(k) = body.get("kind").and_then(Value::as_str) {
                if k != "Scale" {
                    return Err(ApiError::bad_request(format!(
                        "the kind in the data ({k}) does not match the expected kind (Scale)"
                    )));
                }
            }
        }
        let precondition = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok());
        let written: Written = self
            .guaranteed_update(res, ns, name, None, w, precondition, |old| {
                let scale = scale_of(old);
                let new_scale = match ptype {
                    None => body.clone(),
                    Some(t) => patch::apply("Scale", t, &scale, &body)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                };
                let replicas = replicas_of(&new_scale, name)?;
                let mut new = old.clone();
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("replicas".into(), json!(replicas));
                }
                Ok(new)
            })
            .await?;
        Ok(scale_of(&written.object))
    }

    /// `POST pods/{name}/binding` (and the legacy `bindings`).
    pub async fn bind(
        &self,
        ns: &str,
        name: &str,
        body: Value,
        w: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let pods = resources::find("", "v1", "pods")
            .ok_or_else(|| ApiError::internal("pods are not served"))?;
        if body
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Binding")
        {
            return Err(ApiError::bad_request("the body must be a Binding"));
        }
        let target = body
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("", "Binding", name, vec![Cause::required("target.name")])
            })?
            .to_string();
        if let Some(k) = body.pointer("/target/kind").and_then(Value::as_str) {
            if !k.is_empty() && k != "Node" {
                return Err(ApiError::invalid(
                    "",
                    "Binding",
                    name,
                    vec![Cause::not_supported("target.kind", &json!(k), &["Node"])],
                ));
            }
        }
        let _ = w;
        self.raw_update(pods, Some(ns), name, |old| {
                if meta::is_deleting(old) {
                    return Err(ApiError::conflict("", "pods", name, &format!("pod {name} is being deleted, cannot be assigned to a host")));
                }
                if let Some(n) = old.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                    return Err(ApiError::conflict("", "pods", name, &format!("pod {name} is already assigned to node \"{n}\"")));
                }
                let mut new = old.clone();
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("nodeName".into(), json!(target));
                }
                let st = new.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})));
                if let Some(Value::Object(st)) = st {
                    let conds = st.entry("conditions").or_insert_with(|| json!([]));
                    if let Value::Array(a) = conds {
                        a.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                        a.push(json!({"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":meta::rfc3339(crate::registry::now_unix())}));
                    }
                }
                Ok(new)
            })
            .await?;
        Ok(status::success_status("", "pods", name, ""))
    }

    /// `POST pods/{name}/eviction`.
    pub async fn evict(&self, ns: &str, name: &str, body: Value) -> Result<Value, ApiError> {
        let pods = resources::find("", "v1", "pods")
            .ok_or_else(|| ApiError::internal("pods are not served"))?;
        let body = check_body_eviction(body, name)?;
        let d = DeleteOptions::parse(&crate::query::Query(vec![]), body.get("deleteOptions"))?;
        self.delete(pods, Some(ns), name, &d).await?;
        Ok(status::success_status("", "pods", name, ""))
    }
}

fn check_body_eviction(body: Value, name: &str) -> Result<Value, ApiError> {
    if let Some(k) = body.get("kind").and_then(Value::as_str) {
        if k != "Eviction" {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind (Eviction)"
            )));
        }
    }
    let bn = meta::name(&body);
    if !bn.is_empty() && bn != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    Ok(body)
}

impl Registry {
    /// `PUT namespaces/{name}/finalize`: sets spec.finalizers (the
    /// namespace controller removes `kubernetes` once the namespace is
    /// empty); a terminating namespace without finalizers is removed.
    pub async fn finalize_namespace(&self, name: &str, body: &Value) -> Result<Value, ApiError> {
        let nsres = resources::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
        let fins = body
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or(json!([]));
        if !fins.is_array() {
            return Err(ApiError::invalid(
                "",
                "Namespace",
                name,
                vec![Cause::invalid("spec.finalizers", &fins, "must be a list")],
            ));
        }
        let updated = self
            .raw_update(nsres, None, name, |old| {
                let mut new = old.clone();
                if let Some(Value::Object(sm)) = new
                    .as_object_mut()
                    .map(|m| m.entry("spec").or_insert_with(|| json!({})))
                {
                    sm.insert("finalizers".into(), fins.clone());
                }
                Ok(new)
            })
            .await?;
        let empty =
            fins.as_array().is_some_and(|a| a.is_empty()) && meta::finalizers(&updated).is_empty();
        if meta::is_deleting(&updated) && empty {
            let (gone, _) = self
                .delete(nsres, None, name, &DeleteOptions::default())
                .await?;
            return Ok(gone);
        }
        Ok(updated)
    }
}
