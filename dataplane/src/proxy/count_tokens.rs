//! `POST /v1/messages/count_tokens`: the model resolves as for a request; when a
//! candidate's provider counts tokens itself (Anthropic), the client's body goes to it
//! with the upstream model and its answer is relayed; otherwise the gateway answers with
//! an estimate (`sluice_translate::anthropic::estimate_input_tokens`), marked by
//! `x-sluice-token-count: estimate`.

use std::time::Instant;

use bytes::Bytes;
use sluice_translate::openai::RequestLimits;

use super::attempt::{error_answer, record, MAX_ERROR_BODY};
use super::downstream::Downstream as Session;
use super::{respond, RequestCtx};
use crate::chat_request::ClientRequest;
use crate::config::RuntimeConfig;
use crate::error::{AttemptError, GatewayError};
use crate::provider;
use crate::routing::Outcome;
use crate::AppState;

/// Serves one token count. `Err` only when nothing was written to the client yet.
pub async fn serve(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    cfg: &RuntimeConfig,
    req: ClientRequest,
) -> Result<(), GatewayError> {
    let res = super::govern::resolve_allowed(cfg, rctx, &req)?;
    rctx.route = res.route.clone();
    for candidate in res.candidates.iter().chain(&res.fallbacks) {
        let Some(p) = cfg.providers.get(candidate.provider) else {
            continue;
        };
        let adapter = provider::for_kind(p.kind);
        if !p.enabled || !adapter.counts_tokens() {
            continue;
        }
        let Some(choice) = state.router.pick_endpoint(cfg, candidate.provider) else {
            continue;
        };
        let Some(ep) = p.endpoints.get(choice.index) else {
            continue;
        };
        let Some(out) = adapter.count_tokens_request(
            p,
            ep,
            &candidate.model,
            &req,
            rctx.anthropic_beta.as_deref(),
        ) else {
            continue;
        };
        rctx.provider = Some(p.name.clone());
        rctx.model = Some(candidate.model.clone());
        rctx.attempts += 1;
        let t0 = Instant::now();
        let mut resp = match Box::pin(state.upstream.send(out, p.timeout)).await {
            Ok(r) => r,
            Err(f) => {
                // The count is advisory: an unreachable provider falls back to the
                // estimate rather than failing the client.
                let e = AttemptError::from_failure(&f, &p.name);
                record(p, choice.permit, e.outcome, t0.elapsed());
                tracing::warn!(request_id = %rctx.request_id, provider = %p.name, error = %f, "token count failed; answering an estimate");
                break;
            }
        };
        let latency = t0.elapsed();
        if !(200..300).contains(&resp.status) {
            let e = error_answer(state, adapter, p, resp, p.timeout).await;
            record(p, choice.permit, e.outcome, latency);
            return Err(e.error);
        }
        let body = match resp.read_all(MAX_ERROR_BODY, p.timeout).await {
            Ok(b) => b,
            Err(f) => {
                let e = AttemptError::from_failure(&f, &p.name);
                record(p, choice.permit, e.outcome, latency);
                return Err(e.error);
            }
        };
        state.upstream.release(resp);
        record(p, choice.permit, Outcome::Success, latency);
        rctx.status = 200;
        let _ = respond::send_body(
            session,
            200,
            "application/json",
            body,
            &rctx.request_id,
            Some(&p.name),
            &[],
        )
        .await;
        return Ok(());
    }
    let limits = RequestLimits::from(&cfg.server.limits);
    let n = sluice_translate::anthropic::estimate_input_tokens(&req.body, &limits)?;
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(b"{\"input_tokens\":");
    body.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    body.push(b'}');
    rctx.status = 200;
    let _ = respond::send_body(
        session,
        200,
        "application/json",
        Bytes::from(body),
        &rctx.request_id,
        None,
        &[("x-sluice-token-count", "estimate".to_owned())],
    )
    .await;
    Ok(())
}
