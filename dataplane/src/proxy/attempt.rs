//! One upstream attempt: the provider builds the request, it is sent to the chosen
//! endpoint, the answer is relayed (streamed or whole) or its error translated, and the
//! outcome is recorded for health and metrics. The retry verdict comes with the error
//! ([`AttemptError`]); this module only reports how the attempt ended.

use std::time::{Duration, Instant};

use super::downstream::Downstream as Session;
use super::plan::Attempt;
use super::{local, relay, whole, RequestCtx};
use crate::chat_request::ClientRequest;
use crate::config::Provider;
use crate::error::{AttemptError, GatewayError};
use crate::provider::{self, Adapter, AnswerContext};
use crate::routing::Outcome;
use crate::upstream::InboundResponse;
use crate::{metrics, AppState};
use sluice_route::Permit;

/// Upper bound on an upstream error body we read.
pub(super) const MAX_ERROR_BODY: usize = 1024 * 1024;

/// How an attempt ended.
pub enum AttemptEnd {
    /// The client got its answer (or a final error written in the answer's place).
    Served,
    /// Nothing reached the client; the error says whether the next candidate may try.
    Failed(AttemptError),
    /// This provider cannot express the request; another candidate may.
    Unsupported(GatewayError),
    /// The admitted endpoint is not in the snapshot (never expected): try the next one.
    Skipped,
}

/// What shaping the answer needs: the request's id, surface and streaming form, and the
/// model the candidate names.
pub fn answer_ctx<'a>(
    rctx: &'a RequestCtx,
    model: &'a str,
    req: &ClientRequest,
) -> AnswerContext<'a> {
    AnswerContext {
        request_id: &rctx.request_id,
        model,
        include_usage: req.include_usage,
        client: rctx.surface,
        json_array: rctx.json_array,
    }
}

/// Runs one attempt for `req`.
pub async fn run(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    req: &ClientRequest,
    attempt: Attempt<'_>,
) -> AttemptEnd {
    let Attempt {
        candidate,
        provider,
        endpoint,
        timeout,
        deadline,
    } = attempt;
    rctx.provider = Some(provider.name.clone());
    rctx.model = Some(candidate.model.clone());
    rctx.attempts += 1;
    let adapter = provider::for_kind(provider.kind);

    if adapter.answers_locally() {
        let t0 = Instant::now();
        Box::pin(local::answer(session, rctx, provider, candidate, req)).await;
        record(provider, endpoint.permit, Outcome::Success, t0.elapsed());
        return AttemptEnd::Served;
    }
    let Some(ep) = provider.endpoints.get(endpoint.index) else {
        return AttemptEnd::Skipped;
    };
    let outbound = match adapter.build_request(
        provider,
        ep,
        &candidate.model,
        req,
        rctx.anthropic_beta.as_deref(),
    ) {
        Ok(o) => o,
        Err(e) => return AttemptEnd::Unsupported(e),
    };
    let t0 = Instant::now();
    // Boxed: the send future (pool lookup, connect, exchange) is the largest part of
    // this state machine, and every open stream would otherwise carry its space.
    let mut resp = match Box::pin(state.upstream.send(outbound, timeout)).await {
        Ok(r) => r,
        Err(f) => {
            tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, error = %f, "upstream attempt failed");
            let e = AttemptError::from_failure(&f, &provider.name);
            return failed(provider, endpoint.permit, e, t0.elapsed());
        }
    };
    let ttfb = t0.elapsed();
    if !(200..300).contains(&resp.status) {
        let e = error_answer(state, adapter, provider, resp, timeout).await;
        if e.retryable() {
            tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, status = e.error.status(), "upstream error; trying next candidate");
        }
        return failed(provider, endpoint.permit, e, ttfb);
    }
    if req.stream {
        let relayed = relay::stream(
            session, rctx, adapter, provider, candidate, req, &mut resp, timeout, deadline,
        )
        .await;
        return match relayed {
            Ok(()) => {
                record(provider, endpoint.permit, Outcome::Success, ttfb);
                state.upstream.release(resp);
                AttemptEnd::Served
            }
            Err(e) => failed(provider, endpoint.permit, e, ttfb),
        };
    }
    let body = match resp.read_all(whole::MAX_BODY, timeout).await {
        Ok(b) => b,
        Err(f) => {
            let e = AttemptError::from_failure(&f, &provider.name);
            return failed(provider, endpoint.permit, e, t0.elapsed());
        }
    };
    state.upstream.release(resp);
    let answer = answer_ctx(rctx, &candidate.model, req);
    let extras = answer.openai_chat();
    let (body, usage) = match adapter.translate_response(body, &answer) {
        Ok(a) => a,
        Err(e) => return failed(provider, endpoint.permit, e, ttfb),
    };
    record(provider, endpoint.permit, Outcome::Success, ttfb);
    whole::send(session, rctx, provider, body, usage, extras).await;
    AttemptEnd::Served
}

/// Reads and translates an error answer, handing the connection back.
pub(super) async fn error_answer(
    state: &AppState,
    adapter: Adapter,
    provider: &Provider,
    mut resp: InboundResponse,
    timeout: Duration,
) -> AttemptError {
    let body = Box::pin(resp.read_all(MAX_ERROR_BODY, timeout))
        .await
        .unwrap_or_default();
    let status = resp.status;
    let retry_after = resp.retry_after.take();
    state.upstream.release(resp);
    adapter.translate_error(provider, status, &body, retry_after.as_deref())
}

pub(super) fn failed(provider: &Provider, permit: Permit, e: AttemptError, latency: Duration) -> AttemptEnd {
    record(provider, permit, e.outcome, latency);
    AttemptEnd::Failed(e)
}

/// Feeds an attempt's outcome to health and metrics.
pub(super) fn record(provider: &Provider, permit: Permit, outcome: Outcome, latency: Duration) {
    metrics::attempt(&provider.name, outcome.label());
    permit.record(outcome, latency, Instant::now());
}
