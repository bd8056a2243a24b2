//! `--token-auth-file`: kube-apiserver's static token CSV
//! (`token,user,uid[,"group1,group2"]`), read as upstream's tokenfile does
//! with Go's `encoding/csv`: blank lines are skipped, fields may be quoted
//! (`""` inside quotes is a quote), there is no comment syntax, a record
//! with fewer than 3 fields is an error, a record with an empty token is
//! ignored, and a repeated token keeps its last record.

use std::collections::HashMap;
use std::path::Path;

use super::{AuthError, UserInfo};

/// Parses Go `encoding/csv` records, each with the line it starts on.
/// Errors name the line.
#[allow(clippy::type_complexity)]
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, (usize, String)> {
    let text = text.replace("\r\n", "\n");
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    loop {
        // Skip blank lines (Go's reader drops empty lines).
        while let Some(&c) = chars.peek() {
            if c == '\n' {
                line += 1;
                chars.next();
            } else {
                break;
            }
        }
        if chars.peek().is_none() {
            return Ok(records);
        }
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted_field = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    records.push((start, fields));
                    return Ok(records);
                }
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted_field = false;
                }
                Some('"') if field.is_empty() && !quoted_field => {
                    quoted_field = true;
                    loop {
                        match chars.next() {
                            None => {
                                return Err((
                                    start,
                                    "extraneous or missing \" in quoted-field".into(),
                                ))
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some('\n') => {
                                line += 1;
                                field.push('\n');
                            }
                            Some(c) => field.push(c),
                        }
                    }
                    match chars.peek() {
                        None | Some(',') | Some('\n') => {}
                        Some(_) => {
                            return Err((line, "extraneous or missing \" in quoted-field".into()))
                        }
                    }
                }
                Some('"') => return Err((line, "bare \" in non-quoted-field".into())),
                Some(c) => field.push(c),
            }
        }
        records.push((start, fields));
    }
}

/// Parses the token file text; `name` is used in error messages.
pub fn parse(name: &str, text: &str) -> Result<HashMap<String, UserInfo>, AuthError> {
    let records = csv_records(text)
        .map_err(|(line, e)| AuthError::Config(format!("--token-auth-file {name}:{line}: {e}")))?;
    let mut tokens = HashMap::new();
    for (line, record) in records {
        let [token, user, uid, rest @ ..] = record.as_slice() else {
            return Err(AuthError::Config(format!(
                "--token-auth-file {name}:{line}: must have at least 3 columns (token, user name, user uid), found {}",
                record.len()
            )));
        };
        if token.is_empty() {
            tracing::warn!("--token-auth-file {name}:{line}: empty token ignored");
            continue;
        }
        let groups = rest
            .first()
            .map(|g| {
                g.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let info = UserInfo {
            name: user.clone(),
            uid: uid.clone(),
            groups,
        };
        if tokens.insert(token.clone(), info).is_some() {
            tracing::warn!(
                "--token-auth-file {name}:{line}: duplicate token, the later record wins"
            );
        }
    }
    Ok(tokens)
}

pub fn load(path: &Path) -> Result<HashMap<String, UserInfo>, AuthError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuthError::Config(format!("--token-auth-file {}: {e}", path.display())))?;
    parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_quotes_and_blank_lines() {
        let text = "t1,alice,1,\"a,b\"\r\n\n\nt2,bob,2\n\"t\"\"3\",carol,3,,extra\n";
        let tokens = parse("f", text).unwrap();
        assert_eq!(tokens["t1"].groups, vec!["a", "b"]);
        assert_eq!(tokens["t1"].name, "alice");
        assert_eq!(tokens["t2"].groups, Vec::<String>::new());
        assert_eq!(tokens["t\"3"].uid, "3");
        assert_eq!(tokens.len(), 3);
    }

    #[test]
    fn short_records_name_the_line() {
        let err = parse("/etc/tokens.csv", "a,b,c\n\n# comment\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--token-auth-file /etc/tokens.csv:3: must have at least 3 columns (token, user name, user uid), found 1"
        );
        let err = parse("f", "a,b\"c,d\n").unwrap_err();
        assert!(err.to_string().contains("f:1: bare \""), "{err}");
        let err = parse("f", "x,y,z\n\"a,b,c\n").unwrap_err();
        assert!(err.to_string().contains("f:2:"), "{err}");
    }

    #[test]
    fn empty_and_duplicate_tokens() {
        let tokens = parse("f", ",a,1\nt,b,2\nt,c,3\n").unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens["t"].name, "c");
    }

    #[test]
    fn quoted_newline_counts_lines() {
        let err = parse("f", "\"a\nb\",c,d\nshort\n").unwrap_err();
        assert!(err.to_string().contains("f:3:"), "{err}");
    }
}
