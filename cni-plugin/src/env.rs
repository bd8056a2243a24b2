//! The CNI environment (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`,
//! `CNI_PATH`): validation and which variables each command requires. Pure: works on a map of
//! variables; every missing or invalid variable is named in one code 4 error.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use crate::error::{CniError, INVALID_ENV};

/// The operation asked for by `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// Which of CONTAINERID, NETNS, IFNAME the command requires.
    fn requires(&self) -> (bool, bool, bool) {
        match self {
            Command::Add | Command::Check => (true, true, true),
            Command::Del => (true, false, true),
            Command::Status | Command::Gc | Command::Version => (false, false, false),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The validated environment. Optional fields are `None` when absent (or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniEnv {
    pub command: Command,
    pub container_id: Option<String>,
    pub netns: Option<PathBuf>,
    pub ifname: Option<String>,
    /// `CNI_ARGS` pairs in order.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH` directories in order.
    pub path: Vec<PathBuf>,
    /// Every `CNI_*` variable given, sorted: what a delegate is executed with.
    pub cni_vars: Vec<(String, String)>,
}

impl CniEnv {
    /// The container ID (validated present for ADD, DEL, CHECK).
    pub fn cid(&self) -> &str {
        self.container_id.as_deref().unwrap_or("")
    }

    /// The interface name (validated present for ADD, DEL, CHECK).
    pub fn ifname(&self) -> &str {
        self.ifname.as_deref().unwrap_or("")
    }

    /// The environment changes for executing a delegate with our CNI variables, `extra`
    /// applied last: every `CNI_*` variable of this process not given to us is removed.
    pub fn child_env(&self, extra: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("CNI_") && !self.cni_vars.iter().any(|(g, _)| g == k))
            .map(|k| (k, None))
            .collect();
        out.extend(
            self.cni_vars
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
        out.extend(
            extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string))),
        );
        out
    }

    /// A `CNI_ARGS` value.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the process environment into a map (non-UTF-8 values are skipped).
pub fn from_process() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Validates the variables for the command they name. Code 4 listing every problem.
pub fn parse(vars: &HashMap<String, String>) -> Result<CniEnv, CniError> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(cmd_text) = get("CNI_COMMAND") else {
        return Err(env_error(&["CNI_COMMAND (missing)".to_string()]));
    };
    let Some(command) = Command::parse(cmd_text) else {
        return Err(env_error(&[format!(
            "CNI_COMMAND (unknown command {cmd_text:?}; expected ADD, DEL, CHECK, STATUS, GC or VERSION)"
        )]));
    };
    let (need_cid, need_netns, need_ifname) = command.requires();
    let mut problems = Vec::new();
    let mut check =
        |name: &str, value: Option<&str>, required: bool, valid: fn(&str) -> Result<(), String>| {
            match value {
                None if required => problems.push(format!("{name} (missing)")),
                Some(v) => {
                    if let Err(why) = valid(v) {
                        problems.push(format!("{name} (invalid: {why})"));
                    }
                }
                None => {}
            }
        };
    check(
        "CNI_CONTAINERID",
        get("CNI_CONTAINERID"),
        need_cid,
        validate_container_id,
    );
    check("CNI_NETNS", get("CNI_NETNS"), need_netns, |_| Ok(()));
    check(
        "CNI_IFNAME",
        get("CNI_IFNAME"),
        need_ifname,
        validate_ifname,
    );
    let args = match get("CNI_ARGS").map(parse_args).transpose() {
        Ok(a) => a.unwrap_or_default(),
        Err(why) => {
            problems.push(format!("CNI_ARGS (invalid: {why})"));
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(env_error(&problems));
    }
    Ok(CniEnv {
        command,
        container_id: get("CNI_CONTAINERID").map(str::to_string),
        netns: get("CNI_NETNS").map(PathBuf::from),
        ifname: get("CNI_IFNAME").map(str::to_string),
        args,
        path: get("CNI_PATH")
            .map(|p| {
                p.split(':')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default(),
        cni_vars: {
            let mut v: Vec<(String, String)> = vars
                .iter()
                .filter(|(k, _)| k.starts_with("CNI_"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            v.sort();
            v
        },
    })
}

fn env_error(problems: &[String]) -> CniError {
    CniError::new(
        INVALID_ENV,
        format!(
            "invalid or missing environment variables: {}",
            problems.join(", ")
        ),
        "",
    )
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`
pub fn validate_container_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!("{id:?} must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$"))
    }
}

/// 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..` (the kernel's rules).
pub fn validate_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > 15 {
        return Err(format!("{name:?} is longer than 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!("{name:?} contains '/', ':' or whitespace"));
    }
    Ok(())
}

/// `K=V;K=V` (empty parts tolerated).
pub fn parse_args(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(';')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{pair:?} is not KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests;
