//! Streamed answers: upstream chunks go through the provider's relay (passthrough scanner
//! or translator) to the client as they arrive. The response head leaves only with the
//! first bytes for the client, so a failure before then can still move to another
//! candidate; after that a failure ends the stream with an error event.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::downstream::Downstream as Session;
use super::{respond, RequestCtx};
use crate::chat_request::ClientRequest;
use crate::config::Provider;
use crate::error::AttemptError;
use crate::metrics;
use super::attempt::answer_ctx;
use crate::provider::Adapter;
use crate::resolve::Candidate;
use crate::upstream::InboundResponse;

/// Initial size of a stream's output buffer: one translated event fits; it grows on demand
/// and is held by every open stream, so it starts small.
pub const OUT_BUF_START: usize = 512;

/// The head of an event stream (a Gemini JSON-array stream is `application/json`).
pub fn sse_header(rctx: &RequestCtx, provider: &str) -> Box<pingora_http::ResponseHeader> {
    let content_type = if rctx.json_array {
        "application/json"
    } else {
        "text/event-stream"
    };
    let mut h = respond::header(200, content_type, &rctx.request_id, Some(provider));
    let _ = h.insert_header("cache-control", "no-cache");
    // Without an explicit length or chunking, Pingora frames the body by closing the
    // connection, so a client could never reuse its connection after a stream.
    let _ = h.insert_header("transfer-encoding", "chunked");
    let _ = h.insert_header("x-accel-buffering", "no");
    h
}

/// Relays a streamed answer. `Err` only when nothing reached the client and another
/// candidate may try; an error that may not be retried is answered here.
#[allow(clippy::too_many_arguments)]
pub async fn stream(
    session: &mut Session,
    rctx: &mut RequestCtx,
    adapter: Adapter,
    provider: &Provider,
    candidate: &Candidate,
    req: &ClientRequest,
    resp: &mut InboundResponse,
    idle_timeout: Duration,
    deadline: Option<Instant>,
) -> Result<(), AttemptError> {
    let mut relay = adapter.stream_relay(&answer_ctx(rctx, &candidate.model, req));
    let mut out = BytesMut::with_capacity(OUT_BUF_START);
    let mut started = false;
    loop {
        let timeout = deadline.map_or(idle_timeout, |d| {
            d.saturating_duration_since(Instant::now())
                .min(idle_timeout)
        });
        let (mut failure, finished) = match resp.next_chunk(timeout).await {
            Ok(Some(chunk)) => (
                relay
                    .feed(chunk, &mut out)
                    .err()
                    .map(AttemptError::from_answer),
                false,
            ),
            Ok(None) => (
                relay.finish(&mut out).err().map(AttemptError::from_answer),
                true,
            ),
            Err(f) => (
                Some(AttemptError::from_stream_failure(&f, &provider.name)),
                false,
            ),
        };
        if let Some(e) = failure.take_if(|_| !started && out.is_empty()) {
            if e.retryable() {
                return Err(e);
            }
            // An error that may not be retried, before any content: a plain error answer.
            rctx.status = e.error.status();
            let _ = Box::pin(respond::send_error(
                session,
                &e.error,
                &rctx.request_id,
                Some(&provider.name),
                rctx.surface,
            ))
            .await;
            return Ok(());
        }
        if !out.is_empty() {
            if let Some(e) = &failure {
                relay.write_error(&e.error, &answer_ctx(rctx, &candidate.model, req), &mut out);
                tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, error = %e.error, "stream failed after content was sent");
            }
            let data = out.split().freeze();
            let written = if started {
                session.write_response_body(data, false).await
            } else {
                started = true;
                rctx.status = 200;
                rctx.ttft = Some(rctx.start.elapsed());
                metrics::first_token(
                    rctx.route_label(),
                    &provider.name,
                    rctx.start.elapsed().as_secs_f64(),
                );
                // The head leaves together with the first event.
                session
                    .start_event_stream(sse_header(rctx, &provider.name), data)
                    .await
            };
            if written.is_err() {
                // Client went away; stop reading upstream.
                rctx.usage = relay.usage();
                return Ok(());
            }
        } else if let Some(e) = &failure {
            relay.write_error(&e.error, &answer_ctx(rctx, &candidate.model, req), &mut out);
            let _ = session
                .write_response_body(out.split().freeze(), false)
                .await;
        }
        if finished || failure.is_some() {
            rctx.usage = relay.usage();
            let _ = session.finish_body().await;
            return Ok(());
        }
    }
}
