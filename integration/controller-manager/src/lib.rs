//! kube-lite-controller-manager: controllers that, like kube-controller-manager's, talk to the
//! cluster only through the API (kube-rs watchers in, patches out).
//!
//! - [`config`]: kube-controller-manager's flags and `--controllers` selection;
//! - [`cidrset`]: the pure node-CIDR allocator; [`nodeipam`]: the node IPAM controller.

pub mod cidrset;
pub mod config;
pub mod nodeipam;

use anyhow::Context;
use tracing::info;

/// Runs the selected controllers until one fails.
pub async fn run(args: config::ControllerManagerArgs) -> anyhow::Result<()> {
    let enabled = config::enabled_controllers(&args.controllers)?;
    let client = config::client(&args).await?;
    let mut tasks = tokio::task::JoinSet::new();
    if enabled.contains(&"nodeipam") {
        if args.allocate_node_cidrs {
            let cidr = args
                .cluster_cidr
                .context("--allocate-node-cidrs needs --cluster-cidr")?;
            let set = cidrset::CidrSet::new(cidr, args.node_cidr_mask_size)?;
            info!(%cidr, mask = args.node_cidr_mask_size, "starting the node IPAM controller");
            tasks.spawn(nodeipam::run(client.clone(), set));
        } else {
            info!("node IPAM controller: --allocate-node-cidrs is false, nothing to allocate");
        }
    }
    if tasks.is_empty() {
        info!("no controller to run; idling");
        std::future::pending::<()>().await;
    }
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(anyhow::anyhow!("a controller task failed: {e}")),
        None => Ok(()),
    }
}
