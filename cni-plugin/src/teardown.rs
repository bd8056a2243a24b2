//! Undoing one attachment from its saved delegate configuration, for DEL and GC alike: the
//! built-in teardown, or the delegate's DEL.

use std::path::Path;

use flannel_iptables::Iptables;
use serde_json::{Map, Value};

use crate::bridge::builtin_conf;
use crate::builtin;
use crate::delegate;
use crate::env::CniEnv;
use crate::error::CniError;
use crate::exec;
use crate::kernel::LazyKernel;

/// Undoes one attachment described by a saved configuration: built-in teardown or the
/// delegate's DEL (with `overrides` on top of our environment).
pub fn teardown(
    d: &Map<String, Value>,
    bytes: &[u8],
    exec_forced: bool,
    (cid, ifname, netns): (&str, &str, Option<&Path>),
    env: &CniEnv,
    overrides: &[(&str, Option<&str>)],
) -> Result<(), CniError> {
    match builtin_conf(d, exec_forced, &[])? {
        Some(bc) => builtin::del(
            &LazyKernel::default(),
            &Iptables::new(),
            &bc,
            cid,
            ifname,
            netns,
        ),
        None => {
            let plugin = exec::find_plugin(&delegate::type_of(d), &env.path)?;
            exec::run(&plugin, &env.child_env(overrides), bytes).map(|_| ())
        }
    }
}
