use super::*;

fn p(text: &str) -> Result<SubnetEnv, SubnetEnvError> {
    parse(text, Path::new("/run/flannel/subnet.env"))
}

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("valid net")
}

fn v4(network: &str, subnet: &str, mtu: u32, ipmasq: bool) -> SubnetEnv {
    SubnetEnv {
        networks: vec![net(network)],
        subnet: Some(net(subnet)),
        ip6_networks: Vec::new(),
        ip6_subnet: None,
        mtu,
        ipmasq,
    }
}

/// What upstream flanneld writes, byte for byte.
const UPSTREAM: &str =
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
const UPSTREAM_DUAL: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:5::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";

#[test]
fn exact_format() {
    let env = v4("10.244.0.0/16", "10.244.1.0/24", 1450, true);
    assert_eq!(render(&env), UPSTREAM);
    let dual = SubnetEnv {
        ip6_networks: vec!["fd00::/48".parse().expect("valid net")],
        ip6_subnet: Some("fd00:0:0:5::/64".parse().expect("valid net")),
        ipmasq: false,
        ..env
    };
    assert_eq!(render(&dual), UPSTREAM_DUAL);
}

#[test]
fn render_then_parse_is_identity() {
    let mut list = v4("10.1.0.0/16", "10.1.17.0/24", 1472, false);
    list.networks.push(net("10.2.0.0/16"));
    let v6_only = SubnetEnv {
        networks: Vec::new(),
        subnet: None,
        ip6_networks: vec!["fd00::/56".parse().expect("valid net")],
        ip6_subnet: Some("fd00:0:0:11::/64".parse().expect("valid net")),
        mtu: 1400,
        ipmasq: true,
    };
    for env in [
        v4("10.244.0.0/16", "10.244.1.0/24", 1450, true),
        p(UPSTREAM_DUAL).expect("valid file"),
        list,
        v6_only,
    ] {
        assert_eq!(p(&render(&env)).expect("own output parses"), env);
    }
}

#[test]
fn parse_of_upstream_text() {
    assert_eq!(
        p(UPSTREAM).expect("valid file"),
        v4("10.244.0.0/16", "10.244.1.0/24", 1450, true)
    );
    let dual = p(UPSTREAM_DUAL).expect("valid file");
    assert_eq!(
        dual.ip6_subnet,
        Some("fd00:0:0:5::/64".parse().expect("valid net"))
    );
    assert_eq!(render(&dual), UPSTREAM_DUAL);
}

#[test]
fn lists_and_ipv6() {
    let env = p(
        "FLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\n\
                 FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:11::1/64\n\
                 FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    )
    .expect("valid file");
    assert_eq!(env.networks.len(), 2);
    assert_eq!(
        env.ip6_subnet,
        Some("fd00:0:0:11::/64".parse().expect("valid net"))
    );
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
}

#[test]
fn invalid_values() {
    let e = p("FLANNEL_NETWORK=10.1.0.0/33\n").unwrap_err();
    assert!(matches!(e, SubnetEnvError::Invalid { ref key, .. } if key == "FLANNEL_NETWORK"));
    let e = p("FLANNEL_MTU=big\n").unwrap_err();
    assert!(e.to_string().contains("FLANNEL_MTU"));
}

#[test]
fn previous_subnet_from_file() {
    let text = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n";
    assert_eq!(previous_subnet(text), Some(net("10.244.7.0/24")));
    assert_eq!(previous_subnet("garbage"), None);
}

#[test]
fn load_names_missing_file() {
    let path =
        std::env::temp_dir().join(format!("fl-net-no-such-{}/subnet.env", std::process::id()));
    let e = load(&path).unwrap_err();
    assert!(matches!(e, SubnetEnvError::NotFound { .. }), "{e}");
    assert!(
        e.to_string().contains("flanneld is probably not running"),
        "{e}"
    );
}
