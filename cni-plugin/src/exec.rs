//! Executing a delegate plugin: found by name in the `CNI_PATH` directories, run with our
//! environment (plus overrides) and its configuration on stdin; its stderr is inherited (so
//! forwarded), its stdout returned. A failing delegate's error JSON is passed through.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::{CniError, DELEGATE_FAILURE};

/// The first executable file named `name` in `dirs`.
pub fn find_plugin(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, CniError> {
    if name.is_empty() || name.contains('/') {
        return Err(CniError::config(format!(
            "invalid delegate plugin type {name:?}"
        )));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            CniError::new(
                DELEGATE_FAILURE,
                format!("failed to find plugin {name:?}"),
                format!("searched CNI_PATH [{}]", shown.join(":")),
            )
        })
}

/// Runs `plugin` with `overrides` added to (or, with a None value, removed from) our
/// environment and `stdin`; returns its stdout on success.
pub fn run(
    plugin: &Path,
    overrides: &[(String, Option<String>)],
    stdin: &[u8],
) -> Result<Vec<u8>, CniError> {
    let name = plugin.display().to_string();
    let cannot_run = |e: std::io::Error| {
        CniError::new(
            DELEGATE_FAILURE,
            format!("cannot run {name}"),
            e.to_string(),
        )
    };
    let mut cmd = Command::new(plugin);
    for (k, v) in overrides {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(cannot_run)?;
    let output = std::thread::scope(|s| {
        if let Some(mut pipe) = child.stdin.take() {
            // A write error means the child exited early; its status tells why.
            s.spawn(move || pipe.write_all(stdin));
        }
        child.wait_with_output()
    })
    .map_err(cannot_run)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    Err(passed_through(&output.stdout).unwrap_or_else(|| {
        CniError::new(
            DELEGATE_FAILURE,
            format!("delegate {name} failed ({})", output.status),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
    }))
}

/// The CNI error a failing plugin printed, if it printed one.
pub fn passed_through(stdout: &[u8]) -> Option<CniError> {
    let v: Value = serde_json::from_slice(stdout).ok()?;
    let code = u32::try_from(v.get("code")?.as_u64()?).ok()?;
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(CniError::new(code, text("msg"), text("details")))
}

/// The versions a plugin supports (its VERSION output), None when it cannot tell.
pub fn supported_versions(plugin: &Path, requested: &str) -> Option<Vec<String>> {
    let stdin = serde_json::json!({ "cniVersion": requested }).to_string();
    let env = [("CNI_COMMAND".to_string(), Some("VERSION".to_string()))];
    let out = run(plugin, &env, stdin.as_bytes()).ok()?;
    let v: Value = serde_json::from_slice(&out).ok()?;
    let list = v.get("supportedVersions")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn finds_executables_in_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::write(a.path().join("bridge"), "not executable").unwrap();
        let want = script(b.path(), "bridge", "true");
        let dirs = vec![
            PathBuf::from("/nonexistent"),
            a.path().into(),
            b.path().into(),
        ];
        assert_eq!(find_plugin("bridge", &dirs).unwrap(), want);
        let e = find_plugin("nope", &dirs).unwrap_err();
        assert_eq!(e.code, DELEGATE_FAILURE);
        assert!(e.msg.contains("\"nope\""));
        assert_eq!(find_plugin("../x", &dirs).unwrap_err().code, 7);
    }

    #[test]
    fn runs_with_stdin_env_and_passes_errors_through() {
        let d = tempfile::tempdir().unwrap();
        let echo = script(
            d.path(),
            "echo",
            "printf '%s|' \"$CNI_COMMAND\" \"$HOME\"; cat",
        );
        let env = [
            ("CNI_COMMAND".to_string(), Some("ADD".to_string())),
            ("HOME".to_string(), None),
        ];
        let out = run(&echo, &env, b"{\"a\":1}").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ADD||{\"a\":1}");
        let failing = script(
            d.path(),
            "fail",
            r#"echo '{"code":7,"msg":"bad","details":"why"}'; exit 1"#,
        );
        assert_eq!(
            run(&failing, &[], b"").unwrap_err(),
            CniError::new(7, "bad", "why")
        );
        let crashing = script(d.path(), "crash", "echo oops; exit 3");
        let e = run(&crashing, &[], b"").unwrap_err();
        assert_eq!((e.code, e.details.as_str()), (DELEGATE_FAILURE, "oops"));
        let versions = script(
            d.path(),
            "v",
            r#"cat >/dev/null; echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'"#,
        );
        assert_eq!(
            supported_versions(&versions, "1.1.0").unwrap(),
            vec!["0.4.0", "1.0.0"]
        );
        assert_eq!(supported_versions(&crashing, "1.1.0"), None);
    }
}
