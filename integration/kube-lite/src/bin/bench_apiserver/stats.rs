//! The figures of bench-apiserver: latency samples of one measurement (p50/p99, ops/s), their
//! summary rows next to the floor's, and the VmRSS readings of the API server and etcd.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use flannel_integration::bench::{mib, pass, percentile, Row};

use super::Pids;

/// Latencies of one run of operations and the wall time of the whole run.
#[derive(Clone, Debug, Default)]
pub struct Lat {
    /// One per operation, milliseconds.
    pub ms: Vec<f64>,
    pub wall: Duration,
}

impl Lat {
    pub fn p(&self, q: f64) -> f64 {
        percentile(&self.ms, q)
    }

    pub fn ops_per_s(&self) -> f64 {
        self.ms.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// "p50 / p99 ms, ops/s".
    pub fn show(&self) -> String {
        format!(
            "{} / {} ms, {:.0}/s",
            ms(self.p(50.0)),
            ms(self.p(99.0)),
            self.ops_per_s()
        )
    }

    /// "p50 / p99 ms" only (no throughput).
    pub fn show_latency(&self) -> String {
        format!("{} / {} ms", ms(self.p(50.0)), ms(self.p(99.0)))
    }
}

/// Milliseconds with 2 significant decimals below 10 ms.
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn x(v: f64) -> String {
    format!("{v:.1}x")
}

/// A row of an operation next to its floor: latency ratios (ours / floor) and the throughput
/// ratio (floor / ours), all "times the floor's cost".
pub fn op_row(what: String, ours: &Lat, floor: &Lat) -> Row {
    let mut r = Row::new(what);
    r.ours = ours.show();
    r.baseline = floor.show();
    r.ratio = format!(
        "{} / {}, {}",
        x(ours.p(50.0) / floor.p(50.0).max(1e-9)),
        x(ours.p(99.0) / floor.p(99.0).max(1e-9)),
        x(floor.ops_per_s() / ours.ops_per_s().max(1e-9))
    );
    r
}

/// A latency row with a p99 target.
pub fn latency_row(what: String, ours: &Lat, floor: &Lat, target_ms: f64) -> Row {
    let mut r = Row::new(what);
    r.ours = ours.show_latency();
    r.baseline = floor.show_latency();
    r.ratio = format!(
        "{} / {}",
        x(ours.p(50.0) / floor.p(50.0).max(1e-9)),
        x(ours.p(99.0) / floor.p(99.0).max(1e-9))
    );
    r.target = format!("p99 < {target_ms:.0} ms");
    r.result = pass(ours.p(99.0) < target_ms);
    r
}

/// VmRSS of the API server and of etcd, KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub apiserver: u64,
    pub etcd: u64,
}

impl Memory {
    pub fn read(pids: Pids) -> Result<Memory> {
        Ok(Memory {
            apiserver: vm_rss(pids.apiserver)?,
            etcd: vm_rss(pids.etcd)?,
        })
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "apiserver VmRSS {}, etcd VmRSS {}",
            mib(self.apiserver),
            mib(self.etcd)
        )
    }
}

/// `VmRSS` of `/proc/<pid>/status`, KiB.
pub fn vm_rss(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}

/// The three memory rows: the API server next to etcd.
pub fn memory_rows(
    idle: &Memory,
    pods: &Memory,
    watches: &Memory,
    n_pods: u32,
    n_watches: u32,
) -> Vec<Row> {
    [
        ("VmRSS idle".to_string(), idle),
        (format!("VmRSS, {n_pods} pods stored"), pods),
        (
            format!("VmRSS, {n_pods} pods + {n_watches} watches"),
            watches,
        ),
    ]
    .into_iter()
    .map(|(what, m)| {
        let mut r = Row::new(what);
        r.ours = mib(m.apiserver);
        r.baseline = format!("etcd {}", mib(m.etcd));
        r.ratio = x(m.apiserver as f64 / (m.etcd as f64).max(1.0));
        r
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss() {
        assert!(vm_rss(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn throughput_is_over_the_wall_time() {
        let l = Lat {
            ms: vec![1.0; 10],
            wall: Duration::from_millis(5),
        };
        assert!((l.ops_per_s() - 2000.0).abs() < 1e-6);
    }
}
