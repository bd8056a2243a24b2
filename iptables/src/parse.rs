//! Parsing of `iptables-save` output into, per table, the declared chains and
//! each chain's rules as argument tokens (what follows `-A <chain>`). The
//! tokeniser follows `iptables-restore`: double quotes group words, and inside
//! them a backslash escapes the next character.

use std::collections::{BTreeMap, BTreeSet};

/// Everything one `iptables-save` run printed, by table name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedTables {
    pub tables: BTreeMap<String, SavedTable>,
}

impl SavedTables {
    /// The table with this name (e.g. `"nat"`), if it was printed.
    pub fn table(&self, name: &str) -> Option<&SavedTable> {
        self.tables.get(name)
    }
}

/// One table of `iptables-save` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedTable {
    /// Chains declared with `:NAME POLICY [packets:bytes]`, built-in or not.
    pub declared: BTreeSet<String>,
    /// Rules per chain, in order, as tokens after `-A <chain>`.
    pub rules: BTreeMap<String, Vec<Vec<String>>>,
}

impl SavedTable {
    /// Whether the chain was declared.
    pub fn has_chain(&self, chain: &str) -> bool {
        self.declared.contains(chain)
    }

    /// The rules of a chain; empty when it has none or does not exist.
    pub fn chain_rules(&self, chain: &str) -> &[Vec<String>] {
        self.rules.get(chain).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Why `iptables-save` output could not be parsed; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: unterminated double quote")]
    UnterminatedQuote { line: usize },
    #[error("line {line}: {text:?} outside of a table")]
    OutsideTable { line: usize, text: String },
    #[error("line {line}: table {table} starts before the previous one is committed")]
    NestedTable { line: usize, table: String },
    #[error("line {line}: malformed line {text:?}")]
    Malformed { line: usize, text: String },
    #[error("table {table} is not committed at end of input")]
    Uncommitted { table: String },
}

/// Parses `iptables-save` output (with or without `-c` counters).
pub fn parse_save(text: &str) -> Result<SavedTables, ParseError> {
    let mut saved = SavedTables::default();
    let mut current: Option<(String, SavedTable)> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let malformed = || ParseError::Malformed {
            line,
            text: raw.to_string(),
        };
        if let Some(name) = trimmed.strip_prefix('*') {
            if let Some((table, _)) = &current {
                return Err(ParseError::NestedTable {
                    line,
                    table: table.clone(),
                });
            }
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(malformed());
            }
            let existing = saved.tables.remove(name).unwrap_or_default();
            current = Some((name.to_string(), existing));
            continue;
        }
        let Some((_, table)) = current.as_mut() else {
            return Err(ParseError::OutsideTable {
                line,
                text: raw.to_string(),
            });
        };
        if trimmed == "COMMIT" {
            if let Some((name, table)) = current.take() {
                saved.tables.insert(name, table);
            }
        } else if let Some(decl) = trimmed.strip_prefix(':') {
            let name = decl.split_whitespace().next().ok_or_else(malformed)?;
            table.declared.insert(name.to_string());
        } else {
            let mut toks = tokenize(trimmed).map_err(|_| ParseError::UnterminatedQuote { line })?;
            if toks.first().is_some_and(|t| is_counters(t)) {
                toks.remove(0);
            }
            if toks.len() < 2 || (toks[0] != "-A" && toks[0] != "--append") {
                return Err(malformed());
            }
            let args = toks.split_off(2);
            let chain = toks.swap_remove(1);
            table.rules.entry(chain).or_default().push(args);
        }
    }
    match current {
        Some((table, _)) => Err(ParseError::Uncommitted { table }),
        None => Ok(saved),
    }
}

/// `[packets:bytes]` as printed by `iptables-save -c`.
fn is_counters(tok: &str) -> bool {
    tok.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.split_once(':'))
        .is_some_and(|(p, b)| {
            !p.is_empty()
                && !b.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        })
}

/// The tokeniser found a double quote that is never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnterminatedQuote;

/// Splits one line into arguments the way `iptables-restore` does.
pub fn tokenize(line: &str) -> Result<Vec<String>, UnterminatedQuote> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '\\' => cur.push(chars.next().ok_or(UnterminatedQuote)?),
                '"' => {
                    in_quotes = false;
                    out.push(std::mem::take(&mut cur));
                }
                _ => cur.push(c),
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if in_quotes {
        return Err(UnterminatedQuote);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
