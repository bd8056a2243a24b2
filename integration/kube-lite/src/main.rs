//! `kube-lite`: the control plane in one binary with subcommands (as
//! hyperkube and k3s): `apiserver`, `certs`.

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
    Apiserver(kube_lite_apiserver::config::ApiServerArgs),
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
            .and_then(|rt| rt.block_on(kube_lite_apiserver::server::run(a))),
    };
    if let Err(e) = r {
        eprintln!("kube-lite: {e:#}");
        std::process::exit(1);
    }
}
