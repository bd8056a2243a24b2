//! Reconciliation: `ensure` brings the kernel to a desired [`TableRules`] with
//! at most one `iptables-restore --noflush` call, `remove` deletes our jumps
//! and owned chains.

use crate::diff::{find_rules, plan};
use crate::exec::{Error, Iptables};
use crate::model::{Rule, TableRules};
use crate::parse::{parse_save, SavedTable};
use crate::render::{render_remove, render_restore};

/// Compares the kernel state against `desired`; if any owned chain differs
/// (missing, extra or reordered rules) or a jump is missing, applies one
/// `iptables-restore --noflush` call that rewrites the differing owned chains
/// and inserts the missing jumps. Returns whether anything was applied.
pub fn ensure(ipt: &Iptables, desired: &TableRules) -> Result<bool, Error> {
    let saved = parse_save(&ipt.save(desired.table)?)?;
    let plan = plan(desired, &saved);
    if plan.is_empty() {
        return Ok(false);
    }
    let changes = &plan.changes;
    tracing::info!(
        table = %desired.table,
        chains = ?changes.chains.iter().map(|c| &c.name).collect::<Vec<_>>(),
        missing_jumps = changes.jumps.len(),
        "rewriting iptables rules"
    );
    ipt.restore_noflush(&render_restore(changes, &changes.jumps))?;
    Ok(true)
}

/// Removes our jumps (every copy) and owned chains (flushed, then deleted).
pub fn remove(ipt: &Iptables, desired: &TableRules) -> Result<(), Error> {
    let saved = parse_save(&ipt.save(desired.table)?)?;
    let Some(table) = saved.table(desired.table.name()) else {
        return Ok(());
    };
    let (jumps, chains) = removal(desired, table);
    if jumps.is_empty() && chains.is_empty() {
        return Ok(());
    }
    ipt.restore_noflush(&render_remove(desired.table, &jumps, &chains))
}

/// The jump rules (as printed by the kernel) and chains `remove` deletes.
pub fn removal(desired: &TableRules, table: &SavedTable) -> (Vec<Rule>, Vec<String>) {
    let jumps = desired
        .jumps
        .iter()
        .flat_map(|j| {
            find_rules(table, j).into_iter().map(|args| Rule {
                chain: j.chain.clone(),
                args: args.clone(),
            })
        })
        .collect();
    let chains = desired
        .chains
        .iter()
        .filter(|c| table.has_chain(&c.name))
        .map(|c| c.name.clone())
        .collect();
    (jumps, chains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{tokens, OwnedChain, Table};

    #[test]
    fn removal_lists_present_jumps_and_chains() {
        let desired = TableRules {
            table: Table::Filter,
            chains: vec![
                OwnedChain {
                    name: "A".into(),
                    rules: vec![tokens(&["-j", "ACCEPT"])],
                },
                OwnedChain {
                    name: "GONE".into(),
                    rules: vec![],
                },
            ],
            jumps: vec![Rule::new("FORWARD", &["--jump", "A"])],
        };
        let text = "*filter\n:FORWARD ACCEPT [0:0]\n:A - [0:0]\n\
                    -A FORWARD -j A\n-A FORWARD -j B\n-A FORWARD -j A\n-A A -j ACCEPT\nCOMMIT\n";
        let saved = parse_save(text).expect("parses");
        let (jumps, chains) = removal(&desired, saved.table("filter").expect("filter"));
        assert_eq!(
            jumps,
            vec![
                Rule::new("FORWARD", &["-j", "A"]),
                Rule::new("FORWARD", &["-j", "A"])
            ]
        );
        assert_eq!(chains, vec!["A".to_string()]);
    }
}
