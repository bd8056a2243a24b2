//! `kube-lite certs`: writes a cluster's CA, the API server's serving
//! certificate, the admin client certificate, the service-account key pair,
//! the static token file and `admin.kubeconfig` into `--dir` (see
//! `kube_lite_apiserver::pki`), keeping an existing CA.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use kube_lite_apiserver::pki::{self, PkiOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct CertsArgs {
    /// Directory for the files (created if missing).
    #[arg(long, default_value = "/etc/kube-lite/pki")]
    pub dir: PathBuf,
    /// An extra IP address of the API server for its certificate
    /// (127.0.0.1 and 10.96.0.1 are always included). Repeatable.
    #[arg(long = "apiserver-ip")]
    pub apiserver_ip: Vec<IpAddr>,
    /// An extra DNS name of the API server for its certificate (kubernetes,
    /// kubernetes.default[.svc[.cluster.local]] and localhost are always
    /// included). Repeatable.
    #[arg(long = "apiserver-dns")]
    pub apiserver_dns: Vec<String>,
    /// The API server URL written into admin.kubeconfig [default:
    /// https://<first --apiserver-ip or 127.0.0.1>:6443].
    #[arg(long)]
    pub server: Option<String>,
    /// The cluster name in admin.kubeconfig and the CA's name.
    #[arg(long, default_value = "kube-lite")]
    pub cluster_name: String,
    /// Replace everything, including an existing CA (every client
    /// certificate and token of the cluster stops working).
    #[arg(long)]
    pub regenerate: bool,
}

/// The `server:` URL for `args`.
pub fn server_url(args: &CertsArgs) -> String {
    args.server
        .clone()
        .unwrap_or_else(|| match args.apiserver_ip.first() {
            Some(IpAddr::V6(ip)) => format!("https://[{ip}]:6443"),
            Some(IpAddr::V4(ip)) => format!("https://{ip}:6443"),
            None => "https://127.0.0.1:6443".to_string(),
        })
}

pub fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let opts = PkiOptions {
        apiserver_ips: args.apiserver_ip.clone(),
        apiserver_dns: args.apiserver_dns.clone(),
        server_url: server_url(args),
        cluster_name: args.cluster_name.clone(),
        regenerate: args.regenerate,
    };
    let report = pki::generate(&args.dir, &opts)
        .with_context(|| format!("generating the PKI in {}", args.dir.display()))?;
    for path in &report.written {
        println!("wrote {}", path.display());
    }
    for path in &report.kept {
        println!("kept  {}", path.display());
    }
    Ok(())
}
