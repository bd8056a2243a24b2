use super::*;
use crate::config;
use std::path::Path;

fn env(text: &str) -> SubnetEnv {
    crate::subnet_env::parse(text, Path::new("subnet.env")).unwrap()
}

const UPSTREAM_ENV: &str =
    "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n";

#[test]
fn upstream_expectation_byte_for_byte() {
    let conf = config::parse(br#"{"name":"cni-flannel","type":"flannel","delegate":{}}"#).unwrap();
    let d = build(&conf, &env(UPSTREAM_ENV)).unwrap();
    assert_eq!(
        to_json(&d),
        r#"{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}"#
    );
}

#[test]
fn upstream_manifest_conf() {
    let conf = config::parse(
        br#"{"name":"cbr0","cniVersion":"0.3.1","type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}}"#,
    )
    .unwrap();
    let d = build(&conf, &env("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")).unwrap();
    assert_eq!(
        to_json(&d),
        r#"{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}"#
    );
}

#[test]
fn user_values_win_and_non_bridge_has_no_is_gateway() {
    let conf = config::parse(
        br#"{"name":"n","delegate":{"type":"ipvlan","ipMasq":true,"mtu":1400,"master":"eth0"},
             "ipam":{"type":"static","dataDir":"/tmp/x","routes":[{"gw":"10.9.0.1","dst":"10.9.8.7/8","advmss":0,"table":0,"mtu":1300,"junk":1}]},
             "runtimeConfig":{"portMappings":[{"hostPort":80}]}}"#,
    )
    .unwrap();
    let d = build(&conf, &env(UPSTREAM_ENV)).unwrap();
    assert_eq!(
        to_json(&d),
        r#"{"ipMasq":true,"ipam":{"dataDir":"/tmp/x","ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.9.8.7/8","gw":"10.9.0.1","mtu":1300,"table":0},{"dst":"10.1.0.0/16"}],"type":"static"},"master":"eth0","mtu":1400,"name":"n","runtimeConfig":{"portMappings":[{"hostPort":80}]},"type":"ipvlan"}"#
    );
}

#[test]
fn several_networks_ipv6_and_empty_runtime_config() {
    let conf = config::parse(br#"{"name":"n","cniVersion":"1.0.0","runtimeConfig":{}}"#).unwrap();
    let e = env("FLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:11::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
    let d = build(&conf, &e).unwrap();
    assert_eq!(
        to_json(&d),
        r#"{"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}],[{"subnet":"fd00:0:0:11::/64"}]],"routes":[{"dst":"10.1.0.0/16"},{"dst":"10.2.0.0/16"},{"dst":"fd00::/56"}],"type":"host-local"},"isGateway":true,"mtu":1472,"name":"n","type":"bridge"}"#
    );
}

#[test]
fn bad_user_routes_are_config_errors() {
    for ipam in [
        r#"{"routes":[{"gw":"1.2.3.4"}]}"#,
        r#"{"routes":{}}"#,
        r#"{"routes":[{"dst":"x"}]}"#,
    ] {
        let text = format!(r#"{{"name":"n","ipam":{ipam}}}"#);
        let conf = config::parse(text.as_bytes()).unwrap();
        let e = build(&conf, &env(UPSTREAM_ENV)).unwrap_err();
        assert_eq!(e.code, 7, "{ipam}");
        assert!(e.msg.contains("IPAM routes"));
    }
}

#[test]
fn escapes_like_go() {
    let conf = config::parse(br#"{"name":"a<b>&c","delegate":{"x":"<"}}"#).unwrap();
    let d = build(&conf, &env(UPSTREAM_ENV)).unwrap();
    let text = to_json(&d);
    assert!(text.contains(r#""name":"a\u003cb\u003e\u0026c""#), "{text}");
    assert!(text.contains(r#""x":"\u003c""#), "{text}");
}
