//! `iptables-restore` payloads of kube-proxy-lite's two sync paths:
//!
//! - full: [`render_merged`] takes `iptables-save` output and the desired nat
//!   and filter tables, keeps every chain and rule that is not ours
//!   ([`crate::names::is_owned_chain`]) exactly as saved, replaces all of ours,
//!   and inserts the missing jumps from built-in chains at their top. The
//!   result replaces the tables whole (`iptables-restore` without
//!   `--noflush`). [`render_standalone`] is the same with nothing saved
//!   (what `--dry-run` prints);
//! - partial: [`render_partial`] declares only the changed chains (which
//!   flushes them), writes their rules, and flushes then deletes the chains
//!   that are gone (`--noflush`).

use crate::diff::normalize;
use crate::model::{OwnedChain, Table, TableRules};
use crate::names::is_owned_chain;
use crate::parse::{tokenize, ParseError};
use crate::render::push_args;
use std::collections::HashSet;

/// Why saved rules cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// `iptables-save` could not print the table (it holds rules made with
    /// `nft`); replacing it would lose them.
    #[error("iptables-save cannot represent table {table} ({line}); refusing to replace it")]
    Incompatible { table: String, line: String },
    #[error("cannot parse iptables-save output: {0}")]
    Parse(#[from] ParseError),
}

/// The changes of one table in a partial sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableChanges {
    /// Chains written in full (declared, hence flushed, first).
    pub rewrite: Vec<OwnedChain>,
    /// Chains flushed and deleted.
    pub delete: Vec<String>,
}

impl TableChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.rewrite.is_empty() && self.delete.is_empty()
    }

    /// Number of chains the payload declares.
    pub fn chain_count(&self) -> usize {
        self.rewrite.len() + self.delete.len()
    }
}

/// Renders a partial sync for `--noflush`: per table, declarations of
/// rewritten and deleted chains, the rewritten chains' rules, then `-X` of
/// the deleted ones. Tables without changes are left out.
pub fn render_partial(tables: &[(Table, &TableChanges)]) -> String {
    let mut out = String::new();
    for (table, changes) in tables {
        if changes.is_empty() {
            continue;
        }
        out.push('*');
        out.push_str(table.name());
        out.push('\n');
        for chain in &changes.rewrite {
            push_decl(&mut out, &chain.name);
        }
        for name in &changes.delete {
            push_decl(&mut out, name);
        }
        for chain in &changes.rewrite {
            push_chain_rules(&mut out, chain);
        }
        for name in &changes.delete {
            out.push_str("-X ");
            out.push_str(name);
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// The full payload for an empty kernel: our chains, their rules and the
/// jumps (what `--dry-run` prints).
pub fn render_standalone(tables: &[&TableRules]) -> String {
    let nothing: Vec<Foreign<'_>> = tables.iter().map(|_| Foreign::default()).collect();
    build(&nothing, tables).payload
}

/// A merged full payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Input for `iptables-restore` without `--noflush`.
    pub payload: String,
    /// Saved rules left out because they jump to one of our chains that is
    /// no longer wanted (e.g. `KUBE-SVL-*` of an earlier real kube-proxy).
    pub dropped: Vec<String>,
    /// Jumps from built-in chains that were missing and are inserted.
    pub inserted_jumps: usize,
}

#[derive(Default)]
struct Foreign<'a> {
    decls: Vec<&'a str>,
    /// (chain, line as saved, arguments after `-A <chain>`).
    rules: Vec<(&'a str, &'a str, Vec<String>)>,
}

/// Merges `saved` (`iptables-save` output, any tables) with the desired
/// `tables`; see the module comment.
pub fn render_merged(saved: &str, tables: &[&TableRules]) -> Result<Merged, MergeError> {
    let wanted: Vec<&str> = tables.iter().map(|t| t.table.name()).collect();
    let foreign = scan(saved, &wanted)?;
    Ok(build(&foreign, tables))
}

fn build(foreign: &[Foreign<'_>], tables: &[&TableRules]) -> Merged {
    let mut out = String::with_capacity(64 * 1024);
    let mut dropped = Vec::new();
    let mut inserted_jumps = 0;
    for (desired, foreign) in tables.iter().zip(foreign) {
        out.push('*');
        out.push_str(desired.table.name());
        out.push('\n');
        let saved_len: usize = foreign.decls.len() + foreign.rules.len();
        out.reserve(saved_len * 64);
        for decl in &foreign.decls {
            out.push_str(decl);
            out.push('\n');
        }
        let ours: HashSet<&str> = desired.chains.iter().map(|c| c.name.as_str()).collect();
        for chain in &desired.chains {
            push_decl(&mut out, &chain.name);
        }
        for jump in &desired.jumps {
            let want = normalize(&jump.args);
            let present = foreign
                .rules
                .iter()
                .any(|(chain, _, args)| *chain == jump.chain && normalize(args) == want);
            if !present {
                push_rule(&mut out, &jump.chain, &jump.args);
                inserted_jumps += 1;
            }
        }
        for (_, line, args) in &foreign.rules {
            match jump_target(args) {
                Some(target) if is_owned_chain(target) && !ours.contains(target) => {
                    dropped.push((*line).to_string());
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        for chain in &desired.chains {
            push_chain_rules(&mut out, chain);
        }
        out.push_str("COMMIT\n");
    }
    Merged {
        payload: out,
        dropped,
        inserted_jumps,
    }
}

/// Builds `iptables-save`-like text from `iptables -S <chain>` listings of
/// the chains of each table (`-P C POLICY` and `-N C` become declarations),
/// so that [`render_merged`] can take it instead of a full `iptables-save`.
pub fn save_text_from_listings(tables: &[(Table, Vec<String>)]) -> String {
    let mut out = String::new();
    for (table, listings) in tables {
        let mut decls = String::new();
        let mut rules = String::new();
        for listing in listings {
            for line in listing.lines() {
                let mut words = line.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("-P"), Some(chain), Some(policy)) => {
                        decls.push_str(&format!(":{chain} {policy} [0:0]\n"));
                    }
                    (Some("-N"), Some(chain), None) => push_decl(&mut decls, chain),
                    (Some("-A"), Some(_), _) => {
                        rules.push_str(line);
                        rules.push('\n');
                    }
                    _ => {}
                }
            }
        }
        out.push('*');
        out.push_str(table.name());
        out.push('\n');
        out.push_str(&decls);
        out.push_str(&rules);
        out.push_str("COMMIT\n");
    }
    out
}

/// Collects, for each wanted table (in order), the saved declarations and
/// rules of chains that are not ours.
fn scan<'a>(saved: &'a str, wanted: &[&str]) -> Result<Vec<Foreign<'a>>, MergeError> {
    let mut out: Vec<Foreign<'a>> = wanted.iter().map(|_| Foreign::default()).collect();
    let mut current: Option<usize> = None;
    for (idx, raw) in saved.lines().enumerate() {
        let line = raw.trim_end();
        if let Some(name) = line.strip_prefix('*') {
            current = wanted.iter().position(|w| *w == name.trim());
            continue;
        }
        if line.starts_with('#') {
            if line.contains("incompatible") {
                let named = wanted.iter().find(|w| line.contains(&format!("`{w}'")));
                if let Some(table) = named.copied().or_else(|| current.map(|i| wanted[i])) {
                    return Err(MergeError::Incompatible {
                        table: table.to_string(),
                        line: line.to_string(),
                    });
                }
            }
            continue;
        }
        let Some(i) = current else { continue };
        if line == "COMMIT" {
            current = None;
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if !is_owned_chain(name) {
                out[i].decls.push(line);
            }
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let rest = rest.trim_start();
            let (chain, args) = rest.split_once(' ').unwrap_or((rest, ""));
            if is_owned_chain(chain) {
                continue;
            }
            let args =
                tokenize(args).map_err(|_| ParseError::UnterminatedQuote { line: idx + 1 })?;
            out[i].rules.push((chain, line, args));
        } else if !line.trim().is_empty() {
            return Err(ParseError::Malformed {
                line: idx + 1,
                text: line.to_string(),
            }
            .into());
        }
    }
    Ok(out)
}

/// The chain a rule jumps or goes to.
fn jump_target(args: &[String]) -> Option<&str> {
    args.windows(2)
        .find(|w| matches!(w[0].as_str(), "-j" | "--jump" | "-g" | "--goto"))
        .map(|w| w[1].as_str())
}

fn push_decl(out: &mut String, chain: &str) {
    out.push(':');
    out.push_str(chain);
    out.push_str(" - [0:0]\n");
}

fn push_chain_rules(out: &mut String, chain: &OwnedChain) {
    for args in &chain.rules {
        push_rule(out, &chain.name, args);
    }
}

/// Appends `-A <chain> <args>` with arguments quoted as
/// [`crate::render::quote`] does, without allocating per argument.
pub fn push_rule(out: &mut String, chain: &str, args: &[String]) {
    out.push_str("-A ");
    out.push_str(chain);
    push_args(out, args);
}

#[cfg(test)]
mod tests;
