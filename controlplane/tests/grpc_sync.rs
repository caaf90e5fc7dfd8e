//! The gRPC config server with an in-process tonic client: Hello → snapshot → ACK,
//! pushes on REST writes, NACK bookkeeping, auth, usage ingest, health → is_available.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::time::Duration;

use common::{eventually, Server, DP_TOKEN};
use serde_json::json;
use sluice_model::MasterKey;
use sluice_proto::config_service_client::ConfigServiceClient;
use sluice_proto::{
    control_plane_message, data_plane_message, Ack, DataPlaneMessage, EndpointHealth, HealthReport,
    Hello, Nack, Snapshot, UsageBatch, UsageRecord,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

/// Bounded wait for anything in these tests.
const WAIT: Duration = common::PATIENCE;

pub struct Node {
    pub tx: mpsc::Sender<DataPlaneMessage>,
    pub rx: Streaming<sluice_proto::ControlPlaneMessage>,
}

fn msg(m: data_plane_message::Msg) -> DataPlaneMessage {
    DataPlaneMessage { msg: Some(m) }
}

pub async fn connect(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    node_id: &str,
    last_version: u64,
    last_epoch: &str,
) -> Result<Node, tonic::Status> {
    let mut client = ConfigServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    tx.send(msg(data_plane_message::Msg::Hello(Hello {
        node_id: node_id.into(),
        last_version,
        last_epoch: last_epoch.into(),
    })))
    .await
    .unwrap();
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let resp = client.sync(req).await?;
    Ok(Node {
        tx,
        rx: resp.into_inner(),
    })
}

pub async fn next_snapshot(node: &mut Node) -> Snapshot {
    let m = tokio::time::timeout(WAIT, node.rx.message())
        .await
        .expect("snapshot within the bounded wait")
        .unwrap()
        .expect("stream open");
    match m.msg {
        Some(control_plane_message::Msg::Snapshot(s)) => s,
        None => panic!("empty message"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_snapshot_ack_push_and_nack() {
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
    let v = s.app.store.version();

    let mut node = connect(s.grpc, Some(DP_TOKEN), "dp-1", 0, "")
        .await
        .unwrap();
    let snap = next_snapshot(&mut node).await;
    assert_eq!(snap.version, v);
    assert_eq!(snap.providers[0].endpoints[0].api_key, common::PLAIN_KEY);
    node.tx
        .send(msg(data_plane_message::Msg::Ack(Ack { version: v })))
        .await
        .unwrap();
    eventually(|| {
        s.app
            .dataplanes
            .list()
            .first()
            .is_some_and(|n| n.applied_version == v)
    })
    .await;

    // A REST write reaches the stream as v+1.
    let (c, _) = s
        .call(
            "POST",
            "/v1/admin/routes",
            Some(json!({"name": "r", "targets": [{"provider": "p"}]})),
        )
        .await;
    assert_eq!(c, 201);
    let snap = next_snapshot(&mut node).await;
    assert_eq!(snap.version, v + 1);
    assert_eq!(snap.routes[0].name, "r");

    // NACK is recorded and visible; the applied version stays.
    node.tx
        .send(msg(data_plane_message::Msg::Nack(Nack {
            version: v + 1,
            error: "routes[0]: rejected for test".into(),
        })))
        .await
        .unwrap();
    eventually(|| s.app.dataplanes.list()[0].last_nack.is_some()).await;
    let (c, body) = s.call("GET", "/v1/admin/dataplanes", None).await;
    assert_eq!(c, 200);
    let dp = &body["dataplanes"][0];
    assert_eq!(dp["node_id"], "dp-1");
    assert_eq!(dp["connected"], true);
    assert_eq!(dp["applied_version"], v);
    assert_eq!(dp["last_nack"]["version"], v + 1);
    assert_eq!(dp["last_nack"]["error"], "routes[0]: rejected for test");
    assert_eq!(dp["in_sync"], false);

    // Health reports drive the LLM-backend API's `is_available` and the orchestrator API's `/admin/health`.
    node.tx
        .send(msg(data_plane_message::Msg::Health(HealthReport {
            endpoints: vec![EndpointHealth {
                provider: "p".into(),
                base_url: "http://127.0.0.1:1/v1".into(),
                healthy: true,
                latency_ewma_ms: 12.5,
                success_rate: 99.0,
                consecutive_failures: 0,
                total_requests: 10,
            }],
        })))
        .await
        .unwrap();
    eventually(|| !s.app.dataplanes.provider_health().is_empty()).await;
    let (_, b) = s.call("GET", "/api/llm/backends/p", None).await;
    assert_eq!(b["backend"]["is_available"], true);
    let (_, h) = s.call("GET", "/admin/health", None).await;
    assert_eq!(h["providers"][0]["is_healthy"], true);
    assert_eq!(h["providers"][0]["response_time_ms"], 12.5);

    // A node that already has the current version gets nothing until the next change.
    let current = s.app.store.version();
    let mut synced = connect(
        s.grpc,
        Some(DP_TOKEN),
        "dp-2",
        current,
        &s.app.store.epoch(),
    )
    .await
    .unwrap();
    // An absence can only be watched for a while: a wrong snapshot would arrive well
    // within this window (it cannot make the test fail falsely, only miss a bug).
    assert!(
        tokio::time::timeout(Duration::from_millis(200), synced.rx.message())
            .await
            .is_err(),
        "no snapshot for an up-to-date node"
    );
    let (c, _) = s
        .call("POST", "/v1/admin/keys", Some(json!({"name": "k"})))
        .await;
    assert_eq!(c, 201);
    assert_eq!(next_snapshot(&mut synced).await.version, current + 1);
    assert_eq!(next_snapshot(&mut node).await.version, current + 1);

    // Metrics reflect it.
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("sluice_cp_connected_dataplanes 2"), "{text}");
    drop(node);
    drop(synced);
    eventually(|| s.app.dataplanes.connected() == 0).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_unauthenticated_and_usage_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let err = connect(s.grpc, Some("wrong"), "dp", 0, "")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = connect(s.grpc, None, "dp", 0, "").await.err().unwrap();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    let mut client = ConfigServiceClient::connect(format!("http://{}", s.grpc))
        .await
        .unwrap();
    let batch = UsageBatch {
        node_id: "dp".into(),
        records: (0..3)
            .map(|i| UsageRecord {
                unix_ms: sluice_controlplane::clock::now_ms(),
                request_id: format!("req-{i}"),
                route: "r".into(),
                provider: "p".into(),
                model: "m".into(),
                status: if i == 2 { 502 } else { 200 },
                latency_ms: 10,
                ttft_ms: 5,
                prompt_tokens: 1,
                completion_tokens: 2,
                attempts: 1,
                stream: true,
                ..Default::default()
            })
            .collect(),
    };
    let err = client.report_usage(batch.clone()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut req = tonic::Request::new(batch);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {DP_TOKEN}").parse().unwrap(),
    );
    let ack = client.report_usage(req).await.unwrap().into_inner();
    assert_eq!(ack.accepted, 3);
    let (_, v) = s.call("GET", "/admin/logs?status_code=502", None).await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["logs"][0]["request_id"], "req-2");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_must_be_hello() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let mut client = ConfigServiceClient::connect(format!("http://{}", s.grpc))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(msg(data_plane_message::Msg::Ack(Ack { version: 1 })))
        .await
        .unwrap();
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {DP_TOKEN}").parse().unwrap(),
    );
    let err = client.sync(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    s.stop().await;
}
