//! `/run/flannel/subnet.env`, the file the CNI plugin reads: the format (type, render, parse) is
//! `flannel_net::subnet_env`, shared with the plugin; this module adds flanneld's write, atomic
//! (temp file + rename, mode 0644, parent created).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ipnet::Ipv4Net;

pub use flannel_net::subnet_env::{first_host, previous_subnet, render, SubnetEnv};

/// The file for an IPv4 lease `subnet` of `network`.
pub fn for_lease(network: Ipv4Net, subnet: Ipv4Net, mtu: u32, ipmasq: bool) -> SubnetEnv {
    SubnetEnv {
        networks: vec![network],
        subnet: Some(subnet),
        ip6_networks: Vec::new(),
        ip6_subnet: None,
        mtu,
        ipmasq,
    }
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
    fn lease_file_is_upstreams() {
        let env = for_lease(
            "10.244.0.0/16".parse().expect("valid net"),
            "10.244.1.0/24".parse().expect("valid net"),
            1450,
            true,
        );
        assert_eq!(
            render(&env),
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
        );
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
