//! A minimal container runtime for the lab: it executes CNI plugins the way containerd and
//! CRI-O do (environment variables and the config on stdin, from inside the node namespace),
//! runs a conflist chain with `prevResult`, and gives every node its own `/run/flannel` and
//! `/var/lib/cni` (bind mounts in the plugin's private mount namespace), so upstream's manifest
//! conflist works unchanged with its default paths.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::lab::Lab;
use crate::prereq::workspace_bin;

/// The conflist upstream's kube-flannel manifest installs.
pub const UPSTREAM_CONFLIST: &str = r#"{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

/// Where Debian installs the reference plugins.
pub const REFERENCE_DIR: &str = "/usr/lib/cni";

/// A node's private view of the directories the plugin uses by default.
#[derive(Clone, Debug)]
pub struct NodeFs {
    /// Mounted on /run/flannel (holds subnet.env).
    pub run_flannel: PathBuf,
    /// Mounted on /var/lib/cni (flannel's saved configs, host-local's records).
    pub var_lib_cni: PathBuf,
}

impl NodeFs {
    /// Node `node`'s directories in the lab directory, without creating them.
    pub fn paths(lab: &Lab, node: usize) -> NodeFs {
        let base = lab.dir().join(format!("n{node}-fs"));
        NodeFs {
            run_flannel: base.join("run-flannel"),
            var_lib_cni: base.join("var-lib-cni"),
        }
    }

    /// Node `node`'s directories, created if missing.
    pub fn new(lab: &Lab, node: usize) -> Result<NodeFs> {
        let fs = NodeFs::paths(lab, node);
        for d in [&fs.run_flannel, &fs.var_lib_cni] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(fs)
    }

    pub fn subnet_env(&self) -> PathBuf {
        self.run_flannel.join("subnet.env")
    }
}

/// One plugin invocation's environment.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub command: String,
    pub container_id: String,
    /// Path of the pod's network namespace (`/run/netns/<name>`).
    pub netns: Option<String>,
    pub ifname: String,
}

impl Invocation {
    pub fn new(command: &str, container_id: &str, netns: Option<&str>) -> Invocation {
        Invocation {
            command: command.into(),
            container_id: container_id.into(),
            netns: netns.map(|n| format!("/run/netns/{n}")),
            ifname: "eth0".into(),
        }
    }
}

/// What a plugin printed and how it exited.
#[derive(Clone, Debug)]
pub struct PluginOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl PluginOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("plugin output is not JSON: {:?}", self.stdout))
    }

    /// The result JSON, or an error carrying the plugin's error and stderr.
    pub fn ok(self) -> Result<Value> {
        if !self.success() {
            bail!(
                "plugin failed ({:?}): {} {}",
                self.code,
                self.stdout.trim(),
                self.stderr.trim()
            );
        }
        if self.stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        self.json()
    }
}

/// `CNI_PATH`: our plugin's directory first, then the reference plugins.
pub fn cni_path() -> String {
    let ours = workspace_bin("flannel");
    let dir = ours.parent().unwrap_or(Path::new("."));
    format!("{}:{REFERENCE_DIR}", dir.display())
}

fn find_plugin(kind: &str) -> Result<PathBuf> {
    cni_path()
        .split(':')
        .map(|d| Path::new(d).join(kind))
        .find(|p| p.is_file())
        .with_context(|| format!("CNI plugin {kind:?} not found in {}", cni_path()))
}

/// Execute one plugin of type `kind` in `node_ns` with `conf` on stdin, as a runtime does.
/// With `fs`, the node's private directories are mounted on /run/flannel and /var/lib/cni.
pub fn exec_plugin(
    lab: &Lab,
    node_ns: &str,
    fs: Option<&NodeFs>,
    kind: &str,
    inv: &Invocation,
    conf: &str,
) -> Result<PluginOutput> {
    let plugin = find_plugin(kind)?;
    exec_binary(lab, node_ns, fs, &plugin, inv, conf)
}

/// Like [`exec_plugin`] with an explicit binary.
pub fn exec_binary(
    lab: &Lab,
    node_ns: &str,
    fs: Option<&NodeFs>,
    plugin: &Path,
    inv: &Invocation,
    conf: &str,
) -> Result<PluginOutput> {
    let mut env = vec![
        ("CNI_COMMAND".to_string(), inv.command.clone()),
        ("CNI_CONTAINERID".to_string(), inv.container_id.clone()),
        ("CNI_IFNAME".to_string(), inv.ifname.clone()),
        ("CNI_PATH".to_string(), cni_path()),
    ];
    if let Some(ns) = &inv.netns {
        env.push(("CNI_NETNS".to_string(), ns.clone()));
    }
    let plugin = plugin.to_string_lossy().into_owned();
    let out = match fs {
        None => lab.exec_with(node_ns, &[&plugin], &env, conf.as_bytes())?,
        Some(fs) => {
            // `ip netns exec` runs us in a private mount namespace: these mounts stay here.
            let script = "mkdir -p /run/flannel /var/lib/cni && mount --bind \"$1\" /run/flannel && mount --bind \"$2\" /var/lib/cni && exec \"$0\"";
            let (a, b) = (
                fs.run_flannel.to_string_lossy().into_owned(),
                fs.var_lib_cni.to_string_lossy().into_owned(),
            );
            lab.exec_with(
                node_ns,
                &["sh", "-c", script, &plugin, &a, &b],
                &env,
                conf.as_bytes(),
            )?
        }
    };
    Ok(PluginOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The config a runtime hands to plugin `i` of a conflist.
fn plugin_conf(list: &Value, plugin: &Value, prev: Option<&Value>) -> Result<Value> {
    let mut conf = plugin.clone();
    let obj = conf
        .as_object_mut()
        .context("conflist plugin is not an object")?;
    obj.insert("name".into(), list["name"].clone());
    obj.insert("cniVersion".into(), list["cniVersion"].clone());
    if let Some(prev) = prev {
        obj.insert("prevResult".into(), prev.clone());
    }
    Ok(conf)
}

fn plugins(list: &Value) -> Result<&Vec<Value>> {
    list["plugins"]
        .as_array()
        .context("conflist has no plugins")
}

/// ADD through a conflist chain; returns the final result.
pub fn add_conflist(
    lab: &Lab,
    node_ns: &str,
    fs: Option<&NodeFs>,
    conflist: &str,
    inv: &Invocation,
) -> Result<Value> {
    let list: Value = serde_json::from_str(conflist).context("conflist is not JSON")?;
    let mut prev: Option<Value> = None;
    for p in plugins(&list)? {
        let kind = p["type"].as_str().context("plugin without type")?;
        let conf = plugin_conf(&list, p, prev.as_ref())?;
        let add = Invocation {
            command: "ADD".into(),
            ..inv.clone()
        };
        let out = exec_plugin(lab, node_ns, fs, kind, &add, &conf.to_string())?;
        prev = Some(out.ok().with_context(|| format!("ADD of {kind}"))?);
    }
    prev.context("empty conflist")
}

/// DEL through a conflist chain, in reverse order, with the ADD result as prevResult.
pub fn del_conflist(
    lab: &Lab,
    node_ns: &str,
    fs: Option<&NodeFs>,
    conflist: &str,
    inv: &Invocation,
    result: Option<&Value>,
) -> Result<()> {
    let list: Value = serde_json::from_str(conflist).context("conflist is not JSON")?;
    for p in plugins(&list)?.iter().rev() {
        let kind = p["type"].as_str().context("plugin without type")?;
        let conf = plugin_conf(&list, p, result)?;
        let del = Invocation {
            command: "DEL".into(),
            ..inv.clone()
        };
        exec_plugin(lab, node_ns, fs, kind, &del, &conf.to_string())?
            .ok()
            .with_context(|| format!("DEL of {kind}"))?;
    }
    Ok(())
}

/// The pod's IPv4 address (without prefix) from a CNI result.
pub fn result_ip(result: &Value) -> Result<std::net::Ipv4Addr> {
    let addr = result["ips"][0]["address"]
        .as_str()
        .with_context(|| format!("no ips[0].address in {result}"))?;
    let ip = addr.split('/').next().unwrap_or(addr);
    ip.parse().with_context(|| format!("bad address {addr}"))
}
