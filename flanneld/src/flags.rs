//! Command line: upstream's flags (both `-flag` and `--flag`), each with a `FLANNELD_*`
//! environment fallback, plus our `routes` subcommand and `--status-socket`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{CommandFactory, Parser, Subcommand};

pub const DEFAULT_STATUS_SOCKET: &str = "/run/flannel/flanneld.sock";

#[derive(Debug, Parser)]
#[command(
    name = "flanneld",
    version,
    about = "flannel-rs: per-node overlay network daemon, a drop-in replacement for upstream flanneld"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub flags: Flags,
    /// Unix socket where the daemon serves its status (`flanneld routes` reads it).
    #[arg(long, global = true, env = "FLANNELD_STATUS_SOCKET", default_value = DEFAULT_STATUS_SOCKET)]
    pub status_socket: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the running daemon's route table and whether the kernel matches it.
    Routes {
        /// Print a JSON array of peers instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Comma-separated list of etcd endpoints.
    #[arg(
        long,
        env = "FLANNELD_ETCD_ENDPOINTS",
        default_value = "http://127.0.0.1:4001,http://127.0.0.1:2379",
        value_delimiter = ','
    )]
    pub etcd_endpoints: Vec<String>,
    /// etcd prefix of the network config and leases.
    #[arg(
        long,
        env = "FLANNELD_ETCD_PREFIX",
        default_value = "/coreos.com/network"
    )]
    pub etcd_prefix: String,
    /// TLS key file for etcd.
    #[arg(long, env = "FLANNELD_ETCD_KEYFILE")]
    pub etcd_keyfile: Option<PathBuf>,
    /// TLS certificate file for etcd.
    #[arg(long, env = "FLANNELD_ETCD_CERTFILE")]
    pub etcd_certfile: Option<PathBuf>,
    /// TLS CA file for etcd.
    #[arg(long, env = "FLANNELD_ETCD_CAFILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// etcd user name.
    #[arg(long, env = "FLANNELD_ETCD_USERNAME")]
    pub etcd_username: Option<String>,
    /// etcd password.
    #[arg(long, env = "FLANNELD_ETCD_PASSWORD")]
    pub etcd_password: Option<String>,
    /// Interface (name or IP) to use for inter-host traffic; repeatable, first match wins.
    #[arg(long, env = "FLANNELD_IFACE", value_delimiter = ',')]
    pub iface: Vec<String>,
    /// Regex matched against interface IPs, then names; repeatable.
    #[arg(long, env = "FLANNELD_IFACE_REGEX", value_delimiter = ',')]
    pub iface_regex: Vec<String>,
    /// Use the interface the kernel routes this IP through.
    #[arg(long, env = "FLANNELD_IFACE_CAN_REACH")]
    pub iface_can_reach: Option<Ipv4Addr>,
    /// IP other nodes reach this node at (default: the interface's address).
    #[arg(long, env = "FLANNELD_PUBLIC_IP")]
    pub public_ip: Option<Ipv4Addr>,
    /// IPv6 other nodes reach this node at.
    #[arg(long, env = "FLANNELD_PUBLIC_IPV6")]
    pub public_ipv6: Option<Ipv6Addr>,
    /// File the CNI plugin reads the network and this node's subnet from.
    #[arg(
        long,
        env = "FLANNELD_SUBNET_FILE",
        default_value = "/run/flannel/subnet.env"
    )]
    pub subnet_file: PathBuf,
    /// Minutes before expiry at which the lease is renewed (1..1439).
    #[arg(long, env = "FLANNELD_SUBNET_LEASE_RENEW_MARGIN", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1439))]
    pub subnet_lease_renew_margin: u32,
    /// Masquerade traffic leaving the flannel network.
    #[arg(long, env = "FLANNELD_IP_MASQ", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub ip_masq: bool,
    /// Do not use --random-fully in the masquerade rules.
    #[arg(long, env = "FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub ip_masq_fully_random_disable: bool,
    /// Use the Kubernetes API (the node's podCIDR and annotations) instead of etcd.
    #[arg(long, env = "FLANNELD_KUBE_SUBNET_MGR", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub kube_subnet_mgr: bool,
    /// Kubernetes API server URL (kube subnet manager only).
    #[arg(long, env = "FLANNELD_KUBE_API_URL")]
    pub kube_api_url: Option<String>,
    /// kubeconfig file (kube subnet manager only).
    #[arg(long, env = "FLANNELD_KUBECONFIG_FILE")]
    pub kubeconfig_file: Option<PathBuf>,
    /// Node annotation prefix (kube subnet manager only).
    #[arg(
        long,
        env = "FLANNELD_KUBE_ANNOTATION_PREFIX",
        default_value = "flannel.alpha.coreos.com"
    )]
    pub kube_annotation_prefix: String,
    /// Set the node condition NetworkUnavailable=False once flannel runs (kube subnet manager only).
    #[arg(long, env = "FLANNELD_SET_NODE_NETWORK_UNAVAILABLE", num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub set_node_network_unavailable: bool,
    /// Network config file (kube subnet manager only).
    #[arg(
        long,
        env = "FLANNELD_NET_CONFIG_PATH",
        default_value = "/etc/kube-flannel/net-conf.json"
    )]
    pub net_config_path: PathBuf,
    /// Address of the health endpoint.
    #[arg(long, env = "FLANNELD_HEALTHZ_IP", default_value = "0.0.0.0")]
    pub healthz_ip: IpAddr,
    /// Port of the health endpoint (0 = off).
    #[arg(long, env = "FLANNELD_HEALTHZ_PORT", default_value_t = 0)]
    pub healthz_port: u16,
    /// Seconds between checks of the iptables rules.
    #[arg(long, env = "FLANNELD_IPTABLES_RESYNC", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub iptables_resync: u64,
    /// Install FORWARD accept rules for the flannel network.
    #[arg(long, env = "FLANNELD_IPTABLES_FORWARD_RULES", num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub iptables_forward_rules: bool,
    /// Add a blackhole route for this node's subnet.
    #[arg(long, env = "FLANNELD_IP_BLACKHOLE_ROUTE", num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub ip_blackhole_route: bool,
    /// Log verbosity (0 = info, 1+ = debug, 5+ = trace).
    #[arg(short = 'v', long = "v", env = "FLANNELD_V", default_value_t = 0)]
    pub verbosity: u8,
    /// Seconds between full reconciles of kernel routes against leases.
    #[arg(long, env = "FLANNELD_RECONCILE_INTERVAL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub reconcile_interval: u64,
}

/// Accept Go-style single-dash long flags (`-etcd-prefix=/x`) by rewriting them to `--etcd-prefix=/x`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let cmd = Cli::command();
    let mut longs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    longs.push("version".into());
    longs.push("help".into());
    args.into_iter()
        .map(|a| {
            if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                let name = a[1..].split('=').next().unwrap_or("");
                if longs.iter().any(|l| l == name) {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize_args(args.iter().map(|s| s.to_string())))
    }

    #[test]
    fn go_style_single_dash_flags() {
        let c = parse(&[
            "flanneld",
            "-etcd-prefix=/x/network",
            "-iface",
            "eth1",
            "-ip-masq",
            "-v=2",
        ])
        .unwrap();
        assert_eq!(c.flags.etcd_prefix, "/x/network");
        assert_eq!(c.flags.iface, vec!["eth1"]);
        assert!(c.flags.ip_masq);
        assert_eq!(c.flags.verbosity, 2);
        assert!(c.command.is_none());
    }

    #[test]
    fn defaults() {
        let c = parse(&["flanneld"]).unwrap();
        assert_eq!(
            c.flags.etcd_endpoints,
            vec!["http://127.0.0.1:4001", "http://127.0.0.1:2379"]
        );
        assert_eq!(
            c.flags.subnet_file,
            PathBuf::from("/run/flannel/subnet.env")
        );
        assert!(!c.flags.ip_masq);
        assert!(c.flags.iptables_forward_rules);
        assert_eq!(c.flags.iptables_resync, 5);
        assert_eq!(c.flags.subnet_lease_renew_margin, 60);
        assert_eq!(c.status_socket, PathBuf::from(DEFAULT_STATUS_SOCKET));
    }

    #[test]
    fn go_style_booleans_and_repeats() {
        let c = parse(&[
            "flanneld",
            "--ip-masq=false",
            "--iptables-forward-rules=false",
            "--iface=eth0",
            "--iface=eth1",
            "--etcd-endpoints=http://a:2379,http://b:2379",
        ])
        .unwrap();
        assert!(!c.flags.ip_masq);
        assert!(!c.flags.iptables_forward_rules);
        assert_eq!(c.flags.iface, vec!["eth0", "eth1"]);
        assert_eq!(c.flags.etcd_endpoints.len(), 2);
    }

    #[test]
    fn routes_subcommand_with_socket() {
        let c = parse(&["flanneld", "routes", "--json", "--status-socket", "/tmp/s"]).unwrap();
        assert!(matches!(c.command, Some(Command::Routes { json: true })));
        assert_eq!(c.status_socket, PathBuf::from("/tmp/s"));
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(parse(&["flanneld", "--subnet-lease-renew-margin=0"]).is_err());
        assert!(parse(&["flanneld", "--public-ip=banana"]).is_err());
        assert!(parse(&["flanneld", "--no-such-flag"]).is_err());
    }
}
