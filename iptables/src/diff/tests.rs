use super::*;
use crate::model::{tokens, Table};
use crate::parse::parse_save;

fn desired() -> TableRules {
    TableRules {
        table: Table::Nat,
        chains: vec![
            OwnedChain {
                name: "OURS".into(),
                rules: vec![
                    tokens(&["-s", "10.0.0.0/8", "-j", "RETURN"]),
                    tokens(&["-d", "10.0.0.1/32", "-j", "MASQUERADE"]),
                ],
            },
            OwnedChain {
                name: "EMPTY".into(),
                rules: vec![],
            },
        ],
        jumps: vec![Rule::new(
            "POSTROUTING",
            &["-m", "comment", "--comment", "x y", "-j", "OURS"],
        )],
    }
}

fn saved(body: &str) -> SavedTables {
    let text = format!("*nat\n:POSTROUTING ACCEPT [0:0]\n{body}COMMIT\n");
    parse_save(&text).expect("test input parses")
}

const GOOD: &str = ":OURS - [0:0]\n:EMPTY - [0:0]\n\
    -A POSTROUTING -m comment --comment \"x y\" -j OURS\n\
    -A OURS -s 10.0.0.0/8 -j RETURN\n-A OURS -d 10.0.0.1/32 -j MASQUERADE\n";

#[test]
fn nothing_to_do_when_equal() {
    assert!(plan(&desired(), &saved(GOOD)).is_empty());
}

#[test]
fn missing_table_means_everything_missing() {
    let p = plan(&desired(), &SavedTables::default());
    assert_eq!(p.changed_chains().len(), 2);
    assert_eq!(p.missing_jumps(), desired().jumps.as_slice());
}

#[test]
fn missing_jump_only() {
    let body = GOOD.replace("-A POSTROUTING -m comment --comment \"x y\" -j OURS\n", "");
    let p = plan(&desired(), &saved(&body));
    assert!(p.changed_chains().is_empty());
    assert_eq!(p.missing_jumps().len(), 1);
}

#[test]
fn jump_elsewhere_in_chain_counts() {
    let body = format!("-A POSTROUTING -j OTHER\n{GOOD}-A POSTROUTING -j LAST\n");
    assert!(plan(&desired(), &saved(&body)).is_empty());
}

#[test]
fn missing_declared_chain_is_rewritten() {
    let body = GOOD.replace(":EMPTY - [0:0]\n", "");
    let p = plan(&desired(), &saved(&body));
    let names: Vec<_> = p.changed_chains().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["EMPTY"]);
    assert!(p.missing_jumps().is_empty());
}

#[test]
fn missing_extra_or_reordered_rules_rewrite_the_chain() {
    let missing = GOOD.replace("-A OURS -s 10.0.0.0/8 -j RETURN\n", "");
    let extra = format!("{GOOD}-A OURS -j ACCEPT\n");
    let reordered = GOOD.replace(
        "-A OURS -s 10.0.0.0/8 -j RETURN\n-A OURS -d 10.0.0.1/32 -j MASQUERADE\n",
        "-A OURS -d 10.0.0.1/32 -j MASQUERADE\n-A OURS -s 10.0.0.0/8 -j RETURN\n",
    );
    let extra_in_empty = format!("{GOOD}-A EMPTY -j ACCEPT\n");
    for (body, chain) in [
        (missing, "OURS"),
        (extra, "OURS"),
        (reordered, "OURS"),
        (extra_in_empty, "EMPTY"),
    ] {
        let p = plan(&desired(), &saved(&body));
        let names: Vec<_> = p.changed_chains().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [chain], "{body}");
        assert!(p.missing_jumps().is_empty());
    }
}

#[test]
fn normalisation_accepts_equivalent_spellings() {
    let body = GOOD
        .replace("-d 10.0.0.1/32", "--destination 10.0.0.1")
        .replace("10.0.0.0/8", "10.1.2.3/8");
    assert!(plan(&desired(), &saved(&body)).is_empty());
    let n = normalize(&tokens(&[
        "!", "--source", "1.2.3.4", "-d", "fe80::1", "--jump", "X",
    ]));
    assert_eq!(
        n,
        tokens(&["!", "-s", "1.2.3.4/32", "-d", "fe80::1/128", "-j", "X"])
    );
    let n = normalize(&tokens(&["-s", "-s", "-d", "host.example"]));
    assert_eq!(n, tokens(&["-s", "-s", "-d", "host.example"]));
}

#[test]
fn find_rules_returns_every_copy_as_printed() {
    let body = format!("-A POSTROUTING -m comment --comment \"x y\" -j OURS\n{GOOD}");
    let s = saved(&body);
    let table = s.table("nat").expect("nat");
    assert_eq!(find_rules(table, &desired().jumps[0]).len(), 2);
}
