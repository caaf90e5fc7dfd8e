//! Managed mode end to end: a real control plane pushing snapshots over gRPC to a real data
//! plane; the data plane survives the control plane's loss, restarts from its encrypted
//! cache, and NACKs an invalid snapshot while the old config keeps serving.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const MASTER_KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const DP_TOKEN: &str = "dp-token-0123456789";
const ADMIN_TOKEN: &str = "cp-admin-token-0123";

struct ControlPlane {
    /// Kept for its Drop (kills the process).
    _proc: Listening,
    admin: u16,
    grpc: u16,
}

fn start_cp(
    data_dir: &std::path::Path,
    seed: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> ControlPlane {
    let proc = spawn_listening("controlplane", 2, Echo::Forward, |ports| {
        let mut cmd = Command::new(bin("sluice"));
        cmd.args(["controlplane", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .args([
                "--admin-listen",
                &format!("127.0.0.1:{}", ports[0]),
                "--grpc-listen",
                &format!("127.0.0.1:{}", ports[1]),
            ])
            .arg("--seed-config")
            .arg(seed)
            .env("SLUICE_MASTER_KEY", MASTER_KEY)
            .env("SLUICE_DATAPLANE_TOKEN", DP_TOKEN)
            .env("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null());
        cmd
    });
    let (admin, grpc) = (proc.ports[0], proc.ports[1]);
    wait_until(
        || {
            curl(
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
        "control plane",
    );
    ControlPlane {
        _proc: proc,
        admin,
        grpc,
    }
}

/// A managed data plane, listening (ready only once it has a snapshot).
struct DataPlane {
    /// Kept for its Drop (kills the process).
    _proc: Listening,
    port: u16,
    ops: u16,
}

/// Starts `sluice dataplane --control-plane <url>` and returns once it listens.
fn start_dp(
    control_plane: &str,
    node_id: &str,
    cache_dir: &std::path::Path,
    extra: &[&std::ffi::OsStr],
) -> DataPlane {
    let proc = spawn_listening("dataplane", 2, Echo::Forward, |ports| {
        let mut cmd = Command::new(bin("sluice"));
        cmd.args([
            "dataplane",
            "--control-plane",
            control_plane,
            "--node-id",
            node_id,
            "--cache-dir",
        ])
        .arg(cache_dir)
        .args(extra)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", ports[0]),
            "--ops-listen",
            &format!("127.0.0.1:{}", ports[1]),
            "--threads",
            "2",
        ])
        .env("SLUICE_MASTER_KEY", MASTER_KEY)
        .env("SLUICE_DATAPLANE_TOKEN", DP_TOKEN)
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null());
        cmd
    });
    let (port, ops) = (proc.ports[0], proc.ports[1]);
    DataPlane {
        _proc: proc,
        port,
        ops,
    }
}

/// The plain-HTTP control plane on `grpc`.
fn grpc_url(grpc: u16) -> String {
    format!("http://127.0.0.1:{grpc}")
}

fn ask(port: u16, model: &str) -> Resp {
    chat(
        port,
        &format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hello"}}]}}"#),
    )
}

#[test]
fn data_plane_survives_control_plane_loss_and_restarts_from_cache() {
    let mock = Mock::start("managed-upstream", &[]);
    let dir = tempdir();
    let seed = dir.join("seed.toml");
    std::fs::write(
        &seed,
        format!(
            "env_providers = false\n[[providers]]\nname = \"up\"\nkind = \"openai_compatible\"\nmodels = [\"gpt-4o\"]\nbase_url = \"{}/v1\"\napi_key = \"sk-managed-plaintext-key-1234\"\n",
            mock.url()
        ),
    )
    .unwrap();
    let cp = start_cp(&dir.join("cp"), &seed, &[]);
    let grpc = cp.grpc;
    let cache = dir.join("dp-cache");
    let dp = start_dp(&grpc_url(grpc), "dp-test", &cache, &[]);
    let (port, ops) = (dp.port, dp.ops);
    wait_until(|| ready(ops), "data plane readiness (first snapshot)");
    assert_eq!(ask(port, "gpt-4o").status, 200);
    // The control plane sees the data plane and its applied version.
    let v = curl(
        &[
            "-s",
            "-H",
            &format!("authorization: Bearer {ADMIN_TOKEN}"),
            &format!("http://127.0.0.1:{}/v1/admin/dataplanes", cp.admin),
        ],
        None,
    );
    assert!(v.text().contains("dp-test"), "{}", v.text());

    // Kill the control plane under load: zero failed requests.
    let served_before = mock.requests();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/drive.py");
    let load = Command::new(python())
        .arg(&script)
        .args(["400", "gpt-4o"])
        .env("SLUICE_BASE_URL", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("drive.py");
    wait_until(
        || mock.requests() >= served_before + 20,
        "the load to reach the upstream",
    );
    drop(cp);
    let out = load.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("drive output");
    assert_eq!(v["statuses"]["200"], 400, "{v}");

    // The cache on disk never holds the plaintext key.
    let cached: Vec<u8> = std::fs::read_dir(&cache)
        .unwrap()
        .flat_map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!cached.is_empty(), "a snapshot cache was written");
    assert!(!String::from_utf8_lossy(&cached).contains("sk-managed-plaintext-key-1234"));

    // Restart the data plane with the control plane still down: it serves from the cache.
    drop(dp);
    let dp2 = start_dp(&grpc_url(grpc), "dp-test", &cache, &[]);
    wait_until(
        || ready(dp2.ops),
        "restarted data plane readiness from cache",
    );
    let r = ask(dp2.port, "gpt-4o");
    assert_eq!(r.status, 200, "{}", r.text());
}

mod fake_cp {
    //! A scripted control plane: sends the snapshots a test gives it and reports every
    //! ACK/NACK the data plane answers.
    use std::pin::Pin;

    use sluice_proto::config_service_server::{ConfigService, ConfigServiceServer};
    use sluice_proto::{
        control_plane_message, data_plane_message, ControlPlaneMessage, DataPlaneMessage, Snapshot,
        UsageAck, UsageBatch,
    };
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;
    use tokio_stream::{Stream, StreamExt};
    use tonic::{Request, Response, Status, Streaming};

    pub struct Fake {
        pub snapshots: tokio::sync::Mutex<Option<mpsc::Receiver<Snapshot>>>,
        pub replies: mpsc::UnboundedSender<String>,
    }

    #[tonic::async_trait]
    impl ConfigService for Fake {
        type SyncStream = Pin<Box<dyn Stream<Item = Result<ControlPlaneMessage, Status>> + Send>>;

        async fn sync(
            &self,
            req: Request<Streaming<DataPlaneMessage>>,
        ) -> Result<Response<Self::SyncStream>, Status> {
            let mut inbound = req.into_inner();
            let replies = self.replies.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = inbound.next().await {
                    let line = match msg.msg {
                        Some(data_plane_message::Msg::Ack(a)) => format!("ack {}", a.version),
                        Some(data_plane_message::Msg::Nack(n)) => {
                            format!("nack {} {}", n.version, n.error)
                        }
                        Some(data_plane_message::Msg::Hello(h)) => {
                            format!("hello {} {}", h.node_id, h.last_version)
                        }
                        _ => continue,
                    };
                    let _ = replies.send(line);
                }
            });
            let mut snaps = self
                .snapshots
                .lock()
                .await
                .take()
                .ok_or_else(|| Status::unavailable("one session only"))?;
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                while let Some(s) = snaps.recv().await {
                    let msg = ControlPlaneMessage {
                        msg: Some(control_plane_message::Msg::Snapshot(s)),
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        break;
                    }
                }
            });
            Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
        }

        async fn report_usage(
            &self,
            _req: Request<UsageBatch>,
        ) -> Result<Response<UsageAck>, Status> {
            Ok(Response::new(UsageAck { accepted: 0 }))
        }
    }

    pub fn server(fake: Fake) -> ConfigServiceServer<Fake> {
        ConfigServiceServer::new(fake)
    }
}

/// A data plane connected to a scripted control plane.
struct Scripted {
    rt: tokio::runtime::Runtime,
    snapshots: tokio::sync::mpsc::Sender<sluice_proto::Snapshot>,
    replies: tokio::sync::mpsc::UnboundedReceiver<String>,
    port: u16,
    ops: u16,
    _dp: DataPlane,
}

impl Scripted {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (snap_tx, snap_rx) = tokio::sync::mpsc::channel(4);
        let (reply_tx, replies) = tokio::sync::mpsc::unbounded_channel();
        // In process: bound here on port 0 and handed to the server as it is.
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let grpc = listener.local_addr().unwrap().port();
        let fake = fake_cp::Fake {
            snapshots: tokio::sync::Mutex::new(Some(snap_rx)),
            replies: reply_tx,
        };
        rt.spawn(
            tonic::transport::Server::builder()
                .add_service(fake_cp::server(fake))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let dir = tempdir();
        let dp = start_dp(&grpc_url(grpc), "dp-test", &dir.join("cache"), &[]);
        Scripted {
            rt,
            snapshots: snap_tx,
            replies,
            port: dp.port,
            ops: dp.ops,
            _dp: dp,
        }
    }

    /// The data plane's next message (hello/ack/nack), waiting up to 60 s.
    fn next(&mut self) -> String {
        let rx = &mut self.replies;
        self.rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(60), rx.recv())
                    .await
                    .ok()
                    .flatten()
            })
            .expect("a reply from the data plane")
    }

    fn send(&self, snap: sluice_proto::Snapshot) {
        self.rt.block_on(self.snapshots.send(snap)).unwrap();
    }
}

#[test]
fn invalid_snapshot_is_nacked_and_old_config_keeps_serving() {
    use sluice_proto::{Provider, Route, Snapshot, Target};
    let mut cp = Scripted::start();
    assert!(cp.next().starts_with("hello dp-test 0"));
    assert!(!ready(cp.ops), "not ready before the first snapshot");
    let echo = Provider {
        name: "echo".into(),
        kind: "echo".into(),
        models: vec!["echo".into()],
        enabled: true,
        weight: 1,
        ..Default::default()
    };
    cp.send(Snapshot {
        version: 1,
        providers: vec![echo.clone()],
        ..Default::default()
    });
    assert_eq!(cp.next(), "ack 1");
    wait_until(|| ready(cp.ops), "readiness after the first snapshot");
    assert_eq!(ask(cp.port, "echo").status, 200);
    // Version 2 routes to a provider that does not exist: NACK, and version 1 keeps serving.
    let bad = Snapshot {
        version: 2,
        providers: vec![echo],
        routes: vec![Route {
            name: "r".into(),
            strategy: "round_robin".into(),
            retries: 0,
            targets: vec![Target {
                provider: "ghost".into(),
                model: "m".into(),
                weight: 1,
                priority: 0,
            }],
            limits: None,
        }],
        ..Default::default()
    };
    cp.send(bad);
    let reply = cp.next();
    assert!(
        reply.starts_with("nack 2") && reply.contains("ghost"),
        "{reply}"
    );
    assert_eq!(ask(cp.port, "echo").status, 200);
    let readyz = curl(
        &["-s", &format!("http://127.0.0.1:{}/readyz", cp.ops)],
        None,
    )
    .json();
    assert_eq!(readyz["config_version"], 1);
}

/// A snapshot of 1,000 providers and 10,000 routes is validated and applied while requests
/// keep flowing: none fails, and the apply time is reported.
#[test]
fn large_snapshot_applies_without_disturbing_traffic() {
    use sluice_proto::{Provider, Route, Snapshot, Target};
    let mut cp = Scripted::start();
    assert!(cp.next().starts_with("hello"));
    let echo = |name: String| Provider {
        name,
        kind: "echo".into(),
        models: vec!["echo".into()],
        enabled: true,
        weight: 1,
        ..Default::default()
    };
    cp.send(Snapshot {
        version: 1,
        providers: vec![echo("echo".into())],
        ..Default::default()
    });
    assert_eq!(cp.next(), "ack 1");
    wait_until(|| ready(cp.ops), "first snapshot");

    // Requests in flight on a keep-alive client while the big snapshot lands.
    let served = || metric_total(&metrics(cp.ops), "sluice_requests_total");
    let served_before = served();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/drive.py");
    let load = Command::new(python())
        .arg(&script)
        .args(["600", "echo"])
        .env("SLUICE_BASE_URL", format!("http://127.0.0.1:{}", cp.port))
        .stdout(Stdio::piped())
        .spawn()
        .expect("drive.py");
    wait_until(
        || served() >= served_before + 20.0,
        "the load to be flowing",
    );
    let providers: Vec<Provider> = (0..1000).map(|i| echo(format!("p{i}"))).collect();
    let routes: Vec<Route> = (0..10_000)
        .map(|i| Route {
            name: format!("route-{i}"),
            strategy: "weighted".into(),
            retries: 1,
            targets: (0..2)
                .map(|j| Target {
                    provider: format!("p{}", (i + j * 7) % 1000),
                    model: "echo".into(),
                    weight: 1 + j as u32,
                    priority: 0,
                })
                .collect(),
            limits: None,
        })
        .collect();
    let t0 = std::time::Instant::now();
    cp.send(Snapshot {
        version: 2,
        providers,
        routes,
        ..Default::default()
    });
    assert_eq!(cp.next(), "ack 2");
    let applied = t0.elapsed();
    let out = load.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("drive output");
    assert_eq!(v["statuses"]["200"], 600, "{v}");
    let r = ask(cp.port, "route-9999");
    assert_eq!(r.status, 200, "{}", r.text());
    eprintln!("1,000 providers / 10,000 routes: sent → ACK in {applied:?} (transfer, decode, validate, swap, encrypted cache write)");
}

/// The config protocol over TLS: the control plane serves gRPC with a certificate, the data
/// plane verifies it against a CA it was given (`--control-plane-ca`) and syncs.
#[test]
fn grpc_over_tls() {
    let mock = Mock::start("tls-managed", &[]);
    let dir = tempdir();
    let (ca, cert, key) = test_certificates(&dir);
    let seed = dir.join("seed.toml");
    std::fs::write(
        &seed,
        format!("env_providers = false\n[[providers]]\nname = \"up\"\nkind = \"openai_compatible\"\nmodels = [\"gpt-4o\"]\nbase_url = \"{}/v1\"\n", mock.url()),
    )
    .unwrap();
    let cp = start_cp(
        &dir.join("cp"),
        &seed,
        &[
            "--grpc-tls-cert".as_ref(),
            cert.as_os_str(),
            "--grpc-tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    let dp = start_dp(
        &format!("https://localhost:{}", cp.grpc),
        "tls-dp",
        &dir.join("dp"),
        &["--control-plane-ca".as_ref(), ca.as_os_str()],
    );
    let (port, ops) = (dp.port, dp.ops);
    wait_until(|| ready(ops), "data plane readiness over TLS");
    assert_eq!(ask(port, "gpt-4o").status, 200);
}

fn admin_call(admin: u16, method: &str, path: &str, body: Option<&str>) -> Resp {
    let url = format!("http://127.0.0.1:{admin}{path}");
    let auth = format!("authorization: Bearer {ADMIN_TOKEN}");
    let mut args = vec!["-s", "-X", method, "-H", auth.as_str()];
    if body.is_some() {
        args.extend([
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@-",
        ]);
    }
    args.push(&url);
    curl(&args, body.map(str::as_bytes))
}

fn ask_with_key(port: u16, key: &str) -> Resp {
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let auth = format!("authorization: Bearer {key}");
    curl(
        &[
            "-s",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-H",
            &auth,
            "--data-binary",
            "@-",
            &url,
        ],
        Some(br#"{"model":"echo","messages":[{"role":"user","content":"hello"}]}"#),
    )
}

/// Client auth fails closed across the planes: once a client key existed, deleting the
/// last one denies every request (the snapshot says `keys` with an empty set) instead of
/// turning authentication off.
#[test]
fn deleting_the_last_client_key_denies_every_request() {
    let dir = tempdir();
    let seed = dir.join("seed.toml");
    std::fs::write(
        &seed,
        "env_providers = false\n[[providers]]\nname = \"echo\"\nkind = \"echo\"\nmodels = [\"echo\"]\n",
    )
    .unwrap();
    let cp = start_cp(&dir.join("cp"), &seed, &[]);
    let admin = cp.admin;
    let dp = start_dp(&grpc_url(cp.grpc), "dp-test", &dir.join("dp-cache"), &[]);
    let (port, ops) = (dp.port, dp.ops);
    wait_until(|| ready(ops), "data plane readiness");
    assert_eq!(
        ask(port, "echo").status,
        200,
        "no key ever created: auth none"
    );

    let r = admin_call(admin, "POST", "/v1/admin/keys", Some(r#"{"name":"e2e"}"#));
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().expect("plaintext key").to_string();
    let id = r.json()["id"].as_u64().expect("key id");
    wait_until(|| ask(port, "echo").status == 401, "keys mode applied");
    let r = ask_with_key(port, &key);
    assert_eq!(r.status, 200, "{}", r.text());

    let r = admin_call(admin, "DELETE", &format!("/v1/admin/keys/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    wait_until(
        || ask_with_key(port, &key).status == 401,
        "the deleted key is refused",
    );
    let r = ask(port, "echo");
    assert_eq!(r.status, 401, "no key at all: still denied: {}", r.text());
    let v = admin_call(admin, "GET", "/v1/admin/version", None).json();
    assert_eq!(v["client_auth"], "keys", "{v}");
    assert_eq!(v["client_keys"], 0, "{v}");
}

fn run_to_exit(args: &[&str], env: &[(&str, &str)], data_dir: &std::path::Path) -> (i32, String) {
    let mut cmd = Command::new(bin("sluice"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SLUICE_ADMIN_TOKEN")
        .env_remove("SLUICE_DATAPLANE_TOKEN")
        .env("SLUICE_MASTER_KEY", MASTER_KEY)
        // It refuses before binding anything; port 0 keeps a regression from racing.
        .env("SLUICE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("SLUICE_GRPC_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sluice");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The control plane refuses to start with an empty or short token, and without a
/// data-plane token unless --dev; a managed data plane refuses a short token too.
#[test]
fn weak_or_missing_tokens_are_refused_at_start() {
    let dir = tempdir();
    let cp = ["controlplane"];
    for (env, expect) in [
        (
            vec![
                ("SLUICE_ADMIN_TOKEN", ""),
                ("SLUICE_DATAPLANE_TOKEN", DP_TOKEN),
            ],
            "SLUICE_ADMIN_TOKEN is set but empty",
        ),
        (
            vec![
                ("SLUICE_ADMIN_TOKEN", "short"),
                ("SLUICE_DATAPLANE_TOKEN", DP_TOKEN),
            ],
            "at least 16 bytes",
        ),
        (
            vec![
                ("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN),
                ("SLUICE_DATAPLANE_TOKEN", ""),
            ],
            "SLUICE_DATAPLANE_TOKEN is set but empty",
        ),
        (
            vec![("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN)],
            "SLUICE_DATAPLANE_TOKEN is not set",
        ),
    ] {
        let (code, err) = run_to_exit(&cp, &env, &dir.join("cp"));
        assert_ne!(code, 0, "{env:?}: {err}");
        assert!(err.contains(expect), "{env:?}: {err}");
    }
    // --dev still refuses an empty admin token.
    let (code, err) = run_to_exit(
        &["controlplane", "--dev"],
        &[("SLUICE_ADMIN_TOKEN", "")],
        &dir.join("cp"),
    );
    assert_ne!(code, 0, "{err}");

    let out = Command::new(bin("sluice"))
        .args(["dataplane", "--control-plane", "http://127.0.0.1:1"])
        .arg("--cache-dir")
        .arg(dir.join("dp"))
        .env("SLUICE_DATAPLANE_TOKEN", "too-short")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run sluice dataplane");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("SLUICE_DATAPLANE_TOKEN"), "{err}");
}
