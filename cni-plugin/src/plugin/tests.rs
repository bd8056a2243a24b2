//! Command-level tests without a kernel: the exec path against a fake delegate script (which
//! logs its calls, stdin and the saved file it sees), errors, STATUS, VERSION, DEL and GC of
//! the IPAM store. Nothing here touches the network.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const RESULT_040: &str = r#"{"cniVersion":"0.4.0","interfaces":[{"name":"cni0","mac":"0a:00:00:00:00:01"},{"name":"veth1","mac":"0a:00:00:00:00:02"},{"name":"eth0","mac":"0a:00:00:00:00:03","sandbox":"/run/netns/p"}],"ips":[{"version":"4","interface":2,"address":"10.1.17.2/24","gateway":"10.1.17.1"}],"routes":[{"dst":"10.1.0.0/16"}],"dns":{}}"#;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// A temp dir with subnet.env, a data dir and a fake delegate `fakebr` in bin/.
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("subnet.env"),
            "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n",
        )
        .unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        let script = format!(
            r#"#!/bin/sh
d={dir}
input=$(cat)
echo "$CNI_COMMAND ${{CNI_CONTAINERID:-}} ${{CNI_IFNAME:-}} ${{CNI_NETNS:-none}}" >> $d/calls
printf '%s' "$input" > $d/stdin.$CNI_COMMAND
if [ -f $d/data/$CNI_CONTAINERID ]; then cp $d/data/$CNI_CONTAINERID $d/saved-at-$CNI_COMMAND; fi
case "$CNI_COMMAND" in
VERSION) echo '{{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}}';;
*) if [ -f $d/fail ]; then cat $d/fail; exit 1; fi
   if [ "$CNI_COMMAND" = ADD ]; then echo '{RESULT_040}'; fi;;
esac
"#,
            dir = dir.path().display()
        );
        let bin = dir.path().join("bin/fakebr");
        fs::write(&bin, script).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        Lab { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn conf(&self, version: &str, extra: &str) -> String {
        format!(
            r#"{{"name":"cbr0","type":"flannel","cniVersion":"{version}","subnetFile":"{}","dataDir":"{}","delegate":{{"type":"fakebr"}}{extra}}}"#,
            self.p("subnet.env").display(),
            self.p("data").display()
        )
    }

    fn run(&self, cmd: &str, cid: &str, stdin: &str) -> Outcome {
        let mut vars: HashMap<String, String> = [
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", cid),
            ("CNI_NETNS", "/run/netns/p"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", &self.p("bin").display().to_string()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if cid.is_empty() {
            vars.remove("CNI_CONTAINERID");
        }
        run(&vars, stdin.as_bytes())
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.p("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.p(rel)).unwrap_or_default()
    }
}

fn error_of(out: &Outcome) -> Value {
    assert_eq!(out.exit_code, 1, "{}", out.stdout);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn version_command() {
    let lab = Lab::new();
    let out = lab.run("VERSION", "", "");
    assert_eq!(out.exit_code, 0);
    assert_eq!(
        out.stdout,
        r#"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
    );
    let out = lab.run("VERSION", "", r#"{"cniVersion":"0.4.0"}"#);
    assert!(out.stdout.starts_with(r#"{"cniVersion":"0.4.0","#));
}

#[test]
fn error_codes() {
    let lab = Lab::new();
    let e = error_of(&run(&HashMap::new(), b""));
    assert_eq!(
        (e["code"].as_u64(), e["cniVersion"].as_str()),
        (Some(4), Some("1.1.0"))
    );
    let e = error_of(&lab.run("ADD", "", &lab.conf("0.3.1", "")));
    assert_eq!(e["code"], 4);
    assert_eq!(e["cniVersion"], "0.3.1");
    assert!(e["msg"].as_str().unwrap().contains("CNI_CONTAINERID"));
    assert_eq!(error_of(&lab.run("ADD", "c1", "garbage"))["code"], 6);
    assert_eq!(error_of(&lab.run("DEL", "c1", "{"))["code"], 6);
    let e = error_of(&lab.run(
        "ADD",
        "c1",
        r#"{"name":"n","cniVersion":"1.0.0","delegate":{"ipam":{}}}"#,
    ));
    assert_eq!(e["code"], 7);
    assert!(e["msg"].as_str().unwrap().contains("ipam"));
    assert_eq!(
        error_of(&lab.run("ADD", "c1", &lab.conf("0.2.0", "")))["code"],
        1
    );
    assert_eq!(
        error_of(&lab.run("CHECK", "c1", &lab.conf("0.3.1", "")))["code"],
        1
    );
    assert_eq!(
        error_of(&lab.run("GC", "", &lab.conf("1.0.0", "")))["code"],
        1
    );
    assert!(lab.calls().is_empty());
    assert!(!lab.p("data").exists());
}

#[test]
fn status_and_missing_subnet_file() {
    let lab = Lab::new();
    let out = lab.run("STATUS", "", &lab.conf("1.1.0", ""));
    assert_eq!((out.exit_code, out.stdout.as_str()), (0, ""));
    fs::remove_file(lab.p("subnet.env")).unwrap();
    let e = error_of(&lab.run("STATUS", "", &lab.conf("1.1.0", "")));
    assert_eq!(e["code"], 50);
    assert!(e["details"]
        .as_str()
        .unwrap()
        .contains("flanneld is probably not running"));
    let e = error_of(&lab.run("ADD", "c1", &lab.conf("1.0.0", "")));
    assert_eq!(e["code"], 11);
    assert!(e["details"].as_str().unwrap().contains("subnet.env"));
    fs::write(lab.p("subnet.env"), "FLANNEL_NETWORK=10.1.0.0/16\n").unwrap();
    let e = error_of(&lab.run("ADD", "c1", &lab.conf("1.0.0", "")));
    assert!(e["details"]
        .as_str()
        .unwrap()
        .ends_with("is missing FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ"));
}

#[test]
fn exec_add_saves_before_delegating_and_converts_the_result() {
    let lab = Lab::new();
    let out = lab.run("ADD", "c1", &lab.conf("1.0.0", ""));
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    let saved = r#"{"cniVersion":"1.0.0","ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},"mtu":1472,"name":"cbr0","type":"fakebr"}"#;
    assert_eq!(
        lab.read("saved-at-ADD"),
        saved,
        "saved before the delegate ran"
    );
    assert_eq!(lab.read("stdin.ADD"), saved);
    assert_eq!(lab.read("data/c1"), saved);
    assert_eq!(
        lab.calls(),
        vec!["VERSION   none", "ADD c1 eth0 /run/netns/p"]
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cniVersion"], "1.0.0");
    assert!(v["ips"][0].get("version").is_none());
    assert_eq!(v["ips"][0]["address"], "10.1.17.2/24");
    let out = lab.run("ADD", "c2", &lab.conf("0.3.1", ""));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["cniVersion"].as_str(), v["ips"][0]["version"].as_str()),
        (Some("0.3.1"), Some("4"))
    );
}

#[test]
fn exec_negotiates_an_older_version_with_the_delegate() {
    let lab = Lab::new();
    let out = lab.run("ADD", "c1", &lab.conf("1.1.0", ""));
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    assert!(lab
        .read("stdin.ADD")
        .starts_with(r#"{"cniVersion":"1.0.0","#));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cniVersion"], "1.1.0");
}

#[test]
fn exec_add_failure_passes_the_error_through_and_restores_the_saved_file() {
    let lab = Lab::new();
    fs::write(
        lab.p("fail"),
        r#"{"code":11,"msg":"busy","details":"later"}"#,
    )
    .unwrap();
    let e = error_of(&lab.run("ADD", "c1", &lab.conf("1.0.0", "")));
    assert_eq!(
        (e["code"].as_u64(), e["msg"].as_str(), e["details"].as_str()),
        (Some(11), Some("busy"), Some("later"))
    );
    assert!(!lab.p("data/c1").exists());
    // A failing second ADD leaves the first one's saved file in place.
    fs::remove_file(lab.p("fail")).unwrap();
    assert_eq!(lab.run("ADD", "c1", &lab.conf("1.0.0", "")).exit_code, 0);
    fs::write(lab.p("data/c1"), "first").unwrap();
    fs::write(lab.p("fail"), r#"{"code":100,"msg":"exists"}"#).unwrap();
    error_of(&lab.run("ADD", "c1", &lab.conf("1.0.0", "")));
    assert_eq!(lab.read("data/c1"), "first");
}

#[test]
fn exec_del_removes_the_saved_file_only_after_success() {
    let lab = Lab::new();
    assert_eq!(lab.run("ADD", "c1", &lab.conf("0.4.0", "")).exit_code, 0);
    let saved = lab.read("data/c1");
    fs::write(lab.p("fail"), r#"{"code":5,"msg":"io"}"#).unwrap();
    assert_eq!(
        error_of(&lab.run("DEL", "c1", &lab.conf("0.4.0", "")))["code"],
        5
    );
    assert_eq!(lab.read("data/c1"), saved, "kept for a retry");
    fs::remove_file(lab.p("fail")).unwrap();
    let out = lab.run("DEL", "c1", &lab.conf("0.4.0", ""));
    assert_eq!((out.exit_code, out.stdout.as_str()), (0, ""));
    assert_eq!(
        lab.read("stdin.DEL"),
        saved,
        "the delegate gets the saved configuration"
    );
    assert!(!lab.p("data/c1").exists());
    let n = lab.calls().len();
    // Again, and for a container never added: success without calling the delegate.
    assert_eq!(lab.run("DEL", "c1", &lab.conf("0.4.0", "")).exit_code, 0);
    assert_eq!(lab.run("DEL", "never", &lab.conf("0.4.0", "")).exit_code, 0);
    assert_eq!(lab.calls().len(), n);
    // A corrupt saved file is dropped.
    fs::create_dir_all(lab.p("data")).unwrap();
    fs::write(lab.p("data/bad"), "{{{").unwrap();
    assert_eq!(lab.run("DEL", "bad", &lab.conf("0.4.0", "")).exit_code, 0);
    assert!(!lab.p("data/bad").exists());
}

#[test]
fn exec_check_sends_prev_result() {
    let lab = Lab::new();
    let out = lab.run("ADD", "c1", &lab.conf("1.0.0", ""));
    let prev = out.stdout.clone();
    let e = error_of(&lab.run("CHECK", "c1", &lab.conf("1.0.0", "")));
    assert_eq!(e["code"], 7, "prevResult required");
    let conf = lab.conf("1.0.0", &format!(r#","prevResult":{prev}"#));
    let out = lab.run("CHECK", "c1", &conf);
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    let sent: Value = serde_json::from_str(&lab.read("stdin.CHECK")).unwrap();
    assert_eq!(sent["cniVersion"], "1.0.0");
    assert_eq!(sent["prevResult"]["ips"][0]["address"], "10.1.17.2/24");
    assert_eq!(sent["name"], "cbr0");
    let e = error_of(&lab.run("CHECK", "other", &conf));
    assert_eq!(e["code"], 3);
}

#[test]
fn gc_tears_down_unlisted_containers_and_releases_ipam_records() {
    let lab = Lab::new();
    let ipam_dir = lab.p("ipam");
    let ipam = format!(r#","ipam":{{"dataDir":"{}"}}"#, ipam_dir.display());
    for cid in ["keep", "gone"] {
        assert_eq!(lab.run("ADD", cid, &lab.conf("1.0.0", &ipam)).exit_code, 0);
    }
    // host-local records as the delegate chain would have left them.
    fs::create_dir_all(ipam_dir.join("cbr0")).unwrap();
    fs::write(ipam_dir.join("cbr0/10.1.17.2"), "keep\r\neth0").unwrap();
    fs::write(ipam_dir.join("cbr0/10.1.17.3"), "gone\r\nnet1").unwrap();
    fs::write(ipam_dir.join("cbr0/10.1.17.4"), "orphan\r\neth0").unwrap();
    let list = r#","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]"#;
    let out = lab.run("GC", "", &lab.conf("1.1.0", &format!("{ipam}{list}")));
    assert_eq!(
        (out.exit_code, out.stdout.as_str()),
        (0, ""),
        "{}",
        out.stdout
    );
    assert!(lab.p("data/keep").exists());
    assert!(!lab.p("data/gone").exists());
    // The fake supports only 1.0.0: no delegate GC, but its DEL for the stale container, with
    // the interface name found in the IPAM store.
    assert!(
        lab.calls().iter().any(|c| c == "DEL gone net1 none"),
        "{:?}",
        lab.calls()
    );
    assert!(!lab.calls().iter().any(|c| c.starts_with("GC")));
    assert!(ipam_dir.join("cbr0/10.1.17.2").exists());
    assert!(!ipam_dir.join("cbr0/10.1.17.3").exists());
    assert!(!ipam_dir.join("cbr0/10.1.17.4").exists());
    let e = error_of(&lab.run("GC", "", &lab.conf("1.1.0", "")));
    assert!(e["msg"].as_str().unwrap().contains("valid-attachments"));
}
