use super::*;
use crate::bridge::builtin_conf;
use serde_json::json;
use std::cell::RefCell;
use std::path::PathBuf;

/// Records every call; fails the step named in `fail`.
#[derive(Default)]
struct FakeDp {
    calls: RefCell<Vec<String>>,
    fail: Option<&'static str>,
    pod_addrs: Option<Vec<Ipv4Net>>,
    configured: RefCell<Option<PodIface>>,
}

impl FakeDp {
    fn step(&self, name: &str) -> Result<(), KernelError> {
        self.calls.borrow_mut().push(name.to_string());
        if self.fail == Some(name) {
            return Err(KernelError::Failed {
                op: name.into(),
                source: std::io::Error::from_raw_os_error(libc::EBUSY),
            });
        }
        Ok(())
    }
    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

fn link(name: &str, index: u32) -> LinkInfo {
    LinkInfo {
        name: name.into(),
        index,
        mac: format!("02:00:00:00:00:{index:02x}"),
    }
}

impl Dataplane for FakeDp {
    fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<LinkInfo, KernelError> {
        self.step(&format!(
            "ensure_bridge {} gw={:?} mtu={}",
            cfg.name,
            cfg.gateway.map(|g| g.to_string()),
            cfg.mtu
        ))?;
        Ok(link(&cfg.name, 2))
    }
    fn enable_ip_forward(&self) -> Result<(), KernelError> {
        self.step("enable_ip_forward")
    }
    fn add_veth(
        &self,
        _netns: &Path,
        ifname: &str,
        bridge: &LinkInfo,
        mtu: u32,
        hairpin: bool,
    ) -> Result<(LinkInfo, LinkInfo), KernelError> {
        self.step(&format!(
            "add_veth {ifname} br={} mtu={mtu} hairpin={hairpin}",
            bridge.name
        ))?;
        Ok((link("veth0123abcd", 3), link(ifname, 4)))
    }
    fn configure_pod(&self, _netns: &Path, iface: &PodIface) -> Result<(), KernelError> {
        self.step("configure_pod")?;
        *self.configured.borrow_mut() = Some(iface.clone());
        Ok(())
    }
    fn del_pod_iface(
        &self,
        _netns: &Path,
        ifname: &str,
    ) -> Result<Option<Vec<Ipv4Net>>, KernelError> {
        self.step(&format!("del_pod_iface {ifname}"))?;
        Ok(self.pod_addrs.clone())
    }
    fn check_pod(&self, _netns: &Path, iface: &PodIface, bridge: &str) -> Result<(), KernelError> {
        self.step(&format!("check_pod {} {bridge}", iface.name))?;
        *self.configured.borrow_mut() = Some(iface.clone());
        Ok(())
    }
}

#[derive(Default)]
struct FakeMq {
    log: RefCell<Vec<String>>,
    fail_ensure: bool,
}

impl Masquerade for FakeMq {
    fn ensure(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error> {
        self.log
            .borrow_mut()
            .push(format!("ensure {}", rules.chains[0].name));
        if self.fail_ensure {
            Err(flannel_iptables::Error::Command {
                cmd: "iptables-restore".into(),
                status: "exit status: 1".into(),
                stderr: "injected".into(),
            })
        } else {
            Ok(())
        }
    }
    fn remove(&self, rules: &TableRules) -> Result<(), flannel_iptables::Error> {
        let srcs: Vec<String> = rules.jumps.iter().map(|j| j.args[1].clone()).collect();
        self.log.borrow_mut().push(format!(
            "remove {} {}",
            rules.chains[0].name,
            srcs.join(",")
        ));
        Ok(())
    }
}

fn conf(dir: &Path, extra: serde_json::Value) -> BridgeConf {
    let mut d = json!({"name":"cbr0","type":"bridge","ipMasq":true,"isGateway":true,"mtu":1472,"hairpinMode":true,
        "ipam":{"type":"host-local","dataDir":dir.display().to_string(),
                "ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}]}});
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    builtin_conf(d.as_object().unwrap(), false, &[])
        .unwrap()
        .unwrap()
}

fn netns() -> PathBuf {
    PathBuf::from("/run/netns/pod")
}

#[test]
fn add_does_what_bridge_does_and_reports_like_it() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({"isDefaultGateway": true}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    let r = add(&dp, &mq, &c, "abc123", "eth0", &netns()).unwrap();
    assert_eq!(
        dp.calls(),
        vec![
            "ensure_bridge cni0 gw=Some(\"10.1.17.1/24\") mtu=1472",
            "enable_ip_forward",
            "add_veth eth0 br=cni0 mtu=1472 hairpin=true",
            "configure_pod",
            "ensure_bridge cni0 gw=Some(\"10.1.17.1/24\") mtu=1472",
        ]
    );
    assert_eq!(
        mq.log.borrow().clone(),
        vec!["ensure CNI-3e9a3d0f9583cdc0e7133af3"]
    );
    let pod = dp.configured.borrow().clone().unwrap();
    assert_eq!(pod.addrs, vec!["10.1.17.2/24".parse::<Ipv4Net>().unwrap()]);
    let gw: Ipv4Addr = "10.1.17.1".parse().unwrap();
    assert_eq!(
        pod.routes,
        vec![
            PodRoute {
                dst: "10.1.0.0/16".parse().unwrap(),
                gw: Some(gw)
            },
            PodRoute {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: Some(gw)
            },
        ]
    );
    let v = r.to_value(crate::version::CniVersion::V1_0_0);
    assert_eq!(
        v,
        json!({"cniVersion":"1.0.0",
            "interfaces":[{"name":"cni0","mac":"02:00:00:00:00:02"},{"name":"veth0123abcd","mac":"02:00:00:00:00:03"},
                          {"name":"eth0","mac":"02:00:00:00:00:04","sandbox":"/run/netns/pod"}],
            "ips":[{"interface":2,"address":"10.1.17.2/24","gateway":"10.1.17.1"}],
            "routes":[{"dst":"10.1.0.0/16"},{"dst":"0.0.0.0/0","gw":"10.1.17.1"}],
            "dns":{}})
    );
}

#[test]
fn no_gateway_no_forwarding_no_masq() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({"isGateway": false, "ipMasq": false}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    let r = add(&dp, &mq, &c, "c1", "eth0", &netns()).unwrap();
    assert_eq!(dp.calls()[0], "ensure_bridge cni0 gw=None mtu=1472");
    assert!(!dp.calls().contains(&"enable_ip_forward".to_string()));
    assert!(mq.log.borrow().is_empty());
    assert_eq!(r.routes.len(), 1);
}

fn rollback_case(fail: Option<&'static str>, fail_masq: bool, expect_del: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let dp = FakeDp {
        fail,
        ..FakeDp::default()
    };
    let mq = FakeMq {
        fail_ensure: fail_masq,
        ..FakeMq::default()
    };
    let e = add(&dp, &mq, &c, "c1", "eth0", &netns()).unwrap_err();
    assert_eq!(e.code, if fail_masq { 102 } else { 100 });
    assert_eq!(
        dp.calls().contains(&"del_pod_iface eth0".to_string()),
        expect_del,
        "{:?}",
        dp.calls()
    );
    // The address was released: no record remains.
    let records: Vec<_> = std::fs::read_dir(tmp.path().join("cbr0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("10."))
        .collect();
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn rollback_after_each_failing_step() {
    rollback_case(Some("enable_ip_forward"), false, false);
    rollback_case(Some("configure_pod"), false, true);
    rollback_case(None, true, true);
}

#[test]
fn masq_failure_removes_rules_again() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let dp = FakeDp::default();
    let mq = FakeMq {
        fail_ensure: true,
        ..FakeMq::default()
    };
    add(&dp, &mq, &c, "abc123", "eth0", &netns()).unwrap_err();
    assert_eq!(
        mq.log.borrow().clone(),
        vec![
            "ensure CNI-3e9a3d0f9583cdc0e7133af3".to_string(),
            "remove CNI-3e9a3d0f9583cdc0e7133af3 10.1.17.2/32".to_string()
        ]
    );
}

#[test]
fn del_removes_everything_and_tolerates_missing_things() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    add(&dp, &mq, &c, "abc123", "eth0", &netns()).unwrap();
    let dp2 = FakeDp {
        pod_addrs: Some(vec!["10.1.17.2/24".parse().unwrap()]),
        ..FakeDp::default()
    };
    del(&dp2, &mq, &c, "abc123", "eth0", Some(&netns())).unwrap();
    assert_eq!(dp2.calls(), vec!["del_pod_iface eth0"]);
    assert_eq!(
        mq.log.borrow().last().unwrap(),
        "remove CNI-3e9a3d0f9583cdc0e7133af3 10.1.17.2/32"
    );
    assert!(!tmp.path().join("cbr0/10.1.17.2").exists());
    // Again: nothing left, no IP known, nothing to remove in iptables.
    let mq2 = FakeMq::default();
    del(
        &FakeDp::default(),
        &mq2,
        &c,
        "abc123",
        "eth0",
        Some(&netns()),
    )
    .unwrap();
    del(&FakeDp::default(), &mq2, &c, "abc123", "eth0", None).unwrap();
    assert!(mq2.log.borrow().is_empty());
}

#[test]
fn del_without_netns_still_cleans_masq_and_ipam() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    add(&dp, &mq, &c, "abc123", "eth0", &netns()).unwrap();
    let dp2 = FakeDp::default();
    del(&dp2, &mq, &c, "abc123", "eth0", None).unwrap();
    assert!(dp2.calls().is_empty());
    assert_eq!(
        mq.log.borrow().last().unwrap(),
        "remove CNI-3e9a3d0f9583cdc0e7133af3 10.1.17.2/32"
    );
    assert!(!tmp.path().join("cbr0/10.1.17.2").exists());
}

#[test]
fn check_uses_prev_result_and_ipam() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    let r = add(&dp, &mq, &c, "c1", "eth0", &netns()).unwrap();
    let dp2 = FakeDp::default();
    check(&dp2, &c, "c1", "eth0", &netns(), &r).unwrap();
    assert_eq!(dp2.calls(), vec!["check_pod eth0 cni0"]);
    let iface = dp2.configured.borrow().clone().unwrap();
    assert_eq!(iface.routes[0].gw, Some("10.1.17.1".parse().unwrap()));
    let e = check(&dp2, &c, "other", "eth0", &netns(), &r).unwrap_err();
    assert!(e.details.contains("no IPAM record"), "{e}");
    let failing = FakeDp {
        fail: Some("check_pod eth0 cni0"),
        ..FakeDp::default()
    };
    assert!(check(&failing, &c, "c1", "eth0", &netns(), &r).is_err());
}

#[test]
fn failed_save_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    let e = add_saving(&dp, &mq, &c, "c1", "eth0", &netns(), || {
        Err(CniError::new(5, "cannot save", "injected"))
    })
    .unwrap_err();
    assert!(
        matches!(e, AddError::Save(ref e) if e.details == "injected"),
        "{e:?}"
    );
    assert!(dp.calls().is_empty(), "{:?}", dp.calls());
    assert!(mq.log.borrow().is_empty());
    assert!(!tmp.path().join("cbr0").exists(), "IPAM store touched");
}

#[test]
fn failed_allocation_removes_the_veth_and_reports_the_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({}));
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    add(&dp, &mq, &c, "c1", "eth0", &netns()).unwrap();
    // Same attachment again: refused by IPAM (duplicate), whatever the kernel side did.
    let dp2 = FakeDp::default();
    let e = add_saving(&dp2, &mq, &c, "c1", "eth0", &netns(), || Ok(())).unwrap_err();
    let AddError::Add(e) = e else { panic!("{e:?}") };
    assert_eq!(e.code, IPAM_FAILURE);
    assert!(e.details.contains("duplicate allocation"), "{e}");
    let calls = dp2.calls();
    assert!(!calls.contains(&"configure_pod".to_string()), "{calls:?}");
    assert_eq!(
        calls.contains(&"add_veth eth0 br=cni0 mtu=1472 hairpin=true".to_string()),
        calls.contains(&"del_pod_iface eth0".to_string()),
        "a veth made is removed again: {calls:?}"
    );
    // The first attachment's record is untouched.
    assert!(tmp.path().join("cbr0/10.1.17.2").exists());
}

#[test]
fn several_ranges_allocate_before_the_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = conf(tmp.path(), json!({}));
    // Two ranges in the set: the gateway is the allocated range's, known only afterwards.
    c.ipam.range_sets[0].push(crate::ipam::range::Range {
        subnet: "10.1.18.0/24".parse().unwrap(),
        start: "10.1.18.2".parse().unwrap(),
        end: "10.1.18.254".parse().unwrap(),
        gateway: "10.1.18.1".parse().unwrap(),
    });
    let (dp, mq) = (FakeDp::default(), FakeMq::default());
    let r = add(&dp, &mq, &c, "c1", "eth0", &netns()).unwrap();
    assert_eq!(
        dp.calls()[0],
        "ensure_bridge cni0 gw=Some(\"10.1.17.1/24\") mtu=1472"
    );
    assert_eq!(r.ips[0].address.to_string(), "10.1.17.2/24");
    // Allocation failure: nothing reached the kernel.
    let dp2 = FakeDp::default();
    add(&dp2, &mq, &c, "c1", "eth0", &netns()).unwrap_err();
    assert!(dp2.calls().is_empty(), "{:?}", dp2.calls());
}
