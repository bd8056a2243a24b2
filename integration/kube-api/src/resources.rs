//! The resource table: every kind the API server serves, with its group,
//! version, plural/singular names, scope, shortNames, categories, verbs,
//! subresources and etcd key segment (kube-apiserver's layout:
//! `minions`, `services/specs`, `services/endpoints`, ...). Discovery, the
//! router, storage keys and Tables are all driven from this one table.

/// A subresource a kind serves under `.../{name}/<subresource>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subresource {
    Status,
    /// `autoscaling/v1 Scale` (deployments, replicasets, statefulsets).
    Scale,
    /// `pods/binding` (the scheduler).
    Binding,
    /// `pods/eviction` (policy/v1 Eviction).
    Eviction,
    /// `pods/log` (served once kubelets exist).
    Log,
    /// `pods/exec` (served once kubelets exist).
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/portforward`.
    PortForward,
    /// `serviceaccounts/token` (TokenRequest).
    Token,
}

impl Subresource {
    /// The path segment: `status`, `scale`, `binding`, ...
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Token => "token",
        }
    }

    pub fn from_name(s: &str) -> Option<Subresource> {
        ALL_SUBRESOURCES.iter().copied().find(|r| r.name() == s)
    }
}

const ALL_SUBRESOURCES: &[Subresource] = &[
    Subresource::Status,
    Subresource::Scale,
    Subresource::Binding,
    Subresource::Eviction,
    Subresource::Log,
    Subresource::Exec,
    Subresource::Attach,
    Subresource::PortForward,
    Subresource::Token,
];

/// One served resource (one group/version/plural).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name as in the URL (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`), as aggregated discovery's singularResource.
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Verbs of the main resource in discovery order (sorted, as upstream).
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// etcd key segment under `--etcd-prefix` (`minions` for nodes).
    pub storage: &'static str,
    /// The version objects are stored in (`v2` for autoscaling/v1 HPAs);
    /// equal to `version` for almost every kind.
    pub storage_version: &'static str,
    /// DELETE answers with the object instead of a Status (pods,
    /// serviceaccounts), as upstream's ReturnDeletedObject.
    pub return_deleted_object: bool,
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// The list kind (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    pub fn has_subresource(&self, s: Subresource) -> bool {
        self.subresources.contains(&s)
    }
    /// The etcd key prefix of all objects (`<prefix>/pods/`), ending in `/`.
    pub fn key_prefix(&self, etcd_prefix: &str) -> String {
        format!("{}/{}/", etcd_prefix.trim_end_matches('/'), self.storage)
    }
    /// The etcd key prefix of one namespace (`<prefix>/pods/<ns>/`).
    pub fn namespace_prefix(&self, etcd_prefix: &str, namespace: &str) -> String {
        format!("{}{namespace}/", self.key_prefix(etcd_prefix))
    }
    /// The etcd key of one object.
    pub fn key(&self, etcd_prefix: &str, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix(etcd_prefix)),
            _ => format!("{}{name}", self.key_prefix(etcd_prefix)),
        }
    }
}

/// Standard verbs of a read-write resource.
pub const RW_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of a resource without `deletecollection` (namespaces).
pub const RW_NO_COLLECTION_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Verbs of a create-only resource (`bindings`).
pub const CREATE_VERBS: &[&str] = &["create"];

/// The group/version/kind a subresource answers with, as discovery lists
/// it: `None` for the group/version means "the parent's".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubresourceKind {
    pub group_version: Option<(&'static str, &'static str)>,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const CREATE_GET: &[&str] = &["create", "get"];

impl Subresource {
    /// The kind, group/version and verbs kube-apiserver advertises for this
    /// subresource of `parent` (`pods/status` is a `Pod`, `deployments/scale`
    /// an `autoscaling/v1 Scale`, `pods/eviction` a `policy/v1 Eviction`,
    /// `serviceaccounts/token` an `authentication.k8s.io/v1 TokenRequest`).
    pub fn kind_of(self, parent: &ResourceInfo) -> SubresourceKind {
        let (group_version, kind, verbs): (_, &'static str, &'static [&'static str]) = match self {
            Subresource::Status => (None, parent.kind, GET_PATCH_UPDATE),
            Subresource::Scale => (Some(("autoscaling", "v1")), "Scale", GET_PATCH_UPDATE),
            Subresource::Binding => (None, "Binding", CREATE_VERBS),
            Subresource::Eviction => (Some(("policy", "v1")), "Eviction", CREATE_VERBS),
            Subresource::Log => (None, parent.kind, &["get"]),
            Subresource::Exec => (None, "PodExecOptions", CREATE_GET),
            Subresource::Attach => (None, "PodAttachOptions", CREATE_GET),
            Subresource::PortForward => (None, "PodPortForwardOptions", CREATE_GET),
            Subresource::Token => (
                Some(("authentication.k8s.io", "v1")),
                "TokenRequest",
                CREATE_VERBS,
            ),
        };
        SubresourceKind {
            group_version,
            kind,
            verbs,
        }
    }
}

impl ResourceInfo {
    /// False for resources that are not objects in etcd (`bindings`, which
    /// the registry turns into a `pods/binding`): their `storage` is empty.
    pub fn is_stored(&self) -> bool {
        !self.storage.is_empty()
    }
    /// Whether the resource lists `verb` in discovery.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

// Builders for the table below (const so that the table stays a static).
const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: RW_VERBS,
        subresources: &[],
        storage: plural,
        storage_version: version,
        return_deleted_object: false,
    }
}

const NS: bool = true;
const CLUSTER: bool = false;
const ALL: &[&str] = &["all"];
const STATUS: &[Subresource] = &[Subresource::Status];
const STATUS_SCALE: &[Subresource] = &[Subresource::Scale, Subresource::Status];

impl ResourceInfo {
    const fn short(mut self, s: &'static [&'static str]) -> Self {
        self.short_names = s;
        self
    }
    const fn cats(mut self, c: &'static [&'static str]) -> Self {
        self.categories = c;
        self
    }
    const fn subs(mut self, s: &'static [Subresource]) -> Self {
        self.subresources = s;
        self
    }
    const fn verbs(mut self, v: &'static [&'static str]) -> Self {
        self.verbs = v;
        self
    }
    const fn stored_at(mut self, segment: &'static str) -> Self {
        self.storage = segment;
        self
    }
    const fn stored_as(mut self, version: &'static str) -> Self {
        self.storage_version = version;
        self
    }
    const fn returns_deleted(mut self) -> Self {
        self.return_deleted_object = true;
        self
    }
}

/// The API groups in `/apis` order (kube-apiserver's group priorities),
/// each with its versions, preferred first. The core group is not listed.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("apps", &["v1"]),
    ("autoscaling", &["v2", "v1"]),
    ("batch", &["v1"]),
    ("policy", &["v1"]),
    ("rbac.authorization.k8s.io", &["v1"]),
    ("scheduling.k8s.io", &["v1"]),
    ("coordination.k8s.io", &["v1"]),
    ("discovery.k8s.io", &["v1"]),
];

/// The served versions of a group, preferred first (`["v1"]` for core);
/// None when the group is not served.
pub fn group_versions(group: &str) -> Option<&'static [&'static str]> {
    if group.is_empty() {
        return Some(&["v1"]);
    }
    GROUPS.iter().find(|(g, _)| *g == group).map(|(_, v)| *v)
}

/// The preferred version of a group (`v2` for autoscaling).
pub fn preferred_version(group: &str) -> Option<&'static str> {
    group_versions(group).and_then(|v| v.first().copied())
}

/// Every served resource. Several resources may share one storage segment
/// (autoscaling v1 and v2 HPAs).
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resources of one group/version, in table order.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// The resource served at group/version/plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The preferred resource of a Kind in a group (for apply-by-kind and GC):
/// the one in the group's preferred version (autoscaling/v2 for HPAs), else
/// the first served one.
pub fn find_kind(group: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let preferred = preferred_version(group);
    let mut found = None;
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.kind == kind)
    {
        if Some(r.version) == preferred {
            return Some(r);
        }
        found = found.or(Some(r));
    }
    found
}

/// The resource of an exact group/version/kind (e.g. from an object's
/// `apiVersion` and `kind`).
pub fn find_gvk(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// `kubectl`-style lookup in one group/version: plural, singular or a
/// short name (`po`, `deploy`), case-insensitively.
pub fn find_by_any_name(group: &str, version: &str, name: &str) -> Option<&'static ResourceInfo> {
    let n = name.to_ascii_lowercase();
    in_group_version(group, version)
        .find(|r| r.plural == n || r.singular == n || r.short_names.iter().any(|s| *s == n))
}

const AUTOSCALING_HPA_SHORT: &[&str] = &["hpa"];

static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    res("", "v1", "bindings", "binding", "Binding", NS)
        .verbs(CREATE_VERBS)
        .stored_at(""),
    res("", "v1", "configmaps", "configmap", "ConfigMap", NS).short(&["cm"]),
    res("", "v1", "endpoints", "endpoints", "Endpoints", NS)
        .short(&["ep"])
        .stored_at("services/endpoints"),
    res("", "v1", "events", "event", "Event", NS).short(&["ev"]),
    res("", "v1", "namespaces", "namespace", "Namespace", CLUSTER)
        .short(&["ns"])
        .verbs(RW_NO_COLLECTION_VERBS)
        .subs(STATUS),
    res("", "v1", "nodes", "node", "Node", CLUSTER)
        .short(&["no"])
        .subs(STATUS)
        .stored_at("minions"),
    res("", "v1", "pods", "pod", "Pod", NS)
        .short(&["po"])
        .cats(ALL)
        .subs(&[
            Subresource::Attach,
            Subresource::Binding,
            Subresource::Eviction,
            Subresource::Exec,
            Subresource::Log,
            Subresource::PortForward,
            Subresource::Status,
        ])
        .returns_deleted(),
    res("", "v1", "secrets", "secret", "Secret", NS),
    res(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        NS,
    )
    .short(&["sa"])
    .subs(&[Subresource::Token])
    .returns_deleted(),
    res("", "v1", "services", "service", "Service", NS)
        .short(&["svc"])
        .cats(ALL)
        .subs(STATUS)
        .stored_at("services/specs"),
    // apps/v1
    res(
        "apps",
        "v1",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        NS,
    ),
    res("apps", "v1", "daemonsets", "daemonset", "DaemonSet", NS)
        .short(&["ds"])
        .cats(ALL)
        .subs(STATUS),
    res("apps", "v1", "deployments", "deployment", "Deployment", NS)
        .short(&["deploy"])
        .cats(ALL)
        .subs(STATUS_SCALE),
    res("apps", "v1", "replicasets", "replicaset", "ReplicaSet", NS)
        .short(&["rs"])
        .cats(ALL)
        .subs(STATUS_SCALE),
    res(
        "apps",
        "v1",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        NS,
    )
    .short(&["sts"])
    .cats(ALL)
    .subs(STATUS_SCALE),
    // autoscaling/v2 (preferred, storage) and autoscaling/v1
    res(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        NS,
    )
    .short(AUTOSCALING_HPA_SHORT)
    .cats(ALL)
    .subs(STATUS),
    res(
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        NS,
    )
    .short(AUTOSCALING_HPA_SHORT)
    .cats(ALL)
    .subs(STATUS)
    .stored_as("v2"),
    // batch/v1
    res("batch", "v1", "cronjobs", "cronjob", "CronJob", NS)
        .short(&["cj"])
        .cats(ALL)
        .subs(STATUS),
    res("batch", "v1", "jobs", "job", "Job", NS)
        .cats(ALL)
        .subs(STATUS),
    // policy/v1
    res(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        NS,
    )
    .short(&["pdb"])
    .subs(STATUS),
    // rbac.authorization.k8s.io/v1
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        CLUSTER,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        CLUSTER,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        NS,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        "Role",
        NS,
    ),
    // scheduling.k8s.io/v1
    res(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        CLUSTER,
    )
    .short(&["pc"]),
    // coordination.k8s.io/v1
    res("coordination.k8s.io", "v1", "leases", "lease", "Lease", NS),
    // discovery.k8s.io/v1
    res(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        NS,
    ),
];

#[cfg(test)]
mod tests;
