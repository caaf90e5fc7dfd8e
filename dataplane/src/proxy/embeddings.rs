//! `POST /v1/embeddings`: resolved, planned and retried like every LLM request; each
//! attempt's provider builds its embeddings request (passed through to OpenAI-compatible
//! upstreams, translated for Gemini; providers that cannot embed are skipped as
//! unsupported) and the answer is written whole, in OpenAI's shape.

use std::time::Instant;

use sluice_translate::embeddings::EmbeddingsRequest;

use super::attempt::{error_answer, failed, record, AttemptEnd};
use super::downstream::Downstream as Session;
use super::govern;
use super::plan::{Attempt, AttemptPlan, Failures};
use super::{whole, RequestCtx};
use crate::chat_request::ClientRequest;
use crate::config::RuntimeConfig;
use crate::error::{AttemptError, GatewayError};
use crate::provider;
use crate::routing::Outcome;
use crate::AppState;

/// Serves one embeddings request. `Err` only when nothing was written to the client yet.
pub async fn serve(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    cfg: &RuntimeConfig,
    req: ClientRequest,
    emb: EmbeddingsRequest,
) -> Result<(), GatewayError> {
    let res = govern::resolve_allowed(cfg, rctx, &req)?;
    rctx.route = res.route.clone();
    govern::admit_request(state, cfg, rctx, &req, &res, false).await?;
    let mut plan = AttemptPlan::new(state, cfg, &res, &req, rctx.start)?;
    let mut failures = Failures::default();
    while let Some(next) = plan.next(state, cfg, &mut failures) {
        if let Err(e) = govern::admit_provider(state, cfg, rctx, &req, next.provider, false).await {
            drop(next);
            plan.skipped();
            failures.failed(e);
            continue;
        }
        match run(state, session, rctx, &req, &emb, next).await {
            AttemptEnd::Served => return Ok(()),
            AttemptEnd::Failed(e) if e.retryable() => failures.failed(e.error),
            AttemptEnd::Failed(e) => return Err(e.error),
            AttemptEnd::Unsupported(e) => failures.unsupported(e),
            AttemptEnd::Skipped => {}
        }
    }
    Err(failures.into_error())
}

/// One embeddings attempt.
async fn run(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    req: &ClientRequest,
    emb: &EmbeddingsRequest,
    attempt: Attempt<'_>,
) -> AttemptEnd {
    let Attempt {
        candidate,
        provider,
        endpoint,
        timeout,
        ..
    } = attempt;
    let adapter = provider::for_kind(provider.kind);
    let Some(ep) = provider.endpoints.get(endpoint.index) else {
        return AttemptEnd::Skipped;
    };
    let outbound = match adapter.embeddings_request(provider, ep, &candidate.model, req, emb) {
        Ok(Some(o)) => o,
        Ok(None) => {
            return AttemptEnd::Unsupported(GatewayError::InvalidRequest {
                message: format!("provider '{}' cannot create embeddings", provider.name),
                param: Some("model".into()),
            })
        }
        Err(e) => return AttemptEnd::Unsupported(e),
    };
    rctx.provider = Some(provider.name.clone());
    rctx.model = Some(candidate.model.clone());
    rctx.attempts += 1;
    let t0 = Instant::now();
    let mut resp = match Box::pin(state.upstream.send(outbound, timeout)).await {
        Ok(r) => r,
        Err(f) => {
            let e = AttemptError::from_failure(&f, &provider.name);
            return failed(provider, endpoint.permit, e, t0.elapsed());
        }
    };
    let ttfb = t0.elapsed();
    if !(200..300).contains(&resp.status) {
        let e = error_answer(state, adapter, provider, resp, timeout).await;
        return failed(provider, endpoint.permit, e, ttfb);
    }
    let body = match resp.read_all(whole::MAX_BODY, timeout).await {
        Ok(b) => b,
        Err(f) => {
            let e = AttemptError::from_failure(&f, &provider.name);
            return failed(provider, endpoint.permit, e, t0.elapsed());
        }
    };
    state.upstream.release(resp);
    let (body, usage) = match adapter.embeddings_response(body, emb, &candidate.model) {
        Ok(a) => a,
        Err(e) => return failed(provider, endpoint.permit, e, ttfb),
    };
    record(provider, endpoint.permit, Outcome::Success, ttfb);
    whole::send(session, rctx, provider, body, usage, false).await;
    AttemptEnd::Served
}
