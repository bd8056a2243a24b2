//! Rendering of `iptables-restore` payloads (meant for `--noflush`): owned
//! chains are declared (which flushes them) and written in full, missing
//! jumps are inserted at position 1, and removal payloads delete jumps and
//! chains. Arguments are quoted the way `iptables-restore` tokenises them.

use crate::model::{Rule, Table, TableRules};

/// Renders the `iptables-restore --noflush` input that rewrites every chain in
/// `rules.chains` and inserts `missing_jumps` at position 1 of their chains.
///
/// `rules.jumps` is not rendered: only `missing_jumps` are. When several jumps
/// of one chain are missing they are inserted in reverse, so that they end up
/// in the order given.
pub fn render_restore(rules: &TableRules, missing_jumps: &[Rule]) -> String {
    let mut out = format!("*{}\n", rules.table.name());
    for chain in &rules.chains {
        out.push_str(&format!(":{} - [0:0]\n", chain.name));
    }
    for chain in &rules.chains {
        for args in &chain.rules {
            push_line(&mut out, &format!("-A {}", chain.name), args);
        }
    }
    for jump in missing_jumps.iter().rev() {
        push_line(&mut out, &format!("-I {} 1", jump.chain), &jump.args);
    }
    out.push_str("COMMIT\n");
    out
}

/// Renders the `iptables-restore --noflush` input that deletes `jumps` (one
/// `-D` per entry, with the tokens as the kernel printed them) then flushes and
/// deletes `chains`.
pub fn render_remove(table: Table, jumps: &[Rule], chains: &[String]) -> String {
    let mut out = format!("*{}\n", table.name());
    for jump in jumps {
        push_line(&mut out, &format!("-D {}", jump.chain), &jump.args);
    }
    for chain in chains {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for chain in chains {
        out.push_str(&format!("-X {chain}\n"));
    }
    out.push_str("COMMIT\n");
    out
}

fn push_line(out: &mut String, head: &str, args: &[String]) {
    out.push_str(head);
    push_args(out, args);
}

/// Appends ` <arg>` per argument, quoted as [`quote`] does, then a newline.
pub(crate) fn push_args(out: &mut String, args: &[String]) {
    for arg in args {
        out.push(' ');
        push_quoted(out, arg);
    }
    out.push('\n');
}

/// Quotes one argument for `iptables-restore`: arguments that are empty or
/// contain whitespace, quotes or backslashes are double-quoted, with `"` and
/// `\` escaped by a backslash; others are written as they are.
pub fn quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    push_quoted(&mut out, arg);
    out
}

/// Appends `arg` quoted as [`quote`] does, without allocating.
fn push_quoted(out: &mut String, arg: &str) {
    let needs_quotes = arg.is_empty()
        || arg
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '\''));
    if !needs_quotes {
        out.push_str(arg);
        return;
    }
    out.push('"');
    for c in arg.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{tokens, OwnedChain};

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("10.244.1.0/24"), "10.244.1.0/24");
        assert_eq!(quote("flanneld masq"), "\"flanneld masq\"");
        assert_eq!(quote(r#"a "q" b\c"#), r#""a \"q\" b\\c""#);
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn renders_chains_then_jumps_in_order() {
        let rules = TableRules {
            table: Table::Mangle,
            chains: vec![
                OwnedChain {
                    name: "A".into(),
                    rules: vec![tokens(&["-j", "B"])],
                },
                OwnedChain {
                    name: "B".into(),
                    rules: vec![],
                },
            ],
            jumps: vec![],
        };
        let jumps = [
            Rule::new("PREROUTING", &["-j", "A"]),
            Rule::new(
                "PREROUTING",
                &["-m", "comment", "--comment", "x y", "-j", "A"],
            ),
        ];
        let expected = "*mangle\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n\
            -I PREROUTING 1 -m comment --comment \"x y\" -j A\n-I PREROUTING 1 -j A\nCOMMIT\n";
        assert_eq!(render_restore(&rules, &jumps), expected);
    }

    #[test]
    fn renders_removal() {
        let jumps = [Rule::new(
            "FORWARD",
            &["-m", "comment", "--comment", "f w", "-j", "X"],
        )];
        let got = render_remove(Table::Filter, &jumps, &["X".to_string()]);
        assert_eq!(
            got,
            "*filter\n-D FORWARD -m comment --comment \"f w\" -j X\n:X - [0:0]\n-X X\nCOMMIT\n"
        );
    }
}
