//! Benchmarks (ignored by default; numbers are printed, never asserted):
//! `cargo test --release -p sluice-controlplane --test bench -- --ignored --nocapture`
//! - admin write → snapshot received by 3 in-process gRPC clients, p50/p99 over 200 writes;
//! - build + validate a snapshot of 1,000 providers / 10,000 routes, and one commit at
//!   that size (sled transaction + flush + backup rewrite).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::time::{Duration, Instant};

use common::{Server, DP_TOKEN};
use serde_json::json;
use sluice_controlplane::store::records::{
    EndpointRecord, ProviderRecord, RouteRecord, State, TargetRecord,
};
use sluice_controlplane::store::snapshot::validate_state;
use sluice_model::MasterKey;
use sluice_proto::config_service_client::ConfigServiceClient;
use sluice_proto::{control_plane_message, data_plane_message, DataPlaneMessage, Hello};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99),
        v[v.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_write_to_snapshot_on_three_clients() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let (c, _) = s
        .call(
            "POST",
            "/v1/admin/providers",
            Some(json!({"name": "p", "kind": "openai",
            "endpoints": [{"base_url": "http://127.0.0.1:1/v1", "api_key": common::PLAIN_KEY}]})),
        )
        .await;
    assert_eq!(c, 201);
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<(usize, u64, Instant)>();
    let mut keep = Vec::new();
    for i in 0..3 {
        let mut client = ConfigServiceClient::connect(format!("http://{}", s.grpc))
            .await
            .unwrap();
        let (tx, rx) = mpsc::channel(16);
        tx.send(DataPlaneMessage {
            msg: Some(data_plane_message::Msg::Hello(Hello {
                node_id: format!("bench-{i}"),
                last_version: s.app.store.version(),
                last_epoch: s.app.store.epoch().to_string(),
            })),
        })
        .await
        .unwrap();
        let mut req = tonic::Request::new(ReceiverStream::new(rx));
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {DP_TOKEN}").parse().unwrap(),
        );
        let mut stream = client.sync(req).await.unwrap().into_inner();
        let arrivals_tx = arrivals_tx.clone();
        keep.push(tx);
        tokio::spawn(async move {
            while let Ok(Some(m)) = stream.message().await {
                if let Some(control_plane_message::Msg::Snapshot(snap)) = m.msg {
                    let _ = arrivals_tx.send((i, snap.version, Instant::now()));
                }
            }
        });
    }
    let mut per_client = Vec::new();
    let mut per_write_all = Vec::new();
    let mut api_only = Vec::new();
    for n in 0..200u32 {
        let started = Instant::now();
        let (c, _) = s
            .call(
                "PATCH",
                "/v1/admin/providers/p",
                Some(json!({"weight": 1 + n % 50})),
            )
            .await;
        assert_eq!(c, 200);
        api_only.push(started.elapsed());
        let version = s.app.store.version();
        let mut got = 0;
        let mut last = started;
        while got < 3 {
            let (_, v, at) = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await
                .unwrap()
                .unwrap();
            if v == version {
                got += 1;
                per_client.push(at.duration_since(started));
                last = last.max(at);
            }
        }
        per_write_all.push(last.duration_since(started));
    }
    report(
        "admin PATCH response (HTTP round trip incl. commit)",
        api_only,
    );
    report(
        "write -> snapshot at one client (3 clients x 200)",
        per_client,
    );
    report(
        "write -> snapshot at all 3 clients (per write)",
        per_write_all,
    );
    s.stop().await;
}

#[test]
#[ignore = "benchmark"]
fn bench_build_and_validate_1000_providers_10000_routes() {
    let key = MasterKey::generate();
    let mut state = State::default();
    for i in 0..1000u64 {
        let id = state.next_ids.provider();
        let plain = format!("sk-bench-{i:06}-abcdefgh");
        state.providers.insert(
            id,
            ProviderRecord {
                id,
                name: format!("provider-{i}"),
                display_name: None,
                kind: "openai".into(),
                models: vec![format!("model-{i}-a"), format!("model-{i}-b")],
                enabled: true,
                weight: 1,
                priority: 0,
                timeout_ms: 60_000,
                pace_ms: 0,
                endpoints: vec![EndpointRecord {
                    base_url: format!("https://api{i}.example.com/v1"),
                    api_key_sealed: key.seal(plain.as_bytes()),
                    api_key_masked: "sk-…efgh".into(),
                }],
                limits: None,
                created_ms: 0,
                updated_ms: 0,
            },
        );
    }
    for r in 0..10_000u64 {
        let id = state.next_ids.route();
        state.routes.insert(
            id,
            RouteRecord {
                id,
                name: format!("route-{r}"),
                strategy: "weighted".into(),
                retries: 2,
                enabled: true,
                targets: (0..3)
                    .map(|t| TargetRecord {
                        provider_id: 1 + (r * 7 + t * 13) % 1000,
                        model: None,
                        weight: 1 + t as u32,
                        priority: 0,
                    })
                    .collect(),
                layout: None,
                limits: None,
                created_ms: 0,
                updated_ms: 0,
            },
        );
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let snap = validate_state(&state, &key).unwrap();
        times.push(t.elapsed());
        assert_eq!(snap.routes.len(), 10_000);
    }
    report(
        "build (decrypt 1000 keys) + validate snapshot, 1000 providers / 10000 routes",
        times,
    );

    // One commit at this size: restore (validate + one sled transaction + flush + backup).
    let dir = tempfile::tempdir().unwrap();
    let store = sluice_controlplane::store::Store::open(dir.path(), key.clone(), None).unwrap();
    let t = Instant::now();
    store.replace_all(state).unwrap();
    println!(
        "initial commit of the whole state (restore path): {:?}",
        t.elapsed()
    );
    let mut commits = Vec::new();
    for n in 0..10u32 {
        let t = Instant::now();
        store
            .mutate(|s, _| {
                if let Some(p) = s.providers.get_mut(&1) {
                    p.weight = 2 + n;
                }
                Ok(())
            })
            .unwrap();
        commits.push(t.elapsed());
    }
    report(
        "one-field change at 1000/10000 (validate + txn + flush + backup)",
        commits,
    );
}
