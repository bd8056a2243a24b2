//! Watches across an etcd compaction: a kube-rs `watcher` + `reflector` on the ConfigMaps of a
//! namespace while the API server is stopped, history is made directly in etcd (in the server's
//! key layout and JSON) and etcd is compacted to its current revision; after the restart the
//! watcher's re-watch from its last resourceVersion must get 410 Expired, re-list, and its store
//! must equal the true list (names and resourceVersions). Also a raw watch from a compacted
//! revision answers the 410 Expired Status (as an ERROR event of a 200 stream, as upstream's
//! watch cache does, or as a plain 410). The test has a lab of its own (it stops the server).

#[macro_use]
mod common;
mod raw;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;

const NS: &str = "wc";

fn cm(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": v},
    }))
    .expect("a valid ConfigMap literal")
}

/// name -> resourceVersion.
type Versions = BTreeMap<String, String>;

fn versions<'a>(objs: impl IntoIterator<Item = &'a ConfigMap>) -> Versions {
    objs.into_iter()
        .map(|o| (o.name_any(), o.resource_version().unwrap_or_default()))
        .collect()
}

/// What the watcher stream reported, in order: `error 410`, `init`, `init-done`, `apply <name>`…
type Log = Arc<Mutex<Vec<String>>>;

fn logged(log: &Log) -> Vec<String> {
    log.lock().map(|g| g.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_compaction() {
    let mut c = Cluster::start_private();
    let client = c.client().await;
    c.create_namespace(&client, NS).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let mut first_rv = 0i64;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let o = api
            .create(&PostParams::default(), &cm(name, "1"))
            .await
            .unwrap_or_else(|e| c.fail(&format!("create {name}: {e}")));
        if i == 0 {
            first_rv = o
                .resource_version()
                .unwrap_or_default()
                .parse()
                .unwrap_or(0);
        }
    }
    check!(c, first_rv > 0, "resourceVersion of the first ConfigMap");

    // The watcher (with the default backoff, so it keeps retrying) feeding a reflector; its
    // events and errors are logged.
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
                Err(watcher::Error::WatchError(s)) => format!("error {} {}", s.code, s.reason),
                Err(e) => format!("other-error {e}"),
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
    check_eq!(
        c,
        versions(reader.state().iter().map(|a| a.as_ref())),
        versions(
            &api.list(&ListParams::default())
                .await
                .unwrap_or_else(|e| c.fail(&format!("list: {e}")))
                .items
        ),
        "the reflector's store before the outage"
    );
    let inits_before = logged(&log).iter().filter(|l| *l == "init").count();

    // Server down: history made directly in etcd (a new object, a change, a deletion), then
    // compacted to the current revision.
    let key = |n: &str| format!("/registry/configmaps/{NS}/{n}");
    let (stored_a, _) = c
        .etcd_get(&key("a"))
        .unwrap_or_else(|| c.fail("configmap a is not in etcd"));
    check!(
        c,
        stored_a.pointer("/metadata/resourceVersion").is_none(),
        "the server stores objects without resourceVersion: {stored_a}"
    );
    let mut d = stored_a.clone();
    d["metadata"]["name"] = json!("d");
    d["metadata"]["uid"] = json!("0b0b0b0b-0000-4000-8000-00000000000d");
    d["data"] = json!({"k": "written-in-etcd"});
    let mut a2 = stored_a.clone();
    a2["data"] = json!({"k": "2"});
    let compacted = tokio::task::block_in_place(|| -> anyhow::Result<i64> {
        c.api.stop(&mut c.lab)?;
        c.lab.etcdctl(&["put", &key("d"), &d.to_string()])?;
        c.lab.etcdctl(&["put", &key("a"), &a2.to_string()])?;
        c.lab.etcdctl(&["del", &key("b")])?;
        let rev = c.lab.etcd_revision()?;
        c.lab.etcdctl(&["compact", &rev.to_string()])?;
        Ok(rev)
    })
    .unwrap_or_else(|e| c.fail(&format!("making history in etcd and compacting: {e:#}")));
    tokio::task::block_in_place(|| c.api.start(&mut c.lab))
        .unwrap_or_else(|e| c.fail(&format!("restarting the API server: {e:#}")));

    // The watcher must see 410, re-list, and converge on the true list.
    let truth = versions(
        &api.list(&ListParams::default())
            .await
            .unwrap_or_else(|e| c.fail(&format!("list after the restart: {e}")))
            .items,
    );
    check_eq!(
        c,
        truth.keys().cloned().collect::<Vec<_>>(),
        vec!["a".to_string(), "c".into(), "d".into()],
        "ConfigMaps after the etcd writes"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let have = versions(reader.state().iter().map(|a| a.as_ref()));
        if have == truth {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            c.fail(&format!(
                "the reflector's store did not converge on the true list within 10 s\n  store: {have:?}\n  truth: {truth:?}\n  watcher log: {:?}",
                logged(&log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = logged(&log);
    eprintln!("watcher log: {events:?}");
    check!(
        c,
        events.iter().any(|l| l == "error 410 Expired"),
        "the watcher never saw 410 Expired: {events:?}"
    );
    check!(
        c,
        events.iter().filter(|l| *l == "init").count() > inits_before,
        "the watcher did not re-list after 410: {events:?}"
    );
    task.abort();

    // A raw watch from a compacted revision: the 410 Expired Status, and the stream ends.
    let path = format!("/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={first_rv}");
    let r = tokio::task::block_in_place(|| {
        raw::send(
            &c,
            &raw::Req::new("GET", &path).max_time(Duration::from_secs(10)),
        )
    });
    check!(
        c,
        r.curl_exit == 0 && r.elapsed < Duration::from_secs(5),
        "a watch from compacted revision {first_rv} (compacted at {compacted}) did not end promptly:\n{}",
        r.describe()
    );
    eprintln!(
        "a watch from compacted revision {first_rv}: HTTP {}, {} bytes",
        r.code,
        r.body.len()
    );
    let status = match r.code {
        // Upstream (watch cache): 200 and one ERROR event carrying the Status.
        200 => {
            let lines: Vec<&str> = r.body.lines().filter(|l| !l.is_empty()).collect();
            let ev: serde_json::Value = match lines.as_slice() {
                [one] => serde_json::from_str(one).unwrap_or_default(),
                _ => c.fail(&format!("expected one ERROR event:\n{}", r.describe())),
            };
            check_eq!(c, ev["type"], "ERROR", "watch event type: {}", r.describe());
            ev["object"].clone()
        }
        410 => r.json(),
        _ => c.fail(&format!("expected 410 Expired:\n{}", r.describe())),
    };
    check!(
        c,
        status["kind"] == "Status"
            && status["status"] == "Failure"
            && status["reason"] == "Expired"
            && status["code"] == 410,
        "the Status of a watch from a compacted revision: {status}"
    );
    // An exact list at a compacted revision is 410 Expired too.
    let path = format!(
        "/api/v1/namespaces/{NS}/configmaps?resourceVersion={first_rv}&resourceVersionMatch=Exact"
    );
    let r = tokio::task::block_in_place(|| raw::get(&c, &path));
    raw::expect_status(&c, &r, 410, "Expired");
}
