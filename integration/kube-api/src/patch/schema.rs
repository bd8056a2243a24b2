//! The patch-strategy type graph: for each served Kind its root type, and
//! for each type which fields lead to which child type and how their lists
//! merge. Transcribed from the `patchStrategy`/`patchMergeKey` struct tags of
//! k8s.io/api (core/v1, apps/v1, batch/v1, autoscaling/v2, policy/v1,
//! networking/v1, storage/v1) and apimachinery's `metav1.ObjectMeta`.
//!
//! Only the paths that lead to a field with a non-default strategy are
//! modelled; every other field has the default strategy (maps merge, lists
//! are replaced). Pod templates are one type ([`Ty::PodTemplateSpec`]) reached
//! from every workload, so the pod rules are written once. Unknown kinds
//! (custom resources) get [`Ty::Object`]: only `metadata` is known.

/// A type of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Any object whose only known field is `metadata`.
    Object,
    ObjectMeta,
    Pod,
    PodTemplate,
    PodTemplateSpec,
    PodSpec,
    Container,
    PodStatus,
    NodeAllocatableClaimStatus,
    /// Deployment, ReplicaSet, DaemonSet, StatefulSet, Job,
    /// ReplicationController: `spec.template` and `status.conditions`.
    Workload,
    /// A workload spec: `template` is a PodTemplateSpec.
    WorkloadSpec,
    CronJob,
    CronJobSpec,
    JobTemplateSpec,
    /// An object whose `status.conditions` merge by `type`.
    WithStatusConditions,
    /// A status with `conditions` merged by `type`.
    ConditionsStatus,
    Node,
    NodeSpec,
    NodeStatus,
    Service,
    ServiceSpec,
    ServiceAccount,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    ComponentStatus,
    CsiNode,
    CsiNodeSpec,
    CsiNodeStatus,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    VolumeHealthStatus,
    JobSchedulingConfiguration,
    /// The test type of upstream's strategicpatch tests (`mergeItem`).
    #[cfg(test)]
    MergeItem,
    #[cfg(test)]
    RetainKeysMergeItem,
}

/// How a field's value combines with the original's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Maps merge recursively, lists are replaced.
    Default,
    /// `patchStrategy:"merge"`: a list merges, by `key` for lists of maps
    /// (`patchMergeKey`), as a set for lists of primitives (`key` None).
    Merge { key: Option<&'static str> },
    /// `patchStrategy:"replace"` on a map: the patch value replaces it.
    Replace,
}

/// The patch metadata of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The type of the value (of each element, for lists), when modelled.
    pub child: Option<Ty>,
    pub strategy: Strategy,
}

const fn plain(child: Ty) -> Field {
    Field {
        child: Some(child),
        strategy: Strategy::Default,
    }
}

const fn merge_by(key: &'static str, child: Option<Ty>) -> Field {
    Field {
        child,
        strategy: Strategy::Merge { key: Some(key) },
    }
}

const fn merge_set() -> Field {
    Field {
        child: None,
        strategy: Strategy::Merge { key: None },
    }
}

const DEFAULT: Field = Field {
    child: None,
    strategy: Strategy::Default,
};

/// The root type of an object of Kind `kind` (any group).
pub fn root(kind: &str) -> Ty {
    match kind {
        "Pod" => Ty::Pod,
        "PodTemplate" => Ty::PodTemplate,
        "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "StatefulSet"
        | "Job"
        | "ReplicationController" => Ty::Workload,
        "CronJob" => Ty::CronJob,
        "Node" => Ty::Node,
        "Service" => Ty::Service,
        "ServiceAccount" => Ty::ServiceAccount,
        "PodDisruptionBudget" => Ty::PodDisruptionBudget,
        "ComponentStatus" => Ty::ComponentStatus,
        "CSINode" => Ty::CsiNode,
        "PersistentVolumeClaim" => Ty::PersistentVolumeClaim,
        "Namespace" | "HorizontalPodAutoscaler" | "ServiceCIDR" => Ty::WithStatusConditions,
        _ => Ty::Object,
    }
}

/// Whether `kind` is one of the built-in kinds the table knows beyond
/// `metadata` (used only for documentation and tests).
pub fn is_modelled(kind: &str) -> bool {
    root(kind) != Ty::Object
}

impl Ty {
    /// The patch metadata of field `name` of this type.
    pub fn field(self, name: &str) -> Field {
        use Ty::*;
        match (self, name) {
            (_, "metadata") if self.is_object() => plain(ObjectMeta),
            (ObjectMeta, "finalizers") => merge_set(),
            (ObjectMeta, "ownerReferences") => merge_by("uid", None),

            (Pod, "spec") => plain(PodSpec),
            (Pod, "status") => plain(PodStatus),
            (PodTemplate, "template") => plain(PodTemplateSpec),
            (PodTemplateSpec, "metadata") => plain(ObjectMeta),
            (PodTemplateSpec, "spec") => plain(PodSpec),
            (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                merge_by("name", Some(Container))
            }
            (
                PodSpec,
                "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"
                | "evictionResponders",
            ) => merge_by("name", None),
            (PodSpec, "hostAliases") => merge_by("ip", None),
            (PodSpec, "topologySpreadConstraints") => merge_by("topologyKey", None),
            (Container, "ports") => merge_by("containerPort", None),
            (Container, "env") => merge_by("name", None),
            (Container, "volumeMounts") => merge_by("mountPath", None),
            (Container, "volumeDevices") => merge_by("devicePath", None),
            (PodStatus, "conditions") => merge_by("type", None),
            (PodStatus, "hostIPs" | "podIPs") => merge_by("ip", None),
            (PodStatus, "resourceClaimStatuses") => merge_by("name", None),
            (PodStatus, "nodeAllocatableResourceClaimStatuses") => {
                merge_by("resourceClaimName", Some(NodeAllocatableClaimStatus))
            }
            (NodeAllocatableClaimStatus, "mapping" | "overhead") => merge_by("name", None),

            (Workload, "spec") => plain(WorkloadSpec),
            (Workload | WithStatusConditions, "status") => plain(ConditionsStatus),
            (WorkloadSpec, "template") => plain(PodTemplateSpec),
            // JobSpec only; no other workload spec has the field.
            (WorkloadSpec, "scheduling") => plain(JobSchedulingConfiguration),
            (JobSchedulingConfiguration, "resourceClaims") => merge_by("name", None),
            (CronJob, "spec") => plain(CronJobSpec),
            (CronJobSpec, "jobTemplate") => plain(JobTemplateSpec),
            (JobTemplateSpec, "metadata") => plain(ObjectMeta),
            (JobTemplateSpec, "spec") => plain(WorkloadSpec),
            (ConditionsStatus | ComponentStatus, "conditions") => merge_by("type", None),

            (Node, "spec") => plain(NodeSpec),
            (Node, "status") => plain(NodeStatus),
            (NodeSpec, "podCIDRs") => merge_set(),
            (NodeStatus, "conditions" | "addresses") => merge_by("type", None),

            (Service, "spec") => plain(ServiceSpec),
            (Service, "status") => plain(ConditionsStatus),
            (ServiceSpec, "ports") => merge_by("port", None),
            (ServiceAccount, "secrets") => merge_by("name", None),

            (PodDisruptionBudget, "spec") => plain(PodDisruptionBudgetSpec),
            (PodDisruptionBudget, "status") => plain(ConditionsStatus),
            (PodDisruptionBudgetSpec, "selector") => Field {
                child: None,
                strategy: Strategy::Replace,
            },

            (CsiNode, "spec") => plain(CsiNodeSpec),
            (CsiNode, "status") => plain(CsiNodeStatus),
            (CsiNodeSpec, "drivers") => merge_by("name", None),
            (CsiNodeStatus, "storageHealth") => merge_by("name", None),

            (PersistentVolumeClaim, "status") => plain(PersistentVolumeClaimStatus),
            (PersistentVolumeClaimStatus, "conditions") => merge_by("type", None),
            (PersistentVolumeClaimStatus, "healthStatus") => plain(VolumeHealthStatus),
            (VolumeHealthStatus, "healthConditions") => merge_by("status", None),
            #[cfg(test)]
            (MergeItem, "mergingList" | "retainKeysMergingList" | "mergeItemPtr")
            | (RetainKeysMergeItem, "mergingList") => merge_by("name", Some(MergeItem)),
            #[cfg(test)]
            (MergeItem | RetainKeysMergeItem, "nonMergingList") => plain(MergeItem),
            #[cfg(test)]
            (MergeItem | RetainKeysMergeItem, "mergingIntList") => merge_set(),
            #[cfg(test)]
            (MergeItem, "replacingItem") => Field {
                child: None,
                strategy: Strategy::Replace,
            },
            #[cfg(test)]
            (MergeItem, "retainKeysMap") => plain(RetainKeysMergeItem),
            _ => DEFAULT,
        }
    }

    /// Types that are whole API objects (have `metadata: ObjectMeta`).
    fn is_object(self) -> bool {
        use Ty::*;
        matches!(
            self,
            Object
                | Pod
                | PodTemplate
                | Workload
                | CronJob
                | WithStatusConditions
                | Node
                | Service
                | ServiceAccount
                | PodDisruptionBudget
                | ComponentStatus
                | CsiNode
                | PersistentVolumeClaim
        )
    }
}

impl Field {
    /// The merge key of a merge list of maps.
    pub fn merge_key(&self) -> Option<&'static str> {
        match self.strategy {
            Strategy::Merge { key } => key,
            _ => None,
        }
    }
}

/// The metadata of field `name` under an optional type (None: unmodelled,
/// every field default).
pub fn field_of(ty: Option<Ty>, name: &str) -> Field {
    match ty {
        Some(t) => t.field(name),
        None => DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_reach_the_pod_spec_from_every_workload() {
        for kind in [
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "Job",
        ] {
            let spec = root(kind).field("spec").child;
            let tmpl = field_of(spec, "template").child;
            let pod = field_of(tmpl, "spec").child;
            assert_eq!(pod, Some(Ty::PodSpec), "{kind}");
        }
        let job = field_of(root("CronJob").field("spec").child, "jobTemplate").child;
        let spec = field_of(job, "spec").child;
        let tmpl = field_of(spec, "template").child;
        assert_eq!(field_of(tmpl, "spec").child, Some(Ty::PodSpec));
        assert_eq!(
            Ty::PodSpec.field("containers"),
            merge_by("name", Some(Ty::Container))
        );
    }

    #[test]
    fn unknown_kinds_know_only_metadata() {
        assert!(!is_modelled("Widget"));
        assert_eq!(root("Widget").field("metadata").child, Some(Ty::ObjectMeta));
        assert_eq!(root("Widget").field("spec"), DEFAULT);
        assert_eq!(
            Ty::ObjectMeta.field("finalizers").strategy,
            Strategy::Merge { key: None }
        );
        // Upstream has no patchStrategy on these: they are replaced.
        assert_eq!(Ty::PodSpec.field("tolerations"), DEFAULT);
        assert_eq!(Ty::NodeSpec.field("taints"), DEFAULT);
        assert_eq!(Ty::PodStatus.field("containerStatuses"), DEFAULT);
    }
}
