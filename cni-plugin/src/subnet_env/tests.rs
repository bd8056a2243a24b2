use std::path::Path;

use super::*;

fn p(text: &str) -> Result<SubnetEnv, SubnetEnvError> {
    parse(text, Path::new("/run/flannel/subnet.env"))
}

#[test]
fn parses_flanneld_output() {
    let env = p("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n")
        .unwrap();
    assert_eq!(env.networks, vec!["10.1.0.0/16".parse().unwrap()]);
    assert_eq!(env.subnet, Some("10.1.17.0/24".parse().unwrap()));
    assert_eq!((env.mtu, env.ipmasq), (1472, true));
    assert!(env.ip6_networks.is_empty() && env.ip6_subnet.is_none());
}

#[test]
fn missing_and_invalid_keys_are_decoding_failures() {
    let e = p("").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ"
    );
    assert_eq!(CniError::from(e).code, 6);
    assert_eq!(CniError::from(p("FLANNEL_MTU=big\n").unwrap_err()).code, 6);
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
    // A directory cannot be read as a file: an I/O failure.
    assert_eq!(CniError::from(load(dir.path()).unwrap_err()).code, 5);
    std::fs::write(&path, "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n").unwrap();
    assert!(load(&path).is_ok());
}
