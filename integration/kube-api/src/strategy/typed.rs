//! Which k8s-openapi type decodes each served (group, version, kind): the
//! one table from API kinds to Rust types. Kinds not listed (custom
//! resources) are stored as sent.

use super::decode::{roundtrip, DecodeError};
use k8s_openapi::api;
use serde_json::Value;

macro_rules! typed_table {
    ($( ($g:literal, $v:pat, $k:literal) => $t:ty, )*) => {
        /// The typed round trip of `input` for this kind, or None when the
        /// kind has no k8s-openapi type.
        pub fn roundtrip_kind(
            group: &str,
            version: &str,
            kind: &str,
            input: &Value,
        ) -> Option<Result<Value, DecodeError>> {
            match (group, version, kind) {
                $( ($g, $v, $k) => Some(roundtrip::<$t>(input)), )*
                _ => None,
            }
        }
    };
}

typed_table! {
    ("", _, "Pod") => api::core::v1::Pod,
    ("", _, "Service") => api::core::v1::Service,
    ("", _, "Node") => api::core::v1::Node,
    ("", _, "Namespace") => api::core::v1::Namespace,
    ("", _, "ConfigMap") => api::core::v1::ConfigMap,
    ("", _, "Secret") => api::core::v1::Secret,
    ("", _, "ServiceAccount") => api::core::v1::ServiceAccount,
    ("", _, "Endpoints") => api::core::v1::Endpoints,
    ("", _, "Event") => api::core::v1::Event,
    ("", _, "Binding") => api::core::v1::Binding,
    ("", _, "ComponentStatus") => api::core::v1::ComponentStatus,
    ("", _, "LimitRange") => api::core::v1::LimitRange,
    ("", _, "PersistentVolume") => api::core::v1::PersistentVolume,
    ("", _, "PersistentVolumeClaim") => api::core::v1::PersistentVolumeClaim,
    ("", _, "PodTemplate") => api::core::v1::PodTemplate,
    ("", _, "ReplicationController") => api::core::v1::ReplicationController,
    ("", _, "ResourceQuota") => api::core::v1::ResourceQuota,
    ("apps", _, "Deployment") => api::apps::v1::Deployment,
    ("apps", _, "ReplicaSet") => api::apps::v1::ReplicaSet,
    ("apps", _, "DaemonSet") => api::apps::v1::DaemonSet,
    ("apps", _, "StatefulSet") => api::apps::v1::StatefulSet,
    ("apps", _, "ControllerRevision") => api::apps::v1::ControllerRevision,
    ("batch", _, "Job") => api::batch::v1::Job,
    ("batch", _, "CronJob") => api::batch::v1::CronJob,
    ("autoscaling", "v1", "HorizontalPodAutoscaler") => api::autoscaling::v1::HorizontalPodAutoscaler,
    ("autoscaling", "v2", "HorizontalPodAutoscaler") => api::autoscaling::v2::HorizontalPodAutoscaler,
    ("autoscaling", _, "Scale") => api::autoscaling::v1::Scale,
    ("policy", _, "PodDisruptionBudget") => api::policy::v1::PodDisruptionBudget,
    ("policy", _, "Eviction") => api::policy::v1::Eviction,
    ("rbac.authorization.k8s.io", _, "Role") => api::rbac::v1::Role,
    ("rbac.authorization.k8s.io", _, "ClusterRole") => api::rbac::v1::ClusterRole,
    ("rbac.authorization.k8s.io", _, "RoleBinding") => api::rbac::v1::RoleBinding,
    ("rbac.authorization.k8s.io", _, "ClusterRoleBinding") => api::rbac::v1::ClusterRoleBinding,
    ("coordination.k8s.io", "v1", "Lease") => api::coordination::v1::Lease,
    ("discovery.k8s.io", _, "EndpointSlice") => api::discovery::v1::EndpointSlice,
    ("events.k8s.io", _, "Event") => api::events::v1::Event,
    ("scheduling.k8s.io", "v1", "PriorityClass") => api::scheduling::v1::PriorityClass,
    ("networking.k8s.io", _, "NetworkPolicy") => api::networking::v1::NetworkPolicy,
    ("networking.k8s.io", _, "Ingress") => api::networking::v1::Ingress,
    ("networking.k8s.io", _, "IngressClass") => api::networking::v1::IngressClass,
    ("networking.k8s.io", _, "IPAddress") => api::networking::v1::IPAddress,
    ("networking.k8s.io", _, "ServiceCIDR") => api::networking::v1::ServiceCIDR,
    ("storage.k8s.io", _, "StorageClass") => api::storage::v1::StorageClass,
    ("storage.k8s.io", _, "CSIDriver") => api::storage::v1::CSIDriver,
    ("storage.k8s.io", _, "CSINode") => api::storage::v1::CSINode,
    ("storage.k8s.io", _, "CSIStorageCapacity") => api::storage::v1::CSIStorageCapacity,
    ("storage.k8s.io", _, "VolumeAttachment") => api::storage::v1::VolumeAttachment,
    ("storage.k8s.io", _, "VolumeAttributesClass") => api::storage::v1::VolumeAttributesClass,
    ("node.k8s.io", _, "RuntimeClass") => api::node::v1::RuntimeClass,
    ("certificates.k8s.io", "v1", "CertificateSigningRequest") => api::certificates::v1::CertificateSigningRequest,
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") => api::admissionregistration::v1::ValidatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") => api::admissionregistration::v1::MutatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy") => api::admissionregistration::v1::ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding") => api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    ("authentication.k8s.io", _, "TokenReview") => api::authentication::v1::TokenReview,
    ("authentication.k8s.io", _, "TokenRequest") => api::authentication::v1::TokenRequest,
    ("authentication.k8s.io", _, "SelfSubjectReview") => api::authentication::v1::SelfSubjectReview,
    ("authorization.k8s.io", _, "SubjectAccessReview") => api::authorization::v1::SubjectAccessReview,
    ("authorization.k8s.io", _, "SelfSubjectAccessReview") => api::authorization::v1::SelfSubjectAccessReview,
    ("authorization.k8s.io", _, "LocalSubjectAccessReview") => api::authorization::v1::LocalSubjectAccessReview,
    ("authorization.k8s.io", _, "SelfSubjectRulesReview") => api::authorization::v1::SelfSubjectRulesReview,
    ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema") => api::flowcontrol::v1::FlowSchema,
    ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration") => api::flowcontrol::v1::PriorityLevelConfiguration,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ("apiregistration.k8s.io", "v1", "APIService") => k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService,
}
