//! The gRPC config server (`sluice.config.v1.ConfigService`).
//!
//! `Sync`: the first message must be Hello. The server sends the current snapshot at once
//! when the node's `last_epoch`/`last_version` differ from the current ones, and again
//! whenever the version moves (watch channel); versions a node already has are never
//! re-sent (envoy go-control-plane semantics). ACK records the applied version; NACK records the
//! error while the node keeps its last good snapshot. `ReportUsage` stores records.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sluice_proto::config_service_server::ConfigService;
use sluice_proto::{
    control_plane_message, data_plane_message, ControlPlaneMessage, DataPlaneMessage, Hello,
    UsageAck, UsageBatch,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::clock::now_ms;
use crate::dataplanes::EndpointHealthInfo;
use crate::usage::UsageEntry;
use crate::App;

/// How long a new stream may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The service implementation.
#[derive(Debug, Clone)]
pub struct ConfigServer {
    app: Arc<App>,
}

impl ConfigServer {
    /// A server over the shared control-plane state.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    fn authorize<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let Some(expected) = &self.app.dataplane_token else {
            return Ok(());
        };
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if crate::api::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "invalid or missing data-plane token",
            ))
        }
    }
}

type SyncStream = Pin<Box<dyn Stream<Item = Result<ControlPlaneMessage, Status>> + Send>>;

#[tonic::async_trait]
impl ConfigService for ConfigServer {
    type SyncStream = SyncStream;

    async fn sync(
        &self,
        request: Request<Streaming<DataPlaneMessage>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        self.authorize(&request)?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no Hello received"))??;
        let hello = match first.and_then(|m| m.msg) {
            Some(data_plane_message::Msg::Hello(h)) if !h.node_id.is_empty() => h,
            Some(data_plane_message::Msg::Hello(_)) => {
                return Err(Status::invalid_argument("Hello.node_id must not be empty"))
            }
            _ => return Err(Status::invalid_argument("the first message must be Hello")),
        };
        let (tx, rx) = mpsc::channel(4);
        let app = self.app.clone();
        tokio::spawn(async move {
            serve_node(app, hello, inbound, tx).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn report_usage(
        &self,
        request: Request<UsageBatch>,
    ) -> Result<Response<UsageAck>, Status> {
        self.authorize(&request)?;
        let batch = request.into_inner();
        let entries: Vec<UsageEntry> = batch
            .records
            .into_iter()
            .map(|r| UsageEntry {
                id: 0,
                node_id: batch.node_id.clone(),
                unix_ms: r.unix_ms,
                request_id: r.request_id,
                route: r.route,
                provider: r.provider,
                model: r.model,
                status: r.status,
                latency_ms: r.latency_ms,
                ttft_ms: r.ttft_ms,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                attempts: r.attempts,
                stream: r.stream,
                key_id: r.key_id,
                team: r.team,
                user: r.user,
                cache_read_tokens: r.cache_read_tokens,
                cache_write_tokens: r.cache_write_tokens,
                reasoning_tokens: r.reasoning_tokens,
                cost_nanousd: r.cost_nanousd,
                surface: r.surface,
            })
            .collect();
        let app = self.app.clone();
        let accepted = tokio::task::spawn_blocking(move || {
            // The ledger first: a batch whose spend is counted but whose records failed to
            // store is better than records whose cost never reached the budgets.
            if let Err(e) = app.ledger.record(&app.store, &entries, now_ms()) {
                tracing::error!(error = %e, "spend ledger update failed");
            }
            app.usage.append(app.store.db(), entries)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::internal(format!("usage store: {e}")))?;
        Ok(Response::new(UsageAck { accepted }))
    }
}

/// Drives one node's stream until either side goes away.
async fn serve_node(
    app: Arc<App>,
    hello: Hello,
    mut inbound: Streaming<DataPlaneMessage>,
    tx: mpsc::Sender<Result<ControlPlaneMessage, Status>>,
) {
    let Hello {
        node_id,
        last_version,
        last_epoch,
    } = hello;
    let generation = app.dataplanes.connect(&node_id, last_version);
    tracing::info!(node_id, last_version, last_epoch, "data plane connected");
    let mut versions = app.store.subscribe();
    // A node that applied a snapshot of another epoch gets ours even at an equal version.
    let mut sent = (last_version == 0 || last_epoch == *app.store.epoch()).then_some(last_version);
    let mut stopping = app.stopping.subscribe();
    loop {
        let current = *versions.borrow_and_update();
        if sent != Some(current) {
            let snap = app.store.snapshot();
            let version = snap.version;
            let msg = ControlPlaneMessage {
                msg: Some(control_plane_message::Msg::Snapshot((*snap).clone())),
            };
            if tx.send(Ok(msg)).await.is_err() {
                break;
            }
            if let Some(at) = app.store.committed_at(version) {
                app.metrics.push_latency(at.elapsed());
            }
            app.metrics.snapshot_sent();
            app.dataplanes.sent(&node_id, generation, version);
            sent = Some(version);
        }
        tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            msg = inbound.message() => {
                match msg {
                    Ok(Some(m)) => handle(&app, &node_id, generation, m),
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(node_id, %status, "data plane stream error");
                        break;
                    }
                }
            }
            _ = tx.closed() => break,
            _ = stopping.wait_for(|s| *s) => break,
        }
    }
    app.dataplanes.disconnect(&node_id, generation);
    tracing::info!(node_id, "data plane disconnected");
}

fn handle(app: &App, node_id: &str, generation: u64, m: DataPlaneMessage) {
    match m.msg {
        Some(data_plane_message::Msg::Ack(a)) => {
            app.metrics.ack(true);
            app.dataplanes.ack(node_id, generation, a.version);
        }
        Some(data_plane_message::Msg::Nack(n)) => {
            app.metrics.ack(false);
            tracing::warn!(node_id, version = n.version, error = %n.error, "data plane rejected snapshot");
            app.dataplanes.nack(node_id, generation, n.version, n.error);
        }
        Some(data_plane_message::Msg::Health(h)) => {
            let report = h
                .endpoints
                .into_iter()
                .map(|e| EndpointHealthInfo {
                    provider: e.provider,
                    base_url: e.base_url,
                    healthy: e.healthy,
                    latency_ewma_ms: e.latency_ewma_ms,
                    success_rate: e.success_rate,
                    consecutive_failures: e.consecutive_failures,
                    total_requests: e.total_requests,
                })
                .collect();
            app.dataplanes.health(node_id, generation, report);
        }
        Some(data_plane_message::Msg::Hello(_)) => {
            tracing::debug!(node_id, "ignoring a second Hello on the same stream");
        }
        None => {}
    }
}
