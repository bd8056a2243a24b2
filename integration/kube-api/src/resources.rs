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

/// Every served resource. Several resources may share one storage segment
/// (autoscaling v1 and v2 HPAs).
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource served at group/version/plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The preferred resource of a Kind in a group (for apply-by-kind and GC).
pub fn find_kind(group: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[Subresource::Status],
        storage: "namespaces",
        storage_version: "v1",
        return_deleted_object: false,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        verbs: RW_VERBS,
        subresources: &[Subresource::Status],
        storage: "minions",
        storage_version: "v1",
        return_deleted_object: false,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: RW_VERBS,
        subresources: &[
            Subresource::Status,
            Subresource::Binding,
            Subresource::Eviction,
            Subresource::Log,
            Subresource::Exec,
            Subresource::Attach,
            Subresource::PortForward,
        ],
        storage: "pods",
        storage_version: "v1",
        return_deleted_object: true,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        verbs: RW_VERBS,
        subresources: &[],
        storage: "configmaps",
        storage_version: "v1",
        return_deleted_object: false,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        verbs: &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        subresources: &[Subresource::Status],
        storage: "services/specs",
        storage_version: "v1",
        return_deleted_object: false,
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        verbs: RW_VERBS,
        subresources: &[Subresource::Status, Subresource::Scale],
        storage: "deployments",
        storage_version: "v1",
        return_deleted_object: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kube_apiserver() {
        let nodes = find("", "v1", "nodes").expect("nodes");
        assert_eq!(nodes.key("/registry", None, "n1"), "/registry/minions/n1");
        let svc = find("", "v1", "services").expect("services");
        assert_eq!(
            svc.key("/registry", Some("default"), "kubernetes"),
            "/registry/services/specs/default/kubernetes"
        );
    }
}
