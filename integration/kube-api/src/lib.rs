//! kube-lite-api: the pure core of kube-lite's API server. Everything here is
//! plain functions over plain data (JSON values and the k8s-openapi types),
//! tested without etcd, sockets or root; `kube-lite-apiserver` is the thin IO
//! edge around it.
//!
//! - [`resources`]: the table of served kinds (names, scope, verbs, etcd keys);
//! - [`discovery`]: `/version`, `/api`, `/apis`, per-group and aggregated discovery;
//! - [`openapi`]: `/openapi/v2` (gnostic protobuf) and `/openapi/v3`;
//! - [`selector`]: label and field selectors;
//! - [`patch`]: strategic merge, JSON merge, JSON patch and server-side apply;
//! - [`strategy`]: per-kind defaulting, validation and update rules;
//! - [`table`]: `meta.k8s.io/v1 Table` for `kubectl get`;
//! - [`alloc`]: ClusterIP and NodePort range bitmaps;
//! - [`status`]: `metav1.Status` errors; [`meta`]: metadata accessors.

pub mod alloc;
pub mod discovery;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod status;
pub mod strategy;
pub mod table;

pub use resources::{ResourceInfo, Subresource};
pub use status::{ApiError, Cause};
