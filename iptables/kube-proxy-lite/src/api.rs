//! The API source: Services (core/v1) and EndpointSlices (discovery.k8s.io/v1) followed by
//! kube-rs reflectors (list + watch, re-list on expiry), as kube-proxy follows them. Each change
//! bumps a counter the loop sees as a new [`Version`]; loading renders both caches as one JSON
//! `List` for the same parser the file source uses, so both sources program the same rules.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde::Serialize;

use crate::daemon::{DaemonError, Source, Version};
use flannel_iptables::kube::{parse_list, ParseOptions, Parsed};

/// The change counter, and whether both caches have their first list.
#[derive(Default)]
struct Changes {
    count: u64,
    services_ready: bool,
    slices_ready: bool,
}

#[derive(Default)]
struct Signal {
    changes: Mutex<Changes>,
    cond: Condvar,
}

impl Signal {
    fn bump(&self, f: impl FnOnce(&mut Changes)) {
        let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c);
        c.count += 1;
        self.cond.notify_all();
    }
}

pub struct ApiSource {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    signal: Arc<Signal>,
    what: String,
}

/// Follows one kind into a store, bumping the signal on every event (`ready` on the end of
/// each list).
fn follow<K>(
    rt: &tokio::runtime::Handle,
    api: Api<K>,
    signal: Arc<Signal>,
    ready: fn(&mut Changes),
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let kind = K::kind(&()).to_string();
    flannel_kubeclient::follow(rt, api, move |ev| match ev {
        Ok(watcher::Event::InitDone) => signal.bump(ready),
        Ok(watcher::Event::Init) | Ok(watcher::Event::InitApply(_)) => {}
        Ok(_) => signal.bump(|_| {}),
        Err(e) => tracing::warn!("{kind} watch: {e}; retrying (rules are kept)"),
    })
}

impl ApiSource {
    /// Starts following on `rt` (a runtime that outlives the source).
    pub fn start(rt: &tokio::runtime::Handle, client: Client, what: String) -> ApiSource {
        let signal = Arc::new(Signal::default());
        let services = follow(
            rt,
            Api::<Service>::all(client.clone()),
            signal.clone(),
            |c| c.services_ready = true,
        );
        let slices = follow(rt, Api::<EndpointSlice>::all(client), signal.clone(), |c| {
            c.slices_ready = true
        });
        ApiSource {
            services,
            slices,
            signal,
            what,
        }
    }
}

/// The caches as one `List` document (`kubectl get svc,endpointslices -A -o json`'s form).
fn render_list(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> String {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Item<'a> {
        S(&'a Service),
        E(&'a EndpointSlice),
    }
    #[derive(Serialize)]
    struct List<'a> {
        kind: &'static str,
        items: Vec<Item<'a>>,
    }
    let items = services
        .iter()
        .map(|s| Item::S(s))
        .chain(slices.iter().map(|e| Item::E(e)))
        .collect();
    // k8s-openapi's types serialize with their apiVersion and kind.
    serde_json::to_string(&List {
        kind: "List",
        items,
    })
    .unwrap_or_default()
}

impl Source for ApiSource {
    fn version(&self) -> Option<Version> {
        let c = self
            .signal
            .changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        (c.services_ready && c.slices_ready).then_some(Version::Api(c.count))
    }

    fn load(&self, opts: &ParseOptions) -> Result<Parsed, DaemonError> {
        let doc = render_list(&self.services.state(), &self.slices.state());
        let parsed = parse_list(&doc, opts).map_err(|source| DaemonError::Parse {
            path: self.what.clone().into(),
            source,
        })?;
        for w in &parsed.warnings {
            tracing::warn!("{w}");
        }
        Ok(parsed)
    }

    fn wait(&self, timeout: Duration) {
        let c = self
            .signal
            .changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let seen = c.count;
        let _ = self
            .signal
            .cond
            .wait_timeout_while(c, timeout, |c| c.count == seen);
    }

    fn missing(&self) -> String {
        format!(
            "waiting for the first list of Services and EndpointSlices from {}",
            self.what
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flannel_iptables::service::{Protocol, ServicePortName};

    #[test]
    fn typed_objects_render_to_what_the_parser_reads() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"clusterIP": "10.96.0.9", "type": "NodePort",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080, "targetPort": 8080}]}
        }))
        .expect("Service");
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": true}},
                          {"addresses": ["10.244.1.3"], "conditions": {"ready": false, "terminating": true}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .expect("EndpointSlice");
        let doc = render_list(&[Arc::new(svc)], &[Arc::new(slice)]);
        let parsed = parse_list(&doc, &ParseOptions::default()).expect("parses");
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let sp = &parsed.state.services[&ServicePortName::new("ns", "web", "http", Protocol::Tcp)];
        assert_eq!(sp.node_port, Some(30080));
        assert_eq!(sp.endpoints.len(), 1);
        assert_eq!(sp.endpoints[0].to_string(), "10.244.1.2:8080");
    }
}
