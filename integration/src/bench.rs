//! Shared pieces of the benchmarks (`bench-flanneld`, `bench-kube-proxy`, `bench-datapath`,
//! `bench-cni`): the summary table that prints each figure next to its same-run baseline (and the
//! plain table printer under it), `main` (clap options, exit status), the sampling discipline
//! that a noisy machine cannot fool (A and B samples alternated over rounds, CPU steal read from
//! `/proc/stat` during each sample and a sample rerun when steal was high, min/median/max of
//! each side and of the per-round ratio), and small formatting helpers.

use std::fmt::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// One line of a summary table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    /// Our figure.
    pub ours: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub result: String,
}

impl Row {
    pub fn new(what: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            ours: "-".into(),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
            result: "-".into(),
        }
    }
}

impl Row {
    fn cells(&self) -> Vec<String> {
        vec![
            self.what.clone(),
            self.ours.clone(),
            self.baseline.clone(),
            self.ratio.clone(),
            self.target.clone(),
            self.result.clone(),
        ]
    }
}

/// Print the summary table; `subject` heads the column of our figures.
pub fn print_summary(subject: &str, rows: &[Row], bin: &str, elapsed: Duration) {
    println!(
        "\n==== summary ({subject} {bin}, total {:.0} s)",
        elapsed.as_secs_f64()
    );
    print_rows(
        [
            "measurement",
            subject,
            "baseline (same run)",
            "ratio",
            "target",
            "result",
        ],
        rows,
    );
}

/// Print `rows` as a table under `header`, the titles of the six columns.
pub fn print_rows(header: [&str; 6], rows: &[Row]) {
    let lines: Vec<Vec<String>> = std::iter::once(header.map(String::from).to_vec())
        .chain(rows.iter().map(Row::cells))
        .collect();
    print_table(&lines);
}

/// Print `lines` as a table, each column as wide as its widest cell; the first line is the
/// header, underlined.
pub fn print_table(lines: &[Vec<String>]) {
    let mut widths = vec![0usize; lines.first().map_or(0, Vec::len)];
    for l in lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    for (i, l) in lines.iter().enumerate() {
        let mut text = String::new();
        for (c, wd) in l.iter().zip(&widths) {
            let _ = write!(text, "| {c:<wd$} ");
        }
        text.push('|');
        println!("{text}");
        if i == 0 {
            let sep: Vec<String> = widths.iter().map(|wd| "-".repeat(wd + 2)).collect();
            println!("|{}|", sep.join("|"));
        }
    }
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// KiB as "12.3 MiB".
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// "PASS" or "MISS" for a target.
pub fn pass(ok: bool) -> String {
    if ok { "PASS" } else { "MISS" }.to_string()
}

/// The `main` of a benchmark: parse the options with clap (which prints `--help` and exits 2
/// on bad usage), run, and map the outcome to the exit status (see [`exit_code`]).
pub fn main_with<O: clap::Parser>(
    name: &str,
    run: impl FnOnce(&O) -> Result<bool>,
) -> std::process::ExitCode {
    exit_code(name, run(&O::parse()))
}

/// Exit status of a benchmark run: 0 when every step ran, 1 when a step failed (`Ok(false)`,
/// the summary was printed) or the run stopped with an error (printed here).
pub fn exit_code(name: &str, outcome: Result<bool>) -> std::process::ExitCode {
    use std::process::ExitCode;
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------------------------ CPU steal

/// The counters of the aggregate `cpu` line of `/proc/stat`, in jiffies (USER_HZ ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already in
    /// user and nice, so it is not added again).
    pub total: u64,
    /// Time the hypervisor ran something else while a virtual CPU wanted to run.
    pub steal: u64,
}

impl CpuTimes {
    /// Parses the `cpu` line out of the text of `/proc/stat`.
    pub fn parse(stat: &str) -> Result<CpuTimes> {
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some("cpu"))
            .context("/proc/stat has no aggregate cpu line")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| {
                f.parse()
                    .with_context(|| format!("bad counter {f:?} in /proc/stat line {line:?}"))
            })
            .collect::<Result<_>>()?;
        if fields.len() < 8 {
            bail!("/proc/stat cpu line has no steal column (kernel < 2.6.11?): {line:?}");
        }
        Ok(CpuTimes {
            total: fields[..8].iter().sum(),
            steal: fields[7],
        })
    }

    /// The counters now.
    pub fn read() -> Result<CpuTimes> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        CpuTimes::parse(&text)
    }

    /// Steal between `self` and the `later` reading, in percent of all CPU time in between
    /// (0 when no tick passed).
    pub fn steal_percent(&self, later: &CpuTimes) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * later.steal.saturating_sub(self.steal) as f64 / total as f64
    }
}

/// Options of the steal check, shared by every benchmark (`#[command(flatten)]`).
#[derive(clap::Args, Clone, Debug)]
pub struct StealOpts {
    /// Rerun a sample during which CPU steal (the steal column of /proc/stat, in percent of
    /// all CPU time over the sample) exceeded this.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub max_steal: f64,
    /// How many times one sample is rerun at most for steal; the last run is kept (and
    /// counted as over the threshold).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub steal_retries: u32,
}

/// One kept sample: its value and the CPU steal during it.
#[derive(Clone, Debug)]
pub struct Sampled<T> {
    pub value: T,
    /// Steal in percent over the kept run.
    pub steal: f64,
}

/// Takes samples under the steal check and keeps the count of reruns.
#[derive(Debug)]
pub struct Sampler {
    opts: StealOpts,
    /// Steal of every kept sample.
    steals: Vec<f64>,
    /// Samples rerun because of steal.
    pub reruns: u32,
    /// Kept samples whose steal was still above the threshold after the last retry.
    pub over: u32,
}

impl Sampler {
    pub fn new(opts: &StealOpts) -> Sampler {
        Sampler {
            opts: opts.clone(),
            steals: Vec::new(),
            reruns: 0,
            over: 0,
        }
    }

    /// Runs `f` as one sample named `what`, reading the steal counters around it; reruns it
    /// while its steal exceeds the threshold (at most `--steal-retries` times).
    pub fn sample<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut() -> Result<T>,
    ) -> Result<Sampled<T>> {
        let mut attempt = 0;
        loop {
            let before = CpuTimes::read()?;
            let value = f()?;
            let steal = before.steal_percent(&CpuTimes::read()?);
            if self.keep(what, steal, attempt) {
                return Ok(Sampled { value, steal });
            }
            attempt += 1;
        }
    }

    /// For a sample that cannot simply be run again (the caller takes a fresh one instead):
    /// whether to keep the `attempt`-th (from 0) try of `what`, which saw `steal` percent.
    /// Counts and prints a rerun when not.
    pub fn keep(&mut self, what: &str, steal: f64, attempt: u32) -> bool {
        let max = self.opts.max_steal;
        if steal <= max || attempt >= self.opts.steal_retries {
            if steal > max {
                self.over += 1;
                println!(
                    "   {what}: steal {steal:.1}% still above {max:.1}% after {attempt} rerun(s), kept"
                );
            }
            self.steals.push(steal);
            return true;
        }
        self.reruns += 1;
        println!(
            "   {what}: steal {steal:.1}% > {max:.1}%, rerunning ({}/{})",
            attempt + 1,
            self.opts.steal_retries
        );
        false
    }

    /// One line on the steal seen: spread over the kept samples and the reruns.
    pub fn summary(&self) -> String {
        let spread = Spread::of(&self.steals)
            .map_or("no samples".into(), |s| s.show(|v| format!("{v:.1}%")));
        format!(
            "CPU steal per sample {spread} over {} sample(s); {} rerun(s) for steal > {:.1}%, {} kept above it",
            self.steals.len(),
            self.reruns,
            self.opts.max_steal,
            self.over
        )
    }
}

// --------------------------------------------------------------------------------- spread

/// Minimum, median and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub min: f64,
    /// Nearest-rank median (the lower middle one of an even count).
    pub median: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        Some(Spread {
            min: percentile(samples, 0.0),
            median: percentile(samples, 50.0),
            max: percentile(samples, 100.0),
            n: samples.len(),
        })
    }

    /// "median [min .. max]" with each number formatted by `f` (just the value for one sample);
    /// a unit after a space that all three share is printed once: "3.6 Gbit/s [3.1 .. 3.8]".
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        let med = f(self.median);
        if self.n == 1 {
            return med;
        }
        let (lo, hi) = (f(self.min), f(self.max));
        let unit = |s: &str| {
            s.split_once(' ')
                .map(|(n, u)| (n.to_string(), u.to_string()))
        };
        match (unit(&med), unit(&lo), unit(&hi)) {
            (Some((_, u)), Some((l, ul)), Some((h, uh))) if u == ul && u == uh => {
                format!("{med} [{l} .. {h}]")
            }
            _ => format!("{med} [{lo} .. {hi}]"),
        }
    }
}

/// "median [min .. max]" of `samples`, or "-" for none.
pub fn spread(samples: &[f64], f: impl Fn(f64) -> String) -> String {
    Spread::of(samples).map_or("-".into(), |s| s.show(f))
}

/// The per-round ratios `a[i] / b[i]` of samples taken in alternation (rounds missing on
/// either side are left out).
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x / y.max(f64::MIN_POSITIVE))
        .collect()
}

/// The spread of the per-round ratios as "1.23x [1.10x .. 1.30x]".
pub fn ratio_spread(a: &[f64], b: &[f64]) -> String {
    spread(&ratios(a, b), |v| format!("{v:.2}x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  34177 0 23276 206569 1052 0 198 1374 0 0
cpu0 16744 0 11134 104391 322 0 54 693 0 0
cpu1 17433 0 12142 102178 729 0 144 681 0 0
intr 123 4 5
ctxt 99
";

    #[test]
    fn parses_the_aggregate_cpu_line() {
        let t = CpuTimes::parse(STAT).unwrap();
        assert_eq!(t.steal, 1374);
        assert_eq!(t.total, 34177 + 23276 + 206569 + 1052 + 198 + 1374);
    }

    #[test]
    fn guest_columns_are_not_counted_twice() {
        let t = CpuTimes::parse("cpu 10 0 10 70 0 0 0 10 5 5\n").unwrap();
        assert_eq!(t.total, 100);
    }

    #[test]
    fn rejects_a_stat_without_steal_or_cpu_line() {
        assert!(CpuTimes::parse("cpu 1 2 3 4 5 6 7\n").is_err());
        assert!(CpuTimes::parse("cpu0 1 2 3 4 5 6 7 8\n").is_err());
        assert!(CpuTimes::parse("cpu 1 2 x 4 5 6 7 8\n").is_err());
    }

    #[test]
    fn steal_percent_is_over_the_interval() {
        let a = CpuTimes {
            total: 1000,
            steal: 10,
        };
        let b = CpuTimes {
            total: 1200,
            steal: 20,
        };
        assert!((a.steal_percent(&b) - 5.0).abs() < 1e-9);
        assert_eq!(a.steal_percent(&a), 0.0);
    }

    #[test]
    fn sampler_reruns_a_stolen_sample_a_bounded_number_of_times() {
        let mut s = Sampler::new(&StealOpts {
            max_steal: 5.0,
            steal_retries: 2,
        });
        assert!(s.keep("a", 1.0, 0));
        assert!(!s.keep("b", 9.0, 0));
        assert!(!s.keep("b", 9.0, 1));
        assert!(s.keep("b", 9.0, 2));
        assert_eq!((s.reruns, s.over), (2, 1));
        assert!(s.summary().contains("2 rerun(s)"), "{}", s.summary());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 99.0), 5.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn spread_shows_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 2.0, 3.0, 3));
        assert_eq!(s.show(|v| format!("{v:.0}")), "2 [1 .. 3]");
        assert_eq!(s.show(|v| format!("{v:.0} ms")), "2 ms [1 .. 3]");
        let mixed = Spread::of(&[0.5, 2.0]).unwrap();
        let f = |v: f64| {
            if v < 1.0 {
                format!("{v} ms")
            } else {
                format!("{v} s")
            }
        };
        assert_eq!(mixed.show(f), "0.5 ms [0.5 ms .. 2 s]");
        assert_eq!(spread(&[7.0], |v| format!("{v:.0}")), "7");
        assert_eq!(spread(&[], |v| format!("{v:.0}")), "-");
    }

    #[test]
    fn ratio_spread_pairs_the_rounds() {
        // Rounds: 2/1, 3/2, 8/4; a round only one side has is left out.
        let a = [2.0, 3.0, 8.0, 9.0];
        let b = [1.0, 2.0, 4.0];
        assert_eq!(ratios(&a, &b), vec![2.0, 1.5, 2.0]);
        assert_eq!(ratio_spread(&a, &b), "2.00x [1.50x .. 2.00x]");
    }
}
