//! GC: everything not in `cni.dev/valid-attachments` goes. Saved configurations of containers
//! not in the list are torn down (built-in teardown, or the delegate's DEL when the delegate
//! cannot GC itself) and removed; the delegate's GC runs when it supports CNI 1.1.0; otherwise
//! the host-local records of the network not in the list are released.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::bridge::builtin_conf;
use crate::config::NetConf;
use crate::delegate;
use crate::env::{CniEnv, Command};
use crate::error::CniError;
use crate::exec;
use crate::ipam;
use crate::saved;
use crate::subnet_env;
use crate::teardown::teardown;
use crate::version::CniVersion;

pub fn gc(env: &CniEnv, conf: &NetConf) -> Result<(), CniError> {
    let valid = conf
        .valid_attachments
        .clone()
        .ok_or_else(|| CniError::config("GC needs \"cni.dev/valid-attachments\""))?;
    let valid_ids: BTreeSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
    let delegate_gc = delegate_gc(env, conf, &valid)?;
    for cid in saved::list(&conf.data_dir)? {
        if valid_ids.contains(cid.as_str()) {
            continue;
        }
        let Some(bytes) = saved::load(&conf.data_dir, &cid)? else {
            continue;
        };
        match saved::parse(&bytes) {
            Ok(d) => {
                let builtin = builtin_conf(&d, conf.exec_delegate, &[])?.is_some();
                if builtin || !delegate_gc {
                    for ifname in ifnames_of(&d, &conf.name, &cid)? {
                        let overrides = [
                            ("CNI_COMMAND", Some("DEL")),
                            ("CNI_CONTAINERID", Some(cid.as_str())),
                            ("CNI_IFNAME", Some(ifname.as_str())),
                            ("CNI_NETNS", None),
                        ];
                        let who = (cid.as_str(), ifname.as_str(), None);
                        teardown(&d, &bytes, conf.exec_delegate, who, env, &overrides)?;
                    }
                }
            }
            Err(e) => eprintln!(
                "flannel: GC: {}: {e}; removing it",
                saved::path(&conf.data_dir, &cid).display()
            ),
        }
        saved::remove(&conf.data_dir, &cid)?;
    }
    let ipam_obj = conf.ipam.clone().unwrap_or_default();
    let host_local = ipam_obj
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "host-local");
    if !delegate_gc && host_local {
        let (dir, network) = ipam::store_location(&conf.name, &ipam_obj);
        if dir.join(&network).is_dir() {
            for r in ipam::gc(&dir, &network, &valid)? {
                eprintln!("flannel: GC released {} ({})", r.ip, r.container_id);
            }
        }
    }
    Ok(())
}

/// The interfaces a stale container had, from the host-local store named by its saved
/// configuration; `eth0` when the store knows none.
fn ifnames_of(
    d: &serde_json::Map<String, Value>,
    network: &str,
    cid: &str,
) -> Result<Vec<String>, CniError> {
    let ipam_obj = d
        .get("ipam")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let name = d.get("name").and_then(Value::as_str).unwrap_or(network);
    let (dir, network) = ipam::store_location(name, &ipam_obj);
    let mut names: Vec<String> = ipam::records(&dir, &network)?
        .into_iter()
        .filter(|r| r.container_id == cid)
        .map(|r| r.ifname.unwrap_or_else(|| "eth0".into()))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        names.push("eth0".into());
    }
    Ok(names)
}

/// Runs the delegate's GC when the delegate is executed and supports CNI 1.1.0; whether it ran.
fn delegate_gc(
    env: &CniEnv,
    conf: &NetConf,
    valid: &[crate::config::Attachment],
) -> Result<bool, CniError> {
    let Ok(senv) = subnet_env::load(&conf.subnet_file) else {
        return Ok(false);
    };
    let mut d = delegate::build(conf, &senv)?;
    if builtin_conf(&d, conf.exec_delegate, &[])?.is_some() {
        return Ok(false);
    }
    let plugin = exec::find_plugin(&delegate::type_of(&d), &env.path)?;
    let gc_version = CniVersion::minimum_for(Command::Gc).as_str();
    let supports = exec::supported_versions(&plugin, gc_version)
        .is_some_and(|v| v.iter().any(|s| s == gc_version));
    if !supports {
        return Ok(false);
    }
    d.insert("cniVersion".into(), gc_version.into());
    let list: Vec<Value> = valid
        .iter()
        .map(|a| json!({"containerID": a.container_id, "ifname": a.ifname}))
        .collect();
    d.insert("cni.dev/valid-attachments".into(), Value::Array(list));
    exec::run(
        &plugin,
        &env.child_env(&[]),
        delegate::to_json(&d).as_bytes(),
    )?;
    Ok(true)
}
