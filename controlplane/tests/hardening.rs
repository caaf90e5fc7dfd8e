//! Operator-side hardening: token checks at start, fail-closed client auth across the
//! planes, snapshot epochs, the admin API's Content-Type and Host guards, provider keys
//! bound to their endpoint's host, and a connectivity probe that never follows redirects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::time::Duration;

use common::{options, Server, ADMIN_TOKEN, DP_TOKEN, PLAIN_KEY};
use serde_json::{json, Value};
use sluice_controlplane::App;
use sluice_model::AuthMode;
use sluice_model::MasterKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn weak_tokens_and_a_missing_dataplane_token_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let err = |opts| {
        App::open(&opts)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };

    let mut o = options(dir.path(), key.clone());
    o.admin_token = Some(String::new());
    assert!(err(o).contains("SLUICE_ADMIN_TOKEN is set but empty"));
    let mut o = options(dir.path(), key.clone());
    o.admin_token = Some("short".into());
    assert!(err(o).contains("at least 16 bytes"));
    let mut o = options(dir.path(), key.clone());
    o.dataplane_token = Some("fifteen-bytes-x".into());
    assert!(err(o).contains("SLUICE_DATAPLANE_TOKEN"));
    let mut o = options(dir.path(), key.clone());
    o.dataplane_token = None;
    assert!(err(o).contains("SLUICE_DATAPLANE_TOKEN is not set"));
    // --dev allows a missing data-plane token (never an empty one).
    let mut o = options(dir.path(), key.clone());
    o.dataplane_token = None;
    o.dev = true;
    assert!(App::open(&o).is_ok());
}

async fn raw(
    s: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const AUTH: (&str, &str) = ("authorization", "Bearer admin-secret-token");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_last_client_key_keeps_auth_on_with_an_empty_set() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let s = Server::start(dir.path(), key.clone()).await;
    assert_eq!(s.app.store.snapshot().client_auth, "none");
    let (c, k) = s
        .call("POST", "/v1/admin/keys", Some(json!({"name": "a"})))
        .await;
    assert_eq!(c, 201, "{k}");
    let snap = s.app.store.snapshot();
    assert_eq!(snap.client_auth, "keys");
    assert_eq!(snap.keys.len(), 1);
    assert!(
        snap.client_key_sha256.is_empty(),
        "new keys are HMAC digests"
    );
    let id = k["id"].as_u64().unwrap();
    let (c, _) = s
        .call("DELETE", &format!("/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(c, 204);
    let snap = s.app.store.snapshot();
    assert_eq!(snap.client_auth, "keys", "fail closed: no key = nobody");
    assert!(snap.client_key_sha256.is_empty());
    let (_, v) = s.call("GET", "/v1/admin/version", None).await;
    assert_eq!(v["client_auth"], "keys");
    // The data plane's view of that snapshot: keys mode, empty set.
    let cfg = sluice_model::config_from_snapshot(&snap, &sluice_model::ServerSettings::default())
        .unwrap();
    assert_eq!(cfg.server.auth, AuthMode::Keys);
    assert!(cfg.server.client_key_hashes.is_empty());
    let epoch = s.app.store.epoch();
    s.stop().await;

    // Sticky across restarts, epoch kept.
    let s = Server::start(dir.path(), key.clone()).await;
    assert_eq!(s.app.store.snapshot().client_auth, "keys");
    assert_eq!(s.app.store.epoch(), epoch);
    // Restoring the backup keeps auth on and starts a new epoch.
    let (c, v) = s.call("POST", "/api/admin/providers/restore", None).await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(s.app.store.snapshot().client_auth, "keys");
    assert_ne!(s.app.store.epoch(), epoch);
    assert_eq!(s.app.store.snapshot().epoch, *s.app.store.epoch());
    s.stop().await;

    // An explicit operator setting wins.
    let mut o = options(dir.path(), key);
    o.client_auth = Some(AuthMode::None);
    let s = Server::start_with(o).await;
    assert_eq!(s.app.store.snapshot().client_auth, "none");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_epoch_gets_the_snapshot_at_an_equal_version() {
    use sluice_proto::config_service_client::ConfigServiceClient;
    use sluice_proto::{control_plane_message, data_plane_message, DataPlaneMessage, Hello};
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (c, _) = s.call("POST", "/v1/admin/keys", None).await;
    assert_eq!(c, 201);
    let current = s.app.store.version();
    let epoch = s.app.store.epoch().to_string();
    assert_eq!(epoch.len(), 32);
    let open = |last_epoch: String| {
        let grpc = s.grpc;
        async move {
            let mut client = ConfigServiceClient::connect(format!("http://{grpc}"))
                .await
                .unwrap();
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tx.send(DataPlaneMessage {
                msg: Some(data_plane_message::Msg::Hello(Hello {
                    node_id: "n".into(),
                    last_version: current,
                    last_epoch,
                })),
            })
            .await
            .unwrap();
            let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            req.metadata_mut().insert(
                "authorization",
                format!("Bearer {DP_TOKEN}").parse().unwrap(),
            );
            let rx = client.sync(req).await.unwrap().into_inner();
            (tx, rx)
        }
    };
    let (_tx, mut same) = open(epoch.clone()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), same.message())
            .await
            .is_err(),
        "same epoch and version: nothing to send"
    );
    let (_tx2, mut other) = open("an-older-epoch".into()).await;
    let m = tokio::time::timeout(Duration::from_secs(10), other.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(control_plane_message::Msg::Snapshot(snap)) = m.msg else {
        panic!("expected a snapshot")
    };
    assert_eq!(snap.version, current);
    assert_eq!(snap.epoch, epoch);
    assert_eq!(snap.client_auth, "keys");
    drop((same, other));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_json_content_type_in_each_surface_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let body = r#"{"name":"p","base_url":"http://127.0.0.1:9/v1"}"#;
    for (path, check) in [
        ("/api/providers", "detail"),
        ("/api/llm/backends", "error"),
        ("/admin/providers", "error.code"),
        ("/v1/admin/providers", "error.type"),
    ] {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let (c, v) = raw(&s, "POST", path, &[AUTH, ("content-type", ct)], body).await;
            assert_eq!(c, 415, "{path} {ct}: {v}");
            match check {
                "detail" => assert!(v["detail"].is_string(), "{v}"),
                "error" => assert!(v["error"].is_string(), "{v}"),
                "error.code" => assert_eq!(v["error"]["code"], "unsupported_media_type"),
                _ => assert_eq!(v["error"]["type"], "invalid_request_error"),
            }
        }
        // A body without any Content-Type is refused too.
        let (c, _) = raw(&s, "POST", path, &[AUTH], body).await;
        assert_eq!(c, 415, "{path} without a type");
    }
    // Nothing changed.
    assert!(s.app.store.state().providers.is_empty());

    // Bodiless endpoints work without a Content-Type, but not with a form type.
    let (c, v) = s
        .call(
            "POST",
            "/api/llm/backends",
            Some(json!({"backend_id": "b", "adapter": "openai", "configs": [{"api_key": PLAIN_KEY, "base_url": "http://127.0.0.1:9/v1"}], "models": ["m"]})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    let (c, v) = raw(&s, "POST", "/api/llm/backends/b/disable", &[AUTH], "").await;
    assert_eq!(c, 200, "{v}");
    let (c, _) = raw(
        &s,
        "POST",
        "/api/llm/backends/b/enable",
        &[AUTH, ("content-type", "application/x-www-form-urlencoded")],
        "",
    )
    .await;
    assert_eq!(c, 415);
    let (c, _) = raw(&s, "DELETE", "/api/llm/backends/b", &[AUTH], "").await;
    assert_eq!(c, 200);
    // Reads are not affected.
    let (c, _) = raw(
        &s,
        "GET",
        "/api/providers",
        &[AUTH, ("content-type", "text/plain")],
        "",
    )
    .await;
    assert_eq!(c, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenless_admin_api_checks_host_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path(), MasterKey::generate());
    o.admin_token = None;
    o.allowed_hosts = vec!["admin.internal".into()];
    let s = Server::start_with(o).await;
    let port = s.admin.port();
    let (c, _) = raw(&s, "GET", "/api/providers", &[], "").await;
    assert_eq!(c, 200, "127.0.0.1 is allowed");
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "admin.internal".to_string(),
    ] {
        let (c, _) = raw(&s, "GET", "/api/providers", &[("host", &host)], "").await;
        assert_eq!(c, 200, "{host}");
    }
    // DNS rebinding: a hostile name resolving to 127.0.0.1.
    let evil = format!("rebind.evil.example:{port}");
    let (c, v) = raw(&s, "GET", "/api/providers", &[("host", &evil)], "").await;
    assert_eq!(c, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("not allowed"), "{v}");
    let (c, v) = raw(&s, "DELETE", "/admin/providers/1", &[("host", &evil)], "").await;
    assert_eq!(c, 403);
    assert_eq!(v["error"]["code"], "forbidden");
    let (c, _) = raw(&s, "GET", "/metrics", &[("host", &evil)], "").await;
    assert_eq!(c, 403);
    // A page on another site posting to the loopback address.
    let (c, _) = raw(
        &s,
        "POST",
        "/api/admin/providers/restore",
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(c, 403);
    let (c, _) = raw(
        &s,
        "POST",
        "/v1/admin/keys",
        &[("origin", &format!("http://localhost:{port}"))],
        "",
    )
    .await;
    assert_eq!(c, 201);
    // The key's digest secret is sealed under this master key: restart with the same one.
    let key = s.key.clone();
    s.stop().await;

    // With a token, the Host is not restricted (the API may sit behind any name).
    let s = Server::start(dir.path(), key).await;
    let _ = ADMIN_TOKEN;
    let (c, _) = raw(
        &s,
        "GET",
        "/api/providers",
        &[AUTH, ("host", "gw.example.com")],
        "",
    )
    .await;
    assert_ne!(c, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_key_never_moves_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let key_of = |s: &Server, name: &str| {
        s.app
            .store
            .snapshot()
            .providers
            .iter()
            .find(|p| p.name == name)
            .map(|p| {
                p.endpoints
                    .iter()
                    .map(|e| (e.base_url.clone(), e.api_key.clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap()
    };
    const MSG: &str = "api_key is required when base_url changes host";

    // Provider-management API (PATCH base_url).
    let (_, v) = s
        .call("POST", "/api/providers", Some(json!({"name": "p2", "base_url": "https://api.openai.com/v1", "api_key": PLAIN_KEY})))
        .await;
    let id = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/api/providers/{id}"),
            Some(json!({"base_url": "https://attacker.example/v1"})),
        )
        .await;
    assert_eq!(c, 400, "{v}");
    assert!(v.to_string().contains(MSG), "{v}");
    assert_eq!(v["detail"][0]["loc"][1], "api_key");
    for (url, why) in [
        ("http://api.openai.com/v1", "scheme"),
        ("https://api.openai.com:8443/v1", "port"),
    ] {
        let (c, v) = s
            .call(
                "PATCH",
                &format!("/api/providers/{id}"),
                Some(json!({"base_url": url})),
            )
            .await;
        assert_eq!(c, 400, "{why}: {v}");
    }
    // Same origin, another path: the key stays.
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/api/providers/{id}"),
            Some(json!({"base_url": "https://API.openai.com/v2"})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(key_of(&s, "p2")[0].1, PLAIN_KEY);
    // With the key again, the host may change.
    let (c, v) = s
        .call("PATCH", &format!("/api/providers/{id}"), Some(json!({"base_url": "https://other.example/v1", "api_key": "sk-new-key-for-other-host"})))
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(
        key_of(&s, "p2")[0],
        (
            "https://other.example/v1".into(),
            "sk-new-key-for-other-host".into()
        )
    );
    // Sending the mask back is not "the key again".
    let (c, _) = s
        .call(
            "PATCH",
            &format!("/api/providers/{id}"),
            Some(json!({"base_url": "https://third.example/v1", "api_key": "sk-…host"})),
        )
        .await;
    assert_eq!(c, 400);

    // Orchestrator API (PATCH base_url).
    let (c, v) = s
        .call("POST", "/admin/providers", Some(json!({"name": "p1", "type": "openai", "base_url": "https://api.openai.com/v1", "api_key": PLAIN_KEY})))
        .await;
    assert_eq!(c, 201, "{v}");
    let id = v["provider_id"].as_u64().unwrap();
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/admin/providers/{id}"),
            Some(json!({"base_url": "https://attacker.example/v1"})),
        )
        .await;
    assert_eq!(c, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains(MSG), "{v}");

    // LLM-backend API (PUT configs without the key).
    let (c, _) = s
        .call("POST", "/api/llm/backends", Some(json!({"backend_id": "b0", "adapter": "openai", "configs": [{"api_key": PLAIN_KEY, "base_url": "https://api.openai.com/v1"}], "models": ["m"]})))
        .await;
    assert_eq!(c, 200);
    let (c, v) = s
        .call("PUT", "/api/llm/backends/b0", Some(json!({"backend_id": "b0", "adapter": "openai", "configs": [{"base_url": "https://attacker.example/v1"}], "models": ["m"]})))
        .await;
    assert_eq!(c, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains(MSG), "{v}");

    // Canonical API: dropping or reordering endpoints needs their keys again.
    let (c, v) = s
        .call("POST", "/v1/admin/providers", Some(json!({"name": "c", "kind": "openai", "models": ["m"],
            "endpoints": [{"base_url": "https://a.example/v1", "api_key": "sk-key-for-host-a-0001"},
                          {"base_url": "https://b.example/v1", "api_key": "sk-key-for-host-b-0002"}]})))
        .await;
    assert_eq!(c, 201, "{v}");
    for endpoints in [
        json!([{"base_url": "https://b.example/v1"}]),
        json!([{"base_url": "https://b.example/v1"}, {"base_url": "https://a.example/v1"}]),
    ] {
        for method in ["PUT", "PATCH"] {
            let (c, v) = s
                .call(
                    method,
                    "/v1/admin/providers/c",
                    Some(json!({"endpoints": endpoints})),
                )
                .await;
            assert_eq!(c, 400, "{method} {endpoints}: {v}");
            assert_eq!(v["error"]["param"], "endpoints[0].api_key");
        }
    }
    // Dropping the last endpoint keeps the first one's key; nothing else moved.
    let (c, v) = s
        .call(
            "PATCH",
            "/v1/admin/providers/c",
            Some(json!({"endpoints": [{"base_url": "https://a.example/v1"}]})),
        )
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(
        key_of(&s, "c"),
        vec![(
            "https://a.example/v1".into(),
            "sk-key-for-host-a-0001".into()
        )]
    );
    s.stop().await;
}

/// An upstream that answers every request with a redirect to `location`, and one that
/// records the headers of whatever reaches it.
async fn one_shot(
    answer: String,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase());
            let _ = sock.write_all(answer.as_bytes()).await;
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_does_not_follow_redirects_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (other, mut other_rx) = one_shot(
        "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"data\":[]}".into(),
    )
    .await;
    for (kind, header) in [
        ("openai_compatible", "authorization: bearer"),
        ("anthropic", "x-api-key"),
        ("gemini", "x-goog-api-key"),
    ] {
        let (upstream, mut upstream_rx) = one_shot(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{other}/v1/models\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ))
        .await;
        let (c, v) = s
            .call(
                "POST",
                "/api/providers",
                Some(json!({"name": format!("redirecting-{kind}"), "kind": kind,
                "base_url": format!("http://{upstream}/v1"), "api_key": PLAIN_KEY})),
            )
            .await;
        assert!(c == 200 || c == 201, "{v}");
        let id = v["id"].as_u64().unwrap();
        let (c, v) = s
            .call("POST", &format!("/api/providers/{id}/test"), None)
            .await;
        assert_eq!(c, 200, "{v}");
        assert_eq!(v["status_code"], 302, "{v}");
        assert_eq!(v["status"], "offline");
        assert!(v["detail"].as_str().unwrap().contains("redirect"), "{v}");
        // The key went to its own host only.
        let first = upstream_rx.recv().await.unwrap();
        assert!(first.contains(header), "{kind}: {first}");
    }
    // The other port never saw a request, let alone a key (the probe has answered, so
    // a followed redirect would already have arrived).
    if let Ok(req) = other_rx.try_recv() {
        panic!("the redirect was followed: {req}");
    }
    s.stop().await;
}
