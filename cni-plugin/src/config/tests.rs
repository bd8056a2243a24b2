use super::*;

#[test]
fn defaults_and_fields() {
    let c = parse(
        br#"{"name":"cbr0","type":"flannel","cniVersion":"0.3.1","delegate":{"hairpinMode":true}}"#,
    )
    .unwrap();
    assert_eq!(c.name, "cbr0");
    assert_eq!(c.plugin_type, "flannel");
    assert_eq!(c.cni_version, "0.3.1");
    assert_eq!(c.subnet_file, PathBuf::from("/run/flannel/subnet.env"));
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/cni/flannel"));
    assert_eq!(c.delegate.unwrap()["hairpinMode"], Value::Bool(true));
    assert!(!c.exec_delegate);
    assert_eq!(c.valid_attachments, None);
    let c = parse(br#"{"name":"n","subnetFile":"/x/s.env","dataDir":"/x/d","execDelegate":true,"ipam":{"type":"host-local"},"runtimeConfig":{"a":1},"prevResult":{"cniVersion":"1.0.0"}}"#).unwrap();
    assert_eq!(c.subnet_file, PathBuf::from("/x/s.env"));
    assert_eq!(c.data_dir, PathBuf::from("/x/d"));
    assert!(c.exec_delegate);
    assert!(c.ipam.is_some() && c.runtime_config.is_some() && c.prev_result.is_some());
    assert_eq!(c.cni_version, "");
}

#[test]
fn garbage_is_code_6() {
    for input in [&b"garbage"[..], b"", b"[1,2]", b"{\"name\":"] {
        let e = parse(input).unwrap_err();
        assert_eq!(e.code, 6, "{input:?}");
    }
}

#[test]
fn invalid_config_is_code_7_naming_the_key() {
    let cases: [(&[u8], &str); 8] = [
        (br#"{"type":"flannel"}"#, "name"),
        (br#"{"name":""}"#, "name"),
        (br#"{"name":"n","delegate":{"name":"x"}}"#, "\"name\""),
        (br#"{"name":"n","delegate":{"ipam":{}}}"#, "\"ipam\""),
        (br#"{"name":"n","delegate":{"type":1}}"#, "type"),
        (br#"{"name":"n","delegate":[]}"#, "delegate"),
        (br#"{"name":"n","execDelegate":"yes"}"#, "execDelegate"),
        (br#"{"name":"n","subnetFile":5}"#, "subnetFile"),
    ];
    for (input, word) in cases {
        let e = parse(input).unwrap_err();
        assert_eq!(e.code, 7, "{}", String::from_utf8_lossy(input));
        assert!(
            e.msg.contains(word),
            "{} -> {}",
            String::from_utf8_lossy(input),
            e.msg
        );
    }
}

#[test]
fn gc_attachment_lists() {
    let c = parse(br#"{"name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"},{"containerID":"b","ifname":"net1"}]}"#).unwrap();
    assert_eq!(
        c.valid_attachments.unwrap(),
        vec![
            Attachment {
                container_id: "a".into(),
                ifname: "eth0".into()
            },
            Attachment {
                container_id: "b".into(),
                ifname: "net1".into()
            },
        ]
    );
    let c = parse(br#"{"name":"n","cni.dev/attachments":[]}"#).unwrap();
    assert_eq!(c.valid_attachments, Some(vec![]));
    let e =
        parse(br#"{"name":"n","cni.dev/valid-attachments":[{"containerID":"a"}]}"#).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("cni.dev/valid-attachments"));
    assert_eq!(
        parse(br#"{"name":"n","cni.dev/valid-attachments":{}}"#)
            .unwrap_err()
            .code,
        7
    );
}

#[test]
fn peeks_version() {
    assert_eq!(
        peek_version(br#"{"cniVersion":"0.4.0"}"#).as_deref(),
        Some("0.4.0")
    );
    assert_eq!(peek_version(b"junk"), None);
    assert_eq!(peek_version(b"{}"), None);
}
