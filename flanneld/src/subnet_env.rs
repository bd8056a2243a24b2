//! `/run/flannel/subnet.env`: the file the CNI plugin reads. Rendering and parsing are pure; the
//! write is atomic (temp file + rename, mode 0644, parent created).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ipnet::{Ipv4Net, Ipv6Net};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetEnv {
    pub network: Ipv4Net,
    /// Our lease (network address form); written as the first host, e.g. `10.244.1.1/24`.
    pub subnet: Ipv4Net,
    pub ipv6: Option<(Ipv6Net, Ipv6Net)>,
    pub mtu: u32,
    pub ipmasq: bool,
}

/// The first host of a subnet in CIDR form (`10.244.1.0/24` -> `10.244.1.1/24`).
pub fn first_host(subnet: Ipv4Net) -> String {
    let ip = std::net::Ipv4Addr::from(u32::from(subnet.network()).wrapping_add(1));
    format!("{ip}/{}", subnet.prefix_len())
}

pub fn render(env: &SubnetEnv) -> String {
    let mut s = format!(
        "FLANNEL_NETWORK={}\nFLANNEL_SUBNET={}\n",
        env.network,
        first_host(env.subnet)
    );
    if let Some((net6, sub6)) = env.ipv6 {
        let first = std::net::Ipv6Addr::from(u128::from(sub6.network()).wrapping_add(1));
        s.push_str(&format!(
            "FLANNEL_IPV6_NETWORK={net6}\nFLANNEL_IPV6_SUBNET={first}/{}\n",
            sub6.prefix_len()
        ));
    }
    s.push_str(&format!(
        "FLANNEL_MTU={}\nFLANNEL_IPMASQ={}\n",
        env.mtu, env.ipmasq
    ));
    s
}

/// The subnet (network address form) named by FLANNEL_SUBNET in an existing file, if any.
pub fn previous_subnet(text: &str) -> Option<Ipv4Net> {
    text.lines()
        .filter_map(|l| l.strip_prefix("FLANNEL_SUBNET="))
        .find_map(|v| v.trim().parse::<Ipv4Net>().ok())
        .map(|n| n.trunc())
}

/// Write atomically: a temp file beside the target, fsync, rename.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_format() {
        let env = SubnetEnv {
            network: "10.244.0.0/16".parse().unwrap(),
            subnet: "10.244.1.0/24".parse().unwrap(),
            ipv6: None,
            mtu: 1450,
            ipmasq: true,
        };
        assert_eq!(
            render(&env),
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
        );
        let env6 = SubnetEnv {
            ipv6: Some((
                "fd00::/48".parse().unwrap(),
                "fd00:0:0:5::/64".parse().unwrap(),
            )),
            ipmasq: false,
            ..env
        };
        assert_eq!(
            render(&env6),
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:5::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
        );
    }

    #[test]
    fn previous_subnet_from_file() {
        let text = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n";
        assert_eq!(
            previous_subnet(text),
            Some("10.244.7.0/24".parse().unwrap())
        );
        assert_eq!(previous_subnet("garbage"), None);
    }

    #[test]
    fn atomic_write_creates_parent_and_mode() {
        let dir = std::env::temp_dir().join(format!("fl-subnetenv-{}", std::process::id()));
        let path = dir.join("a/b/subnet.env");
        write_atomic(&path, "X=1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "X=1\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
