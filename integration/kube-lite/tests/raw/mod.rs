//! Raw HTTP requests to the lab's API server for the robustness tests (watch_compaction,
//! etcd_outage, bad_input): curl with the cluster CA and a bearer token (the admin token unless
//! told otherwise), so that the tests see exactly what the server answers (status code, headers,
//! body, a dropped connection, how long it took) where kube-rs would validate or retry first.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::Cluster;

/// One answer (or the lack of one).
#[derive(Debug, Clone)]
pub struct Raw {
    /// The request line, for messages.
    pub what: String,
    /// curl's exit code (0: a complete HTTP answer; 52/56: the connection was dropped; 28: the
    /// time limit passed).
    pub curl_exit: i32,
    /// The HTTP status code (0 without an answer).
    pub code: u16,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub elapsed: Duration,
}

impl Raw {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<&str> {
        let n = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A one-paragraph description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{} -> curl exit {}, HTTP {} after {:?}\n  headers: {:?}\n  body: {}",
            self.what,
            self.curl_exit,
            self.code,
            self.elapsed,
            self.headers,
            self.body.chars().take(2000).collect::<String>()
        )
    }
}

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The admin bearer token of the lab.
    Admin,
    /// This `Authorization` header value.
    Header(&'a str),
}

/// A request to make with [`send`].
#[derive(Debug, Clone)]
pub struct Req<'a> {
    pub method: &'a str,
    /// Path and query, e.g. `/api/v1/namespaces/x/configmaps?watch=1`.
    pub path: &'a str,
    pub auth: Auth<'a>,
    pub content_type: Option<&'a str>,
    pub body: Option<&'a [u8]>,
    /// curl's `--max-time`.
    pub max_time: Duration,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Req<'a> {
        Req {
            method,
            path,
            auth: Auth::Admin,
            content_type: None,
            body: None,
            max_time: Duration::from_secs(30),
        }
    }
    pub fn json(mut self, body: &'a [u8]) -> Req<'a> {
        self.content_type = Some("application/json");
        self.body = Some(body);
        self
    }
    pub fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Req<'a> {
        self.content_type = Some(content_type);
        self.body = Some(body);
        self
    }
    pub fn auth(mut self, auth: Auth<'a>) -> Req<'a> {
        self.auth = auth;
        self
    }
    pub fn max_time(mut self, t: Duration) -> Req<'a> {
        self.max_time = t;
        self
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Makes `req` with curl against [`flannel_integration::ApiServer::url`] (blocking).
pub fn send(c: &Cluster, req: &Req<'_>) -> Raw {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = c.lab.dir().join("raw");
    let _ = std::fs::create_dir_all(&dir);
    let base = dir.join(format!("{}-{n}", std::process::id()));
    let (hdr, out, inp) = (
        base.with_extension("hdr"),
        base.with_extension("out"),
        base.with_extension("in"),
    );
    let url = format!("{}{}", c.api.url(), req.path);
    let mut cmd = Command::new("curl");
    cmd.arg("-sS")
        .arg("--max-time")
        .arg(format!("{}", req.max_time.as_secs_f64()))
        .arg("--cacert")
        .arg(c.api.ca())
        .arg("-X")
        .arg(req.method)
        .arg("-D")
        .arg(&hdr)
        .arg("-o")
        .arg(&out)
        .arg("-w")
        .arg("%{http_code}")
        .arg("-H")
        .arg("Accept: application/json");
    let auth = match req.auth {
        Auth::Admin => format!("Authorization: Bearer {}", c.api.token()),
        Auth::Header(v) => format!("Authorization: {v}"),
    };
    cmd.arg("-H").arg(auth);
    if let Some(ct) = req.content_type {
        cmd.arg("-H").arg(format!("Content-Type: {ct}"));
    }
    if let Some(b) = req.body {
        if let Err(e) = std::fs::write(&inp, b) {
            c.fail(&format!("writing {}: {e}", inp.display()));
        }
        cmd.arg("--data-binary").arg(format!("@{}", inp.display()));
    }
    cmd.arg(&url).stdin(Stdio::null());
    let t0 = Instant::now();
    let res = cmd
        .output()
        .unwrap_or_else(|e| c.fail(&format!("cannot run curl: {e}")));
    let elapsed = t0.elapsed();
    let code = String::from_utf8_lossy(&res.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let headers = std::fs::read_to_string(&hdr)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let body = std::fs::read_to_string(&out).unwrap_or_default();
    for f in [&hdr, &out, &inp] {
        let _ = std::fs::remove_file(f);
    }
    Raw {
        what: format!("{} {}", req.method, req.path),
        curl_exit: res.status.code().unwrap_or(-1),
        code,
        headers,
        body,
        elapsed,
    }
}

/// `GET path` with the admin token.
pub fn get(c: &Cluster, path: &str) -> Raw {
    send(c, &Req::new("GET", path))
}

/// Checks that `r` is a complete answer with status `code` and a `kind: Status` body of that
/// code and `reason`; returns the Status.
pub fn expect_status(c: &Cluster, r: &Raw, code: u16, reason: &str) -> serde_json::Value {
    let s = r.json();
    let ok = r.curl_exit == 0
        && r.code == code
        && s["kind"] == "Status"
        && s["apiVersion"] == "v1"
        && s["status"] == "Failure"
        && s["code"] == code
        && s["reason"] == reason;
    if !ok {
        c.fail(&format!(
            "expected a {code} {reason} Status:\n{}",
            r.describe()
        ));
    }
    s
}
