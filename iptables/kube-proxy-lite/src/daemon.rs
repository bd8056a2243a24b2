//! The kube-proxy-lite loop: reads the desired state from its [`Source`] (the
//! services file, or the API server's Services and EndpointSlices) when it
//! changes, batches bursts of changes (at most one sync per
//! `min_sync_period`, start to start), syncs through a [`Proxier`], does a
//! full sync periodically (`sync_period`) and when the canary chain is gone
//! (checked every `check_period`), and prints the contract's `sync ...` line
//! on stderr after every sync. A file that fails to parse (e.g. half
//! written) is not applied: it is read again when it changes (or after a
//! second). Runs until the stop flag is set (SIGTERM/SIGINT); rules are left
//! in place.

use crate::metrics::Metrics;
use crate::watch::{FileStamp, FileWatcher};
use flannel_iptables::kube::{parse_list, KubeError, ParseOptions, Parsed};
use flannel_iptables::proxier::{Proxier, SyncError, SyncKind, SyncReport};
use flannel_iptables::service::ProxyState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the loop runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The JSON `List` of Services and Endpoints.
    pub services: PathBuf,
    /// Minimum time between the starts of two syncs (`--min-sync-period`).
    pub min_sync_period: Duration,
    /// Time between full syncs (`--sync-period`).
    pub sync_period: Duration,
    /// Time between canary checks.
    pub check_period: Duration,
    /// Time between polls of the file's metadata (inotify wakes us sooner).
    pub poll_interval: Duration,
    pub parse: ParseOptions,
}

impl Options {
    /// kube-proxy-lite's defaults for `services`.
    pub fn new(services: impl Into<PathBuf>) -> Self {
        Options {
            services: services.into(),
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            check_period: Duration::from_secs(1),
            poll_interval: Duration::from_millis(50),
            parse: ParseOptions::default(),
        }
    }
}

/// Errors of the loop (only `--once` returns them; the loop logs and retries).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: KubeError },
    #[error("sync failed: {0}")]
    Sync(#[from] SyncError),
}

/// Identity of one version of the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    File(FileStamp),
    /// The API source's change counter.
    Api(u64),
}

/// Where the desired state comes from.
pub trait Source {
    /// The current version, `None` while there is none (no file, no list yet).
    fn version(&self) -> Option<Version>;
    /// Reads the current version.
    fn load(&self, opts: &ParseOptions) -> Result<Parsed, DaemonError>;
    /// Sleeps until a change may have happened, at most `timeout`.
    fn wait(&self, timeout: Duration);
    /// What to log while there is no version.
    fn missing(&self) -> String;
}

/// The services file.
pub struct FileSource(pub FileWatcher);

impl Source for FileSource {
    fn version(&self) -> Option<Version> {
        self.0.stamp().map(Version::File)
    }
    fn load(&self, opts: &ParseOptions) -> Result<Parsed, DaemonError> {
        load(self.0.path(), opts)
    }
    fn wait(&self, timeout: Duration) {
        let _ = self.0.wait(timeout);
    }
    fn missing(&self) -> String {
        format!(
            "services file {} not found; waiting for it",
            self.0.path().display()
        )
    }
}

/// Reads and parses the services file, logging the warnings.
pub fn load(path: &Path, opts: &ParseOptions) -> Result<Parsed, DaemonError> {
    let text = std::fs::read_to_string(path).map_err(|source| DaemonError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = parse_list(&text, opts).map_err(|source| DaemonError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    for w in &parsed.warnings {
        tracing::warn!("{w}");
    }
    Ok(parsed)
}

/// Reads the source (waiting for its first version) and does one full sync (`--once`),
/// printing the sync line.
pub fn run_once(
    proxier: &mut Proxier,
    opts: &Options,
    source: &dyn Source,
) -> Result<SyncReport, DaemonError> {
    while source.version().is_none() {
        source.wait(opts.poll_interval);
    }
    let start = Instant::now();
    let parsed = source.load(&opts.parse)?;
    let report = proxier.full_sync(&parsed.state)?;
    eprintln!("{}", report.log_line(report.applied_at - start));
    Ok(report)
}

/// Runs the loop on the services file until `stop` is set.
pub fn run(proxier: &mut Proxier, opts: &Options, stop: &AtomicBool) {
    let source = FileSource(FileWatcher::new(&opts.services));
    run_source(proxier, opts, &source, Arc::new(Metrics::default()), stop)
}

/// Runs the loop on `source` until `stop` is set, recording each sync in `metrics`.
pub fn run_source(
    proxier: &mut Proxier,
    opts: &Options,
    source: &dyn Source,
    metrics: Arc<Metrics>,
    stop: &AtomicBool,
) {
    let mut lp = Loop {
        proxier,
        opts,
        source,
        metrics,
        desired: None,
        seen: None,
        failed: None,
        last_sync_start: None,
        last_full: None,
        last_check: Instant::now(),
        retry_at: None,
        missing_logged: false,
    };
    while !stop.load(Ordering::SeqCst) {
        let wait = lp.step(source.version());
        if stop.load(Ordering::SeqCst) {
            break;
        }
        source.wait(wait);
    }
    tracing::info!("stopping; rules are left in place");
}

struct Loop<'a> {
    proxier: &'a mut Proxier,
    opts: &'a Options,
    source: &'a dyn Source,
    metrics: Arc<Metrics>,
    desired: Option<ProxyState>,
    /// The version last parsed successfully.
    seen: Option<Version>,
    /// The last version that failed to parse, and when.
    failed: Option<(Option<Version>, Instant)>,
    last_sync_start: Option<Instant>,
    last_full: Option<Instant>,
    last_check: Instant,
    /// After a failed full sync, not before this.
    retry_at: Option<Instant>,
    missing_logged: bool,
}

impl Loop<'_> {
    /// Does what is due; returns how long to wait before the next step.
    fn step(&mut self, stamp: Option<Version>) -> Duration {
        let now = Instant::now();
        let poll = self.opts.poll_interval;
        let next_allowed = self
            .last_sync_start
            .map_or(now, |t| t + self.opts.min_sync_period);

        if stamp.is_none() && !self.missing_logged {
            tracing::warn!("{}", self.source.missing());
            self.missing_logged = true;
        }
        let retry_failed = match &self.failed {
            Some((s, at)) => *s != stamp || now >= *at + Duration::from_secs(1),
            None => true,
        };
        let changed = stamp.is_some() && stamp != self.seen && retry_failed;
        if changed {
            if now < next_allowed {
                return poll.min(next_allowed - now);
            }
            self.missing_logged = false;
            let read_start = Instant::now();
            match self.source.load(&self.opts.parse) {
                Ok(parsed) => {
                    self.seen = stamp;
                    self.failed = None;
                    if self.desired.as_ref() == Some(&parsed.state)
                        && !self.proxier.needs_full_sync()
                    {
                        tracing::debug!("the source changed, the desired state did not");
                        return poll;
                    }
                    self.desired = Some(parsed.state);
                    self.sync(read_start);
                }
                Err(e) => {
                    // Warn once per version of the file; retries are quiet.
                    if self.failed.as_ref().is_none_or(|(s, _)| *s != stamp) {
                        tracing::warn!(error = %e, "desired state not applied; will retry");
                    } else {
                        tracing::debug!(error = %e, "desired state still not applied");
                    }
                    self.failed = Some((stamp, now));
                }
            }
            return poll;
        }

        if self.desired.is_none() {
            return poll;
        }
        let full_due = self
            .last_full
            .is_none_or(|t| now >= t + self.opts.sync_period);
        let retry_ok = self.retry_at.is_none_or(|t| now >= t);
        if (self.proxier.needs_full_sync() || full_due) && retry_ok {
            if now < next_allowed {
                return poll.min(next_allowed - now);
            }
            self.proxier.force_full_sync();
            self.sync(now);
            return poll;
        }
        if now >= self.last_check + self.opts.check_period {
            self.last_check = now;
            if !self.proxier.canary_present() {
                tracing::warn!(
                    "canary chain KUBE-PROXY-CANARY is gone (rules flushed?); doing a full sync"
                );
                self.proxier.force_full_sync();
                return Duration::ZERO;
            }
        }
        poll
    }

    /// Syncs the desired state; a failed partial sync is followed at once by
    /// a full one, a failed full one is retried after a pause.
    fn sync(&mut self, start: Instant) {
        let Some(desired) = &self.desired else { return };
        self.last_sync_start = Some(Instant::now());
        let was_full = self.proxier.needs_full_sync();
        let result = match self.proxier.sync(desired) {
            Err(e) if !was_full => {
                tracing::error!(error = %e, "partial sync failed; doing a full sync");
                self.proxier.sync(desired)
            }
            other => other,
        };
        match result {
            Ok(report) => {
                self.retry_at = None;
                self.metrics
                    .record(report.kind == SyncKind::Full, report.render + report.apply);
                if report.kind == SyncKind::Full {
                    self.last_full = Some(report.applied_at);
                }
                if !report.noop {
                    eprintln!("{}", report.log_line(report.applied_at - start));
                }
                if report.conntrack_deleted > 0 {
                    tracing::info!(
                        entries = report.conntrack_deleted,
                        "deleted stale UDP conntrack entries"
                    );
                }
            }
            Err(e) => {
                let pause = self.opts.min_sync_period.max(Duration::from_secs(1));
                tracing::error!(error = %e, retry_in = ?pause, "full sync failed");
                self.retry_at = Some(Instant::now() + pause);
            }
        }
    }
}
