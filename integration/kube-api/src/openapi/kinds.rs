//! The kinds whose schemas each OpenAPI document carries, per group/version:
//! every kind k8s-openapi has for the group/version (as upstream's
//! documents), plus the foreign kinds its subresources use (`policy/v1
//! Eviction` for `pods/eviction`, `autoscaling/v1 Scale` for `*/scale`).

use std::borrow::Cow;

use k8s_openapi::api::{
    apps, authentication, autoscaling, batch, coordination, core, discovery, policy, rbac,
    scheduling,
};
use k8s_openapi::schemars::{JsonSchema, Schema, SchemaGenerator};
use k8s_openapi::{ListableResource, Resource};

/// One top-level kind: its group/version/kind (from k8s-openapi's `Resource`),
/// its list kind when it has one, and the schemars hooks that generate its
/// schema.
pub(super) struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// `PodList`; None for kinds without a list (Scale, Eviction, Binding).
    pub list_kind: Option<&'static str>,
    /// Adds the schema (and everything it references) to the generator.
    pub add: fn(&mut SchemaGenerator) -> Schema,
    /// The upstream definition name (`io.k8s.api.core.v1.Pod`).
    pub name: fn() -> Cow<'static, str>,
}

macro_rules! kind {
    ($t:ty) => {
        Kind {
            group: <$t as Resource>::GROUP,
            version: <$t as Resource>::VERSION,
            kind: <$t as Resource>::KIND,
            list_kind: None,
            add: |g| g.subschema_for::<$t>(),
            name: <$t as JsonSchema>::schema_name,
        }
    };
}

macro_rules! listable {
    ($t:ty) => {
        Kind {
            list_kind: Some(<$t as ListableResource>::LIST_KIND),
            ..kind!($t)
        }
    };
}

/// One group/version document: `api/v1` or `apis/<group>/<version>`.
pub(super) struct GroupVersion {
    pub group: &'static str,
    pub version: &'static str,
    pub kinds: &'static [Kind],
}

impl GroupVersion {
    /// The index key and URL tail: `api/v1`, `apis/apps/v1`.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    /// The kind entry of `group/version/kind` in this document.
    pub fn find(&self, group: &str, version: &str, kind: &str) -> Option<&'static Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }
}

static CORE_V1: &[Kind] = &[
    kind!(core::v1::Binding),
    listable!(core::v1::ComponentStatus),
    listable!(core::v1::ConfigMap),
    listable!(core::v1::Endpoints),
    listable!(core::v1::Event),
    listable!(core::v1::LimitRange),
    listable!(core::v1::Namespace),
    listable!(core::v1::Node),
    listable!(core::v1::PersistentVolume),
    listable!(core::v1::PersistentVolumeClaim),
    listable!(core::v1::Pod),
    listable!(core::v1::PodTemplate),
    listable!(core::v1::ReplicationController),
    listable!(core::v1::ResourceQuota),
    listable!(core::v1::Secret),
    listable!(core::v1::Service),
    listable!(core::v1::ServiceAccount),
    kind!(policy::v1::Eviction),
    kind!(authentication::v1::TokenRequest),
    kind!(autoscaling::v1::Scale),
];

static APPS_V1: &[Kind] = &[
    listable!(apps::v1::ControllerRevision),
    listable!(apps::v1::DaemonSet),
    listable!(apps::v1::Deployment),
    listable!(apps::v1::ReplicaSet),
    listable!(apps::v1::StatefulSet),
    kind!(autoscaling::v1::Scale),
];

static BATCH_V1: &[Kind] = &[listable!(batch::v1::CronJob), listable!(batch::v1::Job)];

static AUTOSCALING_V1: &[Kind] = &[
    listable!(autoscaling::v1::HorizontalPodAutoscaler),
    kind!(autoscaling::v1::Scale),
];

static AUTOSCALING_V2: &[Kind] = &[listable!(autoscaling::v2::HorizontalPodAutoscaler)];

static DISCOVERY_V1: &[Kind] = &[listable!(discovery::v1::EndpointSlice)];

static COORDINATION_V1: &[Kind] = &[listable!(coordination::v1::Lease)];

static RBAC_V1: &[Kind] = &[
    listable!(rbac::v1::ClusterRole),
    listable!(rbac::v1::ClusterRoleBinding),
    listable!(rbac::v1::Role),
    listable!(rbac::v1::RoleBinding),
];

static SCHEDULING_V1: &[Kind] = &[listable!(scheduling::v1::PriorityClass)];

static POLICY_V1: &[Kind] = &[
    kind!(policy::v1::Eviction),
    listable!(policy::v1::PodDisruptionBudget),
];

/// Every group/version that has a document, in index order.
pub(super) static GROUP_VERSIONS: &[GroupVersion] = &[
    GroupVersion {
        group: "",
        version: "v1",
        kinds: CORE_V1,
    },
    GroupVersion {
        group: "apps",
        version: "v1",
        kinds: APPS_V1,
    },
    GroupVersion {
        group: "autoscaling",
        version: "v1",
        kinds: AUTOSCALING_V1,
    },
    GroupVersion {
        group: "autoscaling",
        version: "v2",
        kinds: AUTOSCALING_V2,
    },
    GroupVersion {
        group: "batch",
        version: "v1",
        kinds: BATCH_V1,
    },
    GroupVersion {
        group: "coordination.k8s.io",
        version: "v1",
        kinds: COORDINATION_V1,
    },
    GroupVersion {
        group: "discovery.k8s.io",
        version: "v1",
        kinds: DISCOVERY_V1,
    },
    GroupVersion {
        group: "policy",
        version: "v1",
        kinds: POLICY_V1,
    },
    GroupVersion {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kinds: RBAC_V1,
    },
    GroupVersion {
        group: "scheduling.k8s.io",
        version: "v1",
        kinds: SCHEDULING_V1,
    },
];

/// The meta types every document references from its paths
/// (`DeleteOptions` bodies, `Status` answers, `Patch` bodies, watch events).
pub(super) fn add_common(g: &mut SchemaGenerator) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    g.subschema_for::<meta::DeleteOptions>();
    g.subschema_for::<meta::Status>();
    g.subschema_for::<meta::Patch>();
    g.subschema_for::<meta::APIResourceList>();
}
