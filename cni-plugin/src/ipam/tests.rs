use super::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn conf(dir: &Path, ipam: Value) -> IpamConf {
    let Value::Object(m) = ipam else {
        panic!("object")
    };
    let mut m = m;
    m.insert("dataDir".into(), dir.display().to_string().into());
    parse_conf("cbr0", &m).unwrap()
}

fn small(dir: &Path) -> IpamConf {
    // .1 gateway, .2 - .6 usable
    conf(
        dir,
        json!({"type":"host-local","ranges":[[{"subnet":"10.1.17.0/29"}]]}),
    )
}

fn addrs(a: &[Allocation]) -> Vec<String> {
    a.iter().map(|a| a.address.to_string()).collect()
}

#[test]
fn parses_flannel_generated_ipam() {
    let c = conf(
        Path::new("/x"),
        json!({"type":"host-local","ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}]}),
    );
    assert_eq!(c.network, "cbr0");
    assert_eq!(c.data_dir, PathBuf::from("/x"));
    assert_eq!(c.range_sets.len(), 1);
    assert_eq!(
        c.routes,
        vec![Route::new("10.1.0.0/16".parse().unwrap(), None)]
    );
    let (d, _) = store_location("n", &Map::new());
    assert_eq!(d, PathBuf::from("/var/lib/cni/networks"));
}

#[test]
fn conf_errors_and_unsupported() {
    let p = |v: Value| parse_conf("n", v.as_object().unwrap());
    assert!(matches!(
        p(json!({"ranges":[[{"subnet":"fd00::/64"}]]})),
        Err(ConfError::Unsupported(_))
    ));
    assert!(matches!(
        p(json!({"ranges":[[{"subnet":"10.0.0.0/24"}]],"resolvConf":"/etc/r"})),
        Err(ConfError::Unsupported(_))
    ));
    assert!(matches!(
        p(json!({"ranges":[[{"subnet":"10.0.0.1/24"}]]})),
        Err(ConfError::Invalid(_))
    ));
    assert!(matches!(p(json!({})), Err(ConfError::Invalid(_))));
    assert!(matches!(
        p(json!({"ranges":[[]]})),
        Err(ConfError::Invalid(_))
    ));
    assert!(matches!(
        p(json!({"ranges":[[{"subnet":"10.0.0.0/24"}]],"routes":[{"dst":"x"}]})),
        Err(ConfError::Invalid(_))
    ));
    // Legacy top-level subnet comes first.
    let c = p(json!({"subnet":"10.9.0.0/24","rangeStart":"10.9.0.100","ranges":[[{"subnet":"10.0.0.0/24"}]]})).unwrap();
    assert_eq!(c.range_sets.len(), 2);
    assert_eq!(
        c.range_sets[0][0].start,
        "10.9.0.100".parse::<Ipv4Addr>().unwrap()
    );
}

#[test]
fn allocation_order_wrap_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let c = small(tmp.path());
    let dir = tmp.path().join("cbr0");
    let a = allocate(&c, "c1", "eth0").unwrap();
    assert_eq!(addrs(&a), vec!["10.1.17.2/29"]);
    assert_eq!(a[0].gateway, "10.1.17.1".parse::<Ipv4Addr>().unwrap());
    assert_eq!(fs::read(dir.join("10.1.17.2")).unwrap(), b"c1\r\neth0");
    assert_eq!(
        fs::read(dir.join("last_reserved_ip.0")).unwrap(),
        b"10.1.17.2"
    );
    let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.clone()), 0o755);
    assert_eq!(mode(dir.join("10.1.17.2")), 0o644);
    assert_eq!(mode(dir.join("lock")), 0o750);
    for (cid, want) in [("c2", "10.1.17.3/29"), ("c3", "10.1.17.4/29")] {
        assert_eq!(addrs(&allocate(&c, cid, "eth0").unwrap()), vec![want]);
    }
    // Releasing c1 does not make .2 the next: round-robin continues after the last reserved.
    assert_eq!(
        release(tmp.path(), "cbr0", "c1", "eth0").unwrap(),
        vec!["10.1.17.2".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        addrs(&allocate(&c, "c4", "eth0").unwrap()),
        vec!["10.1.17.5/29"]
    );
    assert_eq!(
        addrs(&allocate(&c, "c5", "eth0").unwrap()),
        vec!["10.1.17.6/29"]
    );
    // Wraps around, skipping the gateway.
    assert_eq!(
        addrs(&allocate(&c, "c6", "eth0").unwrap()),
        vec!["10.1.17.2/29"]
    );
    // Exhausted: error, nothing written.
    let before: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let last_before = fs::read(dir.join("last_reserved_ip.0")).unwrap();
    let e = allocate(&c, "c7", "eth0").unwrap_err();
    assert_eq!(e.code, 101);
    assert_eq!(e.msg, "failed to allocate for range 0");
    assert_eq!(
        e.details,
        "no IP addresses available in range set: 10.1.17.1-10.1.17.6"
    );
    let after: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before.len(), after.len());
    assert_eq!(
        fs::read(dir.join("last_reserved_ip.0")).unwrap(),
        last_before
    );
}

#[test]
fn duplicate_allocation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = small(tmp.path());
    allocate(&c, "c1", "eth0").unwrap();
    let e = allocate(&c, "c1", "eth0").unwrap_err();
    assert!(
        e.details.contains("duplicate allocation is not allowed"),
        "{e}"
    );
    // Another interface of the same container is fine.
    assert_eq!(
        addrs(&allocate(&c, "c1", "net1").unwrap()),
        vec!["10.1.17.3/29"]
    );
}

#[test]
fn release_by_id_ifname_and_legacy() {
    let tmp = tempfile::tempdir().unwrap();
    let c = small(tmp.path());
    let dir = tmp.path().join("cbr0");
    allocate(&c, "c1", "eth0").unwrap();
    allocate(&c, "c1", "net1").unwrap();
    fs::write(dir.join("10.1.17.6"), "legacy\n").unwrap();
    assert_eq!(
        find(tmp.path(), "cbr0", "c1", "net1").unwrap(),
        vec!["10.1.17.3".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(release(tmp.path(), "cbr0", "c1", "net1").unwrap().len(), 1);
    assert!(dir.join("10.1.17.2").exists());
    assert!(release(tmp.path(), "cbr0", "c1", "net1")
        .unwrap()
        .is_empty());
    assert!(release(tmp.path(), "cbr0", "nobody", "eth0")
        .unwrap()
        .is_empty());
    assert_eq!(find(tmp.path(), "cbr0", "legacy", "eth0").unwrap().len(), 1);
    assert_eq!(
        release(tmp.path(), "cbr0", "legacy", "eth0").unwrap().len(),
        1
    );
    assert!(!dir.join("10.1.17.6").exists());
    assert!(dir.join("lock").exists() && dir.join("last_reserved_ip.0").exists());
}

#[test]
fn gc_releases_what_is_not_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let c = small(tmp.path());
    let dir = tmp.path().join("cbr0");
    allocate(&c, "keep", "eth0").unwrap(); // .2
    allocate(&c, "keep", "net1").unwrap(); // .3
    allocate(&c, "gone", "eth0").unwrap(); // .4
    fs::write(dir.join("10.1.17.5"), "keep").unwrap(); // legacy, container still valid
    fs::write(dir.join("10.1.17.6"), "old").unwrap(); // legacy, container gone
    let valid = vec![Attachment {
        container_id: "keep".into(),
        ifname: "eth0".into(),
    }];
    let released = gc(tmp.path(), "cbr0", &valid).unwrap();
    let ips: Vec<String> = released.iter().map(|r| r.ip.to_string()).collect();
    assert_eq!(ips, vec!["10.1.17.3", "10.1.17.4", "10.1.17.6"]);
    assert!(dir.join("10.1.17.2").exists() && dir.join("10.1.17.5").exists());
    assert!(dir.join("lock").exists() && dir.join("last_reserved_ip.0").exists());
    assert_eq!(gc(tmp.path(), "cbr0", &[]).unwrap().len(), 2);
}

#[test]
fn several_range_sets_roll_back_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(
        tmp.path(),
        json!({"ranges":[[{"subnet":"10.1.17.0/24"}],[{"subnet":"10.2.0.0/30"}]]}),
    );
    let a = allocate(&c, "c1", "eth0").unwrap();
    assert_eq!(addrs(&a), vec!["10.1.17.2/24", "10.2.0.2/30"]);
    assert_eq!(
        fs::read(tmp.path().join("cbr0/last_reserved_ip.1")).unwrap(),
        b"10.2.0.2"
    );
    // The second set is full now: the first set's address must not stay allocated.
    assert!(allocate(&c, "c2", "eth0").is_err());
    assert!(!tmp.path().join("cbr0/10.1.17.3").exists());
}

#[test]
fn parallel_allocations_never_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(tmp.path(), json!({"ranges":[[{"subnet":"10.1.17.0/24"}]]}));
    let results: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    allocate(c, &format!("c{i}"), "eth0").unwrap()[0]
                        .address
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = results.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 16);
}
