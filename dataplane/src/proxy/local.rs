//! Answers from a provider that answers inside the gateway (the built-in echo provider):
//! no upstream, a whole body or an event stream paced by the provider's `pace`.

use bytes::BytesMut;
use sluice_translate::Usage;

use super::downstream::Downstream as Session;
use super::relay::{sse_header, OUT_BUF_START};
use super::whole::add_response_extras;
use super::{respond, RequestCtx};
use crate::chat_request::ChatRequest;
use crate::config::Provider;
use crate::metrics;
use crate::provider::echo;
use crate::resolve::Candidate;

/// Answers `req` locally, whole or streamed as the client asked.
pub async fn answer(
    session: &mut Session,
    rctx: &mut RequestCtx,
    provider: &Provider,
    candidate: &Candidate,
    req: &ChatRequest,
) {
    let answer = echo::answer(req);
    let id = format!("chatcmpl-{}", rctx.request_id);
    rctx.usage = Some(Usage {
        prompt_tokens: answer.prompt_tokens,
        completion_tokens: answer.completion_tokens,
        total_tokens: answer
            .prompt_tokens
            .saturating_add(answer.completion_tokens),
        ..Usage::default()
    });
    rctx.status = 200;
    if !req.stream {
        let body = add_response_extras(
            echo::completion(&answer, &id, &candidate.model),
            &provider.name,
            rctx.start.elapsed().as_millis() as u64,
        );
        let _ = respond::send_body(
            session,
            200,
            "application/json",
            body,
            &rctx.request_id,
            Some(&provider.name),
            &[],
        )
        .await;
        return;
    }
    metrics::first_token(
        rctx.route_label(),
        &provider.name,
        rctx.start.elapsed().as_secs_f64(),
    );
    // One event at a time: memory does not grow with the answer.
    let mut events = echo::EchoStream::new(&answer, &id, &candidate.model, req.include_usage);
    let mut out = BytesMut::with_capacity(OUT_BUF_START);
    let mut first = true;
    while events.next_event(&mut out) {
        let ev = out.split().freeze();
        let written = if std::mem::take(&mut first) {
            session
                .start_event_stream(sse_header(rctx, &provider.name), ev)
                .await
        } else {
            if !provider.pace.is_zero() {
                tokio::time::sleep(provider.pace).await;
            }
            session.write_response_body(ev, false).await
        };
        if written.is_err() {
            return;
        }
    }
    let _ = session.finish_body().await;
}
