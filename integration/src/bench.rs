//! Shared pieces of the benchmarks (`bench-flanneld`, `bench-kube-proxy`, `bench-datapath`,
//! `bench-cni`): the summary table that prints each figure next to its same-run baseline (and the
//! plain table printer under it), option parsing and `main`, and small formatting helpers.

use std::fmt::Write;
use std::time::Duration;

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

/// The value of a numeric option `flag` (the next argument), which must lie in `range`.
pub fn number_arg<T>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
    range: std::ops::RangeInclusive<T>,
) -> anyhow::Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    use anyhow::Context;
    let v = args
        .next()
        .with_context(|| format!("{flag} needs a value"))?;
    let n: T = v
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag} expects a number, got {v:?}"))?;
    if !range.contains(&n) {
        anyhow::bail!(
            "{flag} must be between {} and {}",
            range.start(),
            range.end()
        );
    }
    Ok(n)
}

/// "PASS" or "MISS" for a target.
pub fn pass(ok: bool) -> String {
    if ok { "PASS" } else { "MISS" }.to_string()
}

/// The `main` of a benchmark: parse the options (`Ok(None)`: help was printed), run, and map
/// the outcome to the exit status (2 bad usage, 1 a step failed).
pub fn main_with<O>(
    name: &str,
    usage: &str,
    parsed: anyhow::Result<Option<O>>,
    run: impl FnOnce(&O) -> anyhow::Result<bool>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let opts = match parsed {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
