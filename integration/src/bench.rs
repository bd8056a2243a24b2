//! Shared pieces of the benchmarks (`bench-flanneld`, `bench-kube-proxy`, `bench-datapath`): the
//! summary table that prints each figure next to its same-run baseline, and small formatting
//! helpers.

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

/// Print the summary table; `subject` heads the column of our figures.
pub fn print_summary(subject: &str, rows: &[Row], bin: &str, elapsed: Duration) {
    let header = Row {
        what: "measurement".into(),
        ours: subject.into(),
        baseline: "baseline (same run)".into(),
        ratio: "ratio".into(),
        target: "target".into(),
        result: "result".into(),
    };
    let all: Vec<&Row> = std::iter::once(&header).chain(rows.iter()).collect();
    let cells = |r: &Row| -> [String; 6] {
        [
            r.what.clone(),
            r.ours.clone(),
            r.baseline.clone(),
            r.ratio.clone(),
            r.target.clone(),
            r.result.clone(),
        ]
    };
    let mut widths = [0usize; 6];
    for r in &all {
        for (w, c) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(c.len());
        }
    }
    println!(
        "\n==== summary ({subject} {bin}, total {:.0} s)",
        elapsed.as_secs_f64()
    );
    for (i, r) in all.iter().enumerate() {
        let mut line = String::new();
        for (c, wd) in cells(r).iter().zip(widths) {
            let _ = write!(line, "| {c:<wd$} ");
        }
        line.push('|');
        println!("{line}");
        if i == 0 {
            let sep: Vec<String> = widths.iter().map(|wd| "-".repeat(wd + 2)).collect();
            println!("|{}|", sep.join("|"));
        }
    }
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
