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
    _proc: Proc,
    port: u16,
    admin: u16,
}

fn start_up(data_dir: &std::path::Path, port: u16, ops: u16, admin: u16, grpc: u16) -> Up {
    let child = Command::new(bin("sluice"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--ops-listen",
            &format!("127.0.0.1:{ops}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
        ])
        .env("SLUICE_ADMIN_TOKEN", ADMIN)
        .env_remove("SLUICE_MASTER_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .env_remove("DEEPSEEK_API_KEY")
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sluice up");
    let up = Up {
        _proc: Proc {
            child,
            name: "sluice up".into(),
        },
        port,
        admin,
    };
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
    up
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

    /// Polls until the request is served; returns how long the change took to apply.
    fn served(&self, body: Value) -> Duration {
        let t0 = Instant::now();
        loop {
            let r = self.chat(body.clone());
            if r.status == 200 {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "not served within 10 s: {} {}",
                r.status,
                r.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn requests() -> [(&'static str, Value); 3] {
    let msg = json!([{"role": "user", "content": "hello"}]);
    [
        (
            "seed 002 route",
            json!({"model": "route-002", "messages": msg}),
        ),
        (
            "seed 000 backend model",
            json!({"model": "model-000", "messages": msg}),
        ),
        (
            "seed 001 provider pin",
            json!({"model": "gpt-4o", "provider": "provider-001", "messages": msg}),
        ),
    ]
}

#[test]
fn seed_apis_are_served_and_survive_restart() {
    let mock = Mock::start("up-upstream", &[]);
    let base = format!("{}/v1", mock.url());
    let dir = tempdir().join("data");
    let (port, ops, admin, grpc) = (free_port(), free_port(), free_port(), free_port());
    let up = start_up(&dir, port, ops, admin, grpc);

    // Admin auth is enforced.
    let r = curl(
        &["-s", &format!("http://127.0.0.1:{admin}/api/providers")],
        None,
    );
    assert_eq!(r.status, 401);

    // Seed 002: provider + model route.
    let r = up.admin("POST", "/api/providers", json!({"name": "provider-002", "base_url": base, "api_key": "sk-seed002-plaintext-AAAA", "models": ["m002"], "is_active": true}));
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let pid = r.json()["id"].as_u64().expect("seed 002 provider id");
    assert!(
        !r.text().contains("sk-seed002-plaintext-AAAA"),
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
    let t002 = up.served(requests()[0].1.clone());

    // Seed 000: backend with its models.
    let r = up.admin(
        "POST",
        "/api/llm/backends",
        json!({"backend_id": "backend-000", "adapter": "openai", "enable": true, "configs": [{"api_key": "sk-seed000-plaintext-BBBB", "base_url": base}], "models": ["model-000"]}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let t000 = up.served(requests()[1].1.clone());

    // Seed 001: provider, used through the `provider` pin.
    let r = up.admin(
        "POST",
        "/admin/providers",
        json!({"name": "provider-001", "type": "openai", "base_url": base, "api_key": "sk-seed001-plaintext-CCCC", "enabled": true, "priority": 100, "weight": 100, "timeout": 60}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text()
    );
    let t001 = up.served(requests()[2].1.clone());
    eprintln!("admin write → served: seed002 {t002:?}, seed000 {t000:?}, seed001 {t001:?}");

    // The upstream got the provider's key, not the client's.
    let keys: Vec<String> = mock.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["headers"]["authorization"].as_str().map(str::to_string))
        .collect();
    assert!(
        keys.iter().any(|k| k == "Bearer sk-seed002-plaintext-AAAA"),
        "{keys:?}"
    );

    // Restart both planes: everything is still there and served.
    drop(up);
    let (port, ops, admin, grpc) = (free_port(), free_port(), free_port(), free_port());
    let up = start_up(&dir, port, ops, admin, grpc);
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
            "sk-seed002-plaintext-AAAA",
            "sk-seed000-plaintext-BBBB",
            "sk-seed001-plaintext-CCCC",
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
            .args([
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--ops-listen",
                &format!("127.0.0.1:{}", free_port()),
                "--admin-listen",
                &format!("127.0.0.1:{}", free_port()),
                "--grpc-listen",
                &format!("127.0.0.1:{}", free_port()),
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

/// Spawns `sluice up` with its proxy on `listen`; stderr lines are collected.
fn start_up_on(
    data_dir: &std::path::Path,
    listen: &str,
    ops: u16,
    admin: u16,
    grpc: u16,
) -> (Proc, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new(bin("sluice"))
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen",
            listen,
            "--ops-listen",
            &format!("127.0.0.1:{ops}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
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
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice up");
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[sluice up] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let proc = Proc {
        child,
        name: "sluice up".into(),
    };
    wait_until(|| ready(ops), "sluice up readiness");
    (proc, rx)
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
    let (port, ops, admin, grpc) = (free_port(), free_port(), free_port(), free_port());
    let (up, lines) = start_up_on(&dir, &format!("0.0.0.0:{port}"), ops, admin, grpc);
    let printed: Vec<String> = lines.try_iter().collect();
    let key = printed
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("sk-sluice-")
                .map(|k| format!("sk-sluice-{k}"))
        })
        .unwrap_or_else(|| panic!("a generated key on stderr: {printed:?}"));
    assert_eq!(chat_with(port, None).status, 401);
    assert_eq!(chat_with(port, Some("sk-sluice-wrong")).status, 401);
    let r = chat_with(port, Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    drop(up);

    let (port, ops, admin, grpc) = (free_port(), free_port(), free_port(), free_port());
    let (_up, lines) = start_up_on(&dir, &format!("0.0.0.0:{port}"), ops, admin, grpc);
    assert_eq!(chat_with(port, None).status, 401);
    let r = chat_with(port, Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    let printed: Vec<String> = lines.try_iter().collect();
    assert!(
        !printed.iter().any(|l| l.contains("sk-sluice-")),
        "printed once only: {printed:?}"
    );
}

/// On loopback the quickstart stays keyless.
#[test]
fn up_on_loopback_needs_no_key() {
    let dir = tempdir().join("data");
    let (port, ops, admin, grpc) = (free_port(), free_port(), free_port(), free_port());
    let (_up, lines) = start_up_on(&dir, &format!("127.0.0.1:{port}"), ops, admin, grpc);
    let r = chat_with(port, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let printed: Vec<String> = lines.try_iter().collect();
    assert!(
        !printed.iter().any(|l| l.contains("sk-sluice-")),
        "{printed:?}"
    );
}
