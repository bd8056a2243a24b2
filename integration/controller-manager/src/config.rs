//! kube-controller-manager's flags that kube-lite's controller-manager honours, and the
//! `--controllers` list (`*` = every controller on by default, `foo` = on, `-foo` = off).

use std::path::PathBuf;

use anyhow::bail;
use ipnet::Ipv4Net;
use kube::Client;

/// The controllers this build has (later issues add more).
pub const KNOWN: &[&str] = &["nodeipam"];

#[derive(clap::Args, Debug, Clone)]
pub struct ControllerManagerArgs {
    /// Path to a kubeconfig file with the API server's address and credentials.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The API server URL (overrides the kubeconfig's server).
    #[arg(long)]
    pub master: Option<String>,
    /// CIDR range for pods in the cluster (the node IPAM controller cuts it into node CIDRs).
    #[arg(long)]
    pub cluster_cidr: Option<Ipv4Net>,
    /// Allocate and set pod CIDRs on nodes.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "false", action = clap::ArgAction::Set)]
    pub allocate_node_cidrs: bool,
    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// Controllers to enable: `*` enables the default ones, `foo` enables foo, `-foo` disables
    /// it. Known: nodeipam.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,
}

/// The controllers `--controllers` selects; an unknown name stops startup naming it.
pub fn enabled_controllers(list: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut on: Vec<&'static str> = vec![];
    let mut star = false;
    let mut off: Vec<&str> = vec![];
    for item in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if item == "*" {
            star = true;
            continue;
        }
        let (name, enable) = match item.strip_prefix('-') {
            Some(n) => (n, false),
            None => (item, true),
        };
        let Some(known) = KNOWN.iter().find(|k| **k == name) else {
            bail!(
                "--controllers: {name:?} is not a known controller (known: {})",
                KNOWN.join(", ")
            );
        };
        if enable {
            on.push(known);
        } else {
            off.push(known);
        }
    }
    if star {
        on.extend(KNOWN.iter().copied());
    }
    on.retain(|c| !off.contains(c));
    on.dedup();
    Ok(on)
}

/// A kube-rs client from `--kubeconfig` and/or `--master`, else in-cluster.
pub async fn client(a: &ControllerManagerArgs) -> anyhow::Result<Client> {
    let flags = flannel_kubeclient::Flags {
        kubeconfig: "--kubeconfig",
        server: "--master",
    };
    Ok(flannel_kubeclient::client(a.kubeconfig.as_deref(), a.master.as_deref(), flags).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn controller_selection_as_upstream() {
        assert_eq!(enabled_controllers(&list("*")).ok(), Some(vec!["nodeipam"]));
        assert_eq!(enabled_controllers(&list("*,-nodeipam")).ok(), Some(vec![]));
        assert_eq!(
            enabled_controllers(&list("nodeipam")).ok(),
            Some(vec!["nodeipam"])
        );
        let e = enabled_controllers(&list("*,bogus")).expect_err("unknown");
        assert!(e.to_string().contains("\"bogus\""), "{e}");
    }
}
