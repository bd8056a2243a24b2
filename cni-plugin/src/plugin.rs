//! The commands: validates environment, configuration and version, then runs ADD, DEL, CHECK,
//! STATUS, GC or VERSION on the built-in path or by executing the delegate. [`run`] is the
//! whole plugin minus reading the process environment and stdin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use flannel_iptables::Iptables;
use serde_json::{Map, Value};

use crate::bridge::builtin_conf;
use crate::builtin;
use crate::config::{self, NetConf};
use crate::delegate;
use crate::env::{self, CniEnv, Command};
use crate::error::{CniError, INCOMPATIBLE_VERSION, NOT_AVAILABLE, UNKNOWN_CONTAINER};
use crate::exec;
use crate::gc;
use crate::kernel::LazyKernel;
use crate::result::CniResult;
use crate::saved;
use crate::subnet_env;
use crate::teardown;
use crate::version::{self, CniVersion};

/// What to print on stdout and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub exit_code: i32,
}

/// Runs one invocation: `vars` is the environment, `stdin` the configuration.
pub fn run(vars: &HashMap<String, String>, stdin: &[u8]) -> Outcome {
    match dispatch(vars, stdin) {
        Ok(out) => Outcome {
            stdout: out.unwrap_or_default(),
            exit_code: 0,
        },
        Err(e) => {
            let v = config::peek_version(stdin)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| CniVersion::NEWEST.to_string());
            Outcome {
                stdout: e.to_json(&v),
                exit_code: 1,
            }
        }
    }
}

fn dispatch(vars: &HashMap<String, String>, stdin: &[u8]) -> Result<Option<String>, CniError> {
    let env = env::parse(vars)?;
    if env.command == Command::Version {
        let requested = config::peek_version(stdin);
        return Ok(Some(version::version_output(requested.as_deref())));
    }
    let conf = config::parse(stdin)?;
    let v = version::check_request(env.command, &conf.cni_version)?;
    match env.command {
        Command::Add => add(&env, &conf, v).map(Some),
        Command::Del => del(&env, &conf).map(|_| None),
        Command::Check => check(&env, &conf, v).map(|_| None),
        Command::Status => status(&conf).map(|_| None),
        Command::Gc => gc::gc(&env, &conf).map(|_| None),
        Command::Version => Ok(None),
    }
}

fn netns_of(env: &CniEnv) -> PathBuf {
    env.netns.clone().unwrap_or_default()
}

/// ADD for a request of version `v`.
fn add(env: &CniEnv, conf: &NetConf, v: CniVersion) -> Result<String, CniError> {
    let senv = subnet_env::load(&conf.subnet_file)?;
    let mut d = delegate::build(conf, &senv)?;
    let (cid, ifname, netns) = (env.cid(), env.ifname(), netns_of(env));
    let previous = saved::load(&conf.data_dir, cid)?;
    let undo_save = |e: CniError| {
        if let Err(re) = saved::restore(&conf.data_dir, cid, previous.as_deref()) {
            eprintln!(
                "flannel: cannot restore {}: {re}",
                saved::path(&conf.data_dir, cid).display()
            );
        }
        e
    };
    if let Some(bc) = builtin_conf(&d, conf.exec_delegate, &env.args)? {
        let bytes = delegate::to_json(&d);
        let r = builtin::add_saving(
            &LazyKernel::default(),
            &Iptables::new(),
            &bc,
            cid,
            ifname,
            &netns,
            || saved::save(&conf.data_dir, cid, bytes.as_bytes()),
        )
        .map_err(|e| match e {
            builtin::AddError::Save(e) => e,
            builtin::AddError::Add(e) => undo_save(e),
        })?;
        return Ok(r.to_json(v));
    }
    let plugin = exec::find_plugin(&delegate::type_of(&d), &env.path)?;
    speak_version(&plugin, &mut d, v, CniVersion::V0_3_0)?;
    let bytes = delegate::to_json(&d);
    saved::save(&conf.data_dir, cid, bytes.as_bytes())?;
    let out = exec::run(&plugin, &env.child_env(&[]), bytes.as_bytes()).map_err(undo_save)?;
    Ok(CniResult::from_slice(&out)?.to_json(v))
}

/// Sets the delegate's `cniVersion` to one the plugin supports (`wanted` when possible, else
/// the newest older one not below `min`). Code 1 when there is none.
pub fn speak_version(
    plugin: &Path,
    d: &mut Map<String, Value>,
    wanted: CniVersion,
    min: CniVersion,
) -> Result<(), CniError> {
    let Some(theirs) = exec::supported_versions(plugin, wanted.as_str()) else {
        return Ok(());
    };
    if theirs.iter().any(|t| t == wanted.as_str()) {
        d.insert("cniVersion".into(), wanted.as_str().into());
        return Ok(());
    }
    let Some(v) = version::negotiate(wanted, &theirs, min) else {
        return Err(CniError::new(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            format!(
                "config is \"{wanted}\", delegate {} supports [{}]",
                plugin.display(),
                theirs.join(" ")
            ),
        ));
    };
    eprintln!(
        "flannel: {} does not support CNI {wanted}; using {v} with it",
        plugin.display()
    );
    d.insert("cniVersion".into(), v.as_str().into());
    Ok(())
}

fn del(env: &CniEnv, conf: &NetConf) -> Result<(), CniError> {
    let cid = env.cid();
    let Some(bytes) = saved::load(&conf.data_dir, cid)? else {
        return Ok(());
    };
    match saved::parse(&bytes) {
        Ok(d) => teardown::teardown(
            &d,
            &bytes,
            conf.exec_delegate,
            (cid, env.ifname(), env.netns.as_deref()),
            env,
            &[],
        )?,
        // Upstream too gives up on a corrupt file: nothing can be undone without it.
        Err(e) => eprintln!(
            "flannel: {}: {e}; removing it",
            saved::path(&conf.data_dir, cid).display()
        ),
    }
    saved::remove(&conf.data_dir, cid)
}

/// CHECK for a request of version `v`.
fn check(env: &CniEnv, conf: &NetConf, v: CniVersion) -> Result<(), CniError> {
    let prev_value = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| CniError::config("CHECK needs \"prevResult\""))?;
    let prev = CniResult::from_value(prev_value)?;
    let cid = env.cid();
    let bytes = saved::load(&conf.data_dir, cid)?.ok_or_else(|| {
        CniError::new(
            UNKNOWN_CONTAINER,
            format!("unknown container {cid}"),
            format!("no saved configuration in {}", conf.data_dir.display()),
        )
    })?;
    let mut d = saved::parse(&bytes)?;
    let netns = netns_of(env);
    if let Some(bc) = builtin_conf(&d, conf.exec_delegate, &env.args)? {
        return builtin::check(
            &LazyKernel::default(),
            &bc,
            cid,
            env.ifname(),
            &netns,
            &prev,
        );
    }
    let plugin = exec::find_plugin(&delegate::type_of(&d), &env.path)?;
    // The version the delegate was added with, when it allows CHECK; else the request's.
    let wanted = d
        .get("cniVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<CniVersion>().ok())
        .filter(|saved| *saved >= CniVersion::V0_4_0)
        .unwrap_or(v);
    speak_version(&plugin, &mut d, wanted, CniVersion::V0_4_0)?;
    let v = d
        .get("cniVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<CniVersion>().ok())
        .unwrap_or(wanted);
    // Debian's bridge 1.1.1 compares result routes without a gateway against the pod's routes,
    // which it installed via the gateway, and always fails: give it the routes as installed.
    let prev = if delegate::type_of(&d) == "bridge" {
        prev.with_route_gateways()
    } else {
        prev
    };
    d.insert("prevResult".into(), prev.to_value(v));
    exec::run(
        &plugin,
        &env.child_env(&[]),
        delegate::to_json(&d).as_bytes(),
    )
    .map(|_| ())
}

fn status(conf: &NetConf) -> Result<(), CniError> {
    subnet_env::load(&conf.subnet_file)
        .map(|_| ())
        .map_err(|e| CniError::new(NOT_AVAILABLE, "flannel is not ready", e.to_string()))
}

#[cfg(test)]
mod tests;
