//! Restart, secrets at rest, backups and all-or-nothing restore.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{found_in_dir, Server, PLAIN_KEY};
use serde_json::json;
use sluice_model::MasterKey;

async fn populate(s: &Server) -> (u64, u64) {
    let (c, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(
                json!({"name": "OpenAI", "base_url": "https://api.openai.com/v1",
            "api_key": PLAIN_KEY, "models": ["gpt-4o"]}),
            ),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    let pid = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call(
            "POST",
            "/api/model-routes",
            Some(json!({"name": "auto", "nodes": [{"api_id": pid}]})),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    (pid, v["id"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_everything_and_no_plaintext_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let s = Server::start(dir.path(), key.clone()).await;
    let (pid, rid) = populate(&s).await;
    let (c, v) = s
        .call("POST", "/v1/admin/keys", Some(json!({"name": "k"})))
        .await;
    assert_eq!(c, 201);
    let client_plain = v["key"].as_str().unwrap().to_string();
    let version = s.app.store.version();
    s.stop().await;

    // Nothing at rest contains either plaintext secret (sled files and backup).
    assert!(found_in_dir(dir.path(), PLAIN_KEY.as_bytes()).is_empty());
    assert!(found_in_dir(dir.path(), client_plain.as_bytes()).is_empty());
    let backup = std::fs::read_to_string(dir.path().join("backup.json")).unwrap();
    assert!(backup.contains("\"api_key_sealed\": \"v1:"));

    let s = Server::start(dir.path(), key.clone()).await;
    assert_eq!(s.app.store.version(), version);
    let (c, v) = s.call("GET", &format!("/api/providers/{pid}"), None).await;
    assert_eq!(c, 200);
    assert_eq!(v["name"], "OpenAI");
    let (c, _) = s
        .call("GET", &format!("/api/model-routes/{rid}"), None)
        .await;
    assert_eq!(c, 200);
    assert_eq!(
        s.app.store.snapshot().providers[0].endpoints[0].api_key,
        PLAIN_KEY
    );
    // New ids keep counting after a restart.
    let (_, v) = s
        .call(
            "POST",
            "/admin/providers",
            Some(json!({"name": "two", "type": "openai", "base_url": "http://h/v1"})),
        )
        .await;
    assert_eq!(v["provider_id"].as_u64(), Some(pid + 1));
    s.stop().await;

    // The wrong master key refuses to open the store.
    let err = sluice_controlplane::App::open(&common::options(dir.path(), MasterKey::generate()))
        .unwrap_err();
    assert!(
        err.to_string().contains("master key") || err.to_string().contains("MASTER_KEY"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_api_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (pid, _) = populate(&s).await;
    let good = std::fs::read_to_string(dir.path().join("backup.json")).unwrap();

    // Changes after the backup, then restore the file posted as the body.
    let (c, _) = s
        .call(
            "POST",
            "/api/providers",
            Some(json!({"name": "later", "base_url": "http://h/v1"})),
        )
        .await;
    assert_eq!(c, 201);
    let backup_json: serde_json::Value = serde_json::from_str(&good).unwrap();
    let (c, v) = s
        .call(
            "POST",
            "/api/admin/providers/restore",
            Some(backup_json.clone()),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["providers"], 1);
    let before = s.app.store.state();

    // A backup with one invalid route changes nothing.
    let mut bad = backup_json.clone();
    let routes = bad["state"]["routes"].as_object_mut().unwrap();
    let mut broken = routes.values().next().unwrap().clone();
    broken["id"] = json!(50);
    broken["name"] = json!("broken");
    broken["targets"][0]["provider_id"] = json!(4242);
    routes.insert("50".into(), broken);
    bad["state"]["providers"][pid.to_string()]["models"] = json!(["changed"]);
    let (c, v) = s
        .call("POST", "/api/admin/providers/restore", Some(bad))
        .await;
    assert_eq!(c, 400, "{v}");
    assert!(v["detail"].to_string().contains("4242"), "{v}");
    assert_eq!(*s.app.store.state(), *before);
    // A backup sealed with another key is refused too.
    let mut foreign = backup_json;
    foreign["state"]["providers"][pid.to_string()]["endpoints"][0]["api_key_sealed"] =
        json!(MasterKey::generate().seal(b"sk-other"));
    let (c, _) = s
        .call("POST", "/api/admin/providers/restore", Some(foreign))
        .await;
    assert_eq!(c, 400);
    assert_eq!(*s.app.store.state(), *before);
    // Restore from the on-disk backup (no body).
    let (c, _) = s.call("POST", "/api/admin/providers/restore", None).await;
    assert_eq!(c, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_export_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let s = Server::start(dir.path(), key.clone()).await;
    populate(&s).await;
    s.stop().await;

    let out = dir.path().join("export.json");
    sluice_controlplane::backup_export(dir.path(), &out, &key).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(PLAIN_KEY));

    // Restore into a fresh data dir.
    let dir2 = tempfile::tempdir().unwrap();
    sluice_controlplane::backup_restore(dir2.path(), &out, &key).unwrap();
    let s2 = Server::start(dir2.path(), key.clone()).await;
    let (_, v) = s2.call("GET", "/api/providers", None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(s2.app.store.snapshot().routes.len(), 1);
    s2.stop().await;

    // An invalid backup leaves the store untouched.
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let routes = doc["state"]["routes"].as_object_mut().unwrap();
    for r in routes.values_mut() {
        r["strategy"] = json!("zigzag");
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let state_of = |dir: &std::path::Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("backup.json")).unwrap()).unwrap();
        v["state"].clone()
    };
    let before = state_of(dir2.path());
    let err = sluice_controlplane::backup_restore(dir2.path(), &bad, &key).unwrap_err();
    assert!(err.to_string().contains("zigzag"), "{err}");
    assert_eq!(state_of(dir2.path()), before);
    assert!(
        sluice_controlplane::backup_restore(dir2.path(), &bad, &MasterKey::generate()).is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_snapshot_imported_only_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let seed = sluice_proto::Snapshot {
        version: 0,
        providers: vec![sluice_proto::Provider {
            name: "echo".into(),
            kind: "echo".into(),
            models: vec!["echo-1".into()],
            enabled: true,
            weight: 1,
            priority: 0,
            timeout_ms: 1000,
            endpoints: vec![],
            pace_ms: 0,
            ..Default::default()
        }],
        routes: vec![sluice_proto::Route {
            name: "default".into(),
            strategy: "round_robin".into(),
            retries: 1,
            targets: vec![sluice_proto::Target {
                provider: "echo".into(),
                model: "echo-1".into(),
                weight: 1,
                priority: 0,
            }],
            ..Default::default()
        }],
        client_key_sha256: vec![],
        prefix_rules: vec![],
        ..Default::default()
    };
    let mut opts = common::options(dir.path(), key.clone());
    opts.seed = Some(seed.clone());
    let s = Server::start_with(opts.clone()).await;
    assert_eq!(s.app.store.snapshot().routes[0].name, "default");
    let (c, _) = s.call("DELETE", "/v1/admin/routes/default", None).await;
    assert_eq!(c, 204);
    s.stop().await;
    // Not empty any more (a provider remains): the seed is not re-imported.
    let s = Server::start_with(opts).await;
    assert!(s.app.store.snapshot().routes.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_writes_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    populate(&s).await;
    let version = s.app.store.version();
    let backup = std::fs::read(dir.path().join("backup.json")).unwrap();
    let state = s.app.store.state();
    let mut rx = s.app.store.subscribe();
    rx.borrow_and_update();
    for (method, path, body) in [
        (
            "POST",
            "/v1/admin/providers",
            json!({"name": "x", "endpoints": [{"base_url": "gopher://h"}]}),
        ),
        (
            "POST",
            "/v1/admin/providers",
            json!({"name": "OpenAI", "endpoints": [{"base_url": "http://h"}]}),
        ),
        (
            "POST",
            "/v1/admin/routes",
            json!({"name": "auto", "targets": [{"provider": "OpenAI"}]}),
        ),
        (
            "POST",
            "/v1/admin/routes",
            json!({"name": "empty", "targets": []}),
        ),
        (
            "PATCH",
            "/v1/admin/providers/OpenAI",
            json!({"timeout_ms": 0}),
        ),
        ("DELETE", "/v1/admin/providers/OpenAI", json!(null)),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (c, v) = s.call(method, path, body).await;
        assert!((400..500).contains(&c), "{method} {path}: {c} {v}");
    }
    assert_eq!(s.app.store.version(), version);
    assert_eq!(*s.app.store.state(), *state);
    assert_eq!(
        std::fs::read(dir.path().join("backup.json")).unwrap(),
        backup
    );
    assert!(
        !rx.has_changed().unwrap(),
        "no broadcast for rejected writes"
    );
    s.stop().await;
}
