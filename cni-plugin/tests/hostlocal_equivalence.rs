//! Our host-local store against Debian's host-local binary: the same sequence of ADD / DEL on
//! both must hand out the same addresses in the same order and leave byte-identical files
//! (names, modes, contents). host-local touches no kernel state, so the reference binary runs
//! directly, with CNI_NETNS pointing nowhere and its dataDir in a temp dir.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use flannel_cni::ipam;
use serde_json::Value;

const HOST_LOCAL: &str = "/usr/lib/cni/host-local";

/// Debian's host-local plugin: the test fails without it.
fn available() {
    flannel_testkit::require_file(HOST_LOCAL, "containernetworking-plugins");
}

fn conf_json(dir: &Path, ipam_extra: &str) -> String {
    format!(
        r#"{{"cniVersion":"0.4.0","name":"cbr0","type":"bridge","ipam":{{"type":"host-local","dataDir":"{}"{ipam_extra}}}}}"#,
        dir.display()
    )
}

/// Runs the reference; Ok(addresses) or Err(msg).
fn reference(cmd: &str, cid: &str, ifname: &str, conf: &str) -> Result<Vec<String>, String> {
    use std::io::Write;
    let mut child = Command::new(HOST_LOCAL)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/nonexistent")
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn host-local");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(conf.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() {
        return Err(v["msg"].as_str().unwrap_or("").to_string());
    }
    Ok(v["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ip| ip["address"].as_str().unwrap_or("").to_string())
        .collect())
}

fn ours(cmd: &str, cid: &str, ifname: &str, conf: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(conf).unwrap();
    let ipam_obj = v["ipam"].as_object().unwrap();
    let c = ipam::parse_conf("cbr0", ipam_obj).map_err(|e| format!("{e:?}"))?;
    match cmd {
        "ADD" => ipam::allocate(&c, cid, ifname)
            .map(|a| a.iter().map(|a| a.address.to_string()).collect())
            .map_err(|e| format!("{}: {}", e.msg, e.details)),
        _ => ipam::release(&c.data_dir, &c.network, cid, ifname)
            .map(|_| Vec::new())
            .map_err(|e| e.to_string()),
    }
}

/// (name, mode, content) of every file of the store.
fn files(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("cbr0"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
            (
                e.file_name().into_string().unwrap(),
                mode,
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn compare(ipam_extra: &str, steps: &[(&str, &str, &str)]) {
    let (rd, od) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (rconf, oconf) = (
        conf_json(rd.path(), ipam_extra),
        conf_json(od.path(), ipam_extra),
    );
    for (i, (cmd, cid, ifname)) in steps.iter().enumerate() {
        let r = reference(cmd, cid, ifname, &rconf);
        let o = ours(cmd, cid, ifname, &oconf);
        match (&r, &o) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "step {i} {cmd} {cid}/{ifname}"),
            (Err(a), Err(b)) => {
                // Same reason (the reference prefixes the range index like we do).
                let key = |s: &str| s.split(": ").last().unwrap_or("").to_string();
                assert_eq!(key(a), key(b), "step {i} {cmd} {cid}/{ifname}");
            }
            _ => panic!("step {i} {cmd} {cid}/{ifname}: reference {r:?}, ours {o:?}"),
        }
        assert_eq!(
            files(od.path()),
            files(rd.path()),
            "files after step {i} {cmd} {cid}/{ifname}"
        );
    }
}

#[test]
fn same_allocations_and_files_as_host_local() {
    available();
    // /29: gateway .1, usable .2 - .6.
    compare(
        r#","ranges":[[{"subnet":"10.1.17.0/29"}]]"#,
        &[
            ("ADD", "c1", "eth0"),
            ("ADD", "c2", "eth0"),
            ("ADD", "c2", "net1"),
            ("ADD", "c2", "eth0"), // duplicate: refused by both
            ("DEL", "c2", "eth0"),
            ("ADD", "c3", "eth0"),
            ("ADD", "c4", "eth0"),
            ("ADD", "c5", "eth0"), // wraps around to the freed .3
            ("ADD", "c6", "eth0"), // exhausted
            ("DEL", "c1", "eth0"),
            ("DEL", "c1", "eth0"),
            ("DEL", "never", "eth0"),
            ("ADD", "c7", "eth0"),
            ("DEL", "c2", "net1"),
            ("ADD", "c8", "eth0"),
        ],
    );
}

#[test]
fn same_with_range_options_and_two_range_sets() {
    available();
    compare(
        r#","ranges":[[{"subnet":"10.1.17.0/24","rangeStart":"10.1.17.10","rangeEnd":"10.1.17.12","gateway":"10.1.17.11"}],[{"subnet":"10.2.0.0/29"}]]"#,
        &[
            ("ADD", "a", "eth0"),
            ("ADD", "b", "eth0"),
            ("ADD", "c", "eth0"), // first set exhausted: nothing kept in the second
            ("DEL", "a", "eth0"),
            ("ADD", "d", "eth0"),
        ],
    );
}

#[test]
fn same_with_legacy_subnet() {
    available();
    compare(
        r#","subnet":"10.3.0.0/30""#,
        &[
            ("ADD", "a", "eth0"),
            ("ADD", "b", "eth0"),
            ("DEL", "a", "eth0"),
            ("ADD", "b", "eth1"),
        ],
    );
}
