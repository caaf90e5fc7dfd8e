//! Governance on the control plane, over real HTTP and gRPC: teams and keys (secret shown
//! once, HMAC digests, rotation overlap, revocation), validation naming fields, the digest
//! secret across restarts and backups, the spend ledger's budget marks pushed to data
//! planes, `/admin/stats` cost, price overrides, and limits on providers and routes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{Server, DP_TOKEN};
use serde_json::{json, Value};
use sluice_controlplane::clock::now_ms;
use sluice_model::MasterKey;
use sluice_proto::config_service_client::ConfigServiceClient;
use sluice_proto::{
    control_plane_message, data_plane_message, DataPlaneMessage, Hello, Snapshot, UsageBatch,
    UsageRecord,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_hex(secret: &[u8], key: &str) -> String {
    let secret: [u8; 32] = secret.try_into().expect("32-byte digest secret");
    hex(&sluice_model::key_digest(&secret, key))
}

fn sha256_hex(key: &str) -> String {
    hex(&sluice_model::client_key_hash(key))
}

async fn create_team(s: &Server, body: Value) -> Value {
    let (c, v) = s.call("POST", "/v1/admin/teams", Some(body)).await;
    assert_eq!(c, 201, "{v}");
    v
}

async fn create_key(s: &Server, body: Value) -> Value {
    let (c, v) = s.call("POST", "/v1/admin/keys", Some(body)).await;
    assert_eq!(c, 201, "{v}");
    v
}

/// Asserts a 400 whose `error.param` is `field`.
async fn rejects(s: &Server, method: &str, path: &str, body: Value, field: &str) {
    let (c, v) = s.call(method, path, Some(body.clone())).await;
    assert_eq!(c, 400, "{body} → {v}");
    assert_eq!(v["error"]["param"], field, "{body} → {v}");
}

async fn report(s: &Server, records: Vec<UsageRecord>) {
    let mut client = ConfigServiceClient::connect(format!("http://{}", s.grpc))
        .await
        .unwrap();
    let n = records.len() as u32;
    let mut req = tonic::Request::new(UsageBatch {
        node_id: "dp".into(),
        records,
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {DP_TOKEN}").parse().unwrap(),
    );
    let ack = client.report_usage(req).await.unwrap().into_inner();
    assert_eq!(ack.accepted, n);
}

fn usage(provider: &str, key_id: &str, team: &str, cost_nanousd: u64) -> UsageRecord {
    UsageRecord {
        unix_ms: now_ms(),
        request_id: format!("req-{cost_nanousd}"),
        route: "r".into(),
        provider: provider.into(),
        model: "m".into(),
        status: 200,
        latency_ms: 10,
        prompt_tokens: 100,
        completion_tokens: 20,
        attempts: 1,
        key_id: key_id.into(),
        team: team.into(),
        user: "alice".into(),
        cache_read_tokens: 10,
        reasoning_tokens: 5,
        cost_nanousd,
        surface: "openai".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_and_keys_crud_with_the_secret_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let team = create_team(
        &s,
        json!({"name": "ml", "allowed_models": ["gpt-4o-mini"],
               "limits": {"rpm": 600, "tpm": 100000, "tpm_counts": "input", "max_concurrent": 8},
               "budget": {"limit_usd": 50.0, "soft_limit_usd": 40.0, "window": "month"},
               "metadata": {"cost_center": "42"}}),
    )
    .await;
    assert_eq!(team["name"], "ml");
    assert_eq!(team["enabled"], true);
    assert_eq!(team["limits"]["rpm"], 600);
    assert_eq!(team["limits"]["tpm_counts"], "input");
    assert_eq!(team["budget"]["limit_usd"], 50.0);
    assert_eq!(team["budget"]["soft_limit_usd"], 40.0);
    assert_eq!(team["budget_status"]["spent_usd"], 0.0);
    assert_eq!(team["budget_status"]["soft_alert"], false);
    assert_eq!(team["metadata"]["cost_center"], "42");
    let (c, _) = s
        .call("POST", "/v1/admin/teams", Some(json!({"name": "ml"})))
        .await;
    assert_eq!(c, 409);

    let expires = "2099-01-01T00:00:00Z";
    let created = create_key(
        &s,
        json!({"name": "alice-key", "team": "ml", "user": "alice",
               "allowed_models": ["gpt-4o-mini"], "limits": {"rpm": 60},
               "budget": {"limit_usd": 0.01, "window": "day"},
               "expires_at": expires, "metadata": {"ticket": "OPS-1"}}),
    )
    .await;
    let plain = created["key"].as_str().unwrap().to_string();
    assert!(plain.starts_with("sk-sluice-"), "{created}");
    let id = created["id"].as_u64().unwrap();
    assert_eq!(created["team"], "ml");
    assert_eq!(created["user"], "alice");
    assert_eq!(created["status"], "active");
    assert_eq!(created["expires_at"], expires);
    assert_eq!(created["legacy"], false);
    assert!(created["sha256"].is_null());
    assert_eq!(created["budget"]["window"], "day");

    // Never again: not in reads, not at rest.
    let (c, one) = s.call("GET", &format!("/v1/admin/keys/{id}"), None).await;
    assert_eq!(c, 200);
    assert!(one.get("key").is_none(), "{one}");
    assert_eq!(one["masked"], created["masked"]);
    let (_, list) = s.call("GET", "/v1/admin/keys", None).await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    for body in [one.to_string(), list.to_string()] {
        assert!(!body.contains(&plain));
    }
    assert!(common::found_in_dir(dir.path(), plain.as_bytes()).is_empty());
    let (_, team) = s.call("GET", "/v1/admin/teams/ml", None).await;
    assert_eq!(team["keys"], 1);

    // PATCH changes what it names; null clears.
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/v1/admin/keys/{id}"),
            Some(json!({"user": "bob", "budget": null, "limits": {"tpm": 1000}})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["user"], "bob");
    assert_eq!(v["team"], "ml");
    assert!(v["budget"].is_null());
    assert_eq!(v["limits"]["tpm"], 1000);
    assert!(v["limits"].get("rpm").is_none());

    // A team with keys cannot go.
    let (c, v) = s.call("DELETE", "/v1/admin/teams/ml", None).await;
    assert_eq!(c, 409, "{v}");
    // PUT replaces a team.
    let (c, v) = s
        .call("PUT", "/v1/admin/teams/ml", Some(json!({"enabled": false})))
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["enabled"], false);
    assert!(v["budget"].is_null());
    let (c, _) = s
        .call("DELETE", &format!("/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(c, 204);
    let (c, _) = s.call("DELETE", "/v1/admin/teams/ml", None).await;
    assert_eq!(c, 204);
    let (c, _) = s.call("GET", "/v1/admin/teams/ml", None).await;
    assert_eq!(c, 404);
    let (_, v) = s.call("GET", "/v1/admin/version", None).await;
    assert_eq!(v["teams"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    create_team(&s, json!({"name": "ml"})).await;
    let keys = "/v1/admin/keys";
    rejects(&s, "POST", keys, json!({"team": "nope"}), "team").await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"limits": {"rpm": 0}}),
        "limits.rpm",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"limits": {"rpm": -1}}),
        "limits.rpm",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"limits": {"tpm_counts": "both"}}),
        "limits.tpm_counts",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"limits": {"burst": 1}}),
        "limits.burst",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"budget": {"limit_usd": 1.0, "soft_limit_usd": 2.0}}),
        "budget.soft_limit_usd",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"budget": {"limit_usd": 0.0}}),
        "budget.limit_usd",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"budget": {"limit_usd": 1.0, "window": "week"}}),
        "budget.window",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"expires_at": "2001-01-01T00:00:00Z"}),
        "expires_at",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"expires_at": "tomorrow"}),
        "expires_at",
    )
    .await;
    let many: Vec<String> = (0..1001).map(|i| format!("m{i}")).collect();
    rejects(
        &s,
        "POST",
        keys,
        json!({"allowed_models": many}),
        "allowed_models",
    )
    .await;
    rejects(
        &s,
        "POST",
        keys,
        json!({"metadata": {"x": "y".repeat(17 * 1024)}}),
        "metadata",
    )
    .await;
    rejects(&s, "POST", keys, json!({"metadata": [1]}), "metadata").await;
    rejects(&s, "POST", keys, json!({"name": ""}), "name").await;
    rejects(
        &s,
        "POST",
        "/v1/admin/teams",
        json!({"name": "a b"}),
        "name",
    )
    .await;
    rejects(
        &s,
        "POST",
        "/v1/admin/teams",
        json!({"name": "t", "budget": {"limit_usd": -1.0}}),
        "budget.limit_usd",
    )
    .await;
    rejects(
        &s,
        "PUT",
        "/v1/admin/teams/ml",
        json!({"name": "other"}),
        "name",
    )
    .await;
    rejects(
        &s,
        "PUT",
        "/v1/admin/prices/gpt-x",
        json!({"input": -1.0, "output": 1.0}),
        "input",
    )
    .await;
    rejects(
        &s,
        "PUT",
        "/v1/admin/prices/gpt-x",
        json!({"output": 1.0}),
        "input",
    )
    .await;
    rejects(
        &s,
        "POST",
        "/v1/admin/providers",
        json!({"name": "p", "kind": "echo", "limits": {"max_concurrent": 0}}),
        "limits.max_concurrent",
    )
    .await;
    let (_, k) = s.call("POST", keys, None).await;
    let id = k["id"].as_u64().unwrap();
    rejects(
        &s,
        "POST",
        &format!("/v1/admin/keys/{id}/rotate"),
        json!({"overlap_seconds": 99_999_999}),
        "overlap_seconds",
    )
    .await;
    // Nothing was created by the refusals.
    let (_, v) = s.call("GET", keys, None).await;
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_carries_hmac_digests_rotation_overlap_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    create_team(&s, json!({"name": "ml", "limits": {"rpm": 10}})).await;
    let created = create_key(&s, json!({"team": "ml", "user": "u", "limits": {"rpm": 5}})).await;
    let id = created["id"].as_u64().unwrap();
    let plain = created["key"].as_str().unwrap().to_string();
    let snap = s.app.store.snapshot();
    assert_eq!(snap.client_auth, "keys");
    assert_eq!(snap.key_digest_secret.len(), 32);
    assert!(snap.client_key_sha256.is_empty());
    let k = &snap.keys[0];
    assert_eq!(k.id, id.to_string());
    assert_eq!(k.team, "ml");
    assert_eq!(k.user, "u");
    assert!(k.enabled);
    assert_eq!(k.limits.as_ref().unwrap().rpm, 5);
    assert_eq!(k.digests.len(), 1);
    assert_eq!(
        k.digests[0].digest,
        hmac_hex(&snap.key_digest_secret, &plain)
    );
    assert_ne!(k.digests[0].digest, sha256_hex(&plain), "not bare SHA-256");
    assert_eq!(snap.teams[0].name, "ml");
    assert_eq!(snap.teams[0].limits.as_ref().unwrap().rpm, 10);

    // Rotation: both digests, the old one with the end of its overlap.
    let before = now_ms();
    let (c, rotated) = s
        .call(
            "POST",
            &format!("/v1/admin/keys/{id}/rotate"),
            Some(json!({"overlap_seconds": 600})),
        )
        .await;
    assert_eq!(c, 200, "{rotated}");
    let new_plain = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_plain, plain);
    assert_eq!(rotated["id"], id);
    assert!(rotated["previous_key_expires_at"].is_string(), "{rotated}");
    let snap = s.app.store.snapshot();
    let k = &snap.keys[0];
    assert_eq!(k.digests.len(), 2, "{k:?}");
    assert_eq!(
        k.digests[0].digest,
        hmac_hex(&snap.key_digest_secret, &new_plain)
    );
    assert_eq!(k.digests[0].expires_at_ms, 0);
    assert_eq!(
        k.digests[1].digest,
        hmac_hex(&snap.key_digest_secret, &plain)
    );
    let end = k.digests[1].expires_at_ms;
    assert!(
        end >= before + 600_000 && end <= now_ms() + 600_000,
        "{end}"
    );
    // No overlap: the old digest is gone at once.
    let (_, again) = s
        .call(
            "POST",
            &format!("/v1/admin/keys/{id}/rotate"),
            Some(json!({"overlap_seconds": 0})),
        )
        .await;
    assert_eq!(s.app.store.snapshot().keys[0].digests.len(), 1);
    assert!(!again["key"].as_str().unwrap().is_empty());

    // Revocation: pushed as enabled=false, listed as revoked, cannot come back.
    let v = s.app.store.version();
    let (c, r) = s
        .call("POST", &format!("/v1/admin/keys/{id}/revoke"), None)
        .await;
    assert_eq!(c, 200, "{r}");
    assert_eq!(r["status"], "revoked");
    assert!(r["revoked_at"].is_string());
    assert!(s.app.store.version() > v);
    assert!(!s.app.store.snapshot().keys[0].enabled);
    let (c, _) = s
        .call(
            "PATCH",
            &format!("/v1/admin/keys/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(c, 409);
    // Expiry is carried too.
    let k2 = create_key(&s, json!({"expires_at": "2099-06-01T12:00:00Z"})).await;
    let snap = s.app.store.snapshot();
    let k2 = snap
        .keys
        .iter()
        .find(|k| k.id == k2["id"].as_u64().unwrap().to_string())
        .unwrap();
    assert_eq!(k2.expires_at_ms, 4_083_998_400_000);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_secret_survives_restart_and_backup_restore() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let s = Server::start(dir.path(), key.clone()).await;
    let created = create_key(&s, json!({"name": "k"})).await;
    let plain = created["key"].as_str().unwrap().to_string();
    let secret = s.app.store.snapshot().key_digest_secret.clone();
    s.stop().await;
    // The secret is sealed at rest.
    assert!(common::found_in_dir(dir.path(), &secret).is_empty());

    let s = Server::start(dir.path(), key.clone()).await;
    let snap = s.app.store.snapshot();
    assert_eq!(snap.key_digest_secret, secret);
    assert_eq!(snap.keys[0].digests[0].digest, hmac_hex(&secret, &plain));
    s.stop().await;

    let out = dir.path().join("export.json");
    sluice_controlplane::backup_export(dir.path(), &out, &key).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("key_digest_secret_sealed"));
    let dir2 = tempfile::tempdir().unwrap();
    sluice_controlplane::backup_restore(dir2.path(), &out, &key).unwrap();
    let s2 = Server::start(dir2.path(), key.clone()).await;
    let snap = s2.app.store.snapshot();
    assert_eq!(snap.key_digest_secret, secret);
    assert_eq!(snap.keys[0].digests[0].digest, hmac_hex(&secret, &plain));
    s2.stop().await;
    // Another master key cannot open it.
    let dir3 = tempfile::tempdir().unwrap();
    assert!(
        sluice_controlplane::backup_restore(dir3.path(), &out, &MasterKey::generate()).is_err()
    );
}

struct Node {
    _tx: mpsc::Sender<DataPlaneMessage>,
    rx: tonic::Streaming<sluice_proto::ControlPlaneMessage>,
}

async fn connect(s: &Server) -> Node {
    let mut client = ConfigServiceClient::connect(format!("http://{}", s.grpc))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(DataPlaneMessage {
        msg: Some(data_plane_message::Msg::Hello(Hello {
            node_id: "dp-1".into(),
            last_version: 0,
            last_epoch: String::new(),
        })),
    })
    .await
    .unwrap();
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {DP_TOKEN}").parse().unwrap(),
    );
    let resp = client.sync(req).await.unwrap();
    Node {
        _tx: tx,
        rx: resp.into_inner(),
    }
}

/// The next snapshot pushed with a version of at least `min`.
async fn snapshot_at_least(node: &mut Node, min: u64) -> Snapshot {
    loop {
        let m = tokio::time::timeout(common::PATIENCE, node.rx.message())
            .await
            .expect("a snapshot within the bounded wait")
            .unwrap()
            .expect("stream open");
        if let Some(control_plane_message::Msg::Snapshot(snap)) = m.msg {
            if snap.version >= min {
                return snap;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_crossing_sets_budget_marks_and_pushes_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    create_team(
        &s,
        json!({"name": "ml", "budget": {"limit_usd": 1.0, "soft_limit_usd": 0.008, "window": "month"}}),
    )
    .await;
    let k = create_key(
        &s,
        json!({"team": "ml", "budget": {"limit_usd": 0.01, "soft_limit_usd": 0.005, "window": "day"}}),
    )
    .await;
    let id = k["id"].as_u64().unwrap().to_string();
    let mut node = connect(&s).await;
    let v0 = s.app.store.version();
    let first = snapshot_at_least(&mut node, v0).await;
    assert_eq!(first.keys[0].budget.as_ref().unwrap().exhausted_until_ms, 0);

    // Below every threshold: counted, but no new snapshot.
    report(&s, vec![usage("p", &id, "ml", 3_000_000)]).await;
    assert_eq!(s.app.store.version(), v0);
    let (_, v) = s.call("GET", &format!("/v1/admin/keys/{id}"), None).await;
    assert_eq!(v["budget_status"]["spent_usd"], 0.003);
    assert_eq!(v["budget_status"]["soft_alert"], false);

    // Soft thresholds of key (0.005) and team (0.008) crossed in one batch: one write.
    report(
        &s,
        vec![
            usage("p", &id, "ml", 3_000_000),
            usage("p", &id, "ml", 3_000_000),
        ],
    )
    .await;
    assert_eq!(s.app.store.version(), v0 + 1);
    let snap = snapshot_at_least(&mut node, v0 + 1).await;
    let b = snap.keys[0].budget.as_ref().unwrap();
    assert_eq!(b.spent_nanousd, 9_000_000);
    assert_eq!(b.exhausted_until_ms, 0);
    assert_eq!(b.window, "day");
    assert_eq!(
        b.window_start_ms,
        sluice_model::BudgetWindow::Day.start_ms(now_ms())
    );
    let marks = &s.app.store.state().budget_marks;
    assert!(marks[&format!("key:{id}")].soft_alerted);
    assert!(marks["team:ml"].soft_alerted);
    let (_, v) = s.call("GET", &format!("/v1/admin/keys/{id}"), None).await;
    assert_eq!(v["budget_status"]["soft_alert"], true);
    assert_eq!(v["budget_status"]["exhausted"], false);
    let (_, t) = s.call("GET", "/v1/admin/teams/ml", None).await;
    assert_eq!(t["budget_status"]["soft_alert"], true);
    assert_eq!(t["budget_status"]["spent_usd"], 0.009);
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sluice_cp_budgets_soft_alert{scope=\"key\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_cp_budgets_soft_alert{scope=\"team\"} 1"),
        "{metrics}"
    );

    // The hard limit: exhausted until the end of the day, pushed.
    report(&s, vec![usage("p", &id, "ml", 2_000_000)]).await;
    let snap = snapshot_at_least(&mut node, v0 + 2).await;
    let b = snap.keys[0].budget.as_ref().unwrap();
    assert_eq!(
        b.exhausted_until_ms,
        sluice_model::BudgetWindow::Day.end_ms(now_ms()).unwrap()
    );
    assert_eq!(b.spent_nanousd, 11_000_000);
    assert_eq!(snap.teams[0].budget.as_ref().unwrap().exhausted_until_ms, 0);
    let (_, v) = s.call("GET", &format!("/v1/admin/keys/{id}"), None).await;
    assert_eq!(v["budget_status"]["exhausted"], true);
    assert_eq!(v["budget_status"]["spent_usd"], 0.011);

    // Raising the budget lifts the stop at once.
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/v1/admin/keys/{id}"),
            Some(json!({"budget": {"limit_usd": 1.0, "window": "day"}})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["budget_status"]["exhausted"], false);
    let snap = snapshot_at_least(&mut node, s.app.store.version()).await;
    assert_eq!(snap.keys[0].budget.as_ref().unwrap().exhausted_until_ms, 0);
    assert!(!s
        .app
        .store
        .state()
        .budget_marks
        .contains_key(&format!("key:{id}")));

    // The ledger and marks are durable.
    let key = s.key.clone();
    s.stop().await;
    let s = Server::start(dir.path(), key).await;
    assert!(s.app.store.state().budget_marks["team:ml"].soft_alerted);
    let (_, v) = s.call("GET", &format!("/v1/admin/keys/{id}"), None).await;
    assert_eq!(v["budget_status"]["spent_usd"], 0.011);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_total_cost_is_the_sum_of_reported_costs() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    report(
        &s,
        vec![
            usage("openai", "", "", 1_234_567),
            usage("openai", "", "", 2_000_000),
            usage("anthropic", "", "", 500_000_000),
        ],
    )
    .await;
    let (c, v) = s.call("GET", "/admin/stats?hours=1", None).await;
    assert_eq!(c, 200, "{v}");
    let close = |a: &Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-12;
    assert!(close(&v["total_cost"], 0.503_234_567), "{v}");
    let providers = v["providers"].as_array().unwrap();
    let by = |name: &str| {
        providers
            .iter()
            .find(|p| p["provider_name"] == name)
            .unwrap()
            .clone()
    };
    assert!(close(&by("openai")["total_cost"], 0.003_234_567), "{v}");
    assert!(close(&by("anthropic")["total_cost"], 0.5), "{v}");
    let (_, logs) = s.call("GET", "/admin/logs", None).await;
    assert!(close(&logs["logs"][0]["cost"], 0.5), "{logs}");
    assert_eq!(logs["logs"][0]["user"], "alice");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_overrides_crud_reach_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (c, v) = s
        .call(
            "PUT",
            "/v1/admin/prices/my-model*",
            Some(json!({"input": 1.5, "output": 6.0, "cache_read": 0.15, "per_request": 0.001})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["model"], "my-model*");
    assert_eq!(v["source"], "override");
    assert!(v["reasoning"].is_null());
    let snap = s.app.store.snapshot();
    assert_eq!(snap.prices.len(), 1);
    assert_eq!(snap.prices[0].model, "my-model*");
    assert_eq!(snap.prices[0].cache_read, Some(0.15));
    assert_eq!(snap.prices[0].cache_write, None);
    rejects(
        &s,
        "PUT",
        "/v1/admin/prices/a*b",
        json!({"input": 1.0, "output": 1.0}),
        "model",
    )
    .await;
    let (c, _) = s.call("DELETE", "/v1/admin/prices/my-model*", None).await;
    assert_eq!(c, 204);
    assert!(s.app.store.snapshot().prices.is_empty());
    let (c, _) = s.call("DELETE", "/v1/admin/prices/my-model*", None).await;
    assert_eq!(c, 404);
    s.stop().await;
}

/// Needs the model's shipped price table (`PriceTable::defaults`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effective_price_table_lists_defaults_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (c, _) = s
        .call(
            "PUT",
            "/v1/admin/prices/gpt-4o-mini",
            Some(json!({"input": 9.0, "output": 9.0})),
        )
        .await;
    assert_eq!(c, 200);
    let (c, v) = s.call("GET", "/v1/admin/prices", None).await;
    assert_eq!(c, 200, "{v}");
    let prices = v["prices"].as_array().unwrap();
    assert!(prices.iter().any(|p| p["source"] == "default"), "{v}");
    let mini: Vec<&Value> = prices
        .iter()
        .filter(|p| p["model"] == "gpt-4o-mini")
        .collect();
    assert_eq!(mini.len(), 1, "{v}");
    assert_eq!(mini[0]["source"], "override");
    assert_eq!(mini[0]["input"], 9.0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_routes_carry_limits_to_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (c, p) = s
        .call(
            "POST",
            "/v1/admin/providers",
            Some(json!({"name": "p", "kind": "echo", "models": ["m"],
                        "limits": {"rpm": 100, "tpm": 5000}})),
        )
        .await;
    assert_eq!(c, 201, "{p}");
    assert_eq!(p["limits"]["rpm"], 100);
    assert_eq!(p["limits"]["tpm_counts"], "total");
    let (c, r) = s
        .call(
            "POST",
            "/v1/admin/routes",
            Some(json!({"name": "r", "targets": [{"provider": "p"}],
                        "limits": {"max_concurrent": 3}})),
        )
        .await;
    assert_eq!(c, 201, "{r}");
    let snap = s.app.store.snapshot();
    let pl = snap.providers[0].limits.as_ref().unwrap();
    assert_eq!((pl.rpm, pl.tpm, pl.max_concurrent), (100, 5000, 0));
    assert_eq!(snap.routes[0].limits.as_ref().unwrap().max_concurrent, 3);
    // PATCH without limits keeps them; `{}` removes them.
    let (_, p) = s
        .call("PATCH", "/v1/admin/providers/p", Some(json!({"weight": 2})))
        .await;
    assert_eq!(p["limits"]["rpm"], 100);
    let (_, p) = s
        .call(
            "PATCH",
            "/v1/admin/providers/p",
            Some(json!({"limits": {}})),
        )
        .await;
    assert!(p["limits"].is_null(), "{p}");
    assert!(s.app.store.snapshot().providers[0].limits.is_none());
    // Other surfaces leave limits alone.
    let (c, _) = s
        .call("PATCH", "/v1/admin/routes/r", Some(json!({"retries": 1})))
        .await;
    assert_eq!(c, 200);
    assert_eq!(
        s.app.store.snapshot().routes[0]
            .limits
            .as_ref()
            .unwrap()
            .max_concurrent,
        3
    );
    s.stop().await;
}
