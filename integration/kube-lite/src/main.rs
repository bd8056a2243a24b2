//! `kube-lite`: the control plane in one binary with subcommands (as
//! hyperkube and k3s): `apiserver`, `controller-manager`, `certs`.

mod certs;

/// The API server allocates and frees a JSON tree per object on every list and watch event;
/// glibc's malloc spent a third of a 1000-pod list in allocation, fragmentation included.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kube-lite",
    version,
    about = "kube-lite: a small Kubernetes control plane for flannel-rs"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The API server on etcd (kube-apiserver's flags).
    Apiserver(Box<kube_lite_apiserver::config::ApiServerArgs>),
    /// Controllers (kube-controller-manager's flags): the node IPAM controller.
    ControllerManager(kube_lite_controller_manager::config::ControllerManagerArgs),
    /// A cluster CA, serving/client certificates, service-account keys,
    /// a token file and an admin kubeconfig.
    Certs(certs::CertsArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let r = match cli.cmd {
        Cmd::Apiserver(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(kube_lite_apiserver::server::run(*a))),
        Cmd::ControllerManager(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(kube_lite_controller_manager::run(a))),
        Cmd::Certs(a) => certs::run(&a),
    };
    if let Err(e) = r {
        eprintln!("kube-lite: {e:#}");
        std::process::exit(1);
    }
}
