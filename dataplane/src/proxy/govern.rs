//! Governance on the request path: who calls (the client key found by its digest, and its
//! team), whether they may use the model they ask for, and admission of the request
//! against the limits and budgets of its scopes — key, team and route once per request,
//! the provider once per attempt. The tickets admission hands out are settled with the
//! request's real usage and cost when its answer has ended ([`settle`]).
//!
//! Nothing here costs anything when no scope has limits: no allocation, no store call.

use std::sync::Arc;

use sluice_model::governance::DEFAULT_OUTPUT_ESTIMATE;
use sluice_model::{
    nanousd_to_usd, Budget, BudgetWindow, ClientKey, RateLimits, ScopeKind, Team, TokenCount,
    TokenUsage,
};
use sluice_translate::Usage;

use super::RequestCtx;
use crate::chat_request::ClientRequest;
use crate::config::{AuthMode, Provider, RuntimeConfig};
use crate::error::GatewayError;
use crate::governance::{Denied, Estimate, Exhausted, ScopeLimits, Ticket};
use crate::resolve::Resolution;
use crate::{metrics, AppState};

/// The caller a key names: the key and its team.
pub(super) type Caller = (Arc<ClientKey>, Option<Arc<Team>>);

/// Finds the caller of a request presenting `presented`. `Ok(None)` when auth is off or
/// the key is one of the legacy SHA-256 list (no policy). Fails closed: in `keys` mode an
/// empty key set accepts nobody.
pub(super) fn authenticate(
    cfg: &RuntimeConfig,
    presented: Option<&str>,
) -> Result<Option<Caller>, GatewayError> {
    if cfg.server.auth == AuthMode::None {
        return Ok(None);
    }
    let Some(presented) = presented else {
        return Err(unauthorized("missing or invalid API key"));
    };
    if !cfg.governance.digests.is_empty() {
        let now = now_ms();
        if let Some(key) = cfg.governance.find_key(presented, now) {
            return caller(cfg, key, now).map(Some);
        }
    }
    let hash = crate::config::client_key_hash(presented);
    let legacy = cfg
        .server
        .client_key_hashes
        .iter()
        .fold(false, |ok, k| ok | super::constant_time_eq(k, &hash));
    if legacy {
        Ok(None)
    } else {
        Err(unauthorized("missing or invalid API key"))
    }
}

/// A found key's state: revoked, expired, or its team disabled → 401.
fn caller(cfg: &RuntimeConfig, key: &Arc<ClientKey>, now: u64) -> Result<Caller, GatewayError> {
    if !key.enabled {
        return Err(unauthorized("this API key has been revoked"));
    }
    if key.expires_at_ms.is_some_and(|t| now >= t) {
        return Err(unauthorized("this API key has expired"));
    }
    let team = match &key.team {
        None => None,
        Some(name) => match cfg.governance.teams.get(name) {
            Some(t) if t.enabled => Some(t.clone()),
            Some(_) => return Err(unauthorized("this API key's team is disabled")),
            // A key naming a team that is gone is refused rather than let through without
            // the team's limits.
            None => return Err(unauthorized("this API key's team does not exist")),
        },
    };
    Ok((key.clone(), team))
}

fn unauthorized(message: &str) -> GatewayError {
    GatewayError::Unauthorized(message.into())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Resolves the request's model and checks the caller may use it: the model as asked
/// (route name, `provider:model` or model name), or every model it resolved to, must be in
/// the key's and the team's `allowed_models` when those are not empty (403
/// `model_not_allowed`). A model that does not resolve is still a 403 when it is not
/// allowed (nobody learns which models exist beyond the allowed ones).
pub(super) fn resolve_allowed(
    cfg: &RuntimeConfig,
    rctx: &RequestCtx,
    req: &ClientRequest,
) -> Result<Resolution, GatewayError> {
    let lists = [
        rctx.key.as_deref().map(|k| (&k.allowed_models, None)),
        rctx.team
            .as_deref()
            .map(|t| (&t.allowed_models, Some(t.name.as_str()))),
    ];
    let restricting = |asked: &str| {
        lists
            .iter()
            .flatten()
            .find(|(list, _)| !list.is_empty() && !list.iter().any(|m| m == asked))
            .copied()
    };
    let resolved = crate::resolve::resolve(cfg, req);
    let Some(first) = restricting(&req.model) else {
        return resolved;
    };
    // The name asked for is not listed: allowed only if everything it resolves to is.
    let res = resolved.map_err(|_| not_allowed(&req.model, first.1))?;
    for (list, team) in lists.iter().flatten() {
        if list.is_empty() || list.contains(&req.model) {
            continue;
        }
        let all_listed = !res.candidates.is_empty()
            && res
                .candidates
                .iter()
                .chain(&res.fallbacks)
                .all(|c| list.contains(&c.model));
        if !all_listed {
            return Err(not_allowed(&req.model, *team));
        }
    }
    Ok(res)
}

fn not_allowed(model: &str, team: Option<&str>) -> GatewayError {
    let message = match team {
        Some(t) => format!("team '{t}' may not use the model `{model}`"),
        None => format!("this API key may not use the model `{model}`"),
    };
    GatewayError::ModelNotAllowed {
        model: model.to_owned(),
        message,
    }
}

/// A scope without limits, the filler of the fixed scope buffer.
static UNLIMITED: RateLimits = RateLimits {
    rpm: None,
    tpm: None,
    tpm_counts: TokenCount::Total,
    max_concurrent: None,
};

/// Admits the request against its key, team and route (those with limits or budgets),
/// keeping the ticket in `rctx`. Does nothing — no allocation, no store call — when none
/// of them limits anything. `output` is whether the request produces completion tokens
/// (embeddings do not).
pub(super) async fn admit_request(
    state: &AppState,
    cfg: &RuntimeConfig,
    rctx: &mut RequestCtx,
    req: &ClientRequest,
    res: &Resolution,
    output: bool,
) -> Result<(), GatewayError> {
    let key = rctx.key.as_deref();
    let team = rctx.team.as_deref();
    let route = res.route.as_deref().and_then(|r| cfg.route(r));
    let found = [
        key.map(|k| ScopeLimits {
            kind: ScopeKind::Key,
            name: &k.id,
            limits: &k.limits,
            budget: k.budget.as_ref().map(|b| (b, &k.budget_status)),
        }),
        team.map(|t| ScopeLimits {
            kind: ScopeKind::Team,
            name: &t.name,
            limits: &t.limits,
            budget: t.budget.as_ref().map(|b| (b, &t.budget_status)),
        }),
        route.map(|r| ScopeLimits {
            kind: ScopeKind::Route,
            name: &r.name,
            limits: &r.limits,
            budget: None,
        }),
    ];
    let filler = ScopeLimits {
        kind: ScopeKind::Route,
        name: "",
        limits: &UNLIMITED,
        budget: None,
    };
    let mut buf = [filler; 3];
    let mut n = 0;
    for scope in found.into_iter().flatten().filter(|s| !s.is_unlimited()) {
        if let Some(slot) = buf.get_mut(n) {
            *slot = scope;
            n += 1;
        }
    }
    if n == 0 {
        return Ok(());
    }
    let scopes = buf.get(..n).unwrap_or_default();
    let est = estimate(cfg, req, output);
    // Boxed: only requests with limits pay for the store's future, and the request's own
    // future (alive for a whole stream) does not carry its space.
    let ticket = Box::pin(state.governor.admit(scopes, est))
        .await
        .map_err(|d| refused(d, scopes))?;
    rctx.estimate = Some(est);
    rctx.ticket = ticket;
    Ok(())
}

/// Admits one attempt against its provider's limits (when it has any), keeping the
/// ticket in `rctx`. A previous attempt's provider ticket is settled first with no usage
/// (its attempt failed before an answer: its token reservation is given back).
pub(super) async fn admit_provider(
    state: &AppState,
    cfg: &RuntimeConfig,
    rctx: &mut RequestCtx,
    req: &ClientRequest,
    provider: &Provider,
    output: bool,
) -> Result<(), GatewayError> {
    if let Some(t) = rctx.provider_ticket.take() {
        t.settle(Some(&TokenUsage::default()), 0);
    }
    if provider.limits.is_unlimited() {
        return Ok(());
    }
    let scope = ScopeLimits {
        kind: ScopeKind::Provider,
        name: &provider.name,
        limits: &provider.limits,
        budget: None,
    };
    let est = *rctx
        .estimate
        .get_or_insert_with(|| estimate(cfg, req, output));
    let ticket = Box::pin(state.governor.admit(std::slice::from_ref(&scope), est))
        .await
        .map_err(|d| refused(d, std::slice::from_ref(&scope)))?;
    rctx.provider_ticket = Some(ticket);
    Ok(())
}

/// Tokens the request is expected to use: a quarter of its body's bytes in, its maximum
/// (or the configured default) out.
pub(super) fn estimate(cfg: &RuntimeConfig, req: &ClientRequest, output: bool) -> Estimate {
    let default = match cfg.governance.default_output_estimate {
        0 => DEFAULT_OUTPUT_ESTIMATE,
        n => n,
    };
    Estimate {
        input: req.body.len() as u64 / 4,
        output: if output {
            req.max_output_tokens().unwrap_or(default)
        } else {
            0
        },
    }
}

/// A refusal as the client's error, counted in `sluice_rate_limited_total`.
fn refused(denied: Denied, scopes: &[ScopeLimits<'_>]) -> GatewayError {
    let (kind, reason, limit) = match &denied {
        Denied::Limited(r) => {
            let scope = scopes.iter().find(|s| s.kind == r.kind && s.name == r.name);
            (r.kind, r.reason.as_str(), describe(scope, r.reason))
        }
        Denied::StoreUnavailable { .. } => (
            scopes.first().map_or(ScopeKind::Key, |s| s.kind),
            "store_unavailable",
            String::new(),
        ),
    };
    metrics::rate_limited(kind.as_str(), reason);
    GatewayError::denied(denied, &limit)
}

/// The limit that ran out, in words: `5 requests per minute`, `$10.00 per month`.
fn describe(scope: Option<&ScopeLimits<'_>>, reason: Exhausted) -> String {
    let Some(s) = scope else {
        return reason.as_str().to_owned();
    };
    let l = s.limits;
    match reason {
        Exhausted::Requests => format!("{} requests per minute", l.rpm.unwrap_or(0)),
        Exhausted::Tokens => format!(
            "{} tokens per minute ({} tokens)",
            l.tpm.unwrap_or(0),
            l.tpm_counts.as_str()
        ),
        Exhausted::Concurrency => format!("{} requests in flight", l.max_concurrent.unwrap_or(0)),
        Exhausted::Budget => match s.budget {
            Some((b, _)) => budget_text(b),
            None => "its budget".into(),
        },
    }
}

fn budget_text(b: &Budget) -> String {
    let usd = nanousd_to_usd(b.limit_nanousd);
    match b.window {
        BudgetWindow::Day => format!("${usd:.2} per day"),
        BudgetWindow::Month => format!("${usd:.2} per month"),
        BudgetWindow::Total => format!("${usd:.2} in total"),
    }
}

/// An answer's usage in the price table's terms.
pub(super) fn token_usage(u: &Usage) -> TokenUsage {
    TokenUsage {
        input: u.prompt_tokens,
        output: u.completion_tokens,
        cache_read: u.cached_tokens,
        cache_write: u.cache_write_tokens,
        reasoning: u.reasoning_tokens,
    }
}

/// The cost of the request's usage at its upstream model's price (0 without usage or a
/// price).
pub(super) fn cost_nanousd(cfg: &RuntimeConfig, model: Option<&str>, usage: &TokenUsage) -> u64 {
    model
        .and_then(|m| cfg.governance.prices.lookup(m))
        .map_or(0, |p| p.cost_nanousd(usage))
}

/// Settles the request's tickets (request scopes and the last attempt's provider) with
/// its real usage and cost. Without usage, a request that failed keeps nothing reserved
/// for tokens it never used, and an answer whose usage was not reported keeps the
/// estimate.
pub(super) fn settle(rctx: &mut RequestCtx, usage: Option<&TokenUsage>, cost: u64) {
    let zero = TokenUsage::default();
    let usage = match usage {
        Some(u) => Some(u),
        None if rctx.status >= 400 => Some(&zero),
        None => None,
    };
    std::mem::replace(&mut rctx.ticket, Ticket::empty()).settle(usage, cost);
    if let Some(t) = rctx.provider_ticket.take() {
        t.settle(usage, cost);
    }
}

/// What a request's usage record says about its caller: key id, team and user.
pub(super) fn owner(rctx: &RequestCtx) -> (&str, &str, &str) {
    match rctx.key.as_deref() {
        Some(k) => (
            k.id.as_str(),
            k.team.as_deref().unwrap_or_default(),
            k.user.as_deref().unwrap_or_default(),
        ),
        None => ("", "", ""),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sluice_model::KeyDigest;

    fn cfg() -> RuntimeConfig {
        let mut cfg = crate::config::parse_config(
            "t",
            r#"
env_providers = false
[server]
auth = "none"
[[providers]]
name = "oa"
kind = "openai"
models = ["gpt-4o", "gpt-4o-mini"]
base_url = "http://127.0.0.1:1/v1"
[[routes]]
name = "fast"
[[routes.targets]]
provider = "oa"
model = "gpt-4o-mini"
[[routes]]
name = "mixed"
[[routes.targets]]
provider = "oa"
model = "gpt-4o-mini"
[[routes.targets]]
provider = "oa"
model = "gpt-4o"
"#,
            &|_| None,
        )
        .unwrap();
        cfg.server.auth = AuthMode::Keys;
        let g = &mut cfg.governance;
        g.digest_secret = [9; 32];
        g.teams.insert(
            "ml".into(),
            Arc::new(Team {
                name: "ml".into(),
                enabled: true,
                allowed_models: vec!["fast".into(), "gpt-4o-mini".into()],
                ..Default::default()
            }),
        );
        g.teams.insert(
            "off".into(),
            Arc::new(Team {
                name: "off".into(),
                enabled: false,
                ..Default::default()
            }),
        );
        let keys = [
            ("alice", true, None, Some("ml")),
            ("revoked", false, None, None),
            ("expired", true, Some(1), None),
            ("offteam", true, None, Some("off")),
            ("free", true, None, None),
        ];
        for (id, enabled, expires_at_ms, team) in keys {
            let digest = g.digest(&format!("sk-{id}"));
            g.insert_key(
                ClientKey {
                    id: id.into(),
                    enabled,
                    expires_at_ms,
                    team: team.map(str::to_owned),
                    ..Default::default()
                },
                &[KeyDigest {
                    digest,
                    expires_at_ms: None,
                }],
            );
        }
        cfg.server.client_key_hashes = vec![crate::config::client_key_hash("sk-legacy")];
        cfg
    }

    fn chat(body: &str) -> ClientRequest {
        ClientRequest::from_chat(
            crate::chat_request::ChatRequest::parse(
                Bytes::copy_from_slice(body.as_bytes()),
                &crate::config::Limits::default(),
            )
            .unwrap(),
        )
    }

    fn message(e: GatewayError) -> (u16, String) {
        (e.status(), e.to_string())
    }

    #[test]
    fn keys_are_found_and_their_state_checked() {
        let cfg = cfg();
        let (key, team) = authenticate(&cfg, Some("sk-alice")).unwrap().unwrap();
        assert_eq!(key.id, "alice");
        assert_eq!(team.unwrap().name, "ml");
        assert!(authenticate(&cfg, Some("sk-legacy")).unwrap().is_none());
        let err = |k| message(authenticate(&cfg, k).unwrap_err());
        assert_eq!(
            err(Some("sk-nope")),
            (401, "missing or invalid API key".into())
        );
        assert_eq!(err(None), (401, "missing or invalid API key".into()));
        assert_eq!(
            err(Some("sk-revoked")),
            (401, "this API key has been revoked".into())
        );
        assert_eq!(
            err(Some("sk-expired")),
            (401, "this API key has expired".into())
        );
        assert_eq!(err(Some("sk-offteam")).0, 401);
        let mut open = cfg.clone();
        open.server.auth = AuthMode::None;
        assert!(authenticate(&open, None).unwrap().is_none());
    }

    #[test]
    fn allowed_models_by_name_or_resolution() {
        let cfg = cfg();
        let mut rctx = super::super::SluiceProxy::new_ctx();
        let (key, team) = authenticate(&cfg, Some("sk-alice")).unwrap().unwrap();
        rctx.key = Some(key);
        rctx.team = team;
        let ask_as = |rctx: &RequestCtx, m: &str| {
            resolve_allowed(
                &cfg,
                rctx,
                &chat(&format!(
                    r#"{{"model":"{m}","messages":[{{"role":"user","content":"hi"}}]}}"#
                )),
            )
        };
        let ask = |m: &str| ask_as(&rctx, m);
        assert_eq!(ask("fast").unwrap().route.as_deref(), Some("fast"));
        assert!(ask("gpt-4o-mini").is_ok());
        // `provider:model` resolves to an allowed model.
        assert!(ask("oa:gpt-4o-mini").is_ok());
        let e = ask("gpt-4o").unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "model_not_allowed"));
        assert!(e.to_string().contains("team 'ml'"), "{e}");
        // A route reaching a model outside the list.
        assert_eq!(ask("mixed").unwrap_err().status(), 403);
        // Unknown models are refused, not looked up.
        assert_eq!(ask("nope").unwrap_err().status(), 403);
        rctx.key = None;
        rctx.team = None;
        assert!(ask_as(&rctx, "gpt-4o").is_ok());
        assert_eq!(ask_as(&rctx, "nope").unwrap_err().status(), 404);
    }

    #[test]
    fn estimates_use_the_request_maximum_or_the_default() {
        let mut cfg = cfg();
        let body =
            r#"{"model":"fast","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#;
        let e = estimate(&cfg, &chat(body), true);
        assert_eq!(e.input, body.len() as u64 / 4);
        assert_eq!(e.output, 50);
        let body = r#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(
            estimate(&cfg, &chat(body), true).output,
            DEFAULT_OUTPUT_ESTIMATE
        );
        cfg.governance.default_output_estimate = 7;
        assert_eq!(estimate(&cfg, &chat(body), true).output, 7);
        assert_eq!(estimate(&cfg, &chat(body), false).output, 0);
    }

    #[test]
    fn usage_maps_to_token_usage() {
        let u = Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            cached_tokens: 3,
            reasoning_tokens: 2,
            cache_write_tokens: 1,
        };
        assert_eq!(
            token_usage(&u),
            TokenUsage {
                input: 10,
                output: 5,
                cache_read: 3,
                cache_write: 1,
                reasoning: 2,
            }
        );
    }

    #[test]
    fn limits_are_described() {
        let limits = RateLimits {
            rpm: Some(5),
            tpm: Some(100),
            tpm_counts: TokenCount::Output,
            max_concurrent: Some(2),
        };
        let budget = Budget {
            limit_nanousd: 1_500_000_000,
            soft_nanousd: None,
            window: BudgetWindow::Month,
        };
        let status = Default::default();
        let s = ScopeLimits {
            kind: ScopeKind::Key,
            name: "k",
            limits: &limits,
            budget: Some((&budget, &status)),
        };
        assert_eq!(
            describe(Some(&s), Exhausted::Requests),
            "5 requests per minute"
        );
        assert_eq!(
            describe(Some(&s), Exhausted::Tokens),
            "100 tokens per minute (output tokens)"
        );
        assert_eq!(
            describe(Some(&s), Exhausted::Concurrency),
            "2 requests in flight"
        );
        assert_eq!(describe(Some(&s), Exhausted::Budget), "$1.50 per month");
    }
}
