//! Every admin surface over real HTTP: CRUD, status codes, error formats, auth.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{Server, PLAIN_KEY};
use serde_json::json;
use sluice_model::MasterKey;

async fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    (dir, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_on_every_surface_in_its_format() {
    let (_d, s) = server().await;
    let (c, v) = s.call_auth("GET", "/api/llm/backends", None, None).await;
    assert_eq!(c, 401);
    assert!(v["error"].is_string(), "{v}");
    let (c, v) = s
        .call_auth("GET", "/admin/providers", None, Some("wrong"))
        .await;
    assert_eq!(c, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    assert!(v["request_id"].is_string() && v["timestamp"].is_string());
    let (c, v) = s.call_auth("GET", "/api/providers", None, None).await;
    assert_eq!(c, 401);
    assert!(v["detail"].is_string(), "{v}");
    let (c, v) = s.call_auth("GET", "/v1/admin/providers", None, None).await;
    assert_eq!(c, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    // X-Admin-Key works too.
    let r = s
        .http
        .get(s.url("/admin/providers"))
        .header("X-Admin-Key", common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Open endpoints.
    let (c, _) = s.call_auth("GET", "/healthz", None, None).await;
    assert_eq!(c, 200);
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("sluice_cp_config_version"));
    assert!(text.contains("sluice_cp_api_requests_total{surface=\"llm_backends\",code=\"4xx\"} 1"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_backends_crud() {
    let (_d, s) = server().await;
    let (c, v) = s.call("GET", "/api/llm/types", None).await;
    assert_eq!(c, 200);
    assert!(v["types"].as_array().unwrap().contains(&json!("anthropic")));
    let body = json!({"backend_id": "openai-gpt4", "adapter": "openai", "enable": true,
        "configs": [{"api_key": PLAIN_KEY, "base_url": "https://api.openai.com/v1"}],
        "models": ["gpt-4", "gpt-4-turbo"]});
    let (c, v) = s
        .call("POST", "/api/llm/backends", Some(body.clone()))
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["backend"]["backend_id"], "openai-gpt4");
    assert_eq!(v["backend"]["configs"][0]["api_key"], "sk-…cdef");
    assert_eq!(v["backend"]["is_available"], false);
    let (c, v) = s
        .call("POST", "/api/llm/backends", Some(body.clone()))
        .await;
    assert_eq!(c, 409);
    assert!(v["error"].as_str().unwrap().contains("already exists"));
    let (c, v) = s
        .call("POST", "/api/llm/backends", Some(json!({"backend_id": "x", "adapter": "nope", "configs": [{"base_url": "http://h"}]})))
        .await;
    assert_eq!(c, 400);
    assert!(v["error"].as_str().unwrap().contains("adapter"), "{v}");
    let (c, v) = s
        .call("POST", "/api/llm/backends", Some(json!({"backend_id": "x", "adapter": "openai", "configs": [{"base_url": "ftp://h"}]})))
        .await;
    assert_eq!(c, 400);
    assert!(
        v["error"].as_str().unwrap().contains("configs[0].base_url"),
        "{v}"
    );
    let (c, v) = s.call("GET", "/api/llm/backends", None).await;
    assert_eq!(c, 200);
    assert_eq!(v["backends"].as_array().unwrap().len(), 1);
    // PUT echoing the masked key keeps the stored key.
    let mut upd = body.clone();
    upd["configs"][0]["api_key"] = json!("sk-…cdef");
    upd["models"] = json!(["gpt-4"]);
    let (c, v) = s
        .call("PUT", "/api/llm/backends/openai-gpt4", Some(upd))
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["backend"]["models"], json!(["gpt-4"]));
    assert_eq!(v["backend"]["configs"][0]["api_key"], "sk-…cdef");
    let snap = s.app.store.snapshot();
    assert_eq!(snap.providers[0].endpoints[0].api_key, PLAIN_KEY);
    let (c, v) = s
        .call("POST", "/api/llm/backends/openai-gpt4/disable", None)
        .await;
    assert_eq!(
        (c, v["message"].as_str()),
        (200, Some("Backend disabled successfully"))
    );
    let (_, v) = s.call("GET", "/api/llm/backends/openai-gpt4", None).await;
    assert_eq!(v["backend"]["enable"], false);
    let (c, v) = s
        .call("POST", "/api/llm/backends/openai-gpt4/enable", None)
        .await;
    assert_eq!(
        (c, v["message"].as_str()),
        (200, Some("Backend enabled successfully"))
    );
    let (c, v) = s.call("GET", "/api/llm/backends/ghost", None).await;
    assert_eq!(c, 404);
    assert!(v["error"].is_string());
    let (c, v) = s
        .call("DELETE", "/api/llm/backends/openai-gpt4", None)
        .await;
    assert_eq!(
        (c, v["message"].as_str()),
        (200, Some("Backend deleted successfully"))
    );
    let (c, _) = s
        .call("DELETE", "/api/llm/backends/openai-gpt4", None)
        .await;
    assert_eq!(c, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_providers_health_stats_logs() {
    let (_d, s) = server().await;
    let body = json!({"name": "openai-primary", "type": "openai", "base_url": "https://api.openai.com/v1",
        "api_key": PLAIN_KEY, "enabled": true, "priority": 100, "weight": 100, "timeout": 60});
    let (c, v) = s.call("POST", "/admin/providers", Some(body.clone())).await;
    assert_eq!(c, 201, "{v}");
    let id = v["provider_id"].as_u64().unwrap();
    assert_eq!(v["timeout"], 60.0);
    assert_eq!(v["api_key"], "sk-…cdef");
    let (c, v) = s.call("POST", "/admin/providers", Some(body)).await;
    assert_eq!(c, 409);
    assert_eq!(v["error"]["code"], "conflict");
    let (c, v) = s
        .call(
            "POST",
            "/admin/providers",
            Some(json!({"name": "b", "type": "openai", "base_url": "nope", "weight": 5})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["code"], "invalid_request");
    assert_eq!(v["error"]["details"]["fields"][0]["field"], "base_url");
    let (c, v) = s
        .call(
            "POST",
            "/admin/providers",
            Some(json!({"name": "b", "type": "openai", "base_url": "http://h", "weight": "x"})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["details"]["fields"][0]["field"], "weight", "{v}");
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/admin/providers/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(c, 200);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["priority"], 100);
    let (c, v) = s
        .call(
            "PATCH",
            "/admin/providers/999",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(c, 404);
    assert_eq!(v["error"]["code"], "not_found");
    let (c, v) = s.call("GET", "/admin/health", None).await;
    assert_eq!(c, 200);
    assert_eq!(v["providers"][0]["provider_id"], id);
    assert_eq!(v["providers"][0]["is_healthy"], false);
    assert_eq!(v["database_status"], "healthy");
    // Usage through the store API (the gRPC test covers ReportUsage).
    let now = sluice_controlplane::clock::now_ms();
    let mk = |status: u32, lat: u64| sluice_controlplane::usage::UsageEntry {
        id: 0,
        node_id: "n".into(),
        unix_ms: now,
        request_id: format!("r{lat}"),
        route: "r".into(),
        provider: "openai-primary".into(),
        model: "gpt-4o".into(),
        status,
        latency_ms: lat,
        ttft_ms: 1,
        prompt_tokens: 10,
        completion_tokens: 5,
        attempts: 1,
        stream: false,
        ..Default::default()
    };
    s.app
        .usage
        .append(
            s.app.store.db(),
            vec![mk(200, 100), mk(200, 200), mk(500, 300)],
        )
        .unwrap();
    let (c, v) = s.call("GET", "/admin/stats?hours=24", None).await;
    assert_eq!(c, 200);
    assert_eq!(v["total_requests"], 3);
    assert_eq!(v["failed_requests"], 1);
    assert_eq!(v["avg_response_time_ms"], 200.0);
    assert_eq!(v["providers"][0]["provider_id"], id);
    assert_eq!(v["providers"][0]["total_tokens"], 45);
    let (c, v) = s.call("GET", "/admin/stats?hours=abc", None).await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["details"]["fields"][0]["field"], "hours");
    let (c, v) = s
        .call(
            "GET",
            "/admin/logs?page=1&page_size=50&status_code=200",
            None,
        )
        .await;
    assert_eq!(c, 200);
    assert_eq!(v["total"], 2);
    assert_eq!(v["logs"][0]["status_code"], 200);
    let (_, v) = s.call("GET", "/admin/logs?page=2&page_size=2", None).await;
    assert_eq!(v["logs"].as_array().unwrap().len(), 1);
    let (c, v) = s
        .call("DELETE", &format!("/admin/providers/{id}"), None)
        .await;
    assert_eq!(c, 200, "{v}");
    let (c, _) = s
        .call("DELETE", &format!("/admin/providers/{id}"), None)
        .await;
    assert_eq!(c, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_management_providers_routes_select_state() {
    let (_d, s) = server().await;
    let (c, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(
                json!({"name": "Example Provider", "base_url": "https://api.example.com/v1",
            "api_key": PLAIN_KEY, "models": ["m1", "m2"], "is_active": true}),
            ),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    assert_eq!(v["name"], "Example Provider");
    assert_eq!(v["kind"], "openai_compatible");
    let p1 = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call("POST", "/api/providers", Some(json!({"name": "Anthropic", "base_url": "https://api.anthropic.com", "api_key": "k-anthropic-123456", "models": ["claude-x"]})))
        .await;
    assert_eq!(c, 201);
    assert_eq!(v["kind"], "anthropic");
    let p2 = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(json!({"name": "x", "base_url": "bad"})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "base_url"]));
    let (c, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(json!({"base_url": "http://h"})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "name"]));
    let (c, v) = s.call("GET", "/api/providers/77", None).await;
    assert_eq!((c, v["detail"].as_str()), (404, Some("Provider not found")));
    let (c, v) = s
        .call(
            "PATCH",
            &format!("/api/providers/{p1}"),
            Some(json!({"models": ["m1", "m2", "m3"]})),
        )
        .await;
    assert_eq!(c, 200);
    assert_eq!(v["models"].as_array().unwrap().len(), 3);

    let route = json!({"name": "llm-auto-route", "mode": "auto", "is_active": true, "config": {},
        "nodes": [{"api_id": p1, "models": [], "strategy": "round-robin", "priority": 0, "metadata": {}},
                  {"api_id": p2, "models": [], "strategy": "round-robin", "priority": 0, "metadata": {}}]});
    let (c, v) = s
        .call("POST", "/api/model-routes", Some(route.clone()))
        .await;
    assert_eq!(c, 201, "{v}");
    let rid = v["id"].as_u64().unwrap();
    assert_eq!(v["nodes"][1]["api_id"], p2);
    assert_eq!(v["strategy"], "round_robin");
    let (c, _) = s.call("POST", "/api/model-routes", Some(route)).await;
    assert_eq!(c, 409);
    let (c, v) = s
        .call(
            "POST",
            "/api/model-routes",
            Some(json!({"name": "bad", "nodes": [{"api_id": 999}]})),
        )
        .await;
    assert_eq!(c, 400, "{v}");
    assert!(v["detail"][0]["msg"].as_str().unwrap().contains("999"));
    let (c, v) = s
        .call(
            "POST",
            "/api/model-routes",
            Some(json!({"name": "bad", "mode": "weird", "nodes": [{"api_id": p1}]})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "mode"]));

    // Round robin alternates and the state persists across calls.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (c, v) = s
            .call("POST", &format!("/api/model-routes/{rid}/select"), None)
            .await;
        assert_eq!(c, 200, "{v}");
        seen.push(v["provider_id"].as_u64().unwrap());
    }
    assert_eq!(seen, vec![p1, p2, p1, p2]);
    let (_, v) = s
        .call("POST", &format!("/api/model-routes/{rid}/select"), None)
        .await;
    assert_eq!(v["model"], "m1");
    assert_eq!(v["provider_name"], "Example Provider");
    let (c, v) = s
        .call("GET", &format!("/api/model-routes/{rid}/state"), None)
        .await;
    assert_eq!(c, 200);
    assert_eq!(v["route_id"], rid);
    assert_eq!(v["route_name"], "llm-auto-route");
    assert_eq!(v["state"]["round_robin_indices"][rid.to_string()], 1);

    // Failover: always the first enabled node; disabling it moves to the next.
    let (c, _) = s
        .call(
            "PATCH",
            &format!("/api/model-routes/{rid}"),
            Some(json!({"nodes": [
            {"api_id": p1, "strategy": "failover"}, {"api_id": p2, "strategy": "failover"}]})),
        )
        .await;
    assert_eq!(c, 200);
    for _ in 0..2 {
        let (_, v) = s
            .call("POST", &format!("/api/model-routes/{rid}/select"), None)
            .await;
        assert_eq!(v["provider_id"], p1);
    }
    s.call(
        "PATCH",
        &format!("/api/providers/{p1}"),
        Some(json!({"is_active": false})),
    )
    .await;
    let (_, v) = s
        .call("POST", &format!("/api/model-routes/{rid}/select"), None)
        .await;
    assert_eq!(v["provider_id"], p2);

    // Specific mode with a model hint.
    let (c, v) = s
        .call("POST", "/api/model-routes", Some(json!({"name": "spec", "mode": "specific",
            "nodes": [{"api_id": p1, "models": ["m1", "m3"]}, {"api_id": p2, "models": ["claude-x"]}]})))
        .await;
    assert_eq!(c, 201, "{v}");
    let sid = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call(
            "POST",
            &format!("/api/model-routes/{sid}/select"),
            Some(json!({"model": "claude-x"})),
        )
        .await;
    assert_eq!(c, 200);
    assert_eq!(
        (v["provider_id"].as_u64(), v["model"].as_str()),
        (Some(p2), Some("claude-x"))
    );

    // A provider in use cannot be deleted.
    let (c, v) = s
        .call("DELETE", &format!("/api/providers/{p2}"), None)
        .await;
    assert_eq!(c, 409);
    assert!(
        v["detail"].as_str().unwrap().contains("llm-auto-route"),
        "{v}"
    );
    let (c, _) = s
        .call("DELETE", &format!("/api/model-routes/{sid}"), None)
        .await;
    assert_eq!(c, 204);
    let (c, _) = s
        .call("DELETE", &format!("/api/model-routes/{rid}"), None)
        .await;
    assert_eq!(c, 204);
    let (c, _) = s
        .call("DELETE", &format!("/api/providers/{p2}"), None)
        .await;
    assert_eq!(c, 204);
    let (c, _) = s
        .call("GET", &format!("/api/model-routes/{rid}"), None)
        .await;
    assert_eq!(c, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_management_connectivity_test_hits_the_upstream() {
    let (_d, s) = server().await;
    // A one-shot upstream that answers /models and records the request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        sock.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"data\":[]}",
        )
        .await
        .unwrap();
        req
    });
    let (_, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(json!({"name": "local", "kind": "openai_compatible",
            "base_url": format!("http://{addr}/v1"), "api_key": PLAIN_KEY})),
        )
        .await;
    let id = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call("POST", &format!("/api/providers/{id}/test"), None)
        .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["status"], "online");
    assert_eq!(v["status_code"], 200);
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0);
    let req = upstream.await.unwrap();
    assert!(req.starts_with("GET /v1/models"), "{req}");
    assert!(req
        .to_ascii_lowercase()
        .contains(&format!("authorization: bearer {PLAIN_KEY}").to_ascii_lowercase()));
    // Nothing listening: offline with a detail.
    let (_, v) = s
        .call(
            "POST",
            "/api/providers",
            Some(json!({"name": "dead", "base_url": "http://127.0.0.1:9/v1"})),
        )
        .await;
    let id = v["id"].as_u64().unwrap();
    let (c, v) = s
        .call("POST", &format!("/api/providers/{id}/test"), None)
        .await;
    assert_eq!(c, 200);
    assert_eq!(v["status"], "offline");
    assert!(v["detail"].is_string());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_api_and_openapi() {
    let (_d, s) = server().await;
    let (c, v) = s
        .call("POST", "/v1/admin/providers", Some(json!({"name": "oa", "kind": "openai", "models": ["gpt-4o"],
            "endpoints": [{"base_url": "https://api.openai.com/v1", "api_key": PLAIN_KEY},
                          {"base_url": "https://eu.api.openai.com/v1", "api_key": "sk-second-key-9876"}]})))
        .await;
    assert_eq!(c, 201, "{v}");
    assert_eq!(v["endpoints"][1]["api_key"], "sk-…9876");
    let (c, v) = s
        .call(
            "POST",
            "/v1/admin/providers",
            Some(
                json!({"name": "bad", "endpoints": [{"base_url": "http://h"}], "weight": 2000000}),
            ),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["param"], "weight");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let (c, v) = s
        .call(
            "POST",
            "/v1/admin/providers",
            Some(json!({"name": "x", "bogus": 1})),
        )
        .await;
    assert_eq!(c, 400, "{v}");
    let (c, v) = s
        .call(
            "POST",
            "/v1/admin/routes",
            Some(json!({"name": "chat", "strategy": "weighted",
            "targets": [{"provider": "oa", "model": "gpt-4o", "weight": 3}]})),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    assert_eq!(v["targets"][0]["provider"], "oa");
    let (c, v) = s
        .call(
            "POST",
            "/v1/admin/routes",
            Some(json!({"name": "r2", "strategy": "zigzag", "targets": [{"provider": "oa"}]})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["param"], "strategy");
    let (c, v) = s
        .call(
            "POST",
            "/v1/admin/routes",
            Some(json!({"name": "r2", "targets": [{"provider": "ghost"}]})),
        )
        .await;
    assert_eq!(c, 400);
    assert_eq!(v["error"]["param"], "targets[0].provider");
    let (c, v) = s.call("DELETE", "/v1/admin/providers/oa", None).await;
    assert_eq!(c, 409);
    assert!(v["error"]["message"].as_str().unwrap().contains("`chat`"));
    let (c, v) = s
        .call(
            "PATCH",
            "/v1/admin/routes/chat",
            Some(json!({"retries": 3})),
        )
        .await;
    assert_eq!((c, v["retries"].as_u64()), (200, Some(3)));
    let (c, v) = s.call("GET", "/v1/admin/routes/nope", None).await;
    assert_eq!(c, 404);
    assert_eq!(v["error"]["code"], "not_found");

    let (c, v) = s
        .call("POST", "/v1/admin/keys", Some(json!({"name": "team-a"})))
        .await;
    assert_eq!(c, 201);
    let plain = v["key"].as_str().unwrap().to_string();
    assert!(plain.starts_with("sk-sluice-"));
    let kid = v["id"].as_u64().unwrap();
    let (_, v) = s.call("GET", "/v1/admin/keys", None).await;
    assert!(v["keys"][0]["key"].is_null());
    assert!(!v.to_string().contains(&plain));
    let snap = s.app.store.snapshot();
    assert_eq!(snap.keys.len(), 1);
    assert!(snap.client_key_sha256.is_empty());
    let (c, _) = s
        .call("DELETE", &format!("/v1/admin/keys/{kid}"), None)
        .await;
    assert_eq!(c, 204);

    let (c, v) = s.call("GET", "/v1/admin/version", None).await;
    assert_eq!(c, 200);
    assert_eq!(v["version"], s.app.store.version());
    let (c, v) = s.call("GET", "/v1/admin/dataplanes", None).await;
    assert_eq!(c, 200);
    assert!(v["dataplanes"].as_array().unwrap().is_empty());

    let r = s.http.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/admin/providers",
        "/v1/admin/providers/{id}",
        "/v1/admin/routes",
        "/v1/admin/routes/{id}",
        "/v1/admin/keys",
        "/v1/admin/keys/{id}",
        "/v1/admin/dataplanes",
        "/v1/admin/version",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from openapi.json");
    }
    // Every $ref resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/").skip(1) {
        let path = &part[..part.find('"').unwrap()];
        let mut node = &doc["components"];
        for seg in path.split('/') {
            node = &node[seg];
        }
        assert!(node.is_object(), "dangling $ref {path}");
    }
    s.stop().await;
}
