//! `POST /v1/chat/completions`: the data plane's own upstream exchange loop. Model
//! resolution → plan → per attempt: build the request for the target's protocol from the
//! one parsed body, send, and relay the answer (passthrough or translated) chunk by chunk.
//! Failures before the first byte reaches the client move on to the next candidate; after
//! that, a failure ends the stream with an OpenAI-style error event.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::downstream::Downstream as Session;
use bytes::{Bytes, BytesMut};
use sluice_translate::{
    anthropic, gemini, openai, ResponseContext, StreamTranslator, UpstreamError, Usage,
};

use super::respond;
use super::RequestCtx;
use crate::chat_request::{write_json_str, ChatRequest};
use crate::config::{Endpoint, Protocol, Provider, RuntimeConfig};
use crate::error::GatewayError;
use crate::resolve::{resolve, Candidate};
use crate::routing::Outcome;
use crate::upstream::{self, AttemptFailure, InboundResponse, OutboundRequest};
use crate::{echo, metrics, AppState};
use sluice_route::Permit;

/// Upper bound on a non-streamed upstream answer.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Upper bound on an upstream error body we read.
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// Initial size of a stream's output buffer: one translated event fits; it grows on demand
/// and is held by every open stream, so it starts small.
const OUT_BUF_START: usize = 512;

/// How a streamed attempt ended.
enum StreamEnd {
    /// Answer relayed to the end (or the client went away).
    Done,
    /// Failed before anything reached the client: try the next candidate.
    Retry(GatewayError, Outcome),
}

/// Serves one chat completion. `Err` only when nothing was written to the client yet.
pub async fn serve(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    cfg: &RuntimeConfig,
    req: ChatRequest,
) -> Result<(), GatewayError> {
    let res = resolve(cfg, &req)?;
    rctx.route = res.route.clone();
    let plan = state.router.plan(cfg, &res);
    let pinned = req.pin.is_some();
    if plan.candidates.is_empty() {
        return Err(GatewayError::Unavailable(
            "no enabled provider for this model".into(),
        ));
    }
    // Every candidate is ejected (failures or an upstream Retry-After): answer at once
    // rather than hammer a provider that asked for a pause. A pinned request (seed 003's
    // debugging and health-check use) still goes through.
    if plan.available == 0 && res.fallbacks.is_empty() && !pinned {
        return Err(all_ejected(plan.retry_after));
    }
    let retries = req
        .retry_count
        .unwrap_or(res.retries)
        .min(cfg.server.max_retries);
    // Every named fallback gets its turn even when retries are fewer.
    let attempts = (1 + retries as usize).max(1 + res.fallbacks.len());
    let deadline = req.timeout.map(|t| rctx.start + t);
    let mut last_err: Option<GatewayError> = None;
    let mut translate_err: Option<GatewayError> = None;
    let mut made = 0usize;

    // Walk the plan (cycling when retries exceed candidates); an ejected candidate is
    // skipped without using up an attempt.
    for step in 0..plan.candidates.len() * (attempts + 1) {
        if made >= attempts {
            break;
        }
        // The plan and the config snapshot are built together: candidate and provider
        // indexes are always in range; a miss would only skip the candidate.
        let Some(cand) = plan.candidates.get(step % plan.candidates.len()) else {
            continue;
        };
        let Some(provider) = cfg.providers.get(cand.provider) else {
            continue;
        };
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            last_err = Some(GatewayError::Timeout(
                "the request's timeout expired before an answer started".into(),
            ));
            break;
        }
        let timeout = remaining.map_or(provider.timeout, |r| r.min(provider.timeout));

        let choice = match state.router.pick_endpoint(cfg, cand.provider) {
            Some(c) => c,
            None if pinned => match state.router.force_endpoint(cfg, cand.provider) {
                Some(c) => c,
                None => continue,
            },
            None => {
                if last_err.is_none() {
                    last_err = Some(all_ejected(
                        state.router.provider_retry_after(cfg, cand.provider),
                    ));
                }
                continue;
            }
        };
        made += 1;
        rctx.provider = Some(provider.name.clone());
        rctx.model = Some(cand.model.clone());
        rctx.attempts += 1;

        if provider.kind.protocol() == Protocol::Echo {
            let t0 = Instant::now();
            let r = Box::pin(serve_echo(session, rctx, provider, cand, &req)).await;
            finish(provider, choice.permit, Outcome::Success, t0.elapsed());
            return r;
        }
        let Some(ep) = provider.endpoints.get(choice.index) else {
            continue;
        };
        let outbound = match build_outbound(provider, ep, cand, &req) {
            Ok(o) => o,
            Err(e) => {
                // This provider cannot express the request; another candidate may.
                translate_err.get_or_insert(e);
                continue;
            }
        };
        let t0 = Instant::now();
        // Boxed: the send future (pool lookup, connect, exchange) is the largest part of
        // this state machine, and every open stream would otherwise carry its space.
        let mut resp = match Box::pin(state.upstream.send(outbound, timeout)).await {
            Ok(r) => r,
            Err(f) => {
                finish(provider, choice.permit, failure_outcome(&f), t0.elapsed());
                tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, error = %f, "upstream attempt failed");
                last_err = Some(failure_error(&f, &provider.name));
                continue;
            }
        };
        let ttfb = t0.elapsed();
        if !(200..300).contains(&resp.status) {
            let body = Box::pin(resp.read_all(MAX_ERROR_BODY, timeout))
                .await
                .unwrap_or_default();
            let status = resp.status;
            let retry_after = resp.retry_after.clone();
            state.upstream.release(resp);
            let err = upstream_error(provider, status, &body, retry_after.as_deref());
            let outcome = Outcome::from_status(status, err.retry_after().map(Duration::from_secs));
            finish(provider, choice.permit, outcome, ttfb);
            if outcome.is_retryable() {
                tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, status, "upstream error; trying next candidate");
                last_err = Some(err);
                continue;
            }
            return Err(err);
        }
        if req.stream {
            match relay_stream(
                session, rctx, provider, cand, &req, &mut resp, timeout, deadline,
            )
            .await
            {
                StreamEnd::Done => {
                    finish(provider, choice.permit, Outcome::Success, ttfb);
                    state.upstream.release(resp);
                    return Ok(());
                }
                StreamEnd::Retry(err, outcome) => {
                    finish(provider, choice.permit, outcome, ttfb);
                    last_err = Some(err);
                    continue;
                }
            }
        }
        let body = match resp.read_all(MAX_UPSTREAM_BODY, timeout).await {
            Ok(b) => b,
            Err(f) => {
                finish(provider, choice.permit, failure_outcome(&f), t0.elapsed());
                last_err = Some(failure_error(&f, &provider.name));
                continue;
            }
        };
        state.upstream.release(resp);
        let (body, usage) = match provider.kind.protocol() {
            Protocol::Anthropic | Protocol::Gemini => {
                let ctx = response_ctx(rctx, cand, &req);
                let r = if provider.kind.protocol() == Protocol::Anthropic {
                    anthropic::translate_response(&body, &ctx)
                } else {
                    gemini::translate_response(&body, &ctx)
                };
                match r {
                    Ok((b, u)) => (Bytes::from(b), u),
                    Err(e) => {
                        let retry = e.is_retryable();
                        let err = from_upstream_error(e);
                        finish(provider, choice.permit, Outcome::StreamError, ttfb);
                        if retry {
                            last_err = Some(err);
                            continue;
                        }
                        return Err(err);
                    }
                }
            }
            _ => {
                let usage = openai::scan_usage(&body);
                (body, usage)
            }
        };
        finish(provider, choice.permit, Outcome::Success, ttfb);
        rctx.usage = usage;
        let latency_ms = rctx.start.elapsed().as_millis() as u64;
        let body = add_response_extras(body, &provider.name, latency_ms);
        rctx.status = 200;
        if let Err(e) = respond::send_body(
            session,
            200,
            "application/json",
            body,
            &rctx.request_id,
            Some(&provider.name),
            &[],
        )
        .await
        {
            tracing::debug!(error = %e, "client went away");
        }
        return Ok(());
    }
    Err(last_err
        .or(translate_err)
        .unwrap_or_else(|| GatewayError::Unavailable("no provider could serve the request".into())))
}

fn all_ejected(retry_after: Option<Duration>) -> GatewayError {
    GatewayError::Upstream {
        status: 503,
        error_type: "service_unavailable".into(),
        code: Some("no_healthy_upstream".into()),
        message: "every provider for this model is temporarily ejected (recent failures or an upstream Retry-After); try again later".into(),
        passthrough_body: None,
        retry_after: Some(retry_after.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64)),
    }
}

/// Feeds an attempt's outcome to health and metrics.
fn finish(provider: &Provider, permit: Permit, outcome: Outcome, latency: Duration) {
    metrics::attempt(&provider.name, outcome.label());
    permit.record(outcome, latency, Instant::now());
}

fn failure_outcome(f: &AttemptFailure) -> Outcome {
    match f {
        AttemptFailure::Connect(_) => Outcome::ConnectError,
        AttemptFailure::Timeout => Outcome::Timeout,
        AttemptFailure::Io(_) => Outcome::StreamError,
    }
}

fn failure_error(f: &AttemptFailure, provider: &str) -> GatewayError {
    match f {
        AttemptFailure::Timeout => {
            GatewayError::Timeout(format!("provider '{provider}' did not answer in time"))
        }
        other => GatewayError::Upstream {
            status: 502,
            error_type: "server_error".into(),
            code: Some("upstream_unreachable".into()),
            message: format!("provider '{provider}': {other}"),
            passthrough_body: None,
            retry_after: None,
        },
    }
}

fn from_upstream_error(e: UpstreamError) -> GatewayError {
    GatewayError::Upstream {
        status: e.status,
        error_type: e.error_type.to_string(),
        code: e.code,
        message: e.message,
        passthrough_body: None,
        retry_after: e.retry_after_secs,
    }
}

/// An upstream error status in OpenAI terms: OpenAI-compatible bodies pass through as they
/// are; Anthropic/Gemini errors are translated (429 stays 429, 529 → 503, ...).
fn upstream_error(
    provider: &Provider,
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
) -> GatewayError {
    let retry_after_secs = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    match provider.kind.protocol() {
        Protocol::Anthropic | Protocol::Gemini => {
            let mut e = if provider.kind.protocol() == Protocol::Anthropic {
                anthropic::translate_error(status, body)
            } else {
                gemini::translate_error(status, body)
            };
            if e.retry_after_secs.is_none() {
                e.retry_after_secs = retry_after_secs;
            }
            from_upstream_error(e)
        }
        _ => {
            let is_openai_error = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .is_some_and(|v| v.get("error").is_some_and(|e| e.is_object()));
            GatewayError::Upstream {
                status,
                error_type: UpstreamError::type_for_status(status).to_string(),
                code: None,
                message: format!(
                    "provider '{}' answered {status}: {}",
                    provider.name,
                    String::from_utf8_lossy(body.get(..512).unwrap_or(body))
                ),
                passthrough_body: is_openai_error.then(|| Bytes::copy_from_slice(body)),
                retry_after: retry_after_secs,
            }
        }
    }
}

fn join_path(base: &str, suffix: &str) -> String {
    let mut p = String::with_capacity(base.len() + suffix.len());
    p.push_str(base);
    p.push_str(suffix);
    p
}

/// Builds the upstream request for the candidate's protocol from the one parsed body.
fn build_outbound<'a>(
    provider: &Provider,
    ep: &'a Endpoint,
    cand: &Candidate,
    req: &ChatRequest,
) -> Result<OutboundRequest<'a>, GatewayError> {
    let key = ep.api_key.expose();
    let translate_err = |e: sluice_translate::TranslateError| GatewayError::InvalidRequest {
        message: format!(
            "provider '{}' cannot serve this request: {}",
            provider.name, e.message
        ),
        param: e.param,
    };
    let mut headers = upstream::auth_headers(provider.kind, key);
    if req.stream {
        headers.push(("accept", "text/event-stream".to_string()));
    }
    let root = upstream::api_root(provider.kind, &ep.base_url);
    let (path, body) = match provider.kind.protocol() {
        Protocol::OpenAi | Protocol::Echo => (
            join_path(root, "/chat/completions"),
            req.passthrough_body(&cand.model),
        ),
        Protocol::Anthropic => {
            let built = anthropic::build_request_from(req, &cand.model).map_err(translate_err)?;
            (join_path(root, anthropic::PATH), Bytes::from(built.body))
        }
        Protocol::Gemini => {
            let built = gemini::build_request_from(req, &cand.model).map_err(translate_err)?;
            (
                join_path(root, &gemini::path(&cand.model, req.stream)),
                Bytes::from(built.body),
            )
        }
    };
    Ok(OutboundRequest {
        method: "POST",
        base: &ep.base_url,
        path,
        headers,
        body,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn response_ctx(rctx: &RequestCtx, cand: &Candidate, req: &ChatRequest) -> ResponseContext {
    ResponseContext {
        model: cand.model.clone(),
        include_usage: req.include_usage,
        created: unix_now(),
        id: format!("chatcmpl-{}", rctx.request_id),
    }
}

/// Adds seed 001's `provider` and `latency_ms` to a JSON object body without re-serialising it.
pub fn add_response_extras(body: Bytes, provider: &str, latency_ms: u64) -> Bytes {
    let Some(end) = body.iter().rposition(|&b| b == b'}') else {
        return body;
    };
    let (head, tail) = body.split_at(end);
    let inner_empty = head.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return body;
    }
    let mut out = BytesMut::with_capacity(body.len() + provider.len() + 40);
    out.extend_from_slice(head);
    if !inner_empty {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(b"\"provider\":");
    write_json_str(&mut out, provider);
    out.extend_from_slice(b",\"latency_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(latency_ms).as_bytes());
    out.extend_from_slice(tail);
    out.freeze()
}

enum Relay {
    Passthrough(openai::PassthroughScanner),
    Translate(Box<dyn StreamTranslator>),
}

impl Relay {
    fn usage(&self) -> Option<Usage> {
        match self {
            Self::Passthrough(s) => s.usage(),
            Self::Translate(t) => t.usage(),
        }
    }
}

fn sse_header(rctx: &RequestCtx, provider: &str) -> Box<pingora_http::ResponseHeader> {
    let mut h = respond::header(200, "text/event-stream", &rctx.request_id, Some(provider));
    let _ = h.insert_header("cache-control", "no-cache");
    // Without an explicit length or chunking, Pingora frames the body by closing the
    // connection, so a client could never reuse its connection after a stream.
    let _ = h.insert_header("transfer-encoding", "chunked");
    let _ = h.insert_header("x-accel-buffering", "no");
    h
}

/// Relays a streamed answer. Response headers are written only with the first bytes for
/// the client, so that a failure before then can still move to another candidate.
#[allow(clippy::too_many_arguments)]
async fn relay_stream(
    session: &mut Session,
    rctx: &mut RequestCtx,
    provider: &Provider,
    cand: &Candidate,
    req: &ChatRequest,
    resp: &mut InboundResponse,
    idle_timeout: Duration,
    deadline: Option<Instant>,
) -> StreamEnd {
    let mut relay = match provider.kind.protocol() {
        Protocol::Anthropic => Relay::Translate(Box::new(
            anthropic::AnthropicStreamTranslator::new(response_ctx(rctx, cand, req)),
        )),
        Protocol::Gemini => Relay::Translate(Box::new(gemini::GeminiStreamTranslator::new(
            response_ctx(rctx, cand, req),
        ))),
        _ => Relay::Passthrough(openai::PassthroughScanner::new(!req.include_usage)),
    };
    let mut out = BytesMut::with_capacity(OUT_BUF_START);
    let mut started = false;
    loop {
        let timeout = deadline.map_or(idle_timeout, |d| {
            d.saturating_duration_since(Instant::now())
                .min(idle_timeout)
        });
        let next = resp.next_chunk(timeout).await;
        let mut failure: Option<(UpstreamError, Outcome)> = None;
        let mut finished = false;
        match next {
            Ok(Some(chunk)) => match &mut relay {
                Relay::Passthrough(s) => {
                    if let Some(b) = s.scan(&chunk) {
                        out.extend_from_slice(&b);
                    }
                }
                Relay::Translate(t) => {
                    if let Err(e) = t.feed(chunk, &mut out) {
                        failure = Some((e, Outcome::StreamError));
                    }
                }
            },
            Ok(None) => {
                finished = true;
                match &mut relay {
                    Relay::Passthrough(s) => {
                        if let Some(b) = s.finish() {
                            out.extend_from_slice(&b);
                        }
                        if !s.saw_done() {
                            failure = Some((
                                UpstreamError::new(
                                    502,
                                    "server_error",
                                    "upstream stream ended before [DONE]",
                                ),
                                Outcome::StreamError,
                            ));
                        }
                    }
                    Relay::Translate(t) => {
                        if let Err(e) = t.finish(&mut out) {
                            failure = Some((e, Outcome::StreamError));
                        }
                    }
                }
            }
            Err(f) => {
                let outcome = failure_outcome(&f);
                let (status, kind) = match f {
                    AttemptFailure::Timeout => (504, "timeout_error"),
                    _ => (502, "server_error"),
                };
                failure = Some((
                    UpstreamError::new(status, kind, format!("provider '{}': {f}", provider.name)),
                    outcome,
                ));
            }
        }
        if let Some((e, outcome)) = failure.take_if(|_| !started && out.is_empty()) {
            let retryable = e.is_retryable() || outcome != Outcome::StreamError;
            let err = from_upstream_error(e);
            if retryable {
                return StreamEnd::Retry(err, outcome);
            }
            // A non-retryable error before any content: answer it as a plain error.
            rctx.status = err.status();
            let _ = Box::pin(respond::send_error(
                session,
                &err,
                &rctx.request_id,
                Some(&provider.name),
            ))
            .await;
            return StreamEnd::Done;
        }
        if !out.is_empty() {
            if let Some((e, _)) = &failure {
                openai::write_error_event(e, &mut out);
                tracing::warn!(request_id = %rctx.request_id, provider = %provider.name, error = %e, "stream failed after content was sent");
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
                return StreamEnd::Done;
            }
        } else if let Some((e, _)) = &failure {
            openai::write_error_event(e, &mut out);
            let _ = session
                .write_response_body(out.split().freeze(), false)
                .await;
        }
        if finished || failure.is_some() {
            rctx.usage = relay.usage();
            let _ = session.finish_body().await;
            return StreamEnd::Done;
        }
    }
}

async fn serve_echo(
    session: &mut Session,
    rctx: &mut RequestCtx,
    provider: &Provider,
    cand: &Candidate,
    req: &ChatRequest,
) -> Result<(), GatewayError> {
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
            echo::completion(&answer, &id, &cand.model),
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
        return Ok(());
    }
    metrics::first_token(
        rctx.route_label(),
        &provider.name,
        rctx.start.elapsed().as_secs_f64(),
    );
    // One event at a time: memory does not grow with the answer.
    let mut events = echo::EchoStream::new(&answer, &id, &cand.model, req.include_usage);
    let mut out = BytesMut::with_capacity(512);
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
            return Ok(());
        }
    }
    let _ = session.finish_body().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_are_appended_without_reserialising() {
        let b = add_response_extras(Bytes::from_static(b"{\"a\": [1, 2]}\n"), "p\"1", 12);
        assert_eq!(
            &b[..],
            b"{\"a\": [1, 2],\"provider\":\"p\\\"1\",\"latency_ms\":12}\n"
        );
        let b = add_response_extras(Bytes::from_static(b" { } "), "p", 1);
        assert_eq!(&b[..], b" { \"provider\":\"p\",\"latency_ms\":1} ");
        let b = add_response_extras(Bytes::from_static(b"[1]"), "p", 1);
        assert_eq!(&b[..], b"[1]");
    }
}
