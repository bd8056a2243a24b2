//! Requests the API server must refuse, made raw (curl) where kube-rs would validate first:
//! malformed JSON and YAML (400 naming the problem), a kind or apiVersion that does not match the
//! URL (400), invalid fields (422 Invalid with `details.causes` naming each field: a Pod without
//! containers, the name `Foo_Bar`, negative replicas), a stale resourceVersion on update (409),
//! a body over 3 MiB (413), bad bearer tokens (garbage, an expired service-account JWT, one with
//! a wrong signature: 401), unknown fields with `fieldValidation=Strict` (400 naming the field)
//! against `Warn` (accepted, a `Warning` header). For every refused request etcd is unchanged
//! (same revision, same keys). The tests share one cluster and take turns (a lock), so that
//! no other test writes between the before and after snapshots.

#[macro_use]
mod common;
mod raw;

use std::process::Command;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use common::Cluster;
use flannel_integration::SA_ISSUER;
use raw::{Auth, Raw, Req};
use serde_json::{json, Value};

const NS: &str = "bi";
static TURN: Mutex<()> = Mutex::new(());

/// The shared cluster with namespace [`NS`], and this test's turn.
fn setup() -> (std::sync::MutexGuard<'static, ()>, std::sync::Arc<Cluster>) {
    let g = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let c = Cluster::shared();
    let r = raw::get(&c, &format!("/api/v1/namespaces/{NS}"));
    if r.code == 404 {
        c.namespace(NS);
    }
    (g, c)
}

/// Sends `req`, which must be refused with `code`/`reason` and leave etcd unchanged; returns
/// the Status.
fn refused(c: &Cluster, req: &Req<'_>, code: u16, reason: &str) -> Value {
    let before = c.etcd_snapshot();
    let r = raw::send(c, req);
    let s = raw::expect_status(c, &r, code, reason);
    let after = c.etcd_snapshot();
    check_eq!(c, after, before, "etcd after the refused {}", r.what);
    s
}

fn message(s: &Value) -> String {
    s["message"].as_str().unwrap_or_default().to_string()
}

fn cm_path() -> String {
    format!("/api/v1/namespaces/{NS}/configmaps")
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let (_g, c) = setup();
    let path = cm_path();
    let s = refused(
        &c,
        &Req::new("POST", &path)
            .json(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x""#),
        400,
        "BadRequest",
    );
    check!(
        c,
        message(&s).to_lowercase().contains("json"),
        "malformed JSON: message {s}"
    );
    let s = refused(
        &c,
        &Req::new("POST", &path).json(b"{\"apiVersion\": \"v1\", \"kind\": 7,}"),
        400,
        "BadRequest",
    );
    check!(
        c,
        !message(&s).is_empty(),
        "JSON with a trailing comma: message {s}"
    );
    let s = refused(
        &c,
        &Req::new("POST", &path).body(
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n data: :\n",
        ),
        400,
        "BadRequest",
    );
    check!(
        c,
        message(&s).to_lowercase().contains("yaml"),
        "malformed YAML: message {s}"
    );
    // A JSON body that is not an object.
    refused(
        &c,
        &Req::new("POST", &path).json(b"[1, 2]"),
        400,
        "BadRequest",
    );
    refused(&c, &Req::new("POST", &path).json(b"   "), 400, "BadRequest");
}

#[test]
fn kind_or_api_version_not_matching_the_url_is_a_bad_request() {
    let (_g, c) = setup();
    let path = cm_path();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k1"}});
    let s = refused(
        &c,
        &Req::new("POST", &path).json(secret.to_string().as_bytes()),
        400,
        "BadRequest",
    );
    check!(c, message(&s).contains("Secret"), "wrong kind: message {s}");
    let apps = json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "k2"}});
    let s = refused(
        &c,
        &Req::new("POST", &path).json(apps.to_string().as_bytes()),
        400,
        "BadRequest",
    );
    check!(
        c,
        message(&s).contains("apps/v1"),
        "wrong apiVersion: message {s}"
    );
    // On update too.
    let upd = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k3"}});
    refused(
        &c,
        &Req::new("PUT", &format!("{path}/k3")).json(upd.to_string().as_bytes()),
        400,
        "BadRequest",
    );
    // A name or namespace that differs from the URL's.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k5"}});
    refused(
        &c,
        &Req::new("PUT", &format!("{path}/k4")).json(other.to_string().as_bytes()),
        400,
        "BadRequest",
    );
    let elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "k6", "namespace": "default"}});
    refused(
        &c,
        &Req::new("POST", &path).json(elsewhere.to_string().as_bytes()),
        400,
        "BadRequest",
    );
}

#[test]
fn unsupported_media_type_and_bad_patches() {
    let (_g, c) = setup();
    let path = cm_path();
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pt"},
        "data": {"k": "1"}});
    let r = raw::send(
        &c,
        &Req::new("POST", &path).json(obj.to_string().as_bytes()),
    );
    check!(
        c,
        r.code == 201 || r.code == 409,
        "create pt: {}",
        r.describe()
    );
    refused(
        &c,
        &Req::new("POST", &path).body("application/xml", b"<ConfigMap/>"),
        415,
        "UnsupportedMediaType",
    );
    let one = format!("{path}/pt");
    refused(
        &c,
        &Req::new("PATCH", &one).body("application/merge-patch+json", b"{\"data\": "),
        400,
        "BadRequest",
    );
    // A JSON patch whose test fails, or that names a path that is not there.
    refused(
        &c,
        &Req::new("PATCH", &one).body(
            "application/json-patch+json",
            br#"[{"op": "test", "path": "/data/k", "value": "nope"}]"#,
        ),
        422,
        "Invalid",
    );
    refused(
        &c,
        &Req::new("PATCH", &one).body(
            "application/json-patch+json",
            br#"[{"op": "replace", "path": "/nothing/here", "value": 1}]"#,
        ),
        422,
        "Invalid",
    );
    // A patch that makes the object invalid.
    refused(
        &c,
        &Req::new("PATCH", &one).body(
            "application/merge-patch+json",
            br#"{"metadata": {"labels": {"bad key!": "v"}}}"#,
        ),
        422,
        "Invalid",
    );
}

/// The `field`s of `details.causes`.
fn cause_fields(s: &Value) -> Vec<String> {
    s["details"]["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn invalid(c: &Cluster, path: &str, obj: &Value, fields: &[&str]) {
    let s = refused(
        c,
        &Req::new("POST", path).json(obj.to_string().as_bytes()),
        422,
        "Invalid",
    );
    let got = cause_fields(&s);
    for f in fields {
        check!(
            c,
            got.iter().any(|g| g == f),
            "422 causes do not name {f}: {s}"
        );
    }
    check!(
        c,
        s["details"]["kind"] == obj["kind"] && !message(&s).is_empty(),
        "422 details.kind / message: {s}"
    );
}

#[test]
fn invalid_fields_are_422_naming_each_field() {
    let (_g, c) = setup();
    let pods = format!("/api/v1/namespaces/{NS}/pods");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": []}});
    invalid(&c, &pods, &pod, &["spec.containers"]);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Foo_Bar"}});
    invalid(&c, &cm_path(), &cm, &["metadata.name"]);
    let deploy = |name: &str, replicas: i64| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    };
    let deps = format!("/apis/apps/v1/namespaces/{NS}/deployments");
    invalid(&c, &deps, &deploy("d", -1), &["spec.replicas"]);
    // Several problems at once: each one named.
    invalid(
        &c,
        &deps,
        &deploy("Foo_Bar", -3),
        &["metadata.name", "spec.replicas"],
    );
}

#[test]
fn stale_resource_version_on_update_is_a_conflict() {
    let (_g, c) = setup();
    let path = cm_path();
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rv"},
        "data": {"k": "1"}});
    let r = raw::send(
        &c,
        &Req::new("POST", &path).json(obj.to_string().as_bytes()),
    );
    check!(
        c,
        r.code == 201 || r.code == 409,
        "create rv: {}",
        r.describe()
    );
    let cur = raw::get(&c, &format!("{path}/rv")).json();
    let rv: i64 = cur["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| c.fail(&format!("no resourceVersion: {cur}")));
    let mut stale = cur.clone();
    stale["metadata"]["resourceVersion"] = json!((rv - 1).to_string());
    stale["data"] = json!({"k": "2"});
    let s = refused(
        &c,
        &Req::new("PUT", &format!("{path}/rv")).json(stale.to_string().as_bytes()),
        409,
        "Conflict",
    );
    check!(
        c,
        message(&s).contains("has been modified"),
        "409 message: {s}"
    );
    // A resourceVersion that is not a number at all is refused too (without a write).
    let mut junk = cur.clone();
    junk["metadata"]["resourceVersion"] = json!("abc");
    junk["data"] = json!({"k": "3"});
    let before = c.etcd_snapshot();
    let r = raw::send(
        &c,
        &Req::new("PUT", &format!("{path}/rv")).json(junk.to_string().as_bytes()),
    );
    check!(
        c,
        r.code >= 400 && r.code < 500,
        "PUT with resourceVersion abc: {}",
        r.describe()
    );
    check_eq!(
        c,
        c.etcd_snapshot(),
        before,
        "etcd after PUT with resourceVersion abc"
    );
}

#[test]
fn body_over_3_mib_is_413() {
    let (_g, c) = setup();
    let big = "x".repeat(3 * 1024 * 1024 + 4096);
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"k": big}});
    let body = obj.to_string();
    refused(
        &c,
        &Req::new("POST", &cm_path()).json(body.as_bytes()),
        413,
        "RequestEntityTooLarge",
    );
    // The connection survives for the next request, and just under the limit is accepted
    // as far as size goes (etcd's own 1.5 MiB value limit may still refuse it, not with 413).
    let r = raw::get(&c, &cm_path());
    check_eq!(c, r.code, 200, "a list after the 413: {}", r.describe());
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `ES256` for a P-256 key, else `RS256` (the lab's `kube-lite certs` makes P-256 keys).
fn algorithm(c: &Cluster, key: &std::path::Path) -> &'static str {
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(key)
        .output()
        .unwrap_or_else(|e| c.fail(&format!("openssl pkey: {e}")));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("prime256v1") || text.contains("P-256") {
        "ES256"
    } else {
        "RS256"
    }
}

/// A DER ECDSA signature (SEQUENCE of two INTEGERs) as JWS's fixed-width `r || s`.
fn ecdsa_fixed(der: &[u8], width: usize) -> Option<Vec<u8>> {
    let mut i = 2;
    if der.first()? != &0x30 {
        return None;
    }
    if der.get(1)? & 0x80 != 0 {
        i += usize::from(der.get(1)? & 0x7f);
    }
    let mut out = Vec::new();
    for _ in 0..2 {
        if der.get(i)? != &0x02 {
            return None;
        }
        let len = usize::from(*der.get(i + 1)?);
        let mut int = der.get(i + 2..i + 2 + len)?;
        while int.len() > width && int.first() == Some(&0) {
            int = &int[1..];
        }
        out.extend(std::iter::repeat_n(0u8, width.checked_sub(int.len())?));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    Some(out)
}

/// A service-account JWT with `exp`, signed with the PEM key at `key` (ES256 or RS256).
fn jwt(c: &Cluster, key: &std::path::Path, exp: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let alg = algorithm(c, key);
    let header = json!({"alg": alg, "typ": "JWT"});
    let claims = json!({
        "aud": [SA_ISSUER], "iss": SA_ISSUER, "iat": now - 7200, "nbf": now - 7200, "exp": exp,
        "sub": format!("system:serviceaccount:{NS}:robot"),
        "kubernetes.io": {"namespace": NS,
            "serviceaccount": {"name": "robot", "uid": "00000000-0000-4000-8000-000000000001"}},
    });
    let signing = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let input = c.lab.dir().join("jwt-signing-input");
    std::fs::write(&input, &signing).unwrap_or_else(|e| c.fail(&format!("writing: {e}")));
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&input)
        .output()
        .unwrap_or_else(|e| c.fail(&format!("openssl: {e}")));
    check!(
        c,
        out.status.success(),
        "openssl dgst -sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = if alg == "ES256" {
        ecdsa_fixed(&out.stdout, 32)
            .unwrap_or_else(|| c.fail("openssl gave no DER ECDSA signature"))
    } else {
        out.stdout
    };
    format!("{signing}.{}", b64url(&sig))
}

#[test]
fn bad_bearer_tokens_are_401() {
    let (_g, c) = setup();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let sa_key = c.api.certs_dir().join("sa.key");
    // The control: a token made the same way but current does authenticate (any answer but 401).
    let good = format!("Bearer {}", jwt(&c, &sa_key, now + 3600));
    let r = raw::send(&c, &Req::new("GET", &cm_path()).auth(Auth::Header(&good)));
    check!(
        c,
        r.curl_exit == 0 && r.code != 401 && r.code != 0,
        "a current service-account token made by the test must authenticate:\n{}",
        r.describe()
    );
    let expired = format!("Bearer {}", jwt(&c, &sa_key, now - 3600));
    let other_key = c.lab.dir().join("other-sa.key");
    let gen = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&other_key)
        .output()
        .unwrap_or_else(|e| c.fail(&format!("openssl genrsa: {e}")));
    check!(c, gen.status.success(), "openssl genpkey failed");
    let wrong_sig = format!("Bearer {}", jwt(&c, &other_key, now + 3600));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tok"}});
    let body = cm.to_string();
    for h in [
        "Bearer garbage",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer a.b.c",
        expired.as_str(),
        wrong_sig.as_str(),
    ] {
        for req in [
            Req::new("GET", &cm_path()),
            Req::new("POST", &cm_path()).json(body.as_bytes()),
        ] {
            let s = refused(&c, &req.auth(Auth::Header(h)), 401, "Unauthorized");
            check_eq!(c, s["message"], "Unauthorized", "401 message for {h:?}");
        }
    }
}

#[test]
fn unknown_fields_strict_refuses_warn_warns() {
    let (_g, c) = setup();
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "uf", "bogusMeta": 1}, "data": {"k": "v"}, "bogusTop": true});
    let body = obj.to_string();
    let strict = format!("{}?fieldValidation=Strict", cm_path());
    let s = refused(
        &c,
        &Req::new("POST", &strict).json(body.as_bytes()),
        400,
        "BadRequest",
    );
    let m = message(&s);
    check!(
        c,
        m.contains("unknown field \"bogusTop\"")
            && m.contains("unknown field \"metadata.bogusMeta\""),
        "Strict must name each unknown field: {s}"
    );
    let warn = format!("{}?fieldValidation=Warn", cm_path());
    let r: Raw = raw::send(&c, &Req::new("POST", &warn).json(body.as_bytes()));
    check!(c, r.code == 201, "Warn must accept: {}", r.describe());
    let w = r.header("warning").join("\n").replace("\\\"", "\"");
    check!(
        c,
        w.contains("unknown field \"bogusTop\"")
            && w.contains("unknown field \"metadata.bogusMeta\""),
        "Warn must name each unknown field in Warning headers: {}",
        r.describe()
    );
    let stored = c
        .etcd_get(&format!("/registry/configmaps/{NS}/uf"))
        .unwrap_or_else(|| c.fail("uf not stored"));
    check!(
        c,
        stored.0.get("bogusTop").is_none() && stored.0["metadata"].get("bogusMeta").is_none(),
        "unknown fields must be dropped, not stored: {}",
        stored.0
    );
    // Strict on an update and on a merge patch too, naming the field; nothing written.
    let mut upd = stored.0.clone();
    upd["metadata"]["resourceVersion"] = json!(stored.1.to_string());
    upd["data"] = json!({"k": "changed"});
    upd["spec"] = json!({"x": 1});
    let s = refused(
        &c,
        &Req::new("PUT", &format!("{}/uf?fieldValidation=Strict", cm_path()))
            .json(upd.to_string().as_bytes()),
        400,
        "BadRequest",
    );
    check!(
        c,
        message(&s).contains("unknown field \"spec\""),
        "Strict update: {s}"
    );
    let s = refused(
        &c,
        &Req::new("PATCH", &format!("{}/uf?fieldValidation=Strict", cm_path())).body(
            "application/merge-patch+json",
            br#"{"data": {"k": "p"}, "bogusPatch": 1}"#,
        ),
        400,
        "BadRequest",
    );
    check!(
        c,
        message(&s).contains("unknown field \"bogusPatch\""),
        "Strict patch: {s}"
    );
    // A bad fieldValidation value is refused.
    let bad = format!("{}?fieldValidation=Loose", cm_path());
    refused(
        &c,
        &Req::new("POST", &bad).json(body.as_bytes()),
        400,
        "BadRequest",
    );
}
