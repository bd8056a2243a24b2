//! Tests of label and field selectors against upstream's behaviour
//! (apimachinery selector_test.go cases and the selectors recorded from
//! kubectl in research 7.1/7.2).

use super::*;
use crate::resources::Subresource;
use crate::ResourceInfo;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn sel(s: &str) -> LabelSelector {
    match LabelSelector::parse(s) {
        Ok(x) => x,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> String {
    match LabelSelector::parse(s) {
        Ok(x) => panic!("{s:?} should not parse, got {x:?}"),
        Err(e) => e.0,
    }
}

fn m(s: &str, l: Value) -> bool {
    sel(s).matches(Some(&labels(l)))
}

// ---------- label selectors ----------

#[test]
fn recorded_label_selectors_match() {
    assert!(m("app=web", json!({"app": "web", "x": "y"})));
    assert!(!m("app=web", json!({"app": "db"})));
    assert!(!m("app=web", json!({})));
    let s = "kubernetes.io/cluster-service=true";
    assert!(m(s, json!({"kubernetes.io/cluster-service": "true"})));
    assert!(!m(s, json!({"kubernetes.io/cluster-service": "false"})));
    assert_eq!(sel(s).to_string(), s);
}

#[test]
fn equality_and_inequality() {
    assert!(m("a==b", json!({"a": "b"})));
    assert!(m("a!=b", json!({"a": "c"})));
    assert!(m("a!=b", json!({})), "!= is true when the key is absent");
    assert!(!m("a!=b", json!({"a": "b"})));
    assert!(m("a=", json!({"a": ""})));
    assert!(!m("a=", json!({})));
    assert!(m("a=b,c=d", json!({"a": "b", "c": "d"})));
    assert!(!m("a=b,c=d", json!({"a": "b"})));
}

#[test]
fn set_operators() {
    assert!(m("env in (prod,qa)", json!({"env": "qa"})));
    assert!(!m("env in (prod,qa)", json!({"env": "dev"})));
    assert!(!m("env in (prod,qa)", json!({})));
    assert!(m("env notin (prod,qa)", json!({"env": "dev"})));
    assert!(
        m("env notin (prod,qa)", json!({})),
        "notin is true when absent"
    );
    assert!(!m("env notin (prod,qa)", json!({"env": "prod"})));
    assert!(m("env", json!({"env": ""})));
    assert!(!m("env", json!({})));
    assert!(m("!env", json!({"x": "y"})));
    assert!(!m("!env", json!({"env": "x"})));
    // Values may be keywords; `in ()` holds the empty value.
    assert!(m("x in (in,notin)", json!({"x": "notin"})));
    assert!(m("x in ()", json!({"x": ""})));
    assert!(m("x in (a,,b)", json!({"x": ""})));
    assert_eq!(
        sel("x in (foo,,baz),y,z notin ()").to_string(),
        "x in (,baz,foo),y,z notin ()"
    );
}

#[test]
fn numeric_comparisons() {
    assert!(m("replicas>2", json!({"replicas": "3"})));
    assert!(!m("replicas>2", json!({"replicas": "2"})));
    assert!(m("replicas<2", json!({"replicas": "1"})));
    assert!(!m("replicas<2", json!({"replicas": "x"})));
    assert!(!m("replicas<2", json!({})));
    assert_eq!(
        parse_err("x>a"),
        "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
}

#[test]
fn whitespace_is_a_delimiter() {
    assert_eq!(sel("  a = b ,\tc\n!= d ").to_string(), "a=b,c!=d");
    assert_eq!(sel(" x  in ( a , b ) ").to_string(), "x in (a,b)");
    assert!(sel("").is_empty());
    assert!(sel("   ").is_empty());
    assert_eq!(
        parse_err("a b"),
        "found 'b', expected: in, notin, =, ==, !=, gt, lt"
            .replace("found", "unable to parse requirement: found")
    );
}

#[test]
fn canonical_string_is_sorted_by_key_with_sorted_values() {
    assert_eq!(sel("z=1,a in (c,b),!m").to_string(), "a in (b,c),!m,z=1");
    assert_eq!(sel("a==b").to_string(), "a==b");
    assert_eq!(sel("a>1,b<2").to_string(), "a>1,b<2");
}

#[test]
fn parse_errors_are_upstreams() {
    assert_eq!(
        parse_err("x=a,"),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        parse_err(",x"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        parse_err("x=a)"),
        "found ')', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_err("x in a"),
        "unable to parse requirement: found 'a' expected: '('"
    );
    assert_eq!(
        parse_err("x in (a"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        parse_err("x=(a)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        parse_err("!x=a"),
        "found '=', expected: ',' or 'end of string'"
    );
    assert_eq!(
        parse_err("x=a=b"),
        "found '=', expected: ',' or 'end of string'"
    );
}

#[test]
fn key_and_value_syntax_is_validated() {
    let name_re = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    assert_eq!(
        parse_err("-a=b"),
        format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {name_re}")
    );
    assert_eq!(
        parse_err("a=-b"),
        "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    let long = "v".repeat(64);
    assert!(parse_err(&format!("a={long}")).contains("must be no more than 63 bytes"));
    assert!(LabelSelector::parse(&format!("a={}", "v".repeat(63))).is_ok());
    assert!(parse_err(&format!("{long}=x")).contains("name part must be no more than 63 bytes"));
    assert!(parse_err("Example.com/a=b").contains("prefix part a lowercase RFC 1123 subdomain"));
    assert!(parse_err("/a=b").contains("prefix part must be non-empty"));
    assert!(parse_err("a/b/c").contains("a valid label key must consist of"));
    assert!(LabelSelector::parse("example.com/My_key.1=V-1").is_ok());
}

#[test]
fn nul_ends_the_selector_like_upstreams_lexer() {
    // upstream's lexer reads a NUL byte as the end of the string.
    assert!(sel("\0a=b").is_empty());
    assert_eq!(sel("a=b,c\0").to_string(), "a=b,c");
}

#[test]
fn from_api_converts_match_labels_and_expressions() {
    let s = LabelSelector::from_api(&json!({
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["qa", "prod"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "Exists"},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
        ]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.to_string(),
        "app=web,!canary,env in (prod,qa),team,tier=front,zone notin (b)"
    );
    let ok = labels(json!({"app": "web", "tier": "front", "env": "qa", "team": "x"}));
    assert!(s.matches(Some(&ok)));
    let mut bad = ok.clone();
    bad.insert("canary".into(), json!("1"));
    assert!(!s.matches(Some(&bad)));
    assert_eq!(
        LabelSelector::from_api(&json!({"matchLabels": {"app": "web"}})).map(|s| s.to_string()),
        Ok("app=web".to_string())
    );
}

#[test]
fn from_api_empty_matches_everything_and_null_nothing() {
    let every = LabelSelector::from_api(&json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert!(every.is_empty());
    assert!(every.matches(None));
    let none = LabelSelector::from_api(&Value::Null).unwrap_or_else(|e| panic!("{e}"));
    assert!(none.matches_nothing());
    assert!(!none.is_empty());
    assert!(!none.matches(Some(&labels(json!({"a": "b"})))));
    assert_eq!(none.to_string(), "");
}

#[test]
fn from_api_errors_are_upstreams() {
    let e = |v: Value| {
        LabelSelector::from_api(&v)
            .map(|s| s.to_string())
            .unwrap_err()
            .0
    };
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]})),
        "\"Equals\" is not a valid label selector operator"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
    );
    assert!(e(json!({"matchLabels": {"a b": "c"}}))
        .starts_with("key: Invalid value: \"a b\": name part"));
    // Two problems aggregate as [a, b].
    let two = e(json!({"matchExpressions": [{"key": "-k", "operator": "NotIn"}]}));
    assert!(two.starts_with("[key: Invalid value: \"-k\""), "{two}");
    assert!(two.ends_with("values set can't be empty]"), "{two}");
}

#[test]
fn from_map_and_exact_match() {
    let s = LabelSelector::from_map(&labels(json!({"b": "2", "a": "1"})));
    assert_eq!(s.to_string(), "a=1,b=2");
    assert_eq!(s.requires_exact_match("a"), Some("1"));
    assert_eq!(s.requires_exact_match("c"), None);
    assert!(LabelSelector::from_map(&Map::new()).is_empty());
}

proptest! {
    #[test]
    fn label_parse_never_panics(s in any::<String>()) {
        let _ = LabelSelector::parse(&s);
    }

    #[test]
    fn label_parse_never_panics_on_selector_like_text(
        s in "[a-z0-9=!(),<> \t/.\\-_]{0,40}|(in|notin|,|\\(|\\)|=|!|a|b| ){0,20}"
    ) {
        if let Ok(x) = LabelSelector::parse(&s) {
            prop_assert_eq!(LabelSelector::parse(&x.to_string()), Ok(x));
        }
    }

    #[test]
    fn display_parses_back_to_an_equal_selector(
        reqs in proptest::collection::vec(
            ("(ex\\.io/)?[a-z][a-z0-9]{0,5}", 0usize..9, proptest::collection::vec("[a-z0-9]{0,4}", 1..4)),
            0..6,
        )
    ) {
        let mut text = Vec::new();
        for (k, op, vals) in &reqs {
            text.push(match op {
                0 => format!("{k}={}", vals[0]),
                1 => format!("{k}=={}", vals[0]),
                2 => format!("{k}!={}", vals[0]),
                3 => format!("{k} in ({})", vals.join(",")),
                4 => format!("{k} notin ({})", vals.join(",")),
                5 => k.to_string(),
                6 => format!("!{k}"),
                7 => format!("{k}>{}", vals[0].len()),
                _ => format!("{k}<{}", vals[0].len()),
            });
        }
        let parsed = LabelSelector::parse(&text.join(","));
        prop_assert!(parsed.is_ok(), "{:?}: {:?}", text, parsed);
        let parsed = parsed.unwrap_or_default();
        let again = LabelSelector::parse(&parsed.to_string());
        prop_assert_eq!(again, Ok(parsed));
    }
}

// ---------- field selectors ----------

fn res(group: &'static str, kind: &'static str, namespaced: bool) -> ResourceInfo {
    ResourceInfo {
        group,
        version: "v1",
        plural: "things",
        singular: "thing",
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: &[],
        subresources: &[Subresource::Status],
        storage: "things",
        storage_version: "v1",
        return_deleted_object: false,
    }
}

fn fsel(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn field_err(s: &str) -> String {
    FieldSelector::parse(s)
        .map(|x| x.to_string())
        .unwrap_err()
        .0
}

#[test]
fn describe_node_pod_selector() {
    let pods = res("", "Pod", true);
    let s = fsel("spec.nodeName=node1,status.phase!=Failed,status.phase!=Succeeded");
    assert_eq!(s.check_supported(&pods), Ok(()));
    let pod = |node: &str, phase: &str| {
        json!({"metadata": {"name": "p", "namespace": "default"},
               "spec": {"nodeName": node}, "status": {"phase": phase}})
    };
    assert!(s.matches(&pods, &pod("node1", "Running")));
    assert!(s.matches(&pods, &pod("node1", "Pending")));
    assert!(!s.matches(&pods, &pod("node1", "Failed")));
    assert!(!s.matches(&pods, &pod("node1", "Succeeded")));
    assert!(!s.matches(&pods, &pod("node2", "Running")));
    assert_eq!(s.requires_exact_match("spec.nodeName"), Some("node1"));
}

#[test]
fn describe_node_event_selector_with_empty_value() {
    let events = res("", "Event", true);
    let s = fsel("involvedObject.name=node1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=node1");
    assert_eq!(s.check_supported(&events), Ok(()));
    let ev = json!({
        "metadata": {"name": "node1.17", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "node1", "uid": "node1"},
        "reason": "Starting", "type": "Normal", "source": {"component": "kubelet"}
    });
    assert!(s.matches(&events, &ev));
    let mut other = ev.clone();
    other["involvedObject"]["namespace"] = json!("kube-system");
    assert!(!s.matches(&events, &other));
    assert!(fsel("source=kubelet,reason=Starting,type=Normal").matches(&events, &ev));
    // source falls back to reportingComponent.
    let ev2 = json!({"metadata": {"name": "e"}, "reportingComponent": "sched"});
    assert!(fsel("source=sched,reportingComponent=sched").matches(&events, &ev2));
}

#[test]
fn metadata_name_on_every_kind() {
    let deploy = res("apps", "Deployment", true);
    let s = fsel("metadata.name=web");
    assert_eq!(s.check_supported(&deploy), Ok(()));
    assert!(s.matches(&deploy, &json!({"metadata": {"name": "web"}})));
    assert!(!s.matches(&deploy, &json!({"metadata": {"name": "db"}})));
    assert_eq!(s.requires_exact_match("metadata.name"), Some("web"));
    let ns = fsel("metadata.namespace=default");
    assert!(ns.matches(
        &deploy,
        &json!({"metadata": {"name": "x", "namespace": "default"}})
    ));
}

#[test]
fn unsupported_labels_use_the_kinds_message() {
    let check = |r: &ResourceInfo, s: &str| fsel(s).check_supported(r).map_err(|e| e.0);
    let pods = res("", "Pod", true);
    assert_eq!(
        check(&pods, "status.hostIP=1.2.3.4"),
        Err("field label not supported: status.hostIP".into())
    );
    let nodes = res("", "Node", false);
    assert_eq!(check(&nodes, "spec.unschedulable=false"), Ok(()));
    assert_eq!(
        check(&nodes, "metadata.namespace="),
        Err("field label not supported: metadata.namespace".into())
    );
    let cm = res("", "ConfigMap", true);
    assert_eq!(
        check(&cm, "data.x=y"),
        Err("\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".into())
    );
    let jobs = res("batch", "Job", true);
    assert_eq!(check(&jobs, "status.successful=1"), Ok(()));
    assert_eq!(
        check(&jobs, "spec.x=1"),
        Err("field label \"spec.x\" not supported for batchv1.Job".into())
    );
    for (kind, ok) in [
        ("Namespace", "status.phase=Active"),
        ("Secret", "type=Opaque"),
        ("Service", "spec.clusterIP=None,spec.type=ClusterIP"),
        ("ReplicationController", "status.replicas=1"),
    ] {
        assert_eq!(
            check(&res("", kind, kind != "Namespace"), ok),
            Ok(()),
            "{kind}"
        );
    }
    for f in [
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        "spec.host",
        "metadata.namespace",
    ] {
        assert_eq!(check(&pods, &format!("{f}=x")), Ok(()), "{f}");
    }
}

#[test]
fn pod_fields_render_as_upstream() {
    let pods = res("", "Pod", true);
    let pod = json!({
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccount": "old-sa"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                   "nominatedNodeName": "n2"}
    });
    for s in [
        "spec.host=n1",
        "spec.hostNetwork=false",
        "spec.serviceAccountName=old-sa",
        "status.podIP=10.0.0.5",
        "status.nominatedNodeName=n2",
        "spec.restartPolicy=Always,spec.schedulerName=default-scheduler",
        // Accepted by the conversion but not in the field set: always "".
        "status.podIPs=",
        "metadata.namespace=ns",
    ] {
        assert!(fsel(s).matches(&pods, &pod), "{s}");
    }
    assert!(!fsel("status.podIPs=10.0.0.5").matches(&pods, &pod));
    let host = json!({"metadata": {"name": "h"}, "spec": {"hostNetwork": true}, "status": {"podIP": "1.2.3.4"}});
    assert!(fsel("spec.hostNetwork=true,status.podIP=1.2.3.4").matches(&pods, &host));
}

#[test]
fn other_kinds_render_as_upstream() {
    let nodes = res("", "Node", false);
    assert!(fsel("spec.unschedulable=false").matches(&nodes, &json!({"metadata": {"name": "n"}})));
    assert!(
        fsel("spec.unschedulable=true").matches(&nodes, &json!({"spec": {"unschedulable": true}}))
    );
    // Cluster-scoped kinds have no metadata.namespace field: it reads as "".
    let nss = res("", "Namespace", false);
    let ns = json!({"metadata": {"name": "default", "namespace": "junk"}, "status": {"phase": "Active"}});
    assert!(fsel("status.phase=Active,metadata.name=default").matches(&nss, &ns));
    let jobs = res("batch", "Job", true);
    assert!(fsel("status.successful=0").matches(&jobs, &json!({"metadata": {"name": "j"}})));
    assert!(fsel("status.successful=3").matches(&jobs, &json!({"status": {"succeeded": 3}})));
    let svc = res("", "Service", true);
    let s = json!({"spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP"}});
    assert!(fsel("spec.clusterIP=10.96.0.1,spec.type!=NodePort").matches(&svc, &s));
    let secrets = res("", "Secret", true);
    assert!(fsel("type=kubernetes.io/service-account-token").matches(
        &secrets,
        &json!({"type": "kubernetes.io/service-account-token"})
    ));
    let ev1 = res("events.k8s.io", "Event", true);
    let e = json!({"regarding": {"kind": "Pod", "name": "web"}, "reportingController": "kubelet"});
    let s = fsel("regarding.kind=Pod,regarding.name=web,reportingController=kubelet");
    assert_eq!(s.check_supported(&ev1), Ok(()));
    assert!(s.matches(&ev1, &e));
    assert!(
        fsel("source=kubelet").matches(&ev1, &e),
        "source falls back to reportingController"
    );
    let old = json!({"deprecatedSource": {"component": "old"}, "reportingController": "new"});
    assert!(fsel("source=old").matches(&ev1, &old));
    assert!(fsel("involvedObject.kind=Pod")
        .check_supported(&ev1)
        .is_err());
}

#[test]
fn field_escaping_and_operators() {
    let s = fsel(r"a=x\,y\=z\\w");
    assert_eq!(s.terms()[0].value, r"x,y=z\w");
    assert_eq!(s.to_string(), r"a=x\,y\=z\\w");
    assert_eq!(fsel("a==b").to_string(), "a=b");
    assert_eq!(fsel("b=1,a!=2").to_string(), "a!=2,b=1", "terms are sorted");
    assert!(fsel("").is_empty());
    assert!(fsel(",,").is_empty());
    assert_eq!(fsel("a=").terms()[0].value, "");
    assert_eq!(
        field_err("abc"),
        "invalid selector: 'abc'; can't understand 'abc'"
    );
    assert_eq!(
        field_err("a=b=c"),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        field_err(r"a=b\x"),
        r"invalid field selector: invalid escape sequence: \x"
    );
    assert_eq!(
        field_err(r"a=b\"),
        r"invalid field selector: invalid escape sequence: \"
    );
    assert!(FieldSelector::nothing().matches_nothing());
    assert!(!FieldSelector::nothing().matches(&res("", "Pod", true), &json!({})));
}

proptest! {
    #[test]
    fn field_parse_never_panics(s in any::<String>()) {
        if let Ok(x) = FieldSelector::parse(&s) {
            // Same terms (the order may differ: upstream sorts the raw text).
            let key = |f: &FieldSelector| {
                let mut t: Vec<_> = f.terms().iter().map(|t| format!("{:?}", t)).collect();
                t.sort();
                t
            };
            let back = FieldSelector::parse(&x.to_string());
            prop_assert_eq!(back.map(|b| key(&b)), Ok(key(&x)));
        }
    }

    #[test]
    fn field_parse_never_panics_on_selector_like_text(s in "[a-z.=!,\\\\]{0,30}") {
        let _ = FieldSelector::parse(&s);
    }

    #[test]
    fn field_values_round_trip_through_escaping(v in any::<String>()) {
        let s = FieldSelector::one_term_equal("metadata.name", &v);
        let back = FieldSelector::parse(&s.to_string());
        prop_assert_eq!(back.map(|b| b.terms()[0].value.clone()), Ok(v));
    }
}

#[test]
fn upstream_parse_cases() {
    // apimachinery TestSelectorParse: good strings restring without spaces.
    for s in [
        "x=a,y=b,z=c",
        "",
        "x!=a,y=b",
        "x=",
        "x= ",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
    ] {
        assert_eq!(sel(s).to_string(), s.replace(' ', ""), "{s:?}");
    }
    for s in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
        assert!(LabelSelector::parse(s).is_err(), "{s:?}");
    }
    assert_eq!(sel("x=a,a=x").to_string(), sel("a=x,x=a").to_string());
    // TestSetSelectorParser: (input, canonical form or None for an error).
    let cases: &[(&str, Option<&str>)] = &[
        ("\rx", Some("x")),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            Some("this-is-a-dns.domain.com/key-with-dash"),
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            Some("0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
        ),
        ("foo  in\t (abc)", Some("foo in (abc)")),
        ("x notin\n (abc)", Some("x notin (abc)")),
        ("x in (abc,)", Some("x in (,abc)")),
        ("x in (abc,abc)", Some("x in (abc)")),
        ("x in (a,,,,,,)", Some("x in (,a)")),
        ("x in (a,,a,,a,,a,,)", Some("x in (,a)")),
        (
            "x notin (abc,,def),bar,z in (),w",
            Some("bar,w,x notin (,abc,def),z in ()"),
        ),
        ("x,y in (a)", Some("x,y in (a)")),
        ("x notin ( )", Some("x notin ()")),
        ("x notin (, a)", Some("x notin (,a)")),
        ("a ", Some("a")),
        ("a in (x,y,notin, z,in)", Some("a in (in,notin,x,y,z)")),
        ("notin=in", Some("notin=in")),
        ("x=a||y=b", None),
        ("x,,y", None),
        (",x,y", None),
        ("x nott in (y)", None),
        ("a in (xyz),", None),
        ("a in (xyz)b notin ()", None),
        ("a in (xyz abc)", None),
        ("a notin(", None),
        ("a (", None),
        ("(", None),
    ];
    for (input, want) in cases {
        let got = LabelSelector::parse(input).map(|s| s.to_string()).ok();
        assert_eq!(got.as_deref(), *want, "{input:?}");
    }
    // TestSelectorMatches.
    assert!(m("", json!({"x": "y"})));
    assert!(m("x!=y,z!=w", json!({"x": "z", "z": "a"})));
    assert!(m("notin=in", json!({"notin": "in"})));
    assert!(m("x<1", json!({"x": "0"})));
    assert!(!m("x=y,z=w", json!({"x": "w", "z": "w"})));
    assert!(!m("x!=y,z!=w", json!({"x": "z", "z": "w"})));
    assert!(!m("x>1", json!({"x": "0"})));
}
