//! `bench-kube-proxy`: measures kube-proxy-lite inside the namespace lab with N Services x 3
//! endpoints (default 10,000), each figure next to a baseline measured in the same run:
//!
//! 1. render: `kube-proxy-lite --dry-run` run time and the render_ms of its sync line, next to
//!    the kernel floor below (rendering should be a small part of a sync);
//! 2. first full sync: `kube-proxy-lite --once` into an empty node namespace (its sync line and
//!    wall time), next to the floor: plain `iptables-restore` (no `--noflush`) loading the same
//!    rules (the `--dry-run` output) into another empty namespace. Target: within 1.5x of the
//!    floor. For reference, `iptables-restore --noflush` of the same payload into a third empty
//!    namespace is timed too (in the first round only: it takes a minute or more);
//! 3. partial sync: kube-proxy-lite running (`--min-sync-period 0.05`) on the N-Service table,
//!    one endpoint of one Service changed per round by an atomic rename of the file; the time
//!    from the rename to the next `sync kind=partial` line (own clock, polling the log every
//!    millisecond, and the line's total_ms), p50 over the rounds, next to
//!    `iptables-restore --noflush` applying the same change to the floor namespace holding the
//!    same table. Target: p50 under 100 ms. Checks once that the kernel has the new endpoint.
//!    References: the same chains rewritten with none created or deleted, and the same rewrite
//!    after removing the jumps from the built-in chains (nf_tables revalidates every hooked
//!    base chain's jump graph on each commit, ~40 ms each at 10k Services here);
//! 4. memory: kube-proxy-lite's VmRSS/VmHWM with N Services next to its VmRSS with 0 Services;
//! 5. reject: a Service without endpoints added to the daemon's table; a pod on that node
//!    connecting to it must be refused (REJECT) at once, not time out (`tests/services.rs`
//!    checks it is refused; the time, under 1 s there, is measured here), next to the same pod
//!    connecting to a closed port of another pod (refused by that pod's kernel).
//!
//! Steps 1 and 2 alternate their samples over `--rounds` rounds (floor, ours, floor, ours...;
//! before each sample of step 2 the tables its target namespace holds are flushed and their
//! chains deleted, untimed, so from round 2 on each starts from empty tables rather than from a
//! fresh namespace); step 3 interleaves floor and daemon in each of its rounds; step 5 alternates
//! the two connects. Every timed sample runs under the CPU-steal check of
//! `flannel_integration::bench` (rerun when steal exceeded `--max-steal`, step 3 takes a fresh
//! round instead). Figures are median [min .. max] over the rounds, ratios the spread of the
//! per-round ratios.
//!
//! Also (with the daemon of step 3/4): a rule of another program added to POSTROUTING before the
//! daemon starts and one added while its first full sync's `iptables-restore` runs must both
//! survive (the spec applies with `--noflush`, which never touches rules of others).
//!
//! Everything runs in lab namespaces (`fl-<6 hex>-*`), deleted when the lab is dropped; no
//! flanneld or etcd is needed. Endpoints are fake addresses in 10.244.0.0/16, ClusterIPs are
//! 10.96.0.10 and up.
//!
//! Set `FLANNEL_BIN_DIR=target/release` to benchmark the release kube-proxy-lite.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use flannel_integration::bench::{
    main_with, mib, pass, print_summary, ratio_spread, ratios, spread, CpuTimes, Row, Sampler,
    Spread, StealOpts,
};
use flannel_integration::services::{
    count_chains, iptables_save, sep_chain, service_list, spawn_kube_proxy, sync_lines, tail,
    tcp_connect, write_atomic, KubeProxy, Service, SyncLine, CLUSTER_CIDR, KUBE_PROXY_BIN,
};
use flannel_integration::{try_workspace_bin, Lab};

const MAX_SERVICES: u64 = 20_000;
const TARGET_FULL_RATIO: f64 = 1.5;
const TARGET_PARTIAL: Duration = Duration::from_millis(100);
const PARTIAL_ROUNDS: usize = 5;
/// Upper bound for one kube-proxy-lite or iptables-restore run.
const RUN_TIMEOUT_S: u64 = 240;
const TARGET_PORT: u16 = 8080;
/// The connect to a Service without endpoints must be refused within this.
const TARGET_REJECT_MS: u64 = 1000;
/// ClusterIP of the Service without endpoints (outside the generated 10.96.0.10..).
const EMPTY_VIP: &str = "10.96.250.1";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Step {
    Render,
    Sync,
    Partial,
    Memory,
    Reject,
}

/// Measures kube-proxy-lite with N Services x 3 endpoints in the namespace lab, each figure
/// next to a baseline sampled in alternation with it.
#[derive(Parser, Debug)]
#[command(name = "bench-kube-proxy")]
struct Opts {
    /// Run only this step.
    #[arg(long, value_enum)]
    only: Option<Step>,
    /// Services in the table (3 endpoints each).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=MAX_SERVICES))]
    services: u64,
    /// Rounds of alternated samples (render, sync, reject).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    #[command(flatten)]
    steal: StealOpts,
}

impl Opts {
    fn wants(&self, s: Step) -> bool {
        self.only.is_none_or(|o| o == s)
    }
}

fn main() -> ExitCode {
    main_with("bench-kube-proxy", run)
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn fms(v: f64) -> String {
    ms(Duration::from_secs_f64(v.max(0.0) / 1000.0))
}

fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-9)
}

/// The i-th address after `base`.
fn nth_ip(base: Ipv4Addr, i: usize) -> Result<Ipv4Addr> {
    let i = u32::try_from(i).context("address index")?;
    let v = u32::from(base).checked_add(i).context("address overflow")?;
    Ok(Ipv4Addr::from(v))
}

/// `n` Services `bench-<i % 100>/svc-<i>` with ClusterIP 10.96.0.10+i, port 80 -> 8080 and three
/// fake endpoints 10.244.0.2+3i.. in the pod network.
fn generate(n: usize) -> Result<Vec<Service>> {
    let vip0 = Ipv4Addr::new(10, 96, 0, 10);
    let ep0 = Ipv4Addr::new(10, 244, 0, 2);
    (0..n)
        .map(|i| {
            let eps = (0..3)
                .map(|e| nth_ip(ep0, 3 * i + e))
                .collect::<Result<Vec<_>>>()?;
            Ok(Service::tcp(
                &format!("bench-{}", i % 100),
                &format!("svc-{i}"),
                &nth_ip(vip0, i)?.to_string(),
                80,
                i64::from(TARGET_PORT),
            )
            .with_endpoints(eps))
        })
        .collect()
}

fn services_json(list: &[Service]) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&service_list(list))?)
}

/// Runs `cmdline` (a shell command line) in `ns`, capped at [`RUN_TIMEOUT_S`]; returns its exit
/// code and run time measured inside the namespace (so `ip netns exec` is not counted).
fn timed_sh(lab: &Lab, ns: &str, cmdline: &str) -> Result<(i32, Duration)> {
    let script = format!(
        "s=$(date +%s%N); timeout {RUN_TIMEOUT_S} {cmdline}; rc=$?; e=$(date +%s%N); \
         echo \"$rc $((e - s))\""
    );
    let out = lab.sh(ns, &script)?;
    let mut it = out.split_whitespace();
    let rc: i32 = it
        .next()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("timing output {out:?}"))?;
    let nanos: u64 = it
        .next()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("timing output {out:?}"))?;
    if rc == 124 {
        bail!("`{cmdline}` did not finish within {RUN_TIMEOUT_S} s");
    }
    Ok((rc, Duration::from_nanos(nanos)))
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// The `--dry-run` output and what we learnt from running it.
struct DryRun {
    payload: PathBuf,
    wall: Duration,
    line: Option<SyncLine>,
    text: String,
}

struct Bench {
    lab: Lab,
    bin: PathBuf,
    n: usize,
    file: PathBuf,
    services: Vec<Service>,
    dry: Option<DryRun>,
    /// Plain iptables-restore of the payload into an empty namespace (node 2).
    floor: Option<Duration>,
    daemon: Option<KubeProxy>,
    daemon_first: Option<(SyncLine, Duration)>,
    race_row: Option<Row>,
    rows: Vec<Row>,
    rounds: u32,
    /// Namespaces a full payload was loaded into (flushed before the next load).
    loaded: Vec<String>,
}

impl Bench {
    fn kpl_cmd(&self, extra: &str) -> String {
        format!(
            "{} --services {} --cluster-cidr {CLUSTER_CIDR} {extra}",
            quote(&self.bin),
            quote(&self.file)
        )
    }

    /// `kube-proxy-lite --dry-run` in node 1 (nothing is changed there), run once and kept.
    fn dry_run(&mut self) -> Result<&DryRun> {
        if self.dry.is_none() {
            let d = self.run_dry()?;
            self.dry = Some(d);
        }
        self.dry.as_ref().context("dry run")
    }

    /// One `kube-proxy-lite --dry-run` in node 1.
    fn run_dry(&self) -> Result<DryRun> {
        {
            let ns = self.lab.node_ns(1);
            let payload = self.lab.dir().join("dry-run.txt");
            let err = self.lab.dir().join("dry-run.err");
            let cmd = format!(
                "{} > {} 2> {}",
                self.kpl_cmd("--dry-run"),
                quote(&payload),
                quote(&err)
            );
            let (rc, wall) = timed_sh(&self.lab, &ns, &cmd)?;
            let stderr = std::fs::read_to_string(&err).unwrap_or_default();
            ensure!(
                rc == 0,
                "kube-proxy-lite --dry-run exited {rc}:\n{}",
                tail(&stderr, 20)
            );
            let text = std::fs::read_to_string(&payload)
                .with_context(|| format!("reading {}", payload.display()))?;
            let svc = text.lines().filter(|l| l.starts_with(":KUBE-SVC-")).count();
            let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
            ensure!(
                svc == self.n,
                "--dry-run declares {svc} KUBE-SVC chains for {} Services",
                self.n
            );
            let line = sync_lines(&stderr).into_iter().next();
            println!(
                "   --dry-run: {} in {} ({} lines, {rules} rules, {:.1} MB); sync line: {}",
                self.n,
                ms(wall),
                text.lines().count(),
                text.len() as f64 / 1e6,
                line.as_ref()
                    .map(|l| format!("{l:?}"))
                    .unwrap_or_else(|| "none printed".into())
            );
            Ok(DryRun {
                payload,
                wall,
                line,
                text,
            })
        }
    }

    /// Before loading a full payload into `ns`: flush it if one was loaded there before.
    fn prepare(&mut self, ns: &str) -> Result<()> {
        if self.loaded.iter().any(|l| l == ns) {
            self.flush(ns)
        } else {
            self.loaded.push(ns.to_string());
            Ok(())
        }
    }

    /// Flushes and deletes every chain of the tables the payload loads, in `ns` (untimed; the
    /// start of a full-sync sample from round 2 on).
    fn flush(&mut self, ns: &str) -> Result<()> {
        let tables: Vec<String> = self
            .dry_run()?
            .text
            .lines()
            .filter_map(|l| l.strip_prefix('*'))
            .map(|t| t.trim().to_string())
            .collect();
        let script: Vec<String> = tables
            .iter()
            .map(|t| format!("iptables -w -t {t} -F && iptables -w -t {t} -X"))
            .collect();
        if !script.is_empty() {
            self.lab.sh(ns, &script.join(" && "))?;
        }
        Ok(())
    }

    /// Plain `iptables-restore` of the dry-run payload into node 2 (empty): the floor.
    fn floor(&mut self) -> Result<Duration> {
        if let Some(f) = self.floor {
            return Ok(f);
        }
        let text = self.dry_run()?.text.clone();
        // Plain restore flushes the tables it loads; lines that only make sense on top of an
        // existing state (deleting chains or rules) are dropped.
        let mut dropped = Vec::new();
        let plain: String = text
            .lines()
            .filter(|l| {
                let keep = !(l.starts_with("-X") || l.starts_with("-D") || l.starts_with("-F"));
                if !keep {
                    dropped.push(l.to_string());
                }
                keep
            })
            .fold(String::with_capacity(text.len()), |mut acc, l| {
                acc.push_str(l);
                acc.push('\n');
                acc
            });
        let path = self.lab.dir().join("floor-plain.txt");
        std::fs::write(&path, plain).context("writing the floor payload")?;
        let took = self.run_floor()?;
        println!(
            "   floor: plain iptables-restore of the same payload into an empty namespace: {} \
             ({} --noflush-only lines dropped{})",
            ms(took),
            dropped.len(),
            dropped
                .first()
                .map(|l| format!(", e.g. {l:?}"))
                .unwrap_or_default()
        );
        self.floor = Some(took);
        Ok(took)
    }

    /// One plain `iptables-restore` of the floor payload into node 2 (flushed first when
    /// loaded before), checked.
    fn run_floor(&mut self) -> Result<Duration> {
        let path = self.lab.dir().join("floor-plain.txt");
        let ns = self.lab.node_ns(2);
        self.prepare(&ns)?;
        let (rc, took) = timed_sh(
            &self.lab,
            &ns,
            &format!("iptables-restore --wait < {}", quote(&path)),
        )?;
        ensure!(
            rc == 0,
            "plain iptables-restore of the dry-run payload failed ({rc})"
        );
        let nat = iptables_save(&self.lab, &ns, Some("nat"))?;
        let got = count_chains(&nat, "KUBE-SVC-");
        ensure!(
            got == self.n,
            "the floor namespace has {got} KUBE-SVC chains, want {}",
            self.n
        );
        Ok(took)
    }

    /// One floor sample under the steal check, in seconds.
    fn floor_sample(&mut self, sampler: &mut Sampler, round: u32) -> Result<f64> {
        self.floor()?;
        let r = sampler.sample("plain restore floor", || self.run_floor())?;
        println!(
            "   round {round}: plain restore floor {} (steal {:.1}%)",
            ms(r.value),
            r.steal
        );
        Ok(r.value.as_secs_f64())
    }

    fn render(&mut self, sampler: &mut Sampler) -> Result<()> {
        println!(
            "\n== render: kube-proxy-lite --dry-run, {} Services x 3 endpoints, {} round(s)",
            self.n, self.rounds
        );
        let (mut floors, mut walls, mut renders) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=self.rounds {
            floors.push(self.floor_sample(sampler, round)?);
            let d = sampler.sample("--dry-run", || self.run_dry())?;
            println!(
                "   round {round}: --dry-run {} (render_ms {}; steal {:.1}%)",
                ms(d.value.wall),
                d.value
                    .line
                    .as_ref()
                    .map_or("n/a".into(), |l| fms(l.render_ms)),
                d.steal
            );
            walls.push(d.value.wall.as_secs_f64());
            if let Some(l) = &d.value.line {
                renders.push(l.render_ms);
            }
        }
        let s = |v: f64| ms(Duration::from_secs_f64(v));
        println!(
            "render: --dry-run {} (render_ms {}), plain iptables-restore floor {}, ratio {}",
            spread(&walls, s),
            spread(&renders, fms),
            spread(&floors, s),
            ratio_spread(&walls, &floors)
        );
        self.rows.push(Row {
            what: format!("render {} svc (--dry-run)", self.n),
            ours: format!(
                "{} wall, render_ms {}",
                spread(&walls, s),
                if renders.is_empty() {
                    "n/a (no sync line)".into()
                } else {
                    spread(&renders, fms)
                }
            ),
            baseline: format!("{} restore floor", spread(&floors, s)),
            ratio: ratio_spread(&walls, &floors),
            target: "-".into(),
            result: "-".into(),
        });
        Ok(())
    }

    /// One `iptables-restore --noflush` of the payload into node 4 (flushed first when loaded
    /// before).
    fn run_noflush(&mut self) -> Result<Duration> {
        let payload = self.dry_run()?.payload.clone();
        let ns4 = self.lab.node_ns(4);
        self.prepare(&ns4)?;
        let (rc, took) = timed_sh(
            &self.lab,
            &ns4,
            &format!("iptables-restore --noflush --wait < {}", quote(&payload)),
        )?;
        ensure!(
            rc == 0,
            "iptables-restore --noflush of the payload failed ({rc})"
        );
        Ok(took)
    }

    /// One `kube-proxy-lite --once` into node 1 (flushed first when loaded before): its sync
    /// line and wall time.
    fn run_once(&mut self) -> Result<(SyncLine, Duration)> {
        let ns = self.lab.node_ns(1);
        self.prepare(&ns)?;
        let err = self.lab.dir().join("once.err");
        let cmd = format!("{} 2> {}", self.kpl_cmd("--once"), quote(&err));
        let (rc, wall) = timed_sh(&self.lab, &ns, &cmd)?;
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        ensure!(
            rc == 0,
            "kube-proxy-lite --once exited {rc}:\n{}",
            tail(&stderr, 20)
        );
        let lines = sync_lines(&stderr);
        let line = lines
            .first()
            .with_context(|| format!("--once printed no sync line:\n{}", tail(&stderr, 20)))?
            .clone();
        let nat = iptables_save(&self.lab, &ns, Some("nat"))?;
        let got = count_chains(&nat, "KUBE-SVC-");
        ensure!(
            got == self.n,
            "after --once node 1 has {got} KUBE-SVC chains, want {}",
            self.n
        );
        Ok((line, wall))
    }

    fn sync(&mut self, sampler: &mut Sampler) -> Result<()> {
        println!(
            "\n== first full sync: kube-proxy-lite --once into an empty node namespace, {} round(s)",
            self.rounds
        );
        let (mut floors, mut noflush, mut totals, mut applies, mut walls) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 1..=self.rounds {
            floors.push(self.floor_sample(sampler, round)?);
            // Reference: the same payload with --noflush (what the spec's applier runs), in
            // the first round only: into an empty namespace it takes a minute or more.
            if round == 1 {
                let nf = sampler.sample("restore --noflush", || self.run_noflush())?;
                noflush.push(nf.value.as_secs_f64());
                println!(
                    "   round {round}: restore --noflush {} (steal {:.1}%)",
                    ms(nf.value),
                    nf.steal
                );
            }
            let once = sampler.sample("--once", || self.run_once())?;
            let (line, wall) = once.value;
            println!(
                "   round {round}: --once total_ms {} (render {}, apply {}), wall {} (steal {:.1}%)",
                fms(line.total_ms),
                fms(line.render_ms),
                fms(line.apply_ms),
                ms(wall),
                once.steal
            );
            totals.push(line.total_ms / 1000.0);
            applies.push(line.apply_ms / 1000.0);
            walls.push(wall.as_secs_f64());
        }
        let s = |v: f64| ms(Duration::from_secs_f64(v));
        let r = ratios(&totals, &floors);
        let ok = Spread::of(&r).is_some_and(|x| x.median <= TARGET_FULL_RATIO);
        println!(
            "full sync {}: --once total_ms {} (apply {}), wall {}; plain restore floor {}; \
             ratio {} (wall {}), target median <= {TARGET_FULL_RATIO}x: {}",
            self.n,
            spread(&totals, s),
            spread(&applies, s),
            spread(&walls, s),
            spread(&floors, s),
            ratio_spread(&totals, &floors),
            ratio_spread(&walls, &floors),
            pass(ok)
        );
        self.rows.push(Row {
            what: format!("first full sync {} svc (--once)", self.n),
            ours: format!(
                "{} (apply {}, wall {})",
                spread(&totals, s),
                spread(&applies, s),
                spread(&walls, s)
            ),
            baseline: format!("{} plain restore", spread(&floors, s)),
            ratio: format!(
                "{} (wall {})",
                ratio_spread(&totals, &floors),
                ratio_spread(&walls, &floors)
            ),
            target: format!("median <= {TARGET_FULL_RATIO}x"),
            result: pass(ok),
        });
        let mut row = Row::new("  ref: restore --noflush, same payload");
        row.ours = "n/a".into();
        row.baseline = spread(&noflush, s);
        row.ratio = format!("{} of floor", ratio_spread(&noflush, &floors));
        self.rows.push(row);
        Ok(())
    }

    /// kube-proxy-lite as a daemon in node 3 with the N-Service file, past its first sync.
    ///
    /// Also checks what a full sync does to rules of other programs: one added to POSTROUTING
    /// before the daemon starts, and one added while the `iptables-restore` (without
    /// `--noflush`) of its first full sync runs, i.e. after it read the tables and before it
    /// wrote them.
    fn daemon(&mut self) -> Result<KubeProxy> {
        if let Some(d) = &self.daemon {
            return Ok(d.clone());
        }
        let ns3 = self.lab.node_ns(3);
        let foreign = |tag: &str, ip: &str| {
            format!(
                "iptables -w -t nat -A POSTROUTING -s {ip}/32 -m comment --comment {tag} -j RETURN"
            )
        };
        self.lab
            .sh(&ns3, &foreign("lab-foreign-before", "192.0.2.1"))?;
        let t0 = Instant::now();
        let kp = spawn_kube_proxy(
            &mut self.lab,
            3,
            &self.file,
            &["--min-sync-period", "0.05", "--sync-period", "3600"],
        )?;
        let pid = self
            .lab
            .pid(kp.id)
            .context("kube-proxy-lite exited at once")?;
        // (when the replace-restore was seen, whether it still ran after our insertion)
        let mut race: Option<(Duration, bool)> = None;
        while kp.syncs(&self.lab).is_empty() && t0.elapsed() < Duration::from_secs(RUN_TIMEOUT_S) {
            if let Some(child) = replace_restore_child(pid) {
                let seen = t0.elapsed();
                self.lab
                    .sh(&ns3, &foreign("lab-foreign-mid-sync", "192.0.2.2"))?;
                let still = Path::new(&format!("/proc/{child}")).exists();
                race = Some((seen, still));
                break;
            }
            if !self.lab.is_running(kp.id) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let line = kp.wait_sync_after(&mut self.lab, 0, Duration::from_secs(RUN_TIMEOUT_S))?;
        let took = t0.elapsed();
        println!(
            "   daemon (node 3, --min-sync-period 0.05 --sync-period 3600): first sync after {} \
             ({line:?})",
            ms(took)
        );
        let nat = iptables_save(&self.lab, &ns3, Some("nat"))?;
        let before_kept = nat.contains("lab-foreign-before");
        let mid_kept = nat.contains("lab-foreign-mid-sync");
        let keep = |k: bool| if k { "kept" } else { "LOST" };
        match race {
            Some((seen, true)) => {
                println!(
                    "   rules of other programs: added before the daemon started: {}; added while \
                     its full-sync iptables-restore ran ({} after start): {}",
                    keep(before_kept),
                    ms(seen),
                    keep(mid_kept)
                );
                let mut r = Row::new("foreign rule added during a full sync");
                r.ours = keep(mid_kept).to_lowercase();
                r.baseline = format!("{} if added before", keep(before_kept).to_lowercase());
                r.target = "kept (--noflush)".into();
                r.result = pass(mid_kept && before_kept);
                self.race_row = Some(r);
            }
            Some((seen, false)) => println!(
                "   rules of other programs: added before: {}; the full-sync restore seen at {} had \
                 ended before the insertion, race not tested ({})",
                keep(before_kept),
                ms(seen),
                keep(mid_kept)
            ),
            None => println!(
                "   rules of other programs: added before: {}; no full-sync iptables-restore child \
                 seen (race not tested)",
                keep(before_kept)
            ),
        }
        self.daemon = Some(kp.clone());
        self.daemon_first = Some((line, took));
        Ok(kp)
    }

    fn partial(&mut self, sampler: &mut Sampler) -> Result<()> {
        println!(
            "\n== partial sync: one endpoint of one Service changed, {PARTIAL_ROUNDS} rounds, {} Services",
            self.n
        );
        self.floor()?;
        let kp = self.daemon()?;
        // Chains of the dry-run payload by name, for the baseline's small payloads.
        let mut by_chain: HashMap<String, Vec<String>> = HashMap::new();
        for l in self.dry_run()?.text.lines() {
            if let Some(rest) = l.strip_prefix("-A ") {
                let chain = rest.split(' ').next().unwrap_or_default().to_string();
                by_chain.entry(chain).or_default().push(l.to_string());
            }
        }
        let ns2 = self.lab.node_ns(2);
        let mut e2e = Vec::new();
        let mut totals = Vec::new();
        let mut floors = Vec::new();
        let mut floors_rewrite = Vec::new();
        let mut applies = Vec::new();
        let mut renders = Vec::new();
        let mut kinds = Vec::new();
        let mut chains = Vec::new();
        let mut changed = Vec::new();
        let mut round_ratios = Vec::new();
        // A round whose steal was too high is replaced by a fresh one (another change).
        let (mut round, mut attempt) = (0, 0);
        while e2e.len() < PARTIAL_ROUNDS && round < 3 * PARTIAL_ROUNDS {
            let cpu0 = CpuTimes::read()?;
            let idx = (round * 1997 + 13) % self.n;
            let new_ip = Ipv4Addr::new(10, 244, 255, u8::try_from(10 + round)?);
            let svc = self.services[idx].clone();
            let old_ip = svc.endpoints[0].clone();
            self.services[idx].endpoints[0] = new_ip.to_string();

            // Baseline: the same change as a --noflush payload, applied to the floor namespace
            // (creates the new endpoint chain, deletes the old one).
            let small = partial_payload(&svc, &old_ip, &new_ip.to_string(), &by_chain, true)?;
            let small_path = self.lab.dir().join(format!("partial-{round}.txt"));
            std::fs::write(&small_path, small)?;
            let (rc, fl) = timed_sh(
                &self.lab,
                &ns2,
                &format!("iptables-restore --noflush --wait < {}", quote(&small_path)),
            )?;
            ensure!(rc == 0, "baseline partial restore failed ({rc})");
            // Reference: rewriting the same (now existing) chains again, no chain created or
            // deleted: what the change costs without nf_tables' chain bookkeeping.
            let rewrite = partial_payload(&svc, &old_ip, &new_ip.to_string(), &by_chain, false)?;
            let rewrite_path = self.lab.dir().join(format!("partial-{round}-rewrite.txt"));
            std::fs::write(&rewrite_path, rewrite)?;
            let (rc, fl_rw) = timed_sh(
                &self.lab,
                &ns2,
                &format!(
                    "iptables-restore --noflush --wait < {}",
                    quote(&rewrite_path)
                ),
            )?;
            ensure!(rc == 0, "baseline rewrite-only restore failed ({rc})");

            // kube-proxy-lite: write the new file beside, then time from the rename.
            let json = services_json(&self.services)?;
            let tmp = self.file.with_extension(format!("tmp{round}"));
            std::fs::write(&tmp, json)?;
            let seen = kp.syncs(&self.lab).len();
            let t0 = Instant::now();
            std::fs::rename(&tmp, &self.file)?;
            let line = loop {
                let lines = kp.syncs(&self.lab);
                if lines.len() > seen {
                    break lines[seen].clone();
                }
                if t0.elapsed() > Duration::from_secs(RUN_TIMEOUT_S) {
                    bail!(
                        "no sync within {RUN_TIMEOUT_S} s after changing {}",
                        svc.key()
                    );
                }
                if !self.lab.is_running(kp.id) {
                    bail!("kube-proxy-lite exited:\n{}", tail(&kp.log(&self.lab), 20));
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let took = t0.elapsed();
            let steal = cpu0.steal_percent(&CpuTimes::read()?);
            changed.push((svc.key(), old_ip.clone(), new_ip));
            round += 1;
            if !sampler.keep(&format!("partial round {round}"), steal, attempt) {
                attempt += 1;
                continue;
            }
            attempt = 0;
            println!(
                "   round {round}: {} endpoint {old_ip} -> {new_ip}: sync line after {} \
                 (kind={} chains={} total_ms {} render_ms {} apply_ms {}); baseline restore {} \
                 (rewrite only {}; steal {steal:.1}%)",
                svc.key(),
                ms(took),
                line.kind,
                line.chains,
                fms(line.total_ms),
                fms(line.render_ms),
                fms(line.apply_ms),
                ms(fl),
                ms(fl_rw)
            );
            e2e.push(took);
            floors.push(fl);
            floors_rewrite.push(fl_rw);
            round_ratios.push(took.as_secs_f64() / fl.as_secs_f64().max(1e-9));
            totals.push(Duration::from_secs_f64(line.total_ms.max(0.0) / 1000.0));
            kinds.push(line.kind.clone());
            chains.push(line.chains);
            applies.push(Duration::from_secs_f64(line.apply_ms.max(0.0) / 1000.0));
            renders.push(Duration::from_secs_f64(line.render_ms.max(0.0) / 1000.0));
            if line.kind != "partial" && took > Duration::from_secs(5) {
                println!("   (a full sync per change: stopping after this round)");
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        // Once: the kernel has the new endpoints and not the old ones.
        let nat = iptables_save(&self.lab, &self.lab.node_ns(3), Some("nat"))?;
        let mut missing = Vec::new();
        for (key, old_ip, new_ip) in &changed {
            if !nat.contains(&format!("--to-destination {new_ip}:{TARGET_PORT}")) {
                missing.push(format!("{key}: no DNAT to {new_ip}"));
            }
            if nat.contains(&format!("--to-destination {old_ip}:{TARGET_PORT}")) {
                missing.push(format!("{key}: DNAT to the removed {old_ip} still there"));
            }
        }
        let kernel_ok = missing.is_empty();
        println!(
            "   kernel check (iptables-save -t nat on node 3): {}",
            if kernel_ok {
                "every new endpoint present, every old one gone".to_string()
            } else {
                missing.join("; ")
            }
        );
        // Reference: the last rewrite again after unhooking our chains from the built-in chains
        // of the floor namespace (nf_tables validates the jump graph of every hooked base chain
        // on each commit, which dominates small changes to a large table).
        let unhooked = self.unhooked_rewrite(&ns2)?;
        let p50 = median(&e2e);
        let p50_total = median(&totals);
        let p50_floor = median(&floors);
        let p50_rewrite = median(&floors_rewrite);
        let all_partial = kinds.iter().all(|k| k == "partial");
        let ok = p50 < TARGET_PARTIAL && all_partial && kernel_ok;
        let secs_v = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        let sms = |v: f64| ms(Duration::from_secs_f64(v));
        let ratio_text = spread(&round_ratios, |v| format!("{v:.1}x"));
        println!(
            "partial sync: rename->sync line {} (line total_ms p50 {}), kinds {kinds:?}; \
             baseline restore --noflush of the same change {}; ratio {ratio_text}; target p50 < {}: {}",
            spread(&secs_v(&e2e), sms),
            ms(p50_total),
            spread(&secs_v(&floors), sms),
            ms(TARGET_PARTIAL),
            pass(ok)
        );
        self.rows.push(Row {
            what: format!("partial sync, 1 endpoint of {} svc", self.n),
            ours: format!(
                "{} (total_ms p50 {}, render {}, apply {}, chains={}{})",
                spread(&secs_v(&e2e), sms),
                ms(p50_total),
                ms(median(&renders)),
                ms(median(&applies)),
                chains.iter().max().copied().unwrap_or_default(),
                if all_partial {
                    String::new()
                } else {
                    format!(", kinds {kinds:?}")
                }
            ),
            baseline: format!("{} restore --noflush", spread(&secs_v(&floors), sms)),
            ratio: ratio_text,
            target: format!("p50 < {}", ms(TARGET_PARTIAL)),
            result: if kernel_ok {
                pass(ok)
            } else {
                "MISS (kernel)".into()
            },
        });
        let mut r = Row::new("  ref: same chains rewritten, none created/deleted");
        r.ours = "n/a".into();
        r.baseline = format!("{} restore --noflush", ms(p50_rewrite));
        r.ratio = format!(
            "{:.2}x of floor",
            ratio(p50_rewrite.as_secs_f64(), p50_floor.as_secs_f64())
        );
        self.rows.push(r);
        if let Some(u) = unhooked {
            let mut r = Row::new("  ref: same rewrite, built-in jumps removed");
            r.ours = "n/a".into();
            r.baseline = format!("{} restore --noflush", ms(u));
            r.ratio = format!(
                "{:.2}x of floor",
                ratio(u.as_secs_f64(), p50_floor.as_secs_f64())
            );
            self.rows.push(r);
        }
        Ok(())
    }

    /// Deletes the nat jumps from built-in chains in `ns` and times the last round's rewrite-only
    /// payload three times (median); None when there was no round.
    fn unhooked_rewrite(&self, ns: &str) -> Result<Option<Duration>> {
        let last = (0..PARTIAL_ROUNDS)
            .rev()
            .map(|r| self.lab.dir().join(format!("partial-{r}-rewrite.txt")))
            .find(|p| p.is_file());
        let Some(payload) = last else {
            return Ok(None);
        };
        let nat = iptables_save(&self.lab, ns, Some("nat"))?;
        let jumps: Vec<&str> = nat
            .lines()
            .filter(|l| {
                ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]
                    .iter()
                    .any(|c| l.starts_with(&format!("-A {c} ")))
            })
            .collect();
        for j in &jumps {
            self.lab.sh(
                ns,
                &format!("iptables -w -t nat {}", j.replacen("-A ", "-D ", 1)),
            )?;
        }
        let mut times = Vec::new();
        for _ in 0..3 {
            let (rc, t) = timed_sh(
                &self.lab,
                ns,
                &format!("iptables-restore --noflush --wait < {}", quote(&payload)),
            )?;
            ensure!(rc == 0, "unhooked rewrite restore failed ({rc})");
            times.push(t);
        }
        let m = median(&times);
        println!(
            "   reference: the same rewrite with the {} nat jumps from built-in chains removed: {}",
            jumps.len(),
            ms(m)
        );
        Ok(Some(m))
    }

    fn memory(&mut self, _: &mut Sampler) -> Result<()> {
        println!("\n== memory: VmRSS with {} Services and with 0", self.n);
        // 0 Services in node 5.
        let empty = self.lab.dir().join("services-empty.json");
        write_atomic(&empty, &services_json(&[])?)?;
        let kp0 = spawn_kube_proxy(&mut self.lab, 5, &empty, &["--min-sync-period", "0.05"])?;
        kp0.wait_sync_after(&mut self.lab, 0, Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(1));
        let (rss0, hwm0) = mem_of(&mut self.lab, &kp0)?;
        let kp = self.daemon()?;
        std::thread::sleep(Duration::from_millis(500));
        let (rss, hwm) = mem_of(&mut self.lab, &kp)?;
        let r = ratio(rss as f64, rss0 as f64);
        let per_svc = (rss.saturating_sub(rss0) as f64 * 1024.0) / self.n as f64;
        println!(
            "memory: VmRSS {} (VmHWM {}) with {} Services, {} (VmHWM {}) with 0; ratio {r:.1}x; \
             ~{per_svc:.0} bytes per Service",
            mib(rss),
            mib(hwm),
            self.n,
            mib(rss0),
            mib(hwm0)
        );
        self.rows.push(Row {
            what: format!("VmRSS, {} svc", self.n),
            ours: format!("{} (VmHWM {})", mib(rss), mib(hwm)),
            baseline: format!("{} with 0 svc", mib(rss0)),
            ratio: format!("{r:.1}x (~{per_svc:.0} B/svc)"),
            target: "-".into(),
            result: "-".into(),
        });
        self.lab.kill(kp0.id, libc::SIGTERM)?;
        Ok(())
    }

    /// A Service without endpoints added to the daemon's table; a pod on the daemon's node
    /// connects to it (REJECT: refused at once) and, alternating, to a closed port of another
    /// pod on the same bridge (refused by that pod's kernel).
    fn reject(&mut self, sampler: &mut Sampler) -> Result<()> {
        println!(
            "\n== reject: connect to a Service without endpoints ({EMPTY_VIP}:80) from a pod, {} round(s)",
            self.rounds
        );
        let kp = self.daemon()?;
        let client = self
            .lab
            .add_pod(3, "rc", "10.244.250.2/24", "10.244.250.1")?;
        self.lab
            .add_pod(3, "rt", "10.244.250.3/24", "10.244.250.1")?;
        let target: Ipv4Addr = "10.244.250.3".parse()?;
        let vip: Ipv4Addr = EMPTY_VIP.parse()?;
        let empty = Service::tcp(
            "bench-empty",
            "empty",
            EMPTY_VIP,
            80,
            i64::from(TARGET_PORT),
        );
        let mut list = self.services.clone();
        list.push(empty);
        let seen = kp.syncs(&self.lab).len();
        write_atomic(&self.file, &services_json(&list)?)?;
        let line = kp.wait_sync_after(&mut self.lab, seen, Duration::from_secs(RUN_TIMEOUT_S))?;
        println!("   Service without endpoints added: {line:?}");
        let (mut ours, mut base, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=self.rounds {
            let b = sampler.sample("connect to a closed pod port", || {
                tcp_connect(&self.lab, &client, target, 9999, 3000)
            })?;
            let o = sampler.sample("connect to the Service without endpoints", || {
                tcp_connect(&self.lab, &client, vip, 80, 3000)
            })?;
            println!(
                "   round {round}: Service {} after {} ms (steal {:.1}%); closed pod port {} after {} ms (steal {:.1}%)",
                o.value.0, o.value.1, o.steal, b.value.0, b.value.1, b.steal
            );
            outcomes.push(o.value.0.clone());
            ours.push(o.value.1 as f64);
            base.push(b.value.1 as f64);
            ensure!(
                b.value.0 == "refused",
                "the closed port of pod {target} answered {:?}, want refused",
                b.value.0
            );
        }
        let all_refused = outcomes.iter().all(|o| o == "refused");
        let max = Spread::of(&ours).map_or(f64::MAX, |s| s.max);
        let ok = all_refused && max < TARGET_REJECT_MS as f64;
        let msf = |v: f64| format!("{v:.0} ms");
        println!(
            "reject: connect to a Service without endpoints {} ({}), closed pod port {}; target \
             refused in < {TARGET_REJECT_MS} ms every round: {}",
            spread(&ours, msf),
            outcomes.join(" "),
            spread(&base, msf),
            pass(ok)
        );
        self.rows.push(Row {
            what: "connect to a Service without endpoints (labtool, whole ms)".into(),
            ours: format!(
                "{} {}",
                if all_refused {
                    "refused".to_string()
                } else {
                    outcomes.join("/")
                },
                spread(&ours, msf)
            ),
            baseline: format!("refused {} closed pod port", spread(&base, msf)),
            ratio: "-".into(),
            target: format!("refused, < {TARGET_REJECT_MS} ms"),
            result: pass(ok),
        });
        // Back to the benchmark's table.
        let seen = kp.syncs(&self.lab).len();
        write_atomic(&self.file, &services_json(&self.services)?)?;
        kp.wait_sync_after(&mut self.lab, seen, Duration::from_secs(RUN_TIMEOUT_S))?;
        Ok(())
    }
}

/// The `--noflush` payload that moves endpoint `old_ip` of `svc` to `new_ip`: the Service's
/// chain and endpoint chains rewritten (from the dry-run text), and with `delete_old` the old
/// endpoint chain flushed and deleted.
fn partial_payload(
    svc: &Service,
    old_ip: &str,
    new_ip: &str,
    by_chain: &HashMap<String, Vec<String>>,
    delete_old: bool,
) -> Result<String> {
    let p = &svc.ports[0];
    let old_ep = format!("{old_ip}:{}", p.target_port);
    let new_ep = format!("{new_ip}:{}", p.target_port);
    let old_sep = sep_chain(&svc.namespace, &svc.name, &p.name, &p.protocol, &old_ep);
    let new_sep = sep_chain(&svc.namespace, &svc.name, &p.name, &p.protocol, &new_ep);
    let svc_chain = svc.svc_chain();
    let svc_rules = by_chain
        .get(&svc_chain)
        .with_context(|| format!("{svc_chain} ({}) not in the dry-run output", svc.key()))?;
    let mut seps: Vec<String> = Vec::new();
    for r in svc_rules {
        if let Some(at) = r.find("-j KUBE-SEP-") {
            let name = r[at + 3..].split(' ').next().unwrap_or_default();
            seps.push(name.to_string());
        }
    }
    ensure!(
        seps.contains(&old_sep),
        "{svc_chain} does not jump to {old_sep} (the hash of {old_ep}); jumps: {seps:?}"
    );
    let fix = |l: &str| replace_ip(l, old_ip, new_ip).replace(&old_sep, &new_sep);
    let mut out = String::from("*nat\n");
    let _ = writeln!(out, ":{svc_chain} - [0:0]");
    for s in &seps {
        let _ = writeln!(out, ":{} - [0:0]", if *s == old_sep { &new_sep } else { s });
    }
    if delete_old {
        let _ = writeln!(out, ":{old_sep} - [0:0]");
    }
    for r in svc_rules {
        let _ = writeln!(out, "{}", fix(r));
    }
    for s in &seps {
        for r in by_chain.get(s).map(Vec::as_slice).unwrap_or_default() {
            let _ = writeln!(out, "{}", fix(r));
        }
    }
    if delete_old {
        let _ = writeln!(out, "-X {old_sep}");
    }
    out.push_str("COMMIT\n");
    Ok(out)
}

/// Replaces whole occurrences of the address `old` (not followed or preceded by a digit or dot
/// that would make it a different address).
fn replace_ip(line: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(old) {
        let before = rest[..at].chars().last();
        let after = rest[at + old.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_digit() || c == '.');
        out.push_str(&rest[..at]);
        if boundary(before) && boundary(after) {
            out.push_str(new);
        } else {
            out.push_str(old);
        }
        rest = &rest[at + old.len()..];
    }
    out.push_str(rest);
    out
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

/// Pid of a running child of `parent` that is `iptables-restore` without `--noflush` (the
/// table-replacing restore of a full sync).
fn replace_restore_child(parent: u32) -> Option<u32> {
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised comm: state, ppid, ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_restore = argv
            .iter()
            .take(2)
            .any(|a| a.ends_with("iptables-restore") || a.ends_with("iptables-nft-restore"));
        if is_restore && !argv.iter().any(|a| a == "--noflush") {
            return Some(pid);
        }
    }
    None
}

/// (VmRSS, VmHWM) in KiB of a running kube-proxy-lite.
fn mem_of(lab: &mut Lab, kp: &KubeProxy) -> Result<(u64, u64)> {
    let pid = lab
        .pid(kp.id)
        .with_context(|| format!("kube-proxy-lite on node {} is not running", kp.node))?;
    // `ip netns exec` execs the program, so the tracked pid is kube-proxy-lite itself.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    ensure!(
        argv.iter().take(2).any(|a| a.ends_with(KUBE_PROXY_BIN)),
        "pid {pid} runs {argv:?}, expected {KUBE_PROXY_BIN}"
    );
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("no {name} in {path}"))?;
        line.trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("bad {name} value {line:?}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

type StepFn = fn(&mut Bench, &mut Sampler) -> Result<()>;

fn run(opts: &Opts) -> Result<bool> {
    let bin = try_workspace_bin(KUBE_PROXY_BIN)?;
    let started = Instant::now();
    println!("bench-kube-proxy: kube-proxy-lite binary {}", bin.display());
    let lab = Lab::new(5)?;
    let ver = lab.sh(&lab.node_ns(1), "iptables --version")?;
    println!(
        "bench-kube-proxy: lab {}, {} Services x 3 endpoints, {}",
        lab.prefix(),
        opts.services,
        ver.trim()
    );
    let t0 = Instant::now();
    let n = usize::try_from(opts.services)?;
    let services = generate(n)?;
    let file = lab.dir().join("services.json");
    let json = services_json(&services)?;
    write_atomic(&file, &json)?;
    println!(
        "   generated {} ({:.1} MB) in {}",
        file.display(),
        json.len() as f64 / 1e6,
        ms(t0.elapsed())
    );
    let mut b = Bench {
        lab,
        bin: bin.clone(),
        n,
        file,
        services,
        dry: None,
        floor: None,
        daemon: None,
        daemon_first: None,
        race_row: None,
        rows: Vec::new(),
        rounds: opts.rounds,
        loaded: Vec::new(),
    };
    let mut sampler = Sampler::new(&opts.steal);
    let mut failures = Vec::new();
    let steps: [(Step, &str, StepFn); 5] = [
        (Step::Render, "render", Bench::render),
        (Step::Sync, "sync", Bench::sync),
        (Step::Partial, "partial", Bench::partial),
        (Step::Memory, "memory", Bench::memory),
        (Step::Reject, "reject", Bench::reject),
    ];
    for (step, name, f) in steps {
        if !opts.wants(step) {
            continue;
        }
        if let Err(e) = f(&mut b, &mut sampler) {
            eprintln!("bench-kube-proxy: {name} step failed: {e:#}");
            let mut r = Row::new(format!("{name} step"));
            r.result = "FAILED".into();
            b.rows.push(r);
            failures.push(format!("{name}: {e:#}"));
        }
    }
    if let (Some((line, took)), Some(floor)) = (&b.daemon_first, b.floor) {
        let mut r = Row::new(format!("  ref: daemon's first full sync {} svc", b.n));
        r.ours = format!("{} (seen after {})", fms(line.total_ms), ms(*took));
        r.baseline = format!("{} plain restore", ms(floor));
        r.ratio = format!(
            "{:.2}x",
            line.total_ms / 1000.0 / floor.as_secs_f64().max(1e-9)
        );
        // Beside the other full-sync rows when they are there.
        let at = b
            .rows
            .iter()
            .position(|r| r.what.starts_with("  ref: restore --noflush"))
            .map_or(b.rows.len(), |i| i + 1);
        b.rows.insert(at, r);
    }
    if let Some(r) = b.race_row.take() {
        let at = b
            .rows
            .iter()
            .position(|r| r.what.starts_with("  ref: daemon's first full sync"))
            .map_or(b.rows.len(), |i| i + 1);
        b.rows.insert(at, r);
    }
    print_summary(
        "kube-proxy-lite",
        &b.rows,
        &bin.display().to_string(),
        started.elapsed(),
    );
    println!(
        "({}; figures are median [min .. max] over the rounds)",
        sampler.summary()
    );
    if !failures.is_empty() {
        println!("\n{} step(s) FAILED:", failures.len());
        for f in &failures {
            println!("  - {f}");
        }
    }
    Ok(failures.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_ip_only_replaces_whole_addresses() {
        assert_eq!(
            replace_ip(
                "-s 10.244.0.2/32 x 10.244.0.23 y 110.244.0.2 --to-destination 10.244.0.2:8080",
                "10.244.0.2",
                "10.244.255.10"
            ),
            "-s 10.244.255.10/32 x 10.244.0.23 y 110.244.0.2 --to-destination 10.244.255.10:8080"
        );
    }

    #[test]
    fn partial_payload_rewrites_the_service_and_deletes_the_old_endpoint_chain() {
        let svc = generate(1).unwrap().remove(0);
        let (old, keep) = ("10.244.0.2", "10.244.0.3");
        let chain = svc.svc_chain();
        let (sep_old, sep_keep) = (svc.sep_chain(old), svc.sep_chain(keep));
        let mut by_chain = HashMap::new();
        by_chain.insert(
            chain.clone(),
            vec![
                format!(
                    "-A {chain} -m statistic --mode random --probability 0.5000000000 -j {sep_old}"
                ),
                format!("-A {chain} -j {sep_keep}"),
            ],
        );
        by_chain.insert(
            sep_old.clone(),
            vec![format!("-A {sep_old} -s {old}/32 -j KUBE-MARK-MASQ")],
        );
        by_chain.insert(
            sep_keep.clone(),
            vec![format!("-A {sep_keep} -s {keep}/32 -j KUBE-MARK-MASQ")],
        );
        let new = "10.244.255.10";
        let sep_new = svc.sep_chain(new);
        let p = partial_payload(&svc, old, new, &by_chain, true).unwrap();
        let want = format!(
            "*nat\n:{chain} - [0:0]\n:{sep_new} - [0:0]\n:{sep_keep} - [0:0]\n:{sep_old} - [0:0]\n\
             -A {chain} -m statistic --mode random --probability 0.5000000000 -j {sep_new}\n\
             -A {chain} -j {sep_keep}\n-A {sep_new} -s {new}/32 -j KUBE-MARK-MASQ\n\
             -A {sep_keep} -s {keep}/32 -j KUBE-MARK-MASQ\n-X {sep_old}\nCOMMIT\n"
        );
        assert_eq!(p, want);
        let p = partial_payload(&svc, old, new, &by_chain, false).unwrap();
        assert!(!p.contains(&sep_old), "{p}");
    }

    #[test]
    fn generated_addresses_stay_in_their_ranges() {
        let s = generate(usize::try_from(MAX_SERVICES).unwrap()).unwrap();
        let last = s.last().unwrap();
        assert_eq!(last.cluster_ip, "10.96.78.41");
        assert!(last.endpoints[2].starts_with("10.244."));
        assert_eq!(s[0].endpoints, ["10.244.0.2", "10.244.0.3", "10.244.0.4"]);
    }
}
