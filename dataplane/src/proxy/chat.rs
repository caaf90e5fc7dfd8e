//! Every LLM surface (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, Gemini's
//! `generateContent`): the data plane's own upstream exchange loop, in the order
//! of the request path (docs/ARCHITECTURE.md): resolve the model to candidates →
//! plan the attempts → per attempt: pick an endpoint, the provider builds the request, send,
//! relay the answer (streamed or whole), record the outcome. A failure before the first
//! byte reaches the client moves on to the next candidate when its error says it may.

use super::attempt::{self, AttemptEnd};
use super::downstream::Downstream as Session;
use super::govern;
use super::plan::{AttemptPlan, Failures};
use super::RequestCtx;
use crate::chat_request::ClientRequest;
use crate::config::RuntimeConfig;
use crate::error::GatewayError;
use crate::AppState;

/// Serves one request of any surface. `Err` only when nothing was written to the client yet.
pub async fn serve(
    state: &AppState,
    session: &mut Session,
    rctx: &mut RequestCtx,
    cfg: &RuntimeConfig,
    req: ClientRequest,
) -> Result<(), GatewayError> {
    let res = govern::resolve_allowed(cfg, rctx, &req)?;
    rctx.route = res.route.clone();
    govern::admit_request(state, cfg, rctx, &req, &res, true).await?;
    let mut plan = AttemptPlan::new(state, cfg, &res, &req, rctx.start)?;
    let mut failures = Failures::default();
    while let Some(next) = plan.next(state, cfg, &mut failures) {
        if let Err(e) = govern::admit_provider(state, cfg, rctx, &req, next.provider, true).await {
            // A provider over its limits is skipped like an ejected one.
            drop(next);
            plan.skipped();
            failures.failed(e);
            continue;
        }
        match attempt::run(state, session, rctx, &req, next).await {
            AttemptEnd::Served => return Ok(()),
            AttemptEnd::Failed(e) if e.retryable() => failures.failed(e.error),
            AttemptEnd::Failed(e) => return Err(e.error),
            AttemptEnd::Unsupported(e) => failures.unsupported(e),
            AttemptEnd::Skipped => {}
        }
    }
    Err(failures.into_error())
}
