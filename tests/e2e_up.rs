//! `sluice up` end to end: a provider and a route created through each seed's admin API are
//! served on /v1/chat/completions, survive a restart of both planes, and no plaintext API key
//! reaches the disk.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const ADMIN: &str = "test-admin-token";

struct Up {
    proc: Listening,
    port: u16,
    admin: u16,
}

/// Starts `sluice up` with its proxy on `listen_host` and waits until both planes answer.
fn start_up(data_dir: &std::path::Path, listen_host: &str) -> Up {
    let proc = spawn_listening("sluice up", 4, Echo::Forward, |ports| {
        let mut cmd = Command::new(bin("sluice"));
        cmd.args(["up", "--data-dir"])
            .arg(data_dir)
            .args([
                "--listen",
                &format!("{listen_host}:{}", ports[0]),
                "--ops-listen",
                &format!("127.0.0.1:{}", ports[1]),
                "--admin-listen",
                &format!("127.0.0.1:{}", ports[2]),
                "--grpc-listen",
                &format!("127.0.0.1:{}", ports[3]),
            ])
            .env("SLUICE_ADMIN_TOKEN", ADMIN)
            .env_remove("SLUICE_DATAPLANE_TOKEN")
            .env_remove("SLUICE_CLIENT_AUTH")
            .env_remove("SLUICE_MASTER_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    });
    let (port, ops, admin) = (proc.ports[0], proc.ports[1], proc.ports[2]);
    wait_until(
        || {
            ready(ops)
                && curl(
                    &[
                        "-s",
                        "--max-time",
                        "1",
                        &format!("http://127.0.0.1:{admin}/healthz"),
                    ],
                    None,
                )
                .status
                    == 200
        },
        "sluice up readiness",
    );
    Up { proc, port, admin }
}

impl Up {
    fn admin(&self, method: &str, path: &str, body: Value) -> Resp {
        let url = format!("http://127.0.0.1:{}{path}", self.admin);
        let auth = format!("authorization: Bearer {ADMIN}");
        let data = body.to_string();
        curl(
            &[
                "-s",
                "-X",
                method,
                "-H",
                &auth,
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@-",
                &url,
            ],
            Some(data.as_bytes()),
        )
    }

    fn chat(&self, body: Value) -> Resp {
        chat(self.port, &body.to_string())
    }

    /// Waits until the request is served; returns how long the change took to apply
    /// (printed only).
    fn served(&self, body: Value) -> Duration {
        let t0 = Instant::now();
        let mut last = String::new();
        let served = poll_until(PATIENCE, || {
            let r = self.chat(body.clone());
            last = format!("{} {}", r.status, r.text());
            r.status == 200
        });
        assert!(served, "not served: {last}");
        t0.elapsed()
    }

    /// The lines it printed on stderr so far (a start retried on fresh ports included).
    fn printed(&self) -> Vec<String> {
        let proc = &self.proc;
        proc.earlier
            .iter()
            .chain([&proc.log])
            .flat_map(|log| log.text().lines().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }
}

fn requests() -> [(&'static str, Value); 3] {
    let msg = json!([{"role": "user", "content": "hello"}]);
    [
        (
            "provider-management route",
            json!({"model": "route-002", "messages": msg}),
        ),
        (
            "LLM-backend model",
            json!({"model": "model-000", "messages": msg}),
        ),
        (
            "orchestrator provider pin",
            json!({"model": "gpt-4o", "provider": "provider-001", "messages": msg}),
        ),
    ]
}

#[test]
fn admin_apis_are_served_and_survive_restart() {
    let mock = Mock::start("up-upstream", &[]);
    let base = format!("{}/v1", mock.url());
    let dir = tempdir().join("data");
    let up = start_up(&dir, "127.0.0.1");

    // Admin auth is enforced.
    let r = curl(
        &[
            "-s",
            &format!("http://127.0.0.1:{}/api/providers", up.admin),
        ],
        None,
    );
    assert_eq!(r.status, 401);

    // Provider-management API: provider + model route.
    let r = up.admin("POST", "/api/providers", json!({"name": "provider-002", "base_url": base, "api_key": "sk-managed-plaintext-AAAA", "models": ["m002"], "is_active": true}));
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let pid = r.json()["id"]
        .as_u64()
        .expect("provider-management provider id");
    assert!(
        !r.text().contains("sk-managed-plaintext-AAAA"),
        "keys are masked: {}",
        r.text()
    );
    let r = up.admin(
        "POST",
        "/api/model-routes",
        json!({"name": "route-002", "mode": "auto", "is_active": true, "config": {}, "nodes": [{"api_id": pid, "models": ["m002"], "strategy": "round-robin", "priority": 0, "metadata": {}}]}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let t_routes = up.served(requests()[0].1.clone());

    // LLM-backend API: backend with its models.
    let r = up.admin(
        "POST",
        "/api/llm/backends",
        json!({"backend_id": "backend-000", "adapter": "openai", "enable": true, "configs": [{"api_key": "sk-backend-plaintext-BBBB", "base_url": base}], "models": ["model-000"]}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let t_backends = up.served(requests()[1].1.clone());

    // Orchestrator API: provider, used through the `provider` pin.
    let r = up.admin(
        "POST",
        "/admin/providers",
        json!({"name": "provider-001", "type": "openai", "base_url": base, "api_key": "sk-orchestrator-plaintext-CCCC", "enabled": true, "priority": 100, "weight": 100, "timeout": 60}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let t_orchestrator = up.served(requests()[2].1.clone());
    eprintln!(
        "admin write → served: provider management {t_routes:?}, LLM backends {t_backends:?}, orchestrator {t_orchestrator:?}"
    );

    // The upstream got the provider's key, not the client's.
    let keys: Vec<String> = mock.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["headers"]["authorization"].as_str().map(str::to_string))
        .collect();
    assert!(
        keys.iter().any(|k| k == "Bearer sk-managed-plaintext-AAAA"),
        "{keys:?}"
    );

    // Restart both planes: everything is still there and served.
    drop(up);
    let up = start_up(&dir, "127.0.0.1");
    for (what, body) in requests() {
        let r = up.chat(body);
        assert_eq!(r.status, 200, "{what} after restart: {}", r.text());
    }
    let r = up.admin("GET", "/api/llm/backends/backend-000", json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    drop(up);

    // No plaintext key anywhere on disk (sled files, backup, data-plane cache).
    let files = walk(&dir);
    assert!(
        files.len() >= 2,
        "the data dir holds the database and the backup: {files:?}"
    );
    for entry in files {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for key in [
            "sk-managed-plaintext-AAAA",
            "sk-backend-plaintext-BBBB",
            "sk-orchestrator-plaintext-CCCC",
        ] {
            assert!(
                !text.contains(key),
                "{key} found in plaintext in {}",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `sluice up` refuses weak tokens before it opens anything.
#[test]
fn up_refuses_weak_tokens() {
    let dir = tempdir().join("data");
    for (var, value) in [
        ("SLUICE_ADMIN_TOKEN", ""),
        ("SLUICE_ADMIN_TOKEN", "0123456789"),
        ("SLUICE_DATAPLANE_TOKEN", ""),
        ("SLUICE_DATAPLANE_TOKEN", "short-token"),
    ] {
        let out = Command::new(bin("sluice"))
            .args(["up", "--data-dir"])
            .arg(&dir)
            // It refuses before binding anything; port 0 keeps a regression from racing.
            .args([
                "--listen",
                "127.0.0.1:0",
                "--ops-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
            ])
            .env_remove("SLUICE_ADMIN_TOKEN")
            .env_remove("SLUICE_DATAPLANE_TOKEN")
            .env(var, value)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run sluice up");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value:?}: {err}");
        assert!(err.contains(var), "{var}={value:?}: {err}");
    }
    assert!(!dir.join("db").exists(), "nothing was created");
}

fn chat_with(port: u16, key: Option<&str>) -> Resp {
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let auth = key.map(|k| format!("authorization: Bearer {k}"));
    let mut args = vec!["-s", "-X", "POST", "-H", "content-type: application/json"];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    args.extend(["--data-binary", "@-", url.as_str()]);
    curl(
        &args,
        Some(br#"{"model":"llm-auto-route","messages":[{"role":"user","content":"hi"}]}"#),
    )
}

/// On a non-loopback address `sluice up` is never an open relay: it generates a client
/// key, prints it once, and the proxy requires it (also after a restart, without printing
/// a new one).
#[test]
fn up_on_a_public_address_requires_a_generated_key() {
    let dir = tempdir().join("data");
    let up = start_up(&dir, "0.0.0.0");
    // Printed before the proxy listens, so it is there (or never comes).
    let key = wait_for(
        || {
            up.printed().iter().find_map(|l| {
                l.trim()
                    .strip_prefix("sk-sluice-")
                    .map(|k| format!("sk-sluice-{k}"))
            })
        },
        "a generated key on stderr",
    );
    assert_eq!(chat_with(up.port, None).status, 401);
    assert_eq!(chat_with(up.port, Some("sk-sluice-wrong")).status, 401);
    let r = chat_with(up.port, Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    drop(up);

    let up = start_up(&dir, "0.0.0.0");
    assert_eq!(chat_with(up.port, None).status, 401);
    let r = chat_with(up.port, Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let printed = up.printed();
    assert!(
        !printed.iter().any(|l| l.contains("sk-sluice-")),
        "printed once only: {printed:?}"
    );
}

/// On loopback the quickstart stays keyless.
#[test]
fn up_on_loopback_needs_no_key() {
    let dir = tempdir().join("data");
    let up = start_up(&dir, "127.0.0.1");
    let r = chat_with(up.port, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let printed = up.printed();
    assert!(
        !printed.iter().any(|l| l.contains("sk-sluice-")),
        "{printed:?}"
    );
}
