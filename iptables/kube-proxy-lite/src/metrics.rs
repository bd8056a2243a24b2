//! kube-proxy's health and metrics endpoints: `/healthz` (and `/livez`) on
//! `--healthz-bind-address` answer as kube-proxy's do (200 with
//! `{"lastUpdated": ..., "currentTime": ..., "nodeEligible": true}` while the
//! rules were synced within twice the sync period, 503 otherwise), and
//! `/metrics` (Prometheus text: sync duration histograms and the last-sync
//! timestamp, named as kube-proxy's) and `/proxyMode` on
//! `--metrics-bind-address`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// kube-proxy's buckets for the sync histograms: 1 ms doubling, 15 of them.
fn buckets() -> impl Iterator<Item = f64> {
    (0..15).map(|i| 0.001 * f64::from(1u32 << i))
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; 15],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in buckets().enumerate() {
            if secs <= b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in buckets().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    all: Histogram,
    full: Histogram,
    partial: Histogram,
    last_sync: Option<SystemTime>,
}

/// What the loop records after each successful sync.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Twice the sync period: how stale the rules may be while healthy.
    pub health_timeout: Mutex<Duration>,
}

impl Metrics {
    pub fn new(sync_period: Duration) -> Metrics {
        Metrics {
            inner: Mutex::default(),
            health_timeout: Mutex::new(sync_period * 2),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, full: bool, took: Duration) {
        let mut m = self.lock();
        let secs = took.as_secs_f64();
        m.all.observe(secs);
        if full {
            m.full.observe(secs);
        } else {
            m.partial.observe(secs);
        }
        m.last_sync = Some(SystemTime::now());
    }

    /// The Prometheus text of `/metrics`.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        m.all.render(
            &mut out,
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
        );
        m.full.render(
            &mut out,
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
        );
        m.partial.render(
            &mut out,
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
        );
        let last = m
            .last_sync
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were successfully synced\n# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\nkubeproxy_sync_proxy_rules_last_timestamp_seconds {last}"
        );
        out
    }

    /// `/healthz`: status and kube-proxy's JSON body.
    pub fn health(&self, now: SystemTime) -> (StatusCode, String) {
        let last = self.lock().last_sync;
        let timeout = *self
            .health_timeout
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let healthy = last.is_some_and(|t| now.duration_since(t).unwrap_or_default() <= timeout);
        let fmt = |t: SystemTime| humantime::format_rfc3339_nanos(t).to_string();
        let body = format!(
            r#"{{"lastUpdated": "{}","currentTime": "{}", "nodeEligible": true}}"#,
            last.map(fmt).unwrap_or_default(),
            fmt(now)
        );
        let code = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, body)
    }
}

/// Serves `/healthz` and `/livez` on `addr` until the runtime ends.
pub async fn serve_health(addr: SocketAddr, m: Arc<Metrics>) -> std::io::Result<()> {
    let h = move || {
        let m = m.clone();
        async move {
            let (code, body) = m.health(SystemTime::now());
            (
                code,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                body,
            )
                .into_response()
        }
    };
    let app = Router::new()
        .route("/healthz", get(h.clone()))
        .route("/livez", get(h));
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await
}

/// Serves `/metrics` and `/proxyMode` on `addr`.
pub async fn serve_metrics(
    addr: SocketAddr,
    m: Arc<Metrics>,
    mode: &'static str,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/proxyMode", get(move || async move { mode }));
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_last_sync_and_metrics_count_syncs() {
        let m = Metrics::new(Duration::from_secs(30));
        let now = SystemTime::now();
        assert_eq!(m.health(now).0, StatusCode::SERVICE_UNAVAILABLE);
        m.record(true, Duration::from_millis(3));
        m.record(false, Duration::from_millis(1));
        let (code, body) = m.health(SystemTime::now());
        assert_eq!(code, StatusCode::OK);
        assert!(
            body.starts_with(r#"{"lastUpdated": ""#) && body.ends_with(r#""nodeEligible": true}"#),
            "{body}"
        );
        assert_eq!(
            m.health(SystemTime::now() + Duration::from_secs(61)).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let text = m.render();
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count 1"));
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_last_timestamp_seconds 1"),
            "{text}"
        );
    }
}
