//! The flannel network configuration read from stdin (`NetConf`): upstream's fields plus our
//! `execDelegate` option, the GC attachment list and `prevResult`. Undecodable input is code 6,
//! a decodable but invalid configuration code 7 naming the offending key.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{CniError, DECODING_FAILURE};

/// Default `subnetFile`.
pub const DEFAULT_SUBNET_FILE: &str = "/run/flannel/subnet.env";
/// Default `dataDir` (saved delegate configurations).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/flannel";

/// One `{containerID, ifname}` of `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    pub name: String,
    pub plugin_type: String,
    /// Empty when the configuration has none.
    pub cni_version: String,
    pub subnet_file: PathBuf,
    pub data_dir: PathBuf,
    pub delegate: Option<Map<String, Value>>,
    pub ipam: Option<Map<String, Value>>,
    pub runtime_config: Option<Map<String, Value>>,
    pub prev_result: Option<Value>,
    /// `cni.dev/valid-attachments`, else `cni.dev/attachments` (GC).
    pub valid_attachments: Option<Vec<Attachment>>,
    /// Our option: always execute the delegate binary, even for bridge + host-local.
    pub exec_delegate: bool,
}

/// Only the `cniVersion` of a configuration, for error output and VERSION; None when the input
/// does not decode or has none.
pub fn peek_version(stdin: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(stdin).ok()?;
    v.get("cniVersion")?.as_str().map(str::to_string)
}

/// Parses stdin.
pub fn parse(stdin: &[u8]) -> Result<NetConf, CniError> {
    let value: Value = serde_json::from_slice(stdin).map_err(|e| {
        CniError::new(
            DECODING_FAILURE,
            "cannot decode the network configuration",
            e.to_string(),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(CniError::new(
            DECODING_FAILURE,
            "cannot decode the network configuration",
            "it is not a JSON object",
        ));
    };
    let name = match opt_str(&map, "name")? {
        Some(n) if !n.is_empty() => n,
        _ => {
            return Err(CniError::config(
                "the network configuration has no \"name\"",
            ))
        }
    };
    let delegate = opt_object(&map, "delegate")?;
    if let Some(d) = &delegate {
        for key in ["name", "ipam"] {
            if d.contains_key(key) {
                return Err(CniError::config(format!(
                    "'delegate' must not have {key:?} field, it is set by flannel"
                )));
            }
        }
        if d.get("type").is_some_and(|t| !t.is_string()) {
            return Err(CniError::config("'delegate' \"type\" must be a string"));
        }
    }
    let exec_delegate = match map.get("execDelegate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CniError::config("\"execDelegate\" must be true or false")),
    };
    Ok(NetConf {
        name,
        plugin_type: opt_str(&map, "type")?.unwrap_or_default(),
        cni_version: opt_str(&map, "cniVersion")?.unwrap_or_default(),
        subnet_file: opt_str(&map, "subnetFile")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SUBNET_FILE.into())
            .into(),
        data_dir: opt_str(&map, "dataDir")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
            .into(),
        delegate,
        ipam: opt_object(&map, "ipam")?,
        runtime_config: opt_object(&map, "runtimeConfig")?,
        prev_result: map.get("prevResult").filter(|v| !v.is_null()).cloned(),
        valid_attachments: attachments(&map)?,
        exec_delegate,
    })
}

fn opt_str(map: &Map<String, Value>, key: &str) -> Result<Option<String>, CniError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CniError::config(format!("{key:?} must be a string"))),
    }
}

fn opt_object(map: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, CniError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(CniError::config(format!("{key:?} must be an object"))),
    }
}

fn attachments(map: &Map<String, Value>) -> Result<Option<Vec<Attachment>>, CniError> {
    let key = ["cni.dev/valid-attachments", "cni.dev/attachments"]
        .into_iter()
        .find(|k| map.get(*k).is_some_and(|v| !v.is_null()));
    let Some(key) = key else {
        return Ok(None);
    };
    let bad = |why: &str| CniError::config(format!("{key:?}: {why}"));
    let Some(items) = map[key].as_array() else {
        return Err(bad(
            "must be a list of {\"containerID\",\"ifname\"} objects",
        ));
    };
    items
        .iter()
        .map(|item| {
            let field = |f: &str| item.get(f).and_then(Value::as_str).map(str::to_string);
            match (field("containerID"), field("ifname")) {
                (Some(container_id), Some(ifname)) => Ok(Attachment {
                    container_id,
                    ifname,
                }),
                _ => Err(bad(&format!(
                    "entry {item} needs string \"containerID\" and \"ifname\""
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests;
