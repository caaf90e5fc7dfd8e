//! Model resolution: turns the client's `model` (plus `provider`/`backend` pins and
//! `fallback_providers`) into the candidate set a request may use. Steps, first match wins:
//! (1) a pinned provider, (2) a route named like the model, (3) `provider:model`,
//! (4) providers listing the model, (5) prefix rules (see `docs/ARCHITECTURE.md`,
//! "The request path").

use crate::chat_request::ClientRequest;
use crate::config::{Provider, RuntimeConfig, Strategy};
use crate::error::GatewayError;

/// One provider/model pair a request may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Index into the snapshot's providers.
    pub provider: usize,
    /// Upstream model name.
    pub model: String,
    /// Relative weight among equals.
    pub weight: u32,
    /// Failover tier (lower first).
    pub priority: i32,
}

/// How a request's model resolved.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Route name, when a route matched (used for balancer state and metrics).
    pub route: Option<String>,
    /// Strategy ordering the primary candidates.
    pub strategy: Strategy,
    /// Default retries (attempts = 1 + retries).
    pub retries: u32,
    /// Primary candidates (ordered by the balancer per request).
    pub candidates: Vec<Candidate>,
    /// `fallback_providers` candidates, tried after the primaries in the given order.
    pub fallbacks: Vec<Candidate>,
}

fn serves(p: &Provider, model: &str) -> bool {
    p.models.iter().any(|m| m == model)
}

fn prefix_providers(cfg: &RuntimeConfig, model: &str) -> Vec<usize> {
    for rule in &cfg.prefix_rules {
        if model.starts_with(rule.prefix.as_str()) {
            if let Some((i, p)) = cfg.provider(&rule.target) {
                return if p.enabled { vec![i] } else { vec![] };
            }
            let found: Vec<usize> = cfg
                .providers
                .iter()
                .enumerate()
                .filter(|(_, p)| p.enabled && p.kind.as_str() == rule.target)
                .map(|(i, _)| i)
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}

fn provider_candidate(i: usize, p: &Provider, model: &str) -> Candidate {
    Candidate {
        provider: i,
        model: model.to_string(),
        weight: p.weight,
        priority: p.priority,
    }
}

/// Whether any resolution step knows `model` at all (used for the `backend` field's error
/// wording).
fn model_known(cfg: &RuntimeConfig, model: &str) -> bool {
    cfg.route(model).is_some()
        || cfg.providers.iter().any(|p| serves(p, model))
        || model
            .split_once(':')
            .is_some_and(|(p, _)| cfg.provider(p).is_some())
        || cfg
            .prefix_rules
            .iter()
            .any(|r| model.starts_with(r.prefix.as_str()))
}

/// Resolves the model of `req` against `cfg`.
pub fn resolve(cfg: &RuntimeConfig, req: &ClientRequest) -> Result<Resolution, GatewayError> {
    let model = req.model.as_str();
    let mut res = match &req.pin {
        Some((name, _field)) => resolve_pinned(cfg, model, name)?,
        None => resolve_model(cfg, model)?,
    };
    for name in &req.fallback_providers {
        let Some((i, p)) = cfg.provider(name) else {
            return Err(GatewayError::InvalidRequest {
                message: format!("fallback provider '{name}' is not configured"),
                param: Some("fallback_providers".into()),
            });
        };
        if !p.enabled {
            continue;
        }
        let upstream_model = cfg
            .route(model)
            .and_then(|r| r.targets.iter().find(|t| t.provider == i))
            .map(|t| t.model.clone())
            .unwrap_or_else(|| model.to_string());
        let c = provider_candidate(i, p, &upstream_model);
        if !res.candidates.contains(&c) && !res.fallbacks.contains(&c) {
            res.fallbacks.push(c);
        }
    }
    Ok(res)
}

fn resolve_pinned(
    cfg: &RuntimeConfig,
    model: &str,
    name: &str,
) -> Result<Resolution, GatewayError> {
    let unavailable = |why: String| {
        GatewayError::BackendUnavailable(format!(
            "Specified backend '{name}' is not available for model '{model}': {why}"
        ))
    };
    let not_found = || {
        GatewayError::ModelNotFound {
        model: model.to_string(),
        message: format!("Specified backend '{name}' is not available for model '{model}': Model '{model}' not found"),
    }
    };
    let Some((i, p)) = cfg.provider(name).filter(|(_, p)| p.enabled) else {
        return Err(if model_known(cfg, model) {
            unavailable(format!(
                "Backend '{name}' not found or disabled for model '{model}'"
            ))
        } else {
            not_found()
        });
    };
    let route = cfg.route(model);
    let upstream_model = if let Some(t) =
        route.and_then(|r| r.targets.iter().find(|t| t.provider == i))
    {
        t.model.clone()
    } else if let Some(m) = model.strip_prefix(name).and_then(|m| m.strip_prefix(':')) {
        m.to_string()
    } else if serves(p, model) || p.models.is_empty() || prefix_providers(cfg, model).contains(&i) {
        model.to_string()
    } else if model_known(cfg, model) {
        return Err(unavailable(format!(
            "Backend '{name}' not found or disabled for model '{model}'"
        )));
    } else {
        return Err(not_found());
    };
    Ok(Resolution {
        route: route.map(|r| r.name.clone()),
        strategy: Strategy::Priority,
        retries: route
            .map(|r| r.retries)
            .unwrap_or(cfg.server.default_retries),
        candidates: vec![provider_candidate(i, p, &upstream_model)],
        fallbacks: Vec::new(),
    })
}

fn resolve_model(cfg: &RuntimeConfig, model: &str) -> Result<Resolution, GatewayError> {
    // (2) a route named like the model.
    if let Some(r) = cfg.route(model) {
        let candidates: Vec<Candidate> = r
            .targets
            .iter()
            .filter(|t| cfg.providers.get(t.provider).is_some_and(|p| p.enabled))
            .map(|t| Candidate {
                provider: t.provider,
                model: t.model.clone(),
                weight: t.weight,
                priority: t.priority,
            })
            .collect();
        if candidates.is_empty() {
            return Err(GatewayError::Unavailable(format!(
                "route '{model}' has no enabled provider"
            )));
        }
        return Ok(Resolution {
            route: Some(r.name.clone()),
            strategy: r.strategy,
            retries: r.retries,
            candidates,
            fallbacks: Vec::new(),
        });
    }
    let implicit = |candidates: Vec<Candidate>| Resolution {
        route: None,
        strategy: Strategy::Priority,
        retries: cfg.server.default_retries,
        candidates,
        fallbacks: Vec::new(),
    };
    // (3) `provider:model`.
    if let Some((pname, m)) = model.split_once(':') {
        if let Some((i, p)) = cfg.provider(pname) {
            if !p.enabled || m.is_empty() {
                return Err(GatewayError::BackendUnavailable(format!(
                    "provider '{pname}' is disabled or the model name is empty in '{model}'"
                )));
            }
            return Ok(implicit(vec![provider_candidate(i, p, m)]));
        }
    }
    // (4) providers listing the model.
    let listed: Vec<Candidate> = cfg
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.enabled && serves(p, model))
        .map(|(i, p)| provider_candidate(i, p, model))
        .collect();
    if !listed.is_empty() {
        return Ok(implicit(listed));
    }
    // (5) prefix rules.
    let by_prefix: Vec<Candidate> = prefix_providers(cfg, model)
        .into_iter()
        .filter_map(|i| Some(provider_candidate(i, cfg.providers.get(i)?, model)))
        .collect();
    if !by_prefix.is_empty() {
        return Ok(implicit(by_prefix));
    }
    Err(GatewayError::ModelNotFound {
        model: model.to_string(),
        message: format!("The model `{model}` does not exist or no enabled provider serves it"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn cfg() -> RuntimeConfig {
        crate::config::parse_config(
            "t",
            r#"
env_providers = false
[[providers]]
name = "oa"
kind = "openai"
models = ["gpt-4o"]
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "oa2"
kind = "openai_compatible"
models = ["gpt-4o", "llama3"]
priority = 1
base_url = "http://127.0.0.1:2/v1"
[[providers]]
name = "off"
kind = "openai"
enabled = false
models = ["gpt-4o"]
base_url = "http://127.0.0.1:3/v1"
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "http://127.0.0.1:4"
[[routes]]
name = "auto"
[[routes.targets]]
provider = "oa"
model = "gpt-4o"
[[routes.targets]]
provider = "claude"
model = "claude-3-5-sonnet"
"#,
            &|_| None,
        )
        .unwrap()
    }

    fn req(body: &str) -> ClientRequest {
        ClientRequest::from_chat(
            crate::chat_request::ChatRequest::parse(
                Bytes::copy_from_slice(body.as_bytes()),
                &crate::config::Limits::default(),
            )
            .unwrap(),
        )
    }

    fn names(cfg: &RuntimeConfig, cs: &[Candidate]) -> Vec<String> {
        cs.iter()
            .map(|c| format!("{}/{}", cfg.providers[c.provider].name, c.model))
            .collect()
    }

    #[test]
    fn steps_in_order() {
        let c = cfg();
        let r = resolve(&c, &req(r#"{"model":"auto","messages":[{"role":"user"}]}"#)).unwrap();
        assert_eq!(r.route.as_deref(), Some("auto"));
        assert_eq!(
            names(&c, &r.candidates),
            ["oa/gpt-4o", "claude/claude-3-5-sonnet"]
        );
        let r = resolve(
            &c,
            &req(r#"{"model":"oa2:mixtral","messages":[{"role":"user"}]}"#),
        )
        .unwrap();
        assert_eq!(names(&c, &r.candidates), ["oa2/mixtral"]);
        let r = resolve(
            &c,
            &req(r#"{"model":"gpt-4o","messages":[{"role":"user"}]}"#),
        )
        .unwrap();
        assert_eq!(names(&c, &r.candidates), ["oa/gpt-4o", "oa2/gpt-4o"]);
        let r = resolve(
            &c,
            &req(r#"{"model":"claude-x","messages":[{"role":"user"}]}"#),
        )
        .unwrap();
        assert_eq!(names(&c, &r.candidates), ["claude/claude-x"]);
        let e = resolve(&c, &req(r#"{"model":"nope","messages":[{"role":"user"}]}"#)).unwrap_err();
        assert_eq!(e.status(), 404);
        assert_eq!(e.code(), "model_not_found");
    }

    #[test]
    fn pins_and_fallbacks() {
        let c = cfg();
        let r = resolve(&c, &req(r#"{"model":"gpt-4o","backend":"oa2","messages":[{"role":"user"}],"fallback_providers":["oa"]}"#)).unwrap();
        assert_eq!(names(&c, &r.candidates), ["oa2/gpt-4o"]);
        assert_eq!(names(&c, &r.fallbacks), ["oa/gpt-4o"]);
        let r = resolve(
            &c,
            &req(r#"{"model":"auto","provider":"claude","messages":[{"role":"user"}]}"#),
        )
        .unwrap();
        assert_eq!(names(&c, &r.candidates), ["claude/claude-3-5-sonnet"]);
        let e = resolve(
            &c,
            &req(r#"{"model":"gpt-4o","backend":"invalid_backend","messages":[{"role":"user"}]}"#),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(e.to_string(), "Specified backend 'invalid_backend' is not available for model 'gpt-4o': Backend 'invalid_backend' not found or disabled for model 'gpt-4o'");
        let e = resolve(
            &c,
            &req(r#"{"model":"gpt-4o","backend":"off","messages":[{"role":"user"}]}"#),
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("Backend 'off' not found or disabled"));
        let e = resolve(
            &c,
            &req(r#"{"model":"invalid_model","backend":"oa","messages":[{"role":"user"}]}"#),
        )
        .unwrap_err();
        assert_eq!(e.status(), 404);
        assert_eq!(e.to_string(), "Specified backend 'oa' is not available for model 'invalid_model': Model 'invalid_model' not found");
        let e = resolve(
            &c,
            &req(
                r#"{"model":"gpt-4o","messages":[{"role":"user"}],"fallback_providers":["ghost"]}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }
}
