use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn add_needs_all_four_and_names_each_missing() {
    let err = parse(&vars(&[("CNI_COMMAND", "ADD")])).unwrap_err();
    assert_eq!(err.code, 4);
    for name in [
        "CNI_CONTAINERID (missing)",
        "CNI_NETNS (missing)",
        "CNI_IFNAME (missing)",
    ] {
        assert!(err.msg.contains(name), "{}", err.msg);
    }
}

#[test]
fn del_does_not_need_netns_version_needs_nothing() {
    let env = parse(&vars(&[
        ("CNI_COMMAND", "DEL"),
        ("CNI_CONTAINERID", "abc"),
        ("CNI_IFNAME", "eth0"),
    ]))
    .unwrap();
    assert_eq!(env.command, Command::Del);
    assert_eq!(env.netns, None);
    let err = parse(&vars(&[("CNI_COMMAND", "DEL"), ("CNI_IFNAME", "eth0")])).unwrap_err();
    assert!(err.msg.contains("CNI_CONTAINERID (missing)"));
    assert!(!err.msg.contains("CNI_NETNS"));
    for cmd in ["VERSION", "STATUS", "GC"] {
        assert!(parse(&vars(&[("CNI_COMMAND", cmd)])).is_ok(), "{cmd}");
    }
}

#[test]
fn missing_or_unknown_command() {
    let err = parse(&vars(&[])).unwrap_err();
    assert_eq!(
        (err.code, err.msg.contains("CNI_COMMAND (missing)")),
        (4, true)
    );
    let err = parse(&vars(&[("CNI_COMMAND", "FOO")])).unwrap_err();
    assert_eq!(err.code, 4);
    assert!(
        err.msg.contains("CNI_COMMAND (unknown command \"FOO\""),
        "{}",
        err.msg
    );
}

#[test]
fn invalid_values_are_named() {
    let err = parse(&vars(&[
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "-bad"),
        ("CNI_NETNS", "/run/netns/x"),
        ("CNI_IFNAME", "0123456789abcdef"),
        ("CNI_ARGS", "A=1;broken"),
    ]))
    .unwrap_err();
    assert_eq!(err.code, 4);
    assert!(err.msg.contains("CNI_CONTAINERID (invalid"), "{}", err.msg);
    assert!(err.msg.contains("CNI_IFNAME (invalid"), "{}", err.msg);
    assert!(err.msg.contains("CNI_ARGS (invalid"), "{}", err.msg);
    assert!(!err.msg.contains("CNI_NETNS"));
}

#[test]
fn container_id_rules() {
    for ok in ["a", "0", "abc-DEF_1.2", "k8s_POD.x-y"] {
        assert!(validate_container_id(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-a", "_a", ".a", "a b", "a/b", "a:b", "é"] {
        assert!(validate_container_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn ifname_rules() {
    for ok in ["eth0", "a", "123456789012345", "net-1.2"] {
        assert!(validate_ifname(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "a:b",
        "a b",
        "a\tb",
        "1234567890123456",
    ] {
        assert!(validate_ifname(bad).is_err(), "{bad}");
    }
}

#[test]
fn args_and_path() {
    let env = parse(&vars(&[
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c"),
        ("CNI_NETNS", "/run/netns/p"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web;;X=a=b"),
        ("CNI_PATH", "/opt/cni/bin::/usr/lib/cni"),
    ]))
    .unwrap();
    assert_eq!(env.arg("K8S_POD_NAME"), Some("web"));
    assert_eq!(env.arg("X"), Some("a=b"));
    assert_eq!(env.arg("nope"), None);
    assert_eq!(
        env.path,
        vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
    );
    assert_eq!(env.cid(), "c");
    assert_eq!(env.ifname(), "eth0");
}
