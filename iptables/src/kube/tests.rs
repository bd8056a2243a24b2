use super::*;

fn svc_json(ns: &str, name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"{ns}","uid":"x","labels":{{"a":"b"}}}},"spec":{spec},"status":{{"loadBalancer":{{}}}}}}"#
    )
}

fn eps_json(ns: &str, name: &str, subsets: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"{name}","namespace":"{ns}"}},"subsets":{subsets}}}"#
    )
}

fn list(items: &[String]) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}],"metadata":{{"resourceVersion":""}}}}"#,
        items.join(",")
    )
}

fn parse(json: &str) -> Parsed {
    parse_list(json, &ParseOptions::default()).expect("parses")
}

fn name(ns: &str, n: &str, port: &str, proto: Protocol) -> ServicePortName {
    ServicePortName::new(ns, n, port, proto)
}

#[test]
fn issue_example() {
    let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.10","type":"NodePort","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]}},{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":"default"},"subsets":[{"addresses":[{"ip":"10.244.1.2"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}]}"#;
    let parsed = parse(json);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.state.len(), 1);
    let sp = &parsed.state.services[&name("default", "web", "http", Protocol::Tcp)];
    assert_eq!(sp.cluster_ip, Ipv4Addr::new(10, 96, 0, 10));
    assert_eq!(sp.port, 80);
    assert_eq!(sp.node_port, Some(30080));
    assert_eq!(sp.affinity_timeout, Some(10800));
    assert_eq!(
        sp.endpoints,
        vec![Endpoint {
            ip: Ipv4Addr::new(10, 244, 1, 2),
            port: 8080
        }]
    );
}

#[test]
fn bad_cluster_ip_or_port_is_skipped_with_a_warning_others_kept() {
    let good = r#"{"clusterIP":"10.96.0.1","ports":[{"name":"a","port":80}]}"#;
    let json = list(&[
        svc_json(
            "ns",
            "bad-ip",
            r#"{"clusterIP":"10.96.0.300","ports":[{"port":80}]}"#,
        ),
        svc_json(
            "ns",
            "bad-port",
            r#"{"clusterIP":"10.96.0.2","ports":[{"name":"a","port":80},{"name":"b","port":70000}]}"#,
        ),
        svc_json(
            "ns",
            "zero-port",
            r#"{"clusterIP":"10.96.0.3","ports":[{"port":0}]}"#,
        ),
        svc_json(
            "ns",
            "string-port",
            r#"{"clusterIP":"10.96.0.4","ports":[{"port":"http"}]}"#,
        ),
        svc_json(
            "ns",
            "bad-proto",
            r#"{"clusterIP":"10.96.0.5","ports":[{"port":80,"protocol":"ICMP"}]}"#,
        ),
        svc_json(
            "ns",
            "bad-nodeport",
            r#"{"clusterIP":"10.96.0.6","type":"NodePort","ports":[{"port":80,"nodePort":99999}]}"#,
        ),
        svc_json(
            "ns",
            "v6",
            r#"{"clusterIP":"fd00::1","ports":[{"port":80}]}"#,
        ),
        svc_json("ns", "good", good),
    ]);
    let parsed = parse(&json);
    let keys: Vec<_> = parsed.state.services.keys().collect();
    assert_eq!(keys, vec![&name("ns", "good", "a", Protocol::Tcp)]);
    let objects: Vec<&str> = parsed.warnings.iter().map(|w| w.object.as_str()).collect();
    assert_eq!(
        objects,
        vec![
            "ns/bad-ip",
            "ns/bad-port",
            "ns/zero-port",
            "ns/string-port",
            "ns/bad-proto",
            "ns/bad-nodeport",
            "ns/v6"
        ]
    );
    let text = parsed.warnings[0].to_string();
    assert!(
        text.contains("Service ns/bad-ip") && text.contains("10.96.0.300"),
        "{text}"
    );
    assert!(parsed.warnings[1].to_string().contains("70000"));
}

#[test]
fn headless_and_external_name_are_skipped_silently() {
    let json = list(&[
        svc_json(
            "ns",
            "none",
            r#"{"clusterIP":"None","ports":[{"port":80}]}"#,
        ),
        svc_json("ns", "empty", r#"{"clusterIP":"","ports":[{"port":80}]}"#),
        svc_json("ns", "missing", r#"{"ports":[{"port":80}]}"#),
        svc_json(
            "ns",
            "ext",
            r#"{"type":"ExternalName","externalName":"example.com"}"#,
        ),
    ]);
    let parsed = parse(&json);
    assert!(parsed.state.is_empty());
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
}

#[test]
fn endpoints_are_matched_to_service_ports_by_name_and_protocol() {
    let json = list(&[
        svc_json(
            "ns",
            "multi",
            r#"{"clusterIP":"10.96.0.7","ports":[{"name":"http","port":80},{"name":"https","port":443},{"name":"dns","port":53,"protocol":"UDP"}]}"#,
        ),
        eps_json(
            "ns",
            "multi",
            r#"[{"addresses":[{"ip":"10.244.2.9"},{"ip":"10.244.1.5"}],"notReadyAddresses":[{"ip":"10.244.3.3"}],
                 "ports":[{"name":"https","port":8443},{"name":"http","port":8080,"protocol":"TCP"},{"name":"dns","port":5353,"protocol":"TCP"}]},
                {"addresses":[{"ip":"10.244.1.5"}],"ports":[{"name":"http","port":8080}]}]"#,
        ),
        // Same name in another namespace: not ours.
        eps_json(
            "other",
            "multi",
            r#"[{"addresses":[{"ip":"10.9.9.9"}],"ports":[{"name":"http","port":1}]}]"#,
        ),
    ]);
    let parsed = parse(&json);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let get = |port: &str, proto| &parsed.state.services[&name("ns", "multi", port, proto)];
    let http = get("http", Protocol::Tcp);
    let eps: Vec<String> = http.endpoints.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        eps,
        vec!["10.244.1.5:8080", "10.244.2.9:8080"],
        "sorted, duplicates merged"
    );
    let https: Vec<String> = get("https", Protocol::Tcp)
        .endpoints
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(https, vec!["10.244.1.5:8443", "10.244.2.9:8443"]);
    // The Endpoints' "dns" port is TCP, the service's is UDP: no match.
    assert!(get("dns", Protocol::Udp).endpoints.is_empty());
}

#[test]
fn unnamed_single_port() {
    let json = list(&[
        svc_json(
            "default",
            "web",
            r#"{"clusterIP":"10.96.0.10","ports":[{"port":80,"targetPort":8080}]}"#,
        ),
        eps_json(
            "default",
            "web",
            r#"[{"addresses":[{"ip":"10.244.1.2"}],"ports":[{"port":8080}]}]"#,
        ),
    ]);
    let parsed = parse(&json);
    let sp = &parsed.state.services[&name("default", "web", "", Protocol::Tcp)];
    assert_eq!(sp.name.to_string(), "default/web");
    assert_eq!(sp.endpoints.len(), 1);
}

#[test]
fn bad_endpoint_addresses_are_skipped_with_a_warning() {
    let json = list(&[
        svc_json(
            "ns",
            "s",
            r#"{"clusterIP":"10.96.0.8","ports":[{"name":"p","port":80}]}"#,
        ),
        eps_json(
            "ns",
            "s",
            r#"[{"addresses":[{"ip":"bogus"},{"ip":"10.244.0.4"}],"ports":[{"name":"p","port":80},{"name":"q","port":-1}]}]"#,
        ),
    ]);
    let parsed = parse(&json);
    assert_eq!(
        parsed
            .state
            .services
            .values()
            .next()
            .map(|s| s.endpoints.len()),
        Some(1)
    );
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert!(parsed
        .warnings
        .iter()
        .all(|w| w.kind == "Endpoints" && w.object == "ns/s"));
}

#[test]
fn affinity_nodeport_types_and_defaults() {
    let json = list(&[
        svc_json(
            "ns",
            "aff",
            r#"{"clusterIP":"10.96.0.9","sessionAffinity":"ClientIP","ports":[{"port":80}]}"#,
        ),
        svc_json(
            "ns",
            "cip",
            r#"{"clusterIP":"10.96.0.11","type":"ClusterIP","ports":[{"port":80,"nodePort":30001}]}"#,
        ),
        svc_json(
            "ns",
            "lb",
            r#"{"clusterIP":"10.96.0.12","type":"LoadBalancer","ports":[{"port":80,"nodePort":30002}]}"#,
        ),
        svc_json(
            "ns",
            "bad-aff",
            r#"{"clusterIP":"10.96.0.13","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}},"ports":[{"port":80}]}"#,
        ),
    ]);
    let parsed = parse(&json);
    let get = |n: &str| &parsed.state.services[&name("ns", n, "", Protocol::Tcp)];
    assert_eq!(get("aff").affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
    assert_eq!(
        get("cip").node_port,
        None,
        "nodePort only for NodePort/LoadBalancer"
    );
    assert_eq!(get("lb").node_port, Some(30002));
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].object, "ns/bad-aff");
}

#[test]
fn sctp_ports_skipped_when_unsupported() {
    let json = list(&[svc_json(
        "ns",
        "mixed",
        r#"{"clusterIP":"10.96.0.14","ports":[{"name":"s","port":9,"protocol":"SCTP"},{"name":"t","port":80}]}"#,
    )]);
    let with = parse_list(&json, &ParseOptions { sctp: true }).expect("parses");
    assert_eq!(with.state.len(), 2);
    let without = parse_list(&json, &ParseOptions { sctp: false }).expect("parses");
    assert_eq!(without.state.len(), 1);
    assert_eq!(without.warnings.len(), 1);
    assert!(without.warnings[0].message.contains("SCTP"));
}

#[test]
fn half_written_file_is_an_error() {
    let json = list(&[svc_json(
        "ns",
        "a",
        r#"{"clusterIP":"10.96.0.1","ports":[{"port":80}]}"#,
    )]);
    let cut = &json[..json.len() / 2];
    assert!(parse_list(cut, &ParseOptions::default()).is_err());
    assert!(parse_list("", &ParseOptions::default()).is_err());
}

#[test]
fn other_shapes_are_accepted() {
    // A single Service.
    let one = svc_json(
        "ns",
        "a",
        r#"{"clusterIP":"10.96.0.1","ports":[{"port":80}]}"#,
    );
    assert_eq!(parse(&one).state.len(), 1);
    // A ServiceList whose items carry no kind; other kinds are ignored.
    let svc_list = r#"{"kind":"ServiceList","items":[{"metadata":{"name":"a","namespace":"ns"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}]}"#;
    assert_eq!(parse(svc_list).state.len(), 1);
    let pods = r#"{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80}]}]}}]}"#;
    let parsed = parse(pods);
    assert!(parsed.state.is_empty() && parsed.warnings.is_empty());
    // Missing namespace means "default".
    let nons = r#"{"kind":"Service","metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}"#;
    assert!(parse(nons)
        .state
        .services
        .keys()
        .all(|k| k.namespace == "default"));
}

fn slice_json(ns: &str, name: &str, svc: &str, endpoints: &str, ports: &str) -> String {
    format!(
        r#"{{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{{"name":"{name}","namespace":"{ns}","labels":{{"kubernetes.io/service-name":"{svc}","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"}}}},"addressType":"IPv4","endpoints":{endpoints},"ports":{ports}}}"#
    )
}

#[test]
fn endpoint_slices_ready_serving_terminating_as_kube_proxy_uses_them() {
    let svc = svc_json(
        "ns",
        "web",
        r#"{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80,"targetPort":"http"}]}"#,
    );
    let ports = r#"[{"name":"http","port":8080,"protocol":"TCP"}]"#;
    // Two slices of one Service: ready ones from both, a terminating one dropped while others
    // are ready, a not-ready one never used; absent conditions mean ready.
    let s1 = slice_json(
        "ns",
        "web-abc",
        "web",
        r#"[{"addresses":["10.244.1.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"n1"},
            {"addresses":["10.244.1.6"],"conditions":{"ready":false,"serving":true,"terminating":true}},
            {"addresses":["10.244.1.7"],"conditions":{"ready":false}}]"#,
        ports,
    );
    let s2 = slice_json(
        "ns",
        "web-def",
        "web",
        r#"[{"addresses":["10.244.2.5"]}]"#,
        ports,
    );
    let parsed = parse(&list(&[svc.clone(), s1, s2]));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let sp = &parsed.state.services[&name("ns", "web", "http", Protocol::Tcp)];
    let ips: Vec<String> = sp.endpoints.iter().map(|e| e.to_string()).collect();
    assert_eq!(ips, vec!["10.244.1.5:8080", "10.244.2.5:8080"]);

    // Nothing ready: the serving terminating endpoints carry the traffic (drain).
    let s = slice_json(
        "ns",
        "web-abc",
        "web",
        r#"[{"addresses":["10.244.1.6"],"conditions":{"ready":false,"serving":true,"terminating":true}},
            {"addresses":["10.244.1.7"],"conditions":{"ready":false,"serving":false,"terminating":true}}]"#,
        ports,
    );
    let parsed = parse(&list(&[svc.clone(), s]));
    let sp = &parsed.state.services[&name("ns", "web", "http", Protocol::Tcp)];
    assert_eq!(sp.endpoints.len(), 1);
    assert_eq!(sp.endpoints[0].to_string(), "10.244.1.6:8080");

    // Slices win over the Endpoints object of the same Service; a slice without the
    // service-name label is ignored; a bad address is skipped with a warning naming the slice.
    let eps = eps_json(
        "ns",
        "web",
        r#"[{"addresses":[{"ip":"10.244.9.9"}],"ports":[{"name":"http","port":8080}]}]"#,
    );
    let bad = slice_json(
        "ns",
        "web-x",
        "web",
        r#"[{"addresses":["nope"]},{"addresses":["10.244.3.3"]}]"#,
        ports,
    );
    let orphan = r#"{"kind":"EndpointSlice","metadata":{"name":"o","namespace":"ns"},"endpoints":[{"addresses":["10.244.4.4"]}],"ports":[{"name":"http","port":8080}]}"#.to_string();
    let parsed = parse(&list(&[svc, eps, bad, orphan]));
    let sp = &parsed.state.services[&name("ns", "web", "http", Protocol::Tcp)];
    assert_eq!(
        sp.endpoints
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec!["10.244.3.3:8080"]
    );
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0]
        .to_string()
        .starts_with("EndpointSlice ns/web-x: address \"nope\""));
}

#[test]
fn a_malformed_slice_is_skipped_not_fatal() {
    let svc = svc_json(
        "ns",
        "a",
        r#"{"clusterIP":"10.96.0.21","ports":[{"port":80}]}"#,
    );
    let bad = r#"{"kind":"EndpointSlice","metadata":{"name":"a-1","namespace":"ns","labels":{"kubernetes.io/service-name":"a"}},"endpoints":"oops","ports":[{"port":80}]}"#.to_string();
    let parsed = parse(&list(&[svc, bad]));
    assert_eq!(parsed.state.len(), 1);
    assert!(
        parsed.warnings.iter().any(|w| w.kind == "EndpointSlice"),
        "{:?}",
        parsed.warnings
    );
}
