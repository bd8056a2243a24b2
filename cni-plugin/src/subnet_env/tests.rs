use super::*;

fn p(text: &str) -> Result<SubnetEnv, SubnetEnvError> {
    parse(text, Path::new("/run/flannel/subnet.env"))
}

#[test]
fn parses_flanneld_output() {
    let env = p("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n")
        .unwrap();
    assert_eq!(
        env.networks,
        vec!["10.1.0.0/16".parse::<Ipv4Net>().unwrap()]
    );
    assert_eq!(env.subnet, Some("10.1.17.0/24".parse().unwrap()));
    assert_eq!((env.mtu, env.ipmasq), (1472, true));
    assert!(env.ip6_networks.is_empty() && env.ip6_subnet.is_none());
}

#[test]
fn lists_and_ipv6() {
    let env = p(
        "FLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\n\
                 FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:11::1/64\n\
                 FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    )
    .unwrap();
    assert_eq!(env.networks.len(), 2);
    assert_eq!(env.ip6_subnet, Some("fd00:0:0:11::/64".parse().unwrap()));
    assert!(!env.ipmasq);
}

#[test]
fn missing_keys_are_listed_exactly() {
    let e = p("FLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_IPMASQ=true\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_MTU"
    );
    let e = p("").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ"
    );
    assert_eq!(CniError::from(e).code, 6);
}

#[test]
fn invalid_values() {
    let e = p("FLANNEL_NETWORK=10.1.0.0/33\n").unwrap_err();
    assert!(matches!(e, SubnetEnvError::Invalid { ref key, .. } if key == "FLANNEL_NETWORK"));
    let e = p("FLANNEL_MTU=big\n").unwrap_err();
    assert!(e.to_string().contains("FLANNEL_MTU"));
}

#[test]
fn missing_file_says_flanneld_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subnet.env");
    let e = load(&path).unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("flanneld is probably not running on this node"),
        "{text}"
    );
    assert_eq!(CniError::from(e).code, 11);
    std::fs::write(&path, "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n").unwrap();
    assert!(load(&path).is_ok());
}
