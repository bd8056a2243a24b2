//! Golden test: the rules rendered for a fixed set of Services and Endpoints
//! (`golden/services.json`, with `--cluster-cidr 10.0.0.0/8`) compared with
//! `golden/services.rules` after a canonical sort (declarations sorted;
//! rules grouped by chain, chains sorted, order kept within a chain).
//! `UPDATE_GOLDEN=1 cargo test -p flannel-iptables --test golden` rewrites
//! the expected file and fails ("golden updated, rerun"): review the diff,
//! then run the test again without `UPDATE_GOLDEN`. With `CI` set,
//! `UPDATE_GOLDEN` is refused (the test fails): CI only compares.

use flannel_iptables::kube::{parse_list, ParseOptions};
use flannel_iptables::proxier::dry_run_payload;
use flannel_iptables::ProxyConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Sorts an iptables-restore payload into a canonical form.
fn canonical(payload: &str) -> String {
    let mut out = String::new();
    let mut decls: Vec<&str> = Vec::new();
    let mut rules: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in payload.lines() {
        if line.starts_with('*') {
            out.push_str(line);
            out.push('\n');
        } else if line.starts_with(':') {
            decls.push(line);
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split(' ').next().unwrap_or("");
            rules.entry(chain).or_default().push(line);
        } else if line == "COMMIT" {
            decls.sort_unstable();
            for d in decls.drain(..) {
                out.push_str(d);
                out.push('\n');
            }
            for (_, lines) in std::mem::take(&mut rules) {
                for l in lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out.push_str("COMMIT\n");
        } else if !line.is_empty() {
            panic!("unexpected payload line {line:?}");
        }
    }
    out
}

#[test]
fn rendered_rules_match_golden_file() {
    let json = std::fs::read_to_string(golden("services.json")).expect("fixture");
    let parsed = parse_list(&json, &ParseOptions::default()).expect("fixture parses");
    // The invalid service is reported by name; the headless one silently skipped.
    let warned: Vec<String> = parsed.warnings.iter().map(|w| w.object.clone()).collect();
    assert_eq!(warned, vec!["ns7/broken".to_string()]);
    assert_eq!(parsed.state.len(), 6, "service ports programmed");

    let cfg = ProxyConfig {
        cluster_cidr: Some("10.0.0.0/8".parse().expect("cidr")),
        masquerade_bit: 14,
        random_fully: true,
    };
    let got = canonical(&dry_run_payload(&parsed.state, &cfg));
    let path = golden("services.rules");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        assert!(
            std::env::var_os("CI").is_none(),
            "UPDATE_GOLDEN is set together with CI: refusing to rewrite {} in CI",
            path.display()
        );
        let old = std::fs::read_to_string(&path).ok();
        std::fs::write(&path, &got).expect("write golden");
        panic!(
            "golden updated ({}): {}; review the diff and rerun without UPDATE_GOLDEN",
            path.display(),
            if old.as_deref() == Some(got.as_str()) {
                "it was already up to date"
            } else {
                "its content changed"
            }
        );
    }
    let want = std::fs::read_to_string(&path).expect("golden file");
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                panic!("line {}: got\n  {g}\nwant\n  {w}", i + 1);
            }
        }
        panic!(
            "line counts differ: got {} want {}",
            got.lines().count(),
            want.lines().count()
        );
    }
    // Canonical form is idempotent.
    assert_eq!(canonical(&want), want);
}
