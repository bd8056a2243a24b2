use super::*;

#[test]
fn parses_versions() {
    assert_eq!(
        parse_version("iptables v1.8.9 (nf_tables)\n"),
        Some((1, 8, 9))
    );
    assert_eq!(parse_version("iptables v1.6.1"), Some((1, 6, 1)));
    assert_eq!(parse_version("iptables v1.6"), Some((1, 6, 0)));
    assert_eq!(parse_version("garbage"), None);
    assert!(parse_version("iptables v1.6.2").is_some_and(|v| v >= (1, 6, 2)));
    assert!(parse_version("iptables v1.6.1").is_some_and(|v| v < (1, 6, 2)));
}

#[test]
fn finds_failed_line() {
    let nft = "iptables-restore v1.8.9 (nf_tables): Couldn't load match `foo'\n\n\
               Error occurred at line: 4\nTry `iptables-restore -h' for more information.";
    assert_eq!(failed_line(nft), Some(4));
    assert_eq!(failed_line("iptables-restore: line 7 failed"), Some(7));
    assert_eq!(failed_line("something else on line 3"), None);
}

#[test]
fn restore_error_quotes_line() {
    let e = Error::Restore {
        status: "exit status: 2".into(),
        line: Some(2),
        text: Some("-A X -m foo".into()),
        stderr: "boom".into(),
    };
    assert_eq!(
        e.to_string(),
        "iptables-restore failed (exit status: 2) at payload line 2 `-A X -m foo`: boom"
    );
}

#[test]
fn missing_binary_is_a_spawn_error() {
    let ipt = Iptables::with_paths("/nonexistent/ipt", "/nonexistent/r", "/nonexistent/s");
    assert!(matches!(ipt.save(Table::Nat), Err(Error::Spawn { .. })));
    assert!(matches!(
        ipt.restore_noflush("*nat\nCOMMIT\n"),
        Err(Error::Spawn { .. })
    ));
    assert!(!ipt.random_fully_supported());
}

#[test]
fn parses_nft_chain_listing() {
    let text = "table ip nat {\n\tchain KUBE-SVC-AB {\n\t}\n\tchain POSTROUTING {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}\n\
                table ip6 nat {\n\tchain V6 {\n\t}\n}\ntable ip filter {\n\tchain FOO {\n\t}\n}\n\
                table inet fw {\n\tchain input {\n\t}\n}\n";
    let got = parse_nft_chains(text);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got["nat"],
        vec!["KUBE-SVC-AB".to_string(), "POSTROUTING".to_string()]
    );
    assert_eq!(got["filter"], vec!["FOO".to_string()]);
}
