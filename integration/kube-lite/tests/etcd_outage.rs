//! etcd stopped under a running API server: reads and writes answer 503 or 504 with a
//! Kubernetes Status promptly (no hang past the server's etcd call timeout, no dropped
//! connection), open watches end (a raw kube-rs watch stream ends or errors; the runtime watcher
//! reports an error), `/readyz` fails its etcd check while `/livez` stays ok; after etcd restarts
//! writes succeed again, `/readyz` recovers, the watcher resumes and converges on the true list,
//! and nothing written before the outage is lost. The test has a lab of its own.

#[macro_use]
mod common;
mod raw;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;

const NS: &str = "eo";
/// An answer during the outage must come within this (the server's etcd call timeout is 8 s).
const PROMPT: Duration = Duration::from_secs(15);

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": name},
    }))
    .expect("a valid ConfigMap literal")
}

fn versions<'a>(objs: impl IntoIterator<Item = &'a ConfigMap>) -> BTreeMap<String, String> {
    objs.into_iter()
        .map(|o| (o.name_any(), o.resource_version().unwrap_or_default()))
        .collect()
}

type Log = Arc<Mutex<Vec<String>>>;

fn logged(log: &Log) -> Vec<String> {
    log.lock().map(|g| g.clone()).unwrap_or_default()
}

/// A request during the outage must be a prompt 503/504 Status on an intact connection.
fn check_unavailable(c: &Cluster, r: &raw::Raw) {
    let s = r.json();
    check!(
        c,
        r.curl_exit == 0
            && r.elapsed < PROMPT
            && (r.code == 503 || r.code == 504)
            && s["kind"] == "Status"
            && s["status"] == "Failure"
            && s["code"] == r.code
            && (s["reason"] == "ServiceUnavailable" || s["reason"] == "Timeout"),
        "with etcd down, expected a prompt 503/504 Status:\n{}",
        r.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_fails_cleanly_and_recovers() {
    let mut c = Cluster::start_private();
    let client = c.client().await;
    c.create_namespace(&client, NS).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("before-{i}")))
            .await
            .unwrap_or_else(|e| c.fail(&format!("create before-{i}: {e}")));
    }
    let mut before = versions(
        &api.list(&ListParams::default())
            .await
            .unwrap_or_else(|e| c.fail(&format!("list: {e}")))
            .items,
    );
    check_eq!(c, before.len(), 5, "ConfigMaps before the outage");

    // The runtime watcher feeding a reflector, its events logged.
    let log: Log = Arc::default();
    let (reader, writer) = reflector::store::<ConfigMap>();
    let l2 = log.clone();
    let stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .inspect(move |ev| {
            let line = match ev {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitDone) => "init-done".to_string(),
                Ok(watcher::Event::InitApply(o)) => format!("init-apply {}", o.name_any()),
                Ok(watcher::Event::Apply(o)) => format!("apply {}", o.name_any()),
                Ok(watcher::Event::Delete(o)) => format!("delete {}", o.name_any()),
                Err(e) => format!("error {e}"),
            };
            if let Ok(mut g) = l2.lock() {
                g.push(line);
            }
        });
    let rf = reflector(writer, stream);
    let task = tokio::spawn(async move {
        let mut rf = std::pin::pin!(rf);
        while rf.next().await.is_some() {}
    });
    if tokio::time::timeout(Duration::from_secs(15), reader.wait_until_ready())
        .await
        .is_err()
    {
        c.fail("the reflector store never became ready");
    }

    // A plain watch from the list's resourceVersion: reports how it ends.
    let list_rv = api
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| c.fail(&format!("list: {e}")))
        .metadata
        .resource_version
        .unwrap_or_default();
    let (end_tx, mut end_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let wapi = api.clone();
    let watch_task = tokio::spawn(async move {
        let s = match wapi
            .watch(&WatchParams::default().timeout(290), &list_rv)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                let _ = end_tx.send(format!("could not start: {e}"));
                return;
            }
        };
        let mut s = std::pin::pin!(s);
        loop {
            match s.next().await {
                None => {
                    let _ = end_tx.send("stream end".into());
                    return;
                }
                Some(Err(e)) => {
                    let _ = end_tx.send(format!("stream error: {e}"));
                    return;
                }
                Some(Ok(WatchEvent::Error(e))) => {
                    let _ = end_tx.send(format!("ERROR event {}", e.code));
                    return;
                }
                Some(Ok(WatchEvent::Added(o))) => {
                    let _ = end_tx.send(format!("added {}", o.name_any()));
                }
                Some(Ok(_)) => {}
            }
        }
    });
    // Both watches are established (they deliver a new object) before etcd goes away.
    let probe = api
        .create(&PostParams::default(), &cm("probe"))
        .await
        .unwrap_or_else(|e| c.fail(&format!("create probe: {e}")));
    match tokio::time::timeout(Duration::from_secs(10), end_rx.recv()).await {
        Ok(Some(m)) if m == "added probe" => {}
        other => c.fail(&format!("the plain watch did not deliver probe: {other:?}")),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader
        .get(&kube::runtime::reflector::ObjectRef::new("probe").within(NS))
        .is_none()
    {
        if Instant::now() > deadline {
            c.fail(&format!(
                "the runtime watcher did not deliver probe: {:?}",
                logged(&log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    before.insert(
        "probe".to_string(),
        probe.resource_version().unwrap_or_default(),
    );
    let errors_before = logged(&log)
        .iter()
        .filter(|l| l.starts_with("error"))
        .count();

    // ----- etcd down -----
    tokio::task::block_in_place(|| c.lab.stop_etcd())
        .unwrap_or_else(|e| c.fail(&format!("stopping etcd: {e:#}")));
    let t0 = Instant::now();
    match tokio::time::timeout(PROMPT, end_rx.recv()).await {
        Ok(Some(how)) => eprintln!("the open watch ended after {:?}: {how}", t0.elapsed()),
        Ok(None) => c.fail("the watch task ended without a word"),
        Err(_) => c.fail(&format!(
            "an open watch did not end within {PROMPT:?} of etcd stopping"
        )),
    }
    watch_task.abort();

    let cm_path = format!("/api/v1/namespaces/{NS}/configmaps");
    let body = serde_json::to_vec(&cm("during")).unwrap_or_default();
    let update = {
        let mut o = serde_json::to_value(cm("before-0")).unwrap_or_default();
        o["metadata"]["resourceVersion"] =
            json!(before.get("before-0").cloned().unwrap_or_default());
        o["data"] = json!({"k": "changed"});
        serde_json::to_vec(&o).unwrap_or_default()
    };
    tokio::task::block_in_place(|| {
        let one = format!("{cm_path}/before-0");
        let reqs = [
            raw::Req::new("GET", &one),
            raw::Req::new("GET", &cm_path),
            raw::Req::new("POST", &cm_path).json(&body),
            raw::Req::new("PUT", &one).json(&update),
            raw::Req::new("DELETE", &one),
        ];
        for req in reqs {
            check_unavailable(&c, &raw::send(&c, &req.max_time(Duration::from_secs(30))));
        }
        // A new watch: a prompt error (a Status, or an ERROR event carrying one).
        let w = raw::send(
            &c,
            &raw::Req::new("GET", &format!("{cm_path}?watch=1&resourceVersion=1"))
                .max_time(Duration::from_secs(30)),
        );
        let ev: serde_json::Value =
            serde_json::from_str(w.body.lines().next().unwrap_or("")).unwrap_or_default();
        let ok = w.curl_exit == 0
            && w.elapsed < PROMPT
            && ((w.code == 200 && ev["type"] == "ERROR" && ev["object"]["kind"] == "Status")
                || ((w.code == 503 || w.code == 504) && w.json()["kind"] == "Status"));
        check!(c, ok, "a watch with etcd down:\n{}", w.describe());

        let ready = raw::get(&c, "/readyz");
        check!(
            c,
            ready.curl_exit == 0 && ready.code != 200 && ready.body.contains("etcd"),
            "/readyz with etcd down must fail its etcd check:\n{}",
            ready.describe()
        );
        let live = raw::get(&c, "/livez");
        check!(
            c,
            live.code == 200 && live.body.trim() == "ok",
            "/livez with etcd down must stay ok:\n{}",
            live.describe()
        );
    });
    // Through kube-rs too: an API error, not a transport failure.
    match api.get("before-1").await {
        Err(kube::Error::Api(s)) if s.code == 503 || s.code == 504 => {}
        other => c.fail(&format!("kube-rs get with etcd down: {other:?}")),
    }
    let events = logged(&log);
    check!(
        c,
        events.iter().filter(|l| l.starts_with("error")).count() > errors_before,
        "the runtime watcher reported no error during the outage: {events:?}"
    );

    // ----- etcd back -----
    tokio::task::block_in_place(|| c.lab.start_etcd())
        .unwrap_or_else(|e| c.fail(&format!("restarting etcd: {e:#}")));
    let t1 = Instant::now();
    let after = loop {
        match api.create(&PostParams::default(), &cm("after")).await {
            Ok(o) => break o,
            Err(e) if t1.elapsed() < Duration::from_secs(30) => {
                eprintln!("create after etcd restart: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => c.fail(&format!(
                "writes did not recover within 30 s of etcd restarting: {e}"
            )),
        }
    };
    eprintln!("writes recovered {:?} after etcd restarted", t1.elapsed());
    check!(
        c,
        after.resource_version().is_some(),
        "created object without resourceVersion"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = tokio::task::block_in_place(|| raw::get(&c, "/readyz"));
        if r.code == 200 && r.body.trim() == "ok" {
            break;
        }
        if Instant::now() > deadline {
            c.fail(&format!("/readyz did not recover:\n{}", r.describe()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let truth = versions(
        &api.list(&ListParams::default())
            .await
            .unwrap_or_else(|e| c.fail(&format!("list after the outage: {e}")))
            .items,
    );
    for (name, rv) in &before {
        check_eq!(
            c,
            truth.get(name),
            Some(rv),
            "{name} (written before the outage) after it"
        );
    }
    check!(
        c,
        truth.contains_key("after"),
        "the write after the outage: {truth:?}"
    );
    check!(
        c,
        !truth.contains_key("during"),
        "a refused write was stored: {truth:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let have = versions(reader.state().iter().map(|a| a.as_ref()));
        if have == truth {
            break;
        }
        if Instant::now() > deadline {
            c.fail(&format!(
                "the watcher did not resume: store {have:?}\n  truth {truth:?}\n  watcher log: {:?}",
                logged(&log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

/// Resumes a SIGSTOPped process when dropped (also when the test fails).
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid of this test's own lab.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

/// etcd hung (SIGSTOP: its connections stay open, nothing answers): requests must end with a
/// 503/504 Status by the server's etcd call timeout (8 s; the gRPC keep-alive, 5 s + 3 s, gives
/// up at about the same time and makes it a 503), not hang; `/livez` answers at once; `/readyz`
/// fails. After SIGCONT everything works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_etcd_answers_within_the_call_timeout() {
    let mut c = Cluster::start_private();
    let client = c.client().await;
    c.create_namespace(&client, "hung").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "hung");
    let x = api
        .create(&PostParams::default(), &cm("x"))
        .await
        .unwrap_or_else(|e| c.fail(&format!("create x: {e}")));
    let pid = c
        .lab
        .etcd_pid()
        .unwrap_or_else(|| c.fail("etcd is not running"));
    let pid = i32::try_from(pid).unwrap_or_else(|_| c.fail("etcd pid out of range"));
    // SAFETY: kill(2) on the pid of this test's own etcd.
    check!(
        c,
        unsafe { libc::kill(pid, libc::SIGSTOP) } == 0,
        "SIGSTOP etcd: {}",
        std::io::Error::last_os_error()
    );
    let resume = Resume(pid);

    let path = "/api/v1/namespaces/hung/configmaps";
    let one = format!("{path}/x");
    let body = serde_json::to_vec(&cm("during")).unwrap_or_default();
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let c = &c;
            let get = s.spawn(|| raw::send(c, &raw::Req::new("GET", &one)));
            let list = s.spawn(|| raw::send(c, &raw::Req::new("GET", path)));
            let post = s.spawn(|| raw::send(c, &raw::Req::new("POST", path).json(&body)));
            let ready = s.spawn(|| raw::get(c, "/readyz"));
            let live = raw::get(c, "/livez");
            check!(
                c,
                live.code == 200 && live.elapsed < Duration::from_secs(2),
                "/livez with etcd hung:\n{}",
                live.describe()
            );
            for h in [get, list, post] {
                let r = h
                    .join()
                    .unwrap_or_else(|_| c.fail("a request thread panicked"));
                check_unavailable(c, &r);
            }
            let r = ready
                .join()
                .unwrap_or_else(|_| c.fail("the readyz thread panicked"));
            check!(
                c,
                r.curl_exit == 0 && r.code != 200 && r.elapsed < PROMPT,
                "/readyz with etcd hung:\n{}",
                r.describe()
            );
        })
    });
    drop(resume);
    let t1 = Instant::now();
    let got = loop {
        match api.get("x").await {
            Ok(o) => break o,
            Err(e) if t1.elapsed() < Duration::from_secs(20) => {
                eprintln!("get after SIGCONT: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => c.fail(&format!("reads did not recover after SIGCONT: {e}")),
        }
    };
    check_eq!(
        c,
        got.resource_version(),
        x.resource_version(),
        "x after etcd resumed"
    );
    if let Err(e) = api.create(&PostParams::default(), &cm("after")).await {
        c.fail(&format!("a write after etcd resumed: {e}"));
    }
}
