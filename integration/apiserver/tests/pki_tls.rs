//! The PKI, TLS and authentication as a client sees them: a generated PKI
//! served by a tokio-rustls server on 127.0.0.1, clients with and without
//! the admin certificate (and one from another CA), static tokens and
//! service-account JWTs.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube_lite_apiserver::auth::{AuthError, Authenticator, TokenSigner};
use kube_lite_apiserver::pki::{self, PkiOptions};
use kube_lite_apiserver::tls;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn opts() -> PkiOptions {
    PkiOptions {
        apiserver_ips: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))],
        apiserver_dns: vec!["api.example.test".into()],
        server_url: "https://127.0.0.1:6443".into(),
        cluster_name: "kube-lite".into(),
        regenerate: false,
    }
}

fn pki_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    pki::generate(&dir, &opts()).unwrap();
    (tmp, dir)
}

/// A server that answers each connection with one line: the authenticated
/// client-certificate user (`name groups...`) or `anonymous`, and reports
/// handshake failures on `errors`.
async fn serve(dir: &Path) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let config = tls::server_config(
        &dir.join("apiserver.crt"),
        &dir.join("apiserver.key"),
        Some(&dir.join("ca.crt")),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let auth = Arc::new(Authenticator::default());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, tx, auth) = (acceptor.clone(), tx.clone(), auth.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut stream) => {
                        let (_, conn) = stream.get_ref();
                        let alpn = conn
                            .alpn_protocol()
                            .map(|a| String::from_utf8_lossy(a).to_string());
                        let line = match tls::peer_cert_der(conn)
                            .and_then(|d| auth.authenticate_cert(&d))
                        {
                            Some(u) => format!("{} {}", u.name, u.groups.join(" ")),
                            None => "anonymous".to_string(),
                        };
                        let _ = tx.send(format!("ok alpn={alpn:?}"));
                        let _ = stream.write_all(format!("{line}\n").as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    Err(e) => {
                        let _ = tx.send(format!("handshake error: {e}"));
                    }
                }
            });
        }
    });
    (port, rx)
}

fn client(ca_dir: &Path, cert_dir: Option<&Path>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_dir.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match cert_dir {
        None => builder.with_no_client_auth(),
        Some(d) => {
            let certs = CertificateDer::pem_file_iter(d.join("admin.crt"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(d.join("admin.key")).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Connects and returns the server's line, or the error.
async fn ask(port: u16, config: Arc<rustls::ClientConfig>, name: &str) -> Result<String, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let mut stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    stream
        .read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    if out.is_empty() {
        return Err("connection closed without an answer".into());
    }
    Ok(out.trim().to_string())
}

#[tokio::test]
async fn tls_with_and_without_client_certificates() {
    let (_tmp, dir) = pki_dir();
    let (port, mut events) = serve(&dir).await;

    let admin = ask(port, client(&dir, Some(&dir)), "localhost")
        .await
        .unwrap();
    assert_eq!(
        admin,
        "kubernetes-admin system:masters system:authenticated"
    );
    assert_eq!(events.recv().await.unwrap(), "ok alpn=Some(\"http/1.1\")");

    let anonymous = ask(
        port,
        client(&dir, None),
        "kubernetes.default.svc.cluster.local",
    )
    .await;
    assert_eq!(anonymous.unwrap(), "anonymous");
    events.recv().await.unwrap();

    // Every SAN a client may use verifies.
    for name in [
        "127.0.0.1",
        "10.96.0.1",
        "192.0.2.10",
        "kubernetes",
        "api.example.test",
    ] {
        assert_eq!(
            ask(port, client(&dir, None), name).await.unwrap(),
            "anonymous",
            "{name}"
        );
        events.recv().await.unwrap();
    }
    // A name not in the certificate does not.
    let err = ask(port, client(&dir, None), "elsewhere.example.test")
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    events.recv().await.unwrap();
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let (_tmp, dir) = pki_dir();
    let (_tmp2, other) = pki_dir();
    let (port, mut events) = serve(&dir).await;
    // Trusts the right server CA, but presents a certificate of another CA.
    let result = ask(port, client(&dir, Some(&other)), "localhost").await;
    assert!(result.is_err(), "{result:?}");
    let event = events.recv().await.unwrap();
    assert!(event.starts_with("handshake error"), "{event}");
}

#[test]
fn server_config_errors_name_the_flag_and_file() {
    let (tmp, dir) = pki_dir();
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "nothing here\n").unwrap();
    let err = tls::server_config(&empty, &dir.join("apiserver.key"), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "--tls-cert-file {}: no certificate found (expected PEM \"CERTIFICATE\" blocks)",
            empty.display()
        )
    );
    let err = tls::server_config(&dir.join("apiserver.crt"), &empty, None).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "--tls-private-key-file {}: no private key found",
            empty.display()
        )),
        "{err}"
    );
    let missing = tmp.path().join("missing.crt");
    let err = tls::server_config(&missing, &dir.join("apiserver.key"), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("--tls-cert-file {}: ", missing.display())),
        "{err}"
    );
    let err = tls::server_config(
        &dir.join("apiserver.crt"),
        &dir.join("apiserver.key"),
        Some(&empty),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "--client-ca-file {}: no certificate found",
            empty.display()
        )),
        "{err}"
    );
    // A key that does not belong to the certificate.
    let err =
        tls::server_config(&dir.join("apiserver.crt"), &dir.join("admin.key"), None).unwrap_err();
    assert!(err.to_string().contains("--tls-private-key-file"), "{err}");
}

#[test]
fn pki_files_modes_and_restart() {
    let (_tmp, dir) = pki_dir();
    for (name, mode) in [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("apiserver.crt", 0o644),
        ("apiserver.key", 0o600),
        ("admin.crt", 0o644),
        ("admin.key", 0o600),
        ("sa.key", 0o600),
        ("sa.pub", 0o644),
        ("tokens.csv", 0o600),
        ("admin.kubeconfig", 0o600),
    ] {
        let meta = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    let sa = std::fs::read_to_string(dir.join("sa.key")).unwrap();
    assert!(sa.starts_with("-----BEGIN PRIVATE KEY-----"), "{sa}");
    assert!(std::fs::read_to_string(dir.join("sa.pub"))
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let tokens = std::fs::read_to_string(dir.join("tokens.csv")).unwrap();
    assert!(
        tokens.ends_with(",admin,admin,system:masters\n"),
        "{tokens}"
    );

    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let (ca, apiserver, sa_key) = (read("ca.crt"), read("apiserver.crt"), read("sa.key"));

    // A restart keeps everything but the derived kubeconfig.
    let report = pki::generate(&dir, &opts()).unwrap();
    assert_eq!(report.written, vec![dir.join("admin.kubeconfig")]);
    assert_eq!(
        (
            read("ca.crt"),
            read("apiserver.crt"),
            read("sa.key"),
            read("tokens.csv")
        ),
        (
            ca.clone(),
            apiserver.clone(),
            sa_key.clone(),
            tokens.clone().into_bytes()
        )
    );

    // A new address: only the serving certificate is reissued, by the same CA.
    let mut more = opts();
    more.apiserver_ips
        .push(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
    let report = pki::generate(&dir, &more).unwrap();
    assert_eq!(
        report.written,
        vec![
            dir.join("apiserver.key"),
            dir.join("apiserver.crt"),
            dir.join("admin.kubeconfig")
        ]
    );
    assert_eq!(read("ca.crt"), ca);
    assert_ne!(read("apiserver.crt"), apiserver);

    // A missing file is regenerated alone.
    std::fs::remove_file(dir.join("sa.pub")).unwrap();
    let report = pki::generate(&dir, &more).unwrap();
    assert_eq!(
        report.written,
        vec![dir.join("sa.pub"), dir.join("admin.kubeconfig")]
    );

    // Asked to, everything is new.
    let report = pki::generate(
        &dir,
        &PkiOptions {
            regenerate: true,
            ..more.clone()
        },
    )
    .unwrap();
    assert_eq!(report.written.len(), 10, "{report:?}");
    assert_ne!(read("ca.crt"), ca);
    assert_ne!(read("sa.key"), sa_key);

    // A CA certificate without its key is an error, not a silent new CA.
    std::fs::remove_file(dir.join("ca.key")).unwrap();
    let err = pki::generate(&dir, &more).unwrap_err().to_string();
    assert!(err.contains("ca.key is missing"), "{err}");
}

#[test]
fn static_tokens_from_the_generated_token_file() {
    let (tmp, dir) = pki_dir();
    let auth = Authenticator::new(Some(&dir.join("tokens.csv")), &[], &[]).unwrap();
    let tokens = std::fs::read_to_string(dir.join("tokens.csv")).unwrap();
    let token = tokens.split(',').next().unwrap();
    let user = auth.authenticate_token(token).unwrap();
    assert_eq!((user.name.as_str(), user.uid.as_str()), ("admin", "admin"));
    assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
    assert!(matches!(
        auth.authenticate_token("nope"),
        Err(AuthError::InvalidToken)
    ));

    let file = tmp.path().join("tokens-groups.csv");
    std::fs::write(&file, "t1,alice,u1,\"dev,ops\"\n\nt2,bob,u2\n").unwrap();
    let auth = Authenticator::new(Some(&file), &[], &[]).unwrap();
    assert_eq!(
        auth.authenticate_token("t1").unwrap().groups,
        vec!["dev", "ops", "system:authenticated"]
    );
    assert_eq!(
        auth.authenticate_token("t2").unwrap().groups,
        vec!["system:authenticated"]
    );

    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "t1,alice,u1\nt2,bob\n").unwrap();
    let err = Authenticator::new(Some(&bad), &[], &[])
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("--token-auth-file {}:2: must have at least 3 columns (token, user name, user uid), found 2", bad.display()));
    let err = Authenticator::new(Some(&tmp.path().join("none.csv")), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--token-auth-file "), "{err}");
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn service_account_tokens_round_trip() {
    let (_tmp, dir) = pki_dir();
    let (_tmp2, other) = pki_dir();
    let issuers = vec![ISSUER.to_string(), "https://second.example".to_string()];
    let auth = Authenticator::new(None, &[&dir.join("sa.pub")], &issuers).unwrap();
    let signer = TokenSigner::from_pem_file(&dir.join("sa.key"), ISSUER).unwrap();
    let auds = vec![ISSUER.to_string()];
    let hour = Duration::from_secs(3600);

    let token = signer
        .mint(
            "kube-system",
            "coredns",
            "sa-uid-1",
            Some(("coredns-abc", "pod-uid-1")),
            &auds,
            hour,
        )
        .unwrap();
    let user = auth.authenticate_token(&token).unwrap();
    assert_eq!(user.name, "system:serviceaccount:kube-system:coredns");
    assert_eq!(user.uid, "sa-uid-1");
    assert_eq!(
        user.groups,
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated"
        ]
    );

    // The claims are upstream's.
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:kube-system:coredns");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "coredns-abc");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["uid"], "sa-uid-1");
    assert_eq!(claims["aud"], serde_json::json!([ISSUER]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // Another cluster's key: rejected.
    let foreign = TokenSigner::from_pem_file(&other.join("sa.key"), ISSUER).unwrap();
    let token = foreign
        .mint("default", "default", "u", None, &auds, hour)
        .unwrap();
    assert!(
        matches!(auth.authenticate_token(&token), Err(AuthError::Rejected(r)) if r.contains("signature"))
    );

    // Another issuer: not ours.
    let stranger = TokenSigner::from_pem_file(&dir.join("sa.key"), "https://elsewhere").unwrap();
    let token = stranger
        .mint("default", "default", "u", None, &auds, hour)
        .unwrap();
    assert!(matches!(
        auth.authenticate_token(&token),
        Err(AuthError::InvalidToken)
    ));

    // The second issuer is accepted as well (audience defaults to the issuers).
    let second = TokenSigner::from_pem_file(&dir.join("sa.key"), "https://second.example").unwrap();
    let token = second
        .mint(
            "default",
            "default",
            "u",
            None,
            &["https://second.example".to_string()],
            hour,
        )
        .unwrap();
    assert!(auth.authenticate_token(&token).is_ok());

    // Expired (beyond the one-minute leeway), within the leeway, not yet valid.
    let token = signer
        .mint_at(
            "default",
            "default",
            "u",
            None,
            &auds,
            hour,
            now() - 3600 - 120,
        )
        .unwrap();
    assert!(
        matches!(auth.authenticate_token(&token), Err(AuthError::Rejected(r)) if r.contains("expired"))
    );
    let token = signer
        .mint_at(
            "default",
            "default",
            "u",
            None,
            &auds,
            hour,
            now() - 3600 - 30,
        )
        .unwrap();
    assert!(auth.authenticate_token(&token).is_ok());
    let token = signer
        .mint_at("default", "default", "u", None, &auds, hour, now() + 600)
        .unwrap();
    assert!(matches!(
        auth.authenticate_token(&token),
        Err(AuthError::Rejected(_))
    ));

    // A tampered payload fails the signature.
    let token = signer
        .mint("default", "default", "u", None, &auds, hour)
        .unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let evil = serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:kube-system:admin",
        "aud": auds, "kubernetes.io": {"namespace": "kube-system", "serviceaccount": {"name": "admin", "uid": "u"}}});
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(evil.to_string());
    assert!(auth.authenticate_token(&parts.join(".")).is_err());
}

#[test]
fn service_account_key_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let put = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Several keys in one file: an RSA public key and EC private keys (their
    // public halves are used), plus a non-key block that is tolerated.
    let keys = put("keys.pem", &format!("{RSA_PUB}-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n{EC_SEC1_KEY}{EC384_SEC1_KEY}"));
    let auth = Authenticator::new(None, &[&keys], &[ISSUER.to_string()]).unwrap();
    let auds = vec![ISSUER.to_string()];
    for (name, pem, alg) in [
        ("rsa.key", RSA_KEY, "RS256"),
        ("ec.key", EC_SEC1_KEY, "ES256"),
        ("ec384.key", EC384_SEC1_KEY, "ES384"),
    ] {
        let signer = TokenSigner::from_pem_file(&put(name, pem), ISSUER).unwrap();
        let token = signer
            .mint("ns", "sa", "u", None, &auds, Duration::from_secs(60))
            .unwrap();
        let user = auth
            .authenticate_token(&token)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(user.name, "system:serviceaccount:ns:sa");
        use base64::Engine as _;
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(header["kid"], signer.key_id());
    }
    // The private RSA key as a verification key works too.
    let auth =
        Authenticator::new(None, &[&tmp.path().join("rsa.key")], &[ISSUER.to_string()]).unwrap();
    let signer = TokenSigner::from_pem_file(&tmp.path().join("rsa.key"), ISSUER).unwrap();
    let token = signer.mint_legacy("ns", "sa", "u", "sa-token-x").unwrap();
    assert_eq!(
        auth.authenticate_token(&token).unwrap().name,
        "system:serviceaccount:ns:sa"
    );

    let empty = put("empty.pem", "no keys\n");
    let err = Authenticator::new(None, &[&empty], &[ISSUER.to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "--service-account-key-file {}: no RSA or ECDSA",
            empty.display()
        )),
        "{err}"
    );
    let err = TokenSigner::from_pem_file(&put("pub.pem", RSA_PUB), ISSUER)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--service-account-signing-key-file "),
        "{err}"
    );
}

// Test-only keys generated with openssl 3 (`genrsa -traditional 2048`, `rsa -pubout`,
// `ecparam -genkey -noout` for prime256v1 and secp384r1): formats rcgen cannot write.
const RSA_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEogIBAAKCAQEAoYiIPDx+0ZOI9IrSfSKaAN/rvXivIAaWrWoQcl3xvdunRz14\n\
21vDeCnZpO6mH51ozWkqD07JZRhf815oLt4Dd/PGFcpmgHFsPbPSjTzRycompsM9\n\
p73Q5YT0imlbxAGBtZEZ516j7eXsk7MkYMM2aN8rbyhHcc8B47K46aLIXUn6KRs4\n\
v+VYVrf7l/Bao0bbPRVH8ez8FB+qKSlbE4veuXhTBP0PUvA69Ffra6EvKvZsOhmf\n\
a5gKlq0lZYetuGc5xtdEnhAtAPDmaNuUA94eqNB7pE2iADPqx45lHp+wH1WVS7Lh\n\
y00EW4GL5V0NasEhV0VDtvseV0OrsrTow+UyuQIDAQABAoIBAAVRLnTXI/CHm/Y6\n\
vJeAZFPbixG7T35tIRgXue9dzseKW60BZcFIubwymnauoVrAjnLWf5st43y3qu7i\n\
oGjMh44zAMX2Wd3n/eFhEjDye9BZ3mBWZGjpW182u2rz8WCYERo2KsVeLOS3kQxC\n\
lRO3UUrt76rSx1lEcGI7n5EXOeOyLoT/H+an2Dx9iJW674XAqVIQQXvfhS9GIg+W\n\
65KlgsVmkfIQWtyJYxGgKq7+aO1sPqN01eBsOq8tEno/aSgEaJ5fhRcHuo3wxHgW\n\
EYkiVgG6yv1Bn9a6koYhZuPhRdaRuoV4LEbXTeK26g8HYMCqk5bqpu5eqJLGs0UX\n\
O8L6H6ECgYEA2os33Ckhy835Xi4TL0Ki3XlZOQrQL/bHimG1+TCyM9F7e8ept/Vm\n\
5EGJfGTdPa2veCWmLeejaJfk6uP9XUc0vJPYuEaMpNqb7nYtq1yCmmRQJaIewJzp\n\
GxG4c7jQJfiaILsmgonsWcluluOGAUgC6IfLHV659ELwTBy0rWzi8tECgYEAvTfv\n\
EBK2+5lL8QO/DoS5V9Z5r8YXmUJrop2Xnd2ebnv1NHBJxH60btEKB0pG/lruelw/\n\
yFnYUUB3ClFfqfUPpLZf817sKKFapU/cNITXAV4CZstfuzks0TqbK10wFMaw4gsk\n\
AKyOaovO7Uzn9D+KbARnoC+orkFjPW8TrnQ+q2kCgYBRtZGKEBrhrz4X91QW7Gwm\n\
MDOqvx89f5/1XjkCVTGbbCwmCG2tKORyXQqBZtjNMb4URsdODHgtJ/Vf2SQmlvPh\n\
uclihIYbMNzyGF9U3X67KNxKZcXnsAL7qvFy2tuABuXhbPemANlMbKKbaa/1lK35\n\
sKPBdGRELi7X1je7S6XCsQKBgAxViQ/TKHpeE8UyKVIY9Lv1DxmWIBOtcLa47xkr\n\
SRiKnAE/EI/ucnSGy9CN1vLdmo3/VWkJ8j/Zo+jYRRQfFVX3TWnf1iUP34jHG+OQ\n\
hTNhnWZ1+1eI8pLw7wx0lp3EFeOmNkKU/POVCXgOe1BAlBVWdCrM8IHrYTyv8Oh+\n\
S1eBAoGAVBYTWGRhokW1lgbirjwvYf6WkNqwvVjDHUyQYA3hxNgxAsbN1Mqgiawv\n\
kuebpuocrMRLTbTEneqID2zL6xRtJ1DOVRdyCyzjClaNsnZtYOU9RHaBhvikYDMo\n\
LxSoOqGuvVAjGZUt12XZuuq/8aCfYcVN7tF2LXHAXxhGn5BUoJk=\n\
-----END RSA PRIVATE KEY-----\n\
";
const RSA_PUB: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoYiIPDx+0ZOI9IrSfSKa\n\
AN/rvXivIAaWrWoQcl3xvdunRz1421vDeCnZpO6mH51ozWkqD07JZRhf815oLt4D\n\
d/PGFcpmgHFsPbPSjTzRycompsM9p73Q5YT0imlbxAGBtZEZ516j7eXsk7MkYMM2\n\
aN8rbyhHcc8B47K46aLIXUn6KRs4v+VYVrf7l/Bao0bbPRVH8ez8FB+qKSlbE4ve\n\
uXhTBP0PUvA69Ffra6EvKvZsOhmfa5gKlq0lZYetuGc5xtdEnhAtAPDmaNuUA94e\n\
qNB7pE2iADPqx45lHp+wH1WVS7Lhy00EW4GL5V0NasEhV0VDtvseV0OrsrTow+Uy\n\
uQIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
const EC_SEC1_KEY: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEIGZjshtTKGim61YkeBysYFNeyMWoM4+US4wTNv+Hc8F4oAoGCCqGSM49\n\
AwEHoUQDQgAEImrbfg/tXHsAr1QqsrvdjFnAwvZ5clP5oNSifcztINDYuoyMyPxl\n\
AxWdjHq42guX25p/VhHrkfdOM+diBYlDcA==\n\
-----END EC PRIVATE KEY-----\n\
";
const EC384_SEC1_KEY: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
MIGkAgEBBDASo35/7kEEAeJ8UYDkOkKKdZujVU8M0niaBpQTI9cT2P5FQcsQL8Em\n\
dueIASC4j7CgBwYFK4EEACKhZANiAARYPENBPcLd9UCHYbx4Syj5lL5pIlIer2Br\n\
SyFl6VXgpn2EX5c/3JNnFCCZvFzmz4EyEWj+FcDyZFX+n23XXPUG4/8TUbloQ94/\n\
T119ORLYRyAsuY+PHpKHpqTBlMjALPw=\n\
-----END EC PRIVATE KEY-----\n\
";
