//! The generic REST registry (upstream's `genericregistry.Store`): get, list,
//! create, update, patch, delete and deletecollection of any kind of the
//! resource table over [`Store`], with the system metadata the server owns
//! (uid, creationTimestamp, resourceVersion = ModRevision, generateName,
//! deletionTimestamp, finalizers, propagationPolicy), compare-and-swap
//! updates, and the per-kind rules delegated to `kube_lite_api::strategy`.
//! Subresources scale, binding and eviction live in [`crate::subresources`].

use crate::auth::UserInfo;
use crate::query::{DeleteOptions, ListOptions, RvMatch, WriteOptions};
use crate::services::Services;
use crate::storage::{Kv, ListOpts, StorageError, Store};
use base64::Engine;
use kube_lite_api::patch::{self, PatchType};
use kube_lite_api::strategy::{self, Prepared};
use kube_lite_api::{meta, status, ApiError, ResourceInfo, Subresource};
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// How often a write retries after losing a compare-and-swap race.
const MAX_RETRIES: usize = 16;

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    /// A create (201) rather than an update (200).
    pub created: bool,
    pub warnings: Vec<String>,
}

/// The registry over etcd.
pub struct Registry {
    pub store: Store,
    pub prefix: String,
    pub services: Services,
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Maps a storage failure of an operation on `name` to its Status.
pub fn storage_error(res: &ResourceInfo, name: &str, e: StorageError) -> ApiError {
    match e {
        StorageError::Exists => ApiError::already_exists(res.group, res.plural, name),
        StorageError::NotFound => ApiError::not_found(res.group, res.plural, name),
        StorageError::Conflict(_) => ApiError::stale(res.group, res.plural, name),
        StorageError::Compacted { .. } => {
            ApiError::expired("The resourceVersion for the provided list is too old.")
        }
        StorageError::FutureRevision { requested, current } => {
            ApiError::too_large_resource_version(requested, current)
        }
        StorageError::Unavailable(m) => ApiError::unavailable(format!("etcd is unavailable: {m}")),
        StorageError::Timeout(d) => {
            ApiError::timeout(format!("etcd did not answer within {}s", d.as_secs()), 1)
        }
        StorageError::Corrupt { key, err } => {
            ApiError::internal(format!("stored object {key} cannot be decoded: {err}"))
        }
    }
}

/// A continue token as upstream encodes it: base64url(JSON{v, rv, start}).
pub fn encode_continue(rv: i64, start: &str) -> String {
    let j = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j.to_string())
}

/// Decodes a continue token to (revision, start key relative to the prefix).
pub fn decode_continue(token: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid continue token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let j: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if j.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = j.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = j.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rv, start.to_string()))
}

/// A random 5-character suffix from upstream's alphabet (no vowels).
fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn rv_of(obj: &Value) -> Option<i64> {
    meta::resource_version(obj).and_then(|s| s.parse().ok())
}

impl Registry {
    pub fn new(store: Store, prefix: &str, services: Services) -> Registry {
        Registry {
            store,
            prefix: prefix.to_string(),
            services,
        }
    }

    pub fn key(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> String {
        res.key(&self.prefix, ns, name)
    }

    /// The object as served: converted from the storage version, with
    /// apiVersion/kind and resourceVersion = the key's ModRevision.
    pub fn decorate(&self, res: &ResourceInfo, mut value: Value, rev: i64) -> Value {
        if res.storage_version != res.version {
            value = strategy::from_storage(res, value);
        }
        if let Value::Object(m) = &mut value {
            m.insert("apiVersion".into(), json!(res.api_version()));
            m.insert("kind".into(), json!(res.kind));
        }
        meta::set(&mut value, "resourceVersion", json!(rev.to_string()));
        value
    }

    /// What is written to etcd: the storage version, without resourceVersion.
    fn for_storage(&self, res: &ResourceInfo, mut obj: Value) -> Result<Value, ApiError> {
        meta::set(&mut obj, "resourceVersion", Value::Null);
        meta::set(&mut obj, "selfLink", Value::Null);
        // Go's omitempty: empty label/annotation maps are not stored.
        for k in ["labels", "annotations"] {
            if obj
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| m.is_empty())
            {
                meta::set(&mut obj, k, Value::Null);
            }
        }
        if res.storage_version != res.version {
            obj = strategy::to_storage(res, obj)?;
        }
        Ok(obj)
    }

    async fn read(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<Kv, ApiError> {
        let key = self.key(res, ns, name);
        match self.store.get(&key).await {
            Ok(Some(kv)) => Ok(kv),
            Ok(None) => Err(ApiError::not_found(res.group, res.plural, name)),
            Err(e) => Err(storage_error(res, name, e)),
        }
    }

    /// GET of one object.
    pub async fn get(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let kv = self.read(res, ns, name).await?;
        Ok(self.decorate(res, kv.value, kv.mod_revision))
    }

    /// A list: the matching items and the list's `metadata`
    /// (resourceVersion, continue, remainingItemCount).
    pub async fn list(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<(Vec<Value>, Value), ApiError> {
        opts.field
            .check_supported(res)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let prefix = match ns {
            Some(n) if res.namespaced => res.namespace_prefix(&self.prefix, n),
            _ => res.key_prefix(&self.prefix),
        };
        let mut revision: Option<i64> = None;
        let mut start: Option<String> = None;
        if let Some(tok) = &opts.continue_token {
            let (rv, rel) = decode_continue(tok)?;
            revision = Some(rv);
            start = Some(format!("{prefix}{rel}"));
        }
        let requested: Option<i64> = match opts.resource_version.as_str() {
            "" | "0" => None,
            v => v.parse().ok(),
        };
        let exact = match (requested, opts.rv_match) {
            (Some(_), Some(RvMatch::Exact)) => true,
            // legacy: an RV with a limit and no match means Exact.
            (Some(_), None) => opts.limit.is_some(),
            _ => false,
        };
        if exact {
            revision = requested;
        }
        let filtering = !opts.label.is_empty() || !opts.field.is_empty();
        let limit = opts.limit;
        let mut items = Vec::new();
        let mut list_rev;
        let mut next_start: Option<String> = None;
        let mut remaining: Option<i64> = None;
        loop {
            let page = self
                .store
                .list(
                    &prefix,
                    &ListOpts {
                        revision,
                        limit: limit.map(|l| l.max(1)),
                        start: start.clone(),
                    },
                )
                .await
                .map_err(|e| match e {
                    StorageError::Compacted { .. } if opts.continue_token.is_some() => ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ),
                    e => storage_error(res, "", e),
                })?;
            list_rev = page.revision;
            revision = Some(page.revision);
            let last_key = page.items.last().map(|kv| kv.key.clone());
            for kv in page.items {
                // Nested resources sharing a prefix (services/specs vs
                // services/endpoints) are kept apart by the segment; keys of
                // a namespace prefix never contain a deeper '/'.
                let rel = &kv.key[prefix.len().min(kv.key.len())..];
                if ns.is_none() && res.namespaced && rel.matches('/').count() != 1 {
                    continue;
                }
                if (ns.is_some() || !res.namespaced) && rel.contains('/') {
                    continue;
                }
                let obj = self.decorate(res, kv.value, kv.mod_revision);
                if filtering
                    && !(opts.label.matches(meta::labels(&obj)) && opts.field.matches(res, &obj))
                {
                    continue;
                }
                items.push(obj);
            }
            match (page.more, last_key) {
                (true, Some(k)) => {
                    let after = format!("{k}\u{0}");
                    if limit.is_some_and(|l| items.len() as i64 >= l) {
                        next_start = Some(after);
                        if !filtering {
                            remaining = Some(page.remaining);
                        }
                        break;
                    }
                    start = Some(after);
                }
                _ => break,
            }
        }
        if let Some(r) = requested {
            if !exact && r > list_rev {
                return Err(ApiError::too_large_resource_version(r, list_rev));
            }
        }
        let mut md = Map::new();
        md.insert("resourceVersion".into(), json!(list_rev.to_string()));
        if let Some(ns_key) = next_start {
            let rel = ns_key[prefix.len().min(ns_key.len())..].to_string();
            md.insert("continue".into(), json!(encode_continue(list_rev, &rel)));
            if let Some(r) = remaining {
                md.insert("remainingItemCount".into(), json!(r));
            }
        }
        Ok((items, Value::Object(md)))
    }

    /// The namespace must exist and not be terminating (NamespaceLifecycle).
    async fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        let nsres = kube_lite_api::resources::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
        let kv = self.read(nsres, None, ns).await?;
        if meta::is_deleting(&kv.value) {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// POST: create an object.
    pub async fn create(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        body: Value,
        w: &WriteOptions,
        user: &UserInfo,
    ) -> Result<Written, ApiError> {
        let _ = user;
        let mut obj = check_body(res, ns, None, body)?;
        if res.namespaced {
            if let Some(n) = ns {
                self.check_namespace(n).await?;
            }
        }
        if meta::name(&obj).is_empty() {
            if let Some(g) = meta::generate_name(&obj).map(str::to_string) {
                meta::set(&mut obj, "name", json!(format!("{g}{}", name_suffix())));
            }
        }
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta::set(&mut obj, k, Value::Null);
        }
        meta::set(&mut obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
        meta::set(
            &mut obj,
            "creationTimestamp",
            json!(meta::rfc3339(now_unix())),
        );
        let Prepared { object, warnings } =
            strategy::prepare_create(res, ns, obj, w.field_validation)?;
        self.create_prepared(res, ns, object, warnings, w.dry_run)
            .await
    }

    /// Stores a prepared new object (allocating Service addresses).
    async fn create_prepared(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        mut object: Value,
        warnings: Vec<String>,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        let name = meta::name(&object).to_string();
        let is_service = res.group.is_empty() && res.kind == "Service";
        let mut allocated = None;
        if is_service {
            allocated = Some(self.services.allocate(&mut object, None, dry_run).await?);
        }
        if dry_run {
            return Ok(Written {
                object: self.decorate(res, object, 0),
                created: true,
                warnings,
            });
        }
        let stored = self.for_storage(res, object.clone())?;
        let key = self.key(res, ns, &name);
        match self.store.create(&key, &stored).await {
            Ok(rev) => Ok(Written {
                object: self.decorate(res, stored, rev),
                created: true,
                warnings,
            }),
            Err(e) => {
                if let Some(a) = allocated {
                    self.services.release(&a).await;
                }
                Err(storage_error(res, &name, e))
            }
        }
    }

    /// PUT of the object or its status.
    pub async fn update(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        body: Value,
        w: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let new = check_body(res, ns, Some(name), body)?;
        let precondition = rv_of(&new);
        // A resourceVersion that is not a number is no precondition to drop: refuse it (upstream
        // fails the update on the versioner's parse error too).
        if let (None, Some(bad)) = (precondition, meta::resource_version(&new)) {
            if !bad.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "metadata.resourceVersion {bad:?} is invalid: not a number"
                )));
            }
        }
        self.guaranteed_update(res, ns, name, sub, w, precondition, |_old| Ok(new.clone()))
            .await
    }

    /// PATCH of the object or its status; `apply` patches create when absent.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        ptype: PatchType,
        body: Value,
        w: &WriteOptions,
        user: &UserInfo,
    ) -> Result<Written, ApiError> {
        let manager = w.field_manager.clone().unwrap_or_default();
        if ptype == PatchType::Apply {
            if manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let key = self.key(res, ns, name);
            let exists = self
                .store
                .get(&key)
                .await
                .map_err(|e| storage_error(res, name, e))?
                .is_some();
            if !exists && sub.is_none() {
                let applied = patch::server_side_apply(res.kind, None, &body, &manager, w.force)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let applied = check_body(res, ns, Some(name), applied)?;
                match self.create(res, ns, applied, w, user).await {
                    Err(e) if e.reason == "AlreadyExists" => {}
                    other => return other,
                }
            }
        }
        let kind = res.kind;
        let precondition_in_patch = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok());
        self.guaranteed_update(res, ns, name, sub, w, precondition_in_patch, |old| {
            let patched = match ptype {
                PatchType::Apply => {
                    patch::server_side_apply(kind, Some(old), &body, &manager, w.force)
                }
                t => patch::apply(kind, t, old, &body),
            }
            .map_err(|e| {
                if ptype == PatchType::Json {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                } else {
                    ApiError::bad_request(e.to_string())
                }
            })?;
            if !patched.is_object() {
                return Err(ApiError::bad_request("the patch result is not an object"));
            }
            Ok(patched)
        })
        .await
    }

    /// Read, change (`mutate` gets the served object), prepare, CAS; retried
    /// while others win the race, unless the caller gave a resourceVersion.
    #[allow(clippy::too_many_arguments)]
    pub async fn guaranteed_update(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        w: &WriteOptions,
        precondition: Option<i64>,
        mutate: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        for _ in 0..MAX_RETRIES {
            let kv = self.read(res, ns, name).await?;
            let old = self.decorate(res, kv.value.clone(), kv.mod_revision);
            if let Some(p) = precondition {
                if p != kv.mod_revision {
                    return Err(ApiError::stale(res.group, res.plural, name));
                }
            }
            let mut new = mutate(&old)?;
            if meta::name(&new) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta::name(&new)
                )));
            }
            // System metadata only the server changes.
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
            ] {
                let v = old
                    .pointer(&format!("/metadata/{k}"))
                    .cloned()
                    .unwrap_or(Value::Null);
                meta::set(&mut new, k, v);
            }
            meta::set(
                &mut new,
                "resourceVersion",
                json!(kv.mod_revision.to_string()),
            );
            if let Value::Object(m) = &mut new {
                m.insert("apiVersion".into(), json!(res.api_version()));
                m.insert("kind".into(), json!(res.kind));
            }
            let is_service = res.group.is_empty() && res.kind == "Service";
            if is_service && sub.is_none() {
                crate::services::patch_allocated_values(&mut new, &old);
            }
            let Prepared { object, warnings } =
                strategy::prepare_update(res, sub, &old, new, w.field_validation)?;
            let mut object = object;
            let mut allocated = None;
            if is_service && sub.is_none() {
                allocated = Some(
                    self.services
                        .allocate(&mut object, Some(&old), w.dry_run)
                        .await?,
                );
            }
            // An update that leaves nothing to wait for on a deleting object
            // finishes the deletion (the last finalizer removed).
            if meta::is_deleting(&object)
                && meta::finalizers(&object).is_empty()
                && !is_graceful_pending(res, &object)
            {
                if w.dry_run {
                    return Ok(Written {
                        object,
                        created: false,
                        warnings,
                    });
                }
                let key = self.key(res, ns, name);
                match self.store.delete(&key, kv.mod_revision).await {
                    Ok(rev) => {
                        if is_service {
                            self.services.release_object(&object).await;
                        }
                        return Ok(Written {
                            object: self.decorate(res, self.for_storage(res, object)?, rev),
                            created: false,
                            warnings,
                        });
                    }
                    Err(StorageError::Conflict(_)) if precondition.is_none() => continue,
                    Err(e) => return Err(storage_error(res, name, e)),
                }
            }
            let stored = self.for_storage(res, object)?;
            if stored == self.for_storage(res, old.clone())? {
                // No change: no write, the same resourceVersion (as upstream).
                return Ok(Written {
                    object: old,
                    created: false,
                    warnings,
                });
            }
            if w.dry_run {
                return Ok(Written {
                    object: self.decorate(res, stored, kv.mod_revision),
                    created: false,
                    warnings,
                });
            }
            let key = self.key(res, ns, name);
            match self.store.update(&key, &stored, kv.mod_revision).await {
                Ok(rev) => {
                    if let Some(a) = allocated {
                        self.services.commit_update(&a).await;
                    }
                    return Ok(Written {
                        object: self.decorate(res, stored, rev),
                        created: false,
                        warnings,
                    });
                }
                Err(StorageError::Conflict(_)) if precondition.is_none() => {
                    if let Some(a) = allocated {
                        self.services.release(&a).await;
                    }
                    continue;
                }
                Err(e) => {
                    if let Some(a) = allocated {
                        self.services.release(&a).await;
                    }
                    return Err(storage_error(res, name, e));
                }
            }
        }
        Err(ApiError::conflict(
            res.group,
            res.plural,
            name,
            "too many concurrent updates; please retry",
        ))
    }

    /// DELETE of one object: graceful for pods on a node, waiting for
    /// finalizers (propagationPolicy Orphan/Foreground recorded as the
    /// `orphan`/`foregroundDeletion` finalizers, as upstream), else removed.
    /// Answers with the object (pods, serviceaccounts) or a Status.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        d: &DeleteOptions,
    ) -> Result<(Value, bool), ApiError> {
        for _ in 0..MAX_RETRIES {
            let kv = self.read(res, ns, name).await?;
            let obj = self.decorate(res, kv.value.clone(), kv.mod_revision);
            if let Some(uid) = &d.precondition_uid {
                if uid != meta::uid(&obj) {
                    return Err(ApiError::conflict(res.group, res.plural, name, &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta::uid(&obj))));
                }
            }
            if let Some(rv) = &d.precondition_rv {
                if Some(rv.as_str()) != meta::resource_version(&obj) {
                    return Err(ApiError::conflict(res.group, res.plural, name, &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta::resource_version(&obj).unwrap_or(""))));
                }
            }
            let mut next = obj.clone();
            let mut keep = false;
            // Graceful pod deletion.
            if res.group.is_empty() && res.kind == "Pod" {
                let scheduled = obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                let phase = obj
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let default_grace = obj
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30);
                let mut grace = d.grace_period_seconds.unwrap_or(default_grace);
                if !scheduled || phase == "Succeeded" || phase == "Failed" {
                    grace = 0;
                }
                let current = obj
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64);
                if grace > 0 {
                    let shorter = current.is_none_or(|c| grace < c);
                    if shorter {
                        meta::set(
                            &mut next,
                            "deletionTimestamp",
                            json!(meta::rfc3339(now_unix() + grace)),
                        );
                        meta::set(&mut next, "deletionGracePeriodSeconds", json!(grace));
                    }
                    keep = true;
                } else if !meta::finalizers(&obj).is_empty() {
                    meta::set(&mut next, "deletionGracePeriodSeconds", json!(0));
                }
            }
            let mut finalizers = meta::finalizers(&obj);
            match d.propagation_policy.as_deref() {
                Some("Orphan")
                    if !finalizers.iter().any(|f| f == "orphan") && !meta::is_deleting(&obj) =>
                {
                    finalizers.push("orphan".into())
                }
                Some("Foreground")
                    if !finalizers.iter().any(|f| f == "foregroundDeletion")
                        && !meta::is_deleting(&obj) =>
                {
                    finalizers.push("foregroundDeletion".into())
                }
                _ => {}
            }
            if res.group.is_empty() && res.kind == "Namespace" {
                // The namespace controller empties it and removes the
                // `kubernetes` finalizer (spec.finalizers).
                let spec_fin = obj
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if spec_fin {
                    if let Some(Value::Object(sm)) = next
                        .as_object_mut()
                        .map(|m| m.entry("status").or_insert_with(|| json!({})))
                    {
                        sm.insert("phase".into(), json!("Terminating"));
                    }
                    keep = true;
                }
            }
            if !finalizers.is_empty() {
                meta::set(&mut next, "finalizers", json!(finalizers));
                keep = true;
            }
            let key = self.key(res, ns, name);
            if keep {
                if !meta::is_deleting(&next) {
                    meta::set(
                        &mut next,
                        "deletionTimestamp",
                        json!(meta::rfc3339(now_unix())),
                    );
                    if next
                        .pointer("/metadata/deletionGracePeriodSeconds")
                        .is_none()
                    {
                        meta::set(&mut next, "deletionGracePeriodSeconds", json!(0));
                    }
                }
                if next == obj {
                    return Ok((obj, false));
                }
                if d.dry_run {
                    return Ok((next, false));
                }
                let stored = self.for_storage(res, next)?;
                match self.store.update(&key, &stored, kv.mod_revision).await {
                    Ok(rev) => return Ok((self.decorate(res, stored, rev), false)),
                    Err(StorageError::Conflict(_)) => continue,
                    Err(e) => return Err(storage_error(res, name, e)),
                }
            }
            if d.dry_run {
                return Ok((obj, true));
            }
            match self.store.delete(&key, kv.mod_revision).await {
                Ok(rev) => {
                    if res.group.is_empty() && res.kind == "Service" {
                        self.services.release_object(&obj).await;
                    }
                    let mut gone = obj;
                    meta::set(&mut gone, "resourceVersion", json!(rev.to_string()));
                    return Ok((gone, true));
                }
                Err(StorageError::Conflict(_)) => continue,
                Err(e) => return Err(storage_error(res, name, e)),
            }
        }
        Err(ApiError::conflict(
            res.group,
            res.plural,
            name,
            "too many concurrent updates; please retry",
        ))
    }

    /// Read, change, CAS without the strategy (upstream's direct
    /// GuaranteedUpdate of bindings): for server-owned transitions.
    pub async fn raw_update(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mutate: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        for _ in 0..MAX_RETRIES {
            let kv = self.read(res, ns, name).await?;
            let old = self.decorate(res, kv.value.clone(), kv.mod_revision);
            let new = mutate(&old)?;
            let stored = self.for_storage(res, new)?;
            let key = self.key(res, ns, name);
            match self.store.update(&key, &stored, kv.mod_revision).await {
                Ok(rev) => return Ok(self.decorate(res, stored, rev)),
                Err(StorageError::Conflict(_)) => continue,
                Err(e) => return Err(storage_error(res, name, e)),
            }
        }
        Err(ApiError::conflict(
            res.group,
            res.plural,
            name,
            "too many concurrent updates; please retry",
        ))
    }

    /// What a DELETE answers with.
    pub fn delete_response(res: &ResourceInfo, obj: Value) -> Value {
        if res.return_deleted_object {
            obj
        } else {
            status::success_status(res.group, res.plural, meta::name(&obj), meta::uid(&obj))
        }
    }
}

/// A pod whose graceful deletion is still running (the kubelet finishes it
/// with gracePeriodSeconds=0).
fn is_graceful_pending(res: &ResourceInfo, obj: &Value) -> bool {
    res.group.is_empty()
        && res.kind == "Pod"
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|g| g > 0)
}

/// Checks a request body against the URL: an object, its apiVersion/kind
/// (when given) the resource's, its namespace the URL's, its name the URL's.
pub fn check_body(
    res: &ResourceInfo,
    ns: Option<&str>,
    name: Option<&str>,
    mut body: Value,
) -> Result<Value, ApiError> {
    let Value::Object(m) = &mut body else {
        return Err(ApiError::bad_request(format!(
            "the body of the request must be a {} object",
            res.kind
        )));
    };
    let want = res.api_version();
    match m.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("apiVersion".into(), json!(want));
        }
        Some(v) if v == want => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )))
        }
    }
    match m.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("kind".into(), json!(res.kind));
        }
        Some(k) if k == res.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )))
        }
    }
    if let Some(md) = m.get("metadata") {
        if !md.is_object() && !md.is_null() {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
    }
    if res.namespaced {
        if let Some(n) = ns {
            match meta::namespace(&body) {
                Some(b) if b != n => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => meta::set(&mut body, "namespace", json!(n)),
            }
        }
    } else {
        meta::set(&mut body, "namespace", Value::Null);
    }
    if let Some(n) = name {
        let bn = meta::name(&body).to_string();
        if bn.is_empty() {
            meta::set(&mut body, "name", json!(n));
        } else if bn != n {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({bn}) does not match the name on the URL ({n})"
            )));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "default/web-1\u{0}");
        assert_eq!(
            decode_continue(&t).ok(),
            Some((42, "default/web-1\u{0}".to_string()))
        );
        assert_eq!(decode_continue("!!!").map_err(|e| e.code), Err(400));
        let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#);
        assert!(decode_continue(&evil).is_err());
    }

    #[test]
    fn bodies_must_match_the_url() {
        let pods = kube_lite_api::resources::find("", "v1", "pods").expect("pods");
        let b = check_body(
            pods,
            Some("default"),
            Some("a"),
            json!({"metadata":{"name":"b"}}),
        );
        assert_eq!(b.map_err(|e| e.code).err(), Some(400));
        let b = check_body(pods, Some("default"), None, json!({"kind":"Service"}));
        assert_eq!(b.map_err(|e| e.code).err(), Some(400));
        let b = check_body(
            pods,
            Some("default"),
            None,
            json!({"metadata":{"name":"x"}}),
        )
        .ok();
        assert_eq!(b.as_ref().and_then(|b| meta::namespace(b)), Some("default"));
        assert_eq!(b.as_ref().and_then(|b| b["kind"].as_str()), Some("Pod"));
    }
}
