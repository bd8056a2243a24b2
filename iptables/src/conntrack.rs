//! Deleting UDP conntrack entries of endpoints that went away, with the
//! `conntrack` tool (Debian package `conntrack`), so that UDP clients do not
//! keep sending to a dead backend through a cached DNAT. "0 flow entries
//! have been deleted" (exit status 1) is not an error.

use crate::exec::prefixed_command;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;

/// Errors of the `conntrack` tool.
#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("cannot run {cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

/// Runs `conntrack`, optionally behind a command prefix (`ip netns exec NS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conntrack {
    prefix: Vec<String>,
    bin: PathBuf,
}

impl Default for Conntrack {
    fn default() -> Self {
        Self::new()
    }
}

impl Conntrack {
    /// Uses `conntrack` from `PATH`.
    pub fn new() -> Self {
        Conntrack {
            prefix: Vec::new(),
            bin: PathBuf::from("conntrack"),
        }
    }

    /// Uses the given binary.
    pub fn with_path(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = bin.into();
        self
    }

    /// Runs behind `prefix` (e.g. `["ip","netns","exec","NS"]`).
    pub fn with_prefix<S: AsRef<str>>(mut self, prefix: impl IntoIterator<Item = S>) -> Self {
        self.prefix = prefix.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// Entries to `vip:port` that were DNATed to `endpoint`.
    pub fn delete_cluster_ip_flows(
        &self,
        vip: Ipv4Addr,
        port: u16,
        endpoint: Ipv4Addr,
    ) -> Result<u64, ConntrackError> {
        self.delete(&cluster_ip_args(vip, port, Some(endpoint)))
    }

    /// Entries to any local address on `node_port` that were DNATed to `endpoint`.
    pub fn delete_node_port_flows(
        &self,
        node_port: u16,
        endpoint: Ipv4Addr,
    ) -> Result<u64, ConntrackError> {
        self.delete(&node_port_args(node_port, Some(endpoint)))
    }

    /// Every entry to `vip:port` (e.g. ones created while it had no endpoint).
    pub fn delete_service_flows(&self, vip: Ipv4Addr, port: u16) -> Result<u64, ConntrackError> {
        self.delete(&cluster_ip_args(vip, port, None))
    }

    /// Every entry to `node_port`.
    pub fn delete_node_port_service_flows(&self, node_port: u16) -> Result<u64, ConntrackError> {
        self.delete(&node_port_args(node_port, None))
    }

    /// Runs `conntrack -D <args>`; returns how many entries were deleted.
    pub fn delete(&self, args: &[String]) -> Result<u64, ConntrackError> {
        let args: Vec<&str> = std::iter::once("-D")
            .chain(args.iter().map(String::as_str))
            .collect();
        let (mut command, cmd) = prefixed_command(&self.prefix, &self.bin, &args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = command.output().map_err(|source| ConntrackError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let deleted = deleted_count(&stderr);
        if out.status.success() || deleted == Some(0) {
            tracing::debug!(%cmd, deleted = deleted.unwrap_or(0), "conntrack");
            return Ok(deleted.unwrap_or(0));
        }
        Err(ConntrackError::Failed {
            cmd,
            status: out.status.to_string(),
            stderr: stderr.trim().to_string(),
        })
    }
}

/// `-p udp --orig-dst VIP --orig-port-dst PORT [--dst-nat EP]`.
pub fn cluster_ip_args(vip: Ipv4Addr, port: u16, endpoint: Option<Ipv4Addr>) -> Vec<String> {
    let args = ["-p", "udp", "--orig-dst", &vip.to_string()];
    with_dst_nat(&args, port, endpoint)
}

/// `-p udp --orig-port-dst NODEPORT [--dst-nat EP]`.
pub fn node_port_args(node_port: u16, endpoint: Option<Ipv4Addr>) -> Vec<String> {
    with_dst_nat(&["-p", "udp"], node_port, endpoint)
}

/// `head --orig-port-dst PORT [--dst-nat EP]`.
fn with_dst_nat(head: &[&str], port: u16, endpoint: Option<Ipv4Addr>) -> Vec<String> {
    let mut args: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    args.push("--orig-port-dst".to_string());
    args.push(port.to_string());
    if let Some(ep) = endpoint {
        args.push("--dst-nat".to_string());
        args.push(ep.to_string());
    }
    args
}

/// Parses `... N flow entries have been deleted.`
pub fn deleted_count(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let (head, _) = l.split_once(" flow entries have been deleted")?;
        head.split_whitespace().last()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deleted_count() {
        let msg = "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n";
        assert_eq!(deleted_count(msg), Some(0));
        assert_eq!(
            deleted_count("conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted."),
            Some(3)
        );
        assert_eq!(deleted_count("conntrack: unknown option"), None);
    }

    #[test]
    fn builds_arguments() {
        let vip: Ipv4Addr = "10.96.0.10".parse().expect("ip");
        let ep: Ipv4Addr = "10.244.1.2".parse().expect("ip");
        assert_eq!(
            cluster_ip_args(vip, 53, Some(ep)).join(" "),
            "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --dst-nat 10.244.1.2"
        );
        assert_eq!(
            node_port_args(30053, Some(ep)).join(" "),
            "-p udp --orig-port-dst 30053 --dst-nat 10.244.1.2"
        );
        assert_eq!(
            cluster_ip_args(vip, 53, None).join(" "),
            "-p udp --orig-dst 10.96.0.10 --orig-port-dst 53"
        );
    }

    #[test]
    fn missing_binary_is_a_spawn_error() {
        let ct = Conntrack::new().with_path("/nonexistent/conntrack");
        assert!(matches!(
            ct.delete_service_flows("10.0.0.1".parse().expect("ip"), 53),
            Err(ConntrackError::Spawn { .. })
        ));
    }
}
