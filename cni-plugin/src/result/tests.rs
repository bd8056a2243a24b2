use super::*;

/// Printed by Debian's bridge plugin 1.1.1 (cniVersion 0.4.0).
const BRIDGE_040: &str = r#"{
    "cniVersion": "0.4.0",
    "interfaces": [
        {
            "name": "cni0",
            "mac": "36:6b:32:ac:42:ca"
        },
        {
            "name": "vethdfbfed9a",
            "mac": "1e:9f:3c:a4:22:e8"
        },
        {
            "name": "eth0",
            "mac": "d2:18:e5:19:88:eb",
            "sandbox": "/run/netns/fl-cnic-manual-pod"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 2,
            "address": "10.1.17.3/24",
            "gateway": "10.1.17.1"
        }
    ],
    "routes": [
        {
            "dst": "10.1.0.0/16"
        },
        {
            "dst": "0.0.0.0/0",
            "gw": "10.1.17.1"
        }
    ],
    "dns": {}
}"#;

/// The same result as bridge prints it for cniVersion 1.0.0.
fn bridge_100() -> String {
    BRIDGE_040
        .replace("\"0.4.0\"", "\"1.0.0\"")
        .replace("            \"version\": \"4\",\n", "")
}

#[test]
fn reprints_reference_output_byte_for_byte() {
    let r = CniResult::from_slice(BRIDGE_040.as_bytes()).unwrap();
    assert_eq!(r.to_json(CniVersion::V0_4_0), BRIDGE_040);
    assert_eq!(r.to_json(CniVersion::V1_0_0), bridge_100());
    let r1 = CniResult::from_slice(bridge_100().as_bytes()).unwrap();
    assert_eq!(r1, r);
    assert_eq!(r1.to_json(CniVersion::V0_4_0), BRIDGE_040);
}

#[test]
fn converts_between_versions() {
    let r = CniResult::from_slice(BRIDGE_040.as_bytes()).unwrap();
    for v in [CniVersion::V0_3_0, CniVersion::V0_3_1, CniVersion::V0_4_0] {
        let out: Value = serde_json::from_str(&r.to_json(v)).unwrap();
        assert_eq!(out["cniVersion"], v.as_str());
        assert_eq!(out["ips"][0]["version"], "4");
    }
    for v in [CniVersion::V1_0_0, CniVersion::V1_1_0] {
        let out = r.to_value(v);
        assert_eq!(out["cniVersion"], v.as_str());
        assert!(out["ips"][0].get("version").is_none());
        assert_eq!(out["ips"][0]["interface"], 2);
    }
}

#[test]
fn ipv6_and_optional_fields() {
    let text = r#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mtu":1400,"socketPath":"/s","pciID":"p"}],
        "ips":[{"address":"fd00::2/64"}],"routes":[{"dst":"::/0","gw":"fd00::1","table":0,"priority":5}],
        "dns":{"nameservers":["10.96.0.10"],"search":["svc"]}}"#;
    let r = CniResult::from_slice(text.as_bytes()).unwrap();
    assert_eq!(r.ips[0].interface, None);
    assert_eq!(r.routes[0].table, Some(0));
    let compact = gojson::compact_of(&r.out(CniVersion::V0_3_1));
    assert_eq!(
        compact,
        r#"{"cniVersion":"0.3.1","interfaces":[{"name":"eth0","mtu":1400,"socketPath":"/s","pciID":"p"}],"ips":[{"version":"6","address":"fd00::2/64"}],"routes":[{"dst":"::/0","gw":"fd00::1","priority":5,"table":0}],"dns":{"nameservers":["10.96.0.10"],"search":["svc"]}}"#
    );
    let empty = CniResult::default();
    assert_eq!(
        gojson::compact_of(&empty.out(CniVersion::V1_0_0)),
        r#"{"cniVersion":"1.0.0","dns":{}}"#
    );
}

#[test]
fn garbage_is_code_6() {
    assert_eq!(CniResult::from_slice(b"nope").unwrap_err().code, 6);
    assert_eq!(
        CniResult::from_slice(br#"{"ips":[{"address":"bad"}]}"#)
            .unwrap_err()
            .code,
        6
    );
}

#[test]
fn fills_route_gateways_per_family() {
    let text = r#"{"ips":[{"address":"10.1.17.2/24","gateway":"10.1.17.1"},{"address":"fd00::2/64"}],
        "routes":[{"dst":"10.1.0.0/16"},{"dst":"0.0.0.0/0","gw":"10.1.17.9"},{"dst":"fd01::/64"}]}"#;
    let r = CniResult::from_slice(text.as_bytes())
        .unwrap()
        .with_route_gateways();
    let gws: Vec<Option<String>> = r
        .routes
        .iter()
        .map(|r| r.gw.map(|g| g.to_string()))
        .collect();
    assert_eq!(
        gws,
        vec![Some("10.1.17.1".into()), Some("10.1.17.9".into()), None]
    );
}
