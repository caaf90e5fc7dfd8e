//! Conversion between the gRPC [`Snapshot`] and the internal [`RuntimeConfig`]. Snapshots
//! are validated exactly like static files (same builders), so a control plane can validate
//! a candidate state with [`config_from_snapshot`] before committing it, and a data plane
//! NACKs anything that does not convert.

use std::sync::Arc;

use sluice_proto::{
    Budget as PbBudget, Endpoint as PbEndpoint, Limits as PbLimits, PrefixRule as PbPrefixRule,
    Price as PbPrice, Provider as PbProvider, Route as PbRoute, Snapshot, Target as PbTarget,
    Team as PbTeam,
};

use crate::auth::{decode_hash, AuthMode};
use crate::config::{default_prefix_rules, PrefixRule, RuntimeConfig};
use crate::governance::{Budget, BudgetStatus, ClientKey, Governance, KeyDigest, RateLimits, Team};
use crate::limits::ServerSettings;
use crate::price::{Price, PriceEntry, PriceTable};
use crate::provider::ProviderKind;
use crate::route::{Route, Strategy, Target};
use crate::secret::Secret;
use crate::validate::{self, build_provider, DEFAULT_TIMEOUT_MS};

/// Hex form of a client key hash, as carried in snapshots.
pub use crate::auth::encode_hash;

/// Builds a validated runtime config from a snapshot, with the data plane's own server settings.
pub fn config_from_snapshot(
    snap: &Snapshot,
    server: &ServerSettings,
) -> Result<RuntimeConfig, String> {
    let mut providers = Vec::with_capacity(snap.providers.len());
    for (i, p) in snap.providers.iter().enumerate() {
        let key = format!("providers[{i}] ({})", p.name);
        let kind = ProviderKind::parse(&p.kind)
            .ok_or_else(|| format!("{key}.kind: unknown kind `{}`", p.kind))?;
        let endpoints = p
            .endpoints
            .iter()
            .map(|e| (e.base_url.clone(), Secret(e.api_key.clone())))
            .collect();
        let timeout_ms = if p.timeout_ms == 0 {
            DEFAULT_TIMEOUT_MS
        } else {
            p.timeout_ms
        };
        let mut provider = build_provider(
            p.name.clone(),
            kind,
            p.models.clone(),
            p.enabled,
            p.weight,
            p.priority,
            timeout_ms,
            endpoints,
            &key,
        )
        .map_err(|e| e.to_string())?;
        provider.pace = validate::pace(p.pace_ms);
        provider.limits = limits_from_pb(p.limits.as_ref(), &key)?;
        provider.health_check = validate::health_check(
            kind,
            Some(p.health_check_interval_ms),
            (!p.health_check_path.is_empty()).then(|| p.health_check_path.clone()),
            &key,
        )
        .map_err(|e| e.to_string())?;
        providers.push(provider);
    }
    let find = |name: &str| providers.iter().position(|p| p.name == name);
    let mut routes = Vec::with_capacity(snap.routes.len());
    for (i, r) in snap.routes.iter().enumerate() {
        let key = format!("routes[{i}] ({})", r.name);
        let strategy = if r.strategy.is_empty() {
            Strategy::RoundRobin
        } else {
            r.strategy
                .parse::<Strategy>()
                .map_err(|e| format!("{key}.strategy: {e}"))?
        };
        let mut targets = Vec::with_capacity(r.targets.len());
        for (j, t) in r.targets.iter().enumerate() {
            let provider = find(&t.provider).ok_or_else(|| {
                format!(
                    "{key}.targets[{j}].provider: unknown provider `{}`",
                    t.provider
                )
            })?;
            targets.push(Target {
                provider,
                model: if t.model.is_empty() {
                    r.name.clone()
                } else {
                    t.model.clone()
                },
                weight: t.weight,
                priority: t.priority,
            });
        }
        if r.name.is_empty() {
            return Err(format!("{key}.name: must not be empty"));
        }
        routes.push(Route {
            limits: limits_from_pb(r.limits.as_ref(), &key)?,
            name: r.name.clone(),
            strategy,
            retries: r.retries.min(server.max_retries),
            targets,
        });
    }
    let prefix_rules = if snap.prefix_rules.is_empty() {
        default_prefix_rules()
    } else {
        snap.prefix_rules
            .iter()
            .map(|r| PrefixRule {
                prefix: r.prefix.clone(),
                target: r.provider.clone(),
            })
            .collect()
    };
    let server = client_auth(snap, server)?;
    let governance = governance_from_snapshot(snap)?;
    let mut cfg = RuntimeConfig::new(server, providers, routes, prefix_rules)?;
    cfg.version = snap.version;
    cfg.governance = governance;
    Ok(cfg)
}

/// Rate limits from a snapshot (absent or 0: unlimited); `key` names the owner in errors.
fn limits_from_pb(l: Option<&PbLimits>, key: &str) -> Result<RateLimits, String> {
    let Some(l) = l else {
        return Ok(RateLimits::default());
    };
    let some = |n: u64| (n != 0).then_some(n);
    validate::rate_limits(
        some(l.rpm.into()),
        some(l.tpm),
        Some(l.tpm_counts.as_str()),
        some(l.max_concurrent.into()),
        &format!("{key}.limits"),
    )
    .map_err(|e| e.to_string())
}

fn limits_to_pb(l: &RateLimits) -> Option<PbLimits> {
    (!l.is_unlimited()).then(|| PbLimits {
        rpm: l.rpm.unwrap_or(0),
        tpm: l.tpm.unwrap_or(0),
        tpm_counts: l.tpm_counts.as_str().to_string(),
        max_concurrent: l.max_concurrent.unwrap_or(0),
    })
}

/// A budget and its ledger status from a snapshot. An absent budget, or one with a 0
/// limit, is no budget.
fn budget_from_pb(
    b: Option<&PbBudget>,
    key: &str,
) -> Result<(Option<Budget>, BudgetStatus), String> {
    let Some(b) = b else {
        return Ok((None, BudgetStatus::default()));
    };
    let status = BudgetStatus {
        spent_nanousd: b.spent_nanousd,
        window_start_ms: b.window_start_ms,
        exhausted_until_ms: b.exhausted_until_ms,
    };
    if b.limit_nanousd == 0 {
        return Ok((None, status));
    }
    let budget = validate::budget_nanousd(
        b.limit_nanousd,
        (b.soft_nanousd != 0).then_some(b.soft_nanousd),
        Some(b.window.as_str()),
        &format!("{key}.budget"),
    )
    .map_err(|e| e.to_string())?;
    Ok((Some(budget), status))
}

fn budget_to_pb(b: Option<&Budget>, status: &BudgetStatus) -> Option<PbBudget> {
    b.map(|b| PbBudget {
        limit_nanousd: b.limit_nanousd,
        soft_nanousd: b.soft_nanousd.unwrap_or(0),
        window: b.window.as_str().to_string(),
        spent_nanousd: status.spent_nanousd,
        window_start_ms: status.window_start_ms,
        exhausted_until_ms: status.exhausted_until_ms,
    })
}

/// Keys, teams, prices and the digest secret of a snapshot, validated.
fn governance_from_snapshot(snap: &Snapshot) -> Result<Governance, String> {
    let mut g = Governance::default();
    match <[u8; 32]>::try_from(snap.key_digest_secret.as_slice()) {
        Ok(secret) => g.digest_secret = secret,
        Err(_) if snap.key_digest_secret.is_empty() && snap.keys.is_empty() => {}
        Err(_) => {
            return Err(format!(
                "key_digest_secret: must be 32 bytes, got {}",
                snap.key_digest_secret.len()
            ))
        }
    }
    for (i, t) in snap.teams.iter().enumerate() {
        let key = format!("teams[{i}]");
        validate::name(&t.name).map_err(|p| format!("{key}.name: {p}"))?;
        let key = format!("teams[{i}] ({})", t.name);
        validate::allowed_models(&t.allowed_models, &format!("{key}.allowed_models"))
            .map_err(|e| e.to_string())?;
        let (budget, budget_status) = budget_from_pb(t.budget.as_ref(), &key)?;
        let team = Team {
            name: t.name.clone(),
            enabled: t.enabled,
            allowed_models: t.allowed_models.clone(),
            limits: limits_from_pb(t.limits.as_ref(), &key)?,
            budget,
            budget_status,
        };
        if g.teams.insert(t.name.clone(), Arc::new(team)).is_some() {
            return Err(format!("{key}.name: duplicate team `{}`", t.name));
        }
    }
    for (i, k) in snap.keys.iter().enumerate() {
        let key = format!("keys[{i}]");
        if k.id.is_empty() {
            return Err(format!("{key}.id: must not be empty"));
        }
        let key = format!("keys[{i}] ({})", k.id);
        if g.keys.contains_key(&k.id) {
            return Err(format!("{key}.id: duplicate key id `{}`", k.id));
        }
        let team = (!k.team.is_empty()).then(|| k.team.clone());
        if let Some(t) = &team {
            if !g.teams.contains_key(t) {
                return Err(format!("{key}.team: unknown team \"{t}\""));
            }
        }
        validate::allowed_models(&k.allowed_models, &format!("{key}.allowed_models"))
            .map_err(|e| e.to_string())?;
        let mut digests = Vec::with_capacity(k.digests.len());
        for (j, d) in k.digests.iter().enumerate() {
            let digest = decode_hash(&d.digest).ok_or_else(|| {
                format!(
                    "{key}.digests[{j}].digest: `{}` is not 64 hex digits",
                    d.digest
                )
            })?;
            if g.digests.contains_key(&digest)
                || digests.iter().any(|x: &KeyDigest| x.digest == digest)
            {
                return Err(format!(
                    "{key}.digests[{j}].digest: the same digest as another key"
                ));
            }
            digests.push(KeyDigest {
                digest,
                expires_at_ms: (d.expires_at_ms != 0).then_some(d.expires_at_ms),
            });
        }
        let (budget, budget_status) = budget_from_pb(k.budget.as_ref(), &key)?;
        let client_key = ClientKey {
            id: k.id.clone(),
            name: k.name.clone(),
            team,
            user: (!k.user.is_empty()).then(|| k.user.clone()),
            enabled: k.enabled,
            expires_at_ms: (k.expires_at_ms != 0).then_some(k.expires_at_ms),
            allowed_models: k.allowed_models.clone(),
            limits: limits_from_pb(k.limits.as_ref(), &key)?,
            budget,
            budget_status,
        };
        g.insert_key(client_key, &digests);
    }
    let mut overrides = Vec::with_capacity(snap.prices.len());
    for (i, p) in snap.prices.iter().enumerate() {
        let entry = validate::price(
            PriceEntry {
                model: p.model.clone(),
                price: Price {
                    input: p.input,
                    output: p.output,
                    cache_read: p.cache_read,
                    cache_write: p.cache_write,
                    reasoning: p.reasoning,
                    per_request: p.per_request,
                },
            },
            &format!("prices[{i}]"),
        )
        .map_err(|e| e.to_string())?;
        overrides.push(entry);
    }
    g.prices = PriceTable::with_overrides(&overrides);
    Ok(g)
}

fn price_to_pb(e: &PriceEntry) -> PbPrice {
    PbPrice {
        model: e.model.clone(),
        input: e.price.input,
        output: e.price.output,
        cache_read: e.price.cache_read,
        cache_write: e.price.cache_write,
        reasoning: e.price.reasoning,
        per_request: e.price.per_request,
    }
}

/// The data plane's server settings with the snapshot's client auth applied: an explicit
/// `keys` with no hashes denies everyone (fail closed); an empty mode keeps the data
/// plane's own setting unless the snapshot carries keys (control planes from before the
/// field existed).
fn client_auth(snap: &Snapshot, server: &ServerSettings) -> Result<ServerSettings, String> {
    let mut server = server.clone();
    let hashes = || -> Result<Vec<[u8; 32]>, String> {
        snap.client_key_sha256
            .iter()
            .map(|h| {
                decode_hash(h)
                    .ok_or_else(|| format!("client_key_sha256: `{h}` is not 64 hex digits"))
            })
            .collect()
    };
    match snap.client_auth.as_str() {
        "" if snap.client_key_sha256.is_empty() && snap.keys.is_empty() => {}
        "" => {
            server.auth = AuthMode::Keys;
            server.client_key_hashes = hashes()?;
        }
        mode => {
            server.auth = AuthMode::parse(mode).ok_or_else(|| {
                format!("client_auth: unknown mode `{mode}` (expected `keys` or `none`)")
            })?;
            server.client_key_hashes = hashes()?;
        }
    }
    Ok(server)
}

/// The snapshot equivalent of a runtime config (used to seed a control plane from a file).
pub fn snapshot_from_config(cfg: &RuntimeConfig) -> Snapshot {
    Snapshot {
        version: cfg.version,
        providers: cfg
            .providers
            .iter()
            .map(|p| PbProvider {
                name: p.name.clone(),
                kind: p.kind.as_str().to_string(),
                models: p.models.clone(),
                enabled: p.enabled,
                weight: p.weight,
                priority: p.priority,
                timeout_ms: p.timeout.as_millis() as u64,
                endpoints: p
                    .endpoints
                    .iter()
                    .map(|e| PbEndpoint {
                        base_url: e.base_url.original.clone(),
                        api_key: e.api_key.expose().to_string(),
                    })
                    .collect(),
                pace_ms: p.pace.as_millis() as u64,
                health_check_interval_ms: p
                    .health_check
                    .as_ref()
                    .map_or(0, |h| h.interval.as_millis() as u64),
                health_check_path: p
                    .health_check
                    .as_ref()
                    .map(|h| h.path.clone())
                    .unwrap_or_default(),
                limits: limits_to_pb(&p.limits),
            })
            .collect(),
        routes: cfg
            .routes
            .iter()
            .map(|r| PbRoute {
                name: r.name.clone(),
                strategy: r.strategy.as_str().to_string(),
                retries: r.retries,
                targets: r
                    .targets
                    .iter()
                    .map(|t| PbTarget {
                        provider: cfg
                            .providers
                            .get(t.provider)
                            .map(|p| p.name.clone())
                            .unwrap_or_default(),
                        model: t.model.clone(),
                        weight: t.weight,
                        priority: t.priority,
                    })
                    .collect(),
                limits: limits_to_pb(&r.limits),
            })
            .collect(),
        // A file's keys are plaintext under a per-load secret: they are never seeded.
        keys: Vec::new(),
        teams: {
            let mut teams: Vec<_> = cfg.governance.teams.values().collect();
            teams.sort_by(|a, b| a.name.cmp(&b.name));
            teams
                .into_iter()
                .map(|t| PbTeam {
                    name: t.name.clone(),
                    enabled: t.enabled,
                    allowed_models: t.allowed_models.clone(),
                    limits: limits_to_pb(&t.limits),
                    budget: budget_to_pb(t.budget.as_ref(), &t.budget_status),
                })
                .collect()
        },
        prices: cfg
            .governance
            .prices
            .overrides()
            .iter()
            .map(price_to_pb)
            .collect(),
        key_digest_secret: Vec::new(),
        client_key_sha256: cfg
            .server
            .client_key_hashes
            .iter()
            .map(encode_hash)
            .collect(),
        client_auth: cfg.server.auth.as_str().to_string(),
        epoch: String::new(),
        prefix_rules: cfg
            .prefix_rules
            .iter()
            .map(|r| PbPrefixRule {
                prefix: r.prefix.clone(),
                provider: r.target.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let cfg = crate::file::parse_config(
            "t",
            r#"
env_providers = false
[server]
api_keys = ["ck-1"]
[[providers]]
name = "a"
kind = "openai"
models = ["gpt-4o"]
base_url = "http://127.0.0.1:1/v1"
api_key = "sk-secret-123456"
[[routes]]
name = "r"
strategy = "weighted"
[[routes.targets]]
provider = "a"
model = "gpt-4o"
weight = 3
"#,
            &|_| None,
        )
        .unwrap();
        let mut snap = snapshot_from_config(&cfg);
        snap.version = 7;
        let back = config_from_snapshot(&snap, &ServerSettings::default()).unwrap();
        assert_eq!(back.version, 7);
        assert_eq!(
            back.providers[0].endpoints[0].api_key.expose(),
            "sk-secret-123456"
        );
        assert_eq!(back.routes[0].targets[0].weight, 3);
        assert_eq!(back.server.client_key_hashes, cfg.server.client_key_hashes);
        assert_eq!(snap.client_auth, "keys");
        assert_eq!(back.server.auth, AuthMode::Keys);

        let mut bad = snap.clone();
        bad.routes[0].targets[0].provider = "ghost".into();
        assert!(config_from_snapshot(&bad, &ServerSettings::default())
            .unwrap_err()
            .contains("unknown provider `ghost`"));
        let mut bad = snap.clone();
        bad.providers[0].endpoints[0].base_url = "ftp://x".into();
        assert!(config_from_snapshot(&bad, &ServerSettings::default())
            .unwrap_err()
            .contains("base_url"));
        let mut bad = snap.clone();
        bad.client_auth = "maybe".into();
        assert!(config_from_snapshot(&bad, &ServerSettings::default())
            .unwrap_err()
            .contains("client_auth"));
        let mut bad = snap;
        bad.providers.push(bad.providers[0].clone());
        assert!(config_from_snapshot(&bad, &ServerSettings::default())
            .unwrap_err()
            .contains("duplicate"));
    }

    /// Deleting the last client key must never turn auth off: `keys` with an empty set
    /// denies everyone, whatever the data plane's own setting.
    #[test]
    fn explicit_client_auth_fails_closed() {
        let open = ServerSettings::default();
        assert_eq!(open.auth, AuthMode::None);
        let snap = Snapshot {
            client_auth: "keys".into(),
            ..Default::default()
        };
        let cfg = config_from_snapshot(&snap, &open).unwrap();
        assert_eq!(cfg.server.auth, AuthMode::Keys);
        assert!(cfg.server.client_key_hashes.is_empty());

        let mut keyed = open.clone();
        keyed.auth = AuthMode::Keys;
        let snap = Snapshot {
            client_auth: "none".into(),
            ..Default::default()
        };
        assert_eq!(
            config_from_snapshot(&snap, &keyed).unwrap().server.auth,
            AuthMode::None
        );
        // Legacy snapshots: empty mode keeps the local setting, keys imply `keys`.
        let legacy = Snapshot::default();
        assert_eq!(
            config_from_snapshot(&legacy, &keyed).unwrap().server.auth,
            AuthMode::Keys
        );
        assert_eq!(
            config_from_snapshot(&legacy, &open).unwrap().server.auth,
            AuthMode::None
        );
        let legacy = Snapshot {
            client_key_sha256: vec!["ab".repeat(32)],
            ..Default::default()
        };
        let cfg = config_from_snapshot(&legacy, &open).unwrap();
        assert_eq!(cfg.server.auth, AuthMode::Keys);
        assert_eq!(cfg.server.client_key_hashes, vec![[0xab; 32]]);
    }

    fn limits(rpm: u32, tpm: u64) -> Option<PbLimits> {
        Some(PbLimits {
            rpm,
            tpm,
            tpm_counts: String::new(),
            max_concurrent: 0,
        })
    }

    fn governed_snapshot() -> Snapshot {
        use sluice_proto::{ClientKey as PbClientKey, KeyDigest as PbKeyDigest};
        let secret = [9u8; 32];
        let digest = |k: &str| encode_hash(&crate::governance::key_digest(&secret, k));
        Snapshot {
            version: 3,
            key_digest_secret: secret.to_vec(),
            teams: vec![PbTeam {
                name: "ml".into(),
                enabled: true,
                allowed_models: vec!["gpt-4o-mini".into()],
                limits: Some(PbLimits {
                    rpm: 600,
                    tpm: 100_000,
                    tpm_counts: "input".into(),
                    max_concurrent: 8,
                }),
                budget: Some(PbBudget {
                    limit_nanousd: 50_000_000_000,
                    soft_nanousd: 40_000_000_000,
                    window: "month".into(),
                    spent_nanousd: 41_000_000_000,
                    window_start_ms: 1_796_083_200_000,
                    exhausted_until_ms: 0,
                }),
            }],
            keys: vec![PbClientKey {
                id: "7".into(),
                name: "alice".into(),
                digests: vec![
                    PbKeyDigest {
                        digest: digest("sk-new"),
                        expires_at_ms: 0,
                    },
                    PbKeyDigest {
                        digest: digest("sk-old"),
                        expires_at_ms: 5_000,
                    },
                ],
                team: "ml".into(),
                user: "alice".into(),
                enabled: true,
                expires_at_ms: 0,
                allowed_models: vec![],
                limits: limits(0, 2_000),
                budget: Some(PbBudget {
                    limit_nanousd: 1_000,
                    soft_nanousd: 0,
                    window: "day".into(),
                    spent_nanousd: 1_000,
                    window_start_ms: 86_400_000,
                    exhausted_until_ms: 172_800_000,
                }),
            }],
            prices: vec![PbPrice {
                model: "gpt-4o-mini*".into(),
                input: 1.0,
                output: 2.0,
                cache_read: Some(0.5),
                cache_write: None,
                reasoning: None,
                per_request: 0.0,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn governance_from_a_snapshot() {
        let snap = governed_snapshot();
        let cfg = config_from_snapshot(&snap, &ServerSettings::default()).unwrap();
        assert_eq!(cfg.server.auth, AuthMode::Keys, "keys imply keys mode");
        let g = &cfg.governance;
        let k = g.find_key("sk-new", 10_000).unwrap();
        assert_eq!(k.id, "7");
        assert_eq!(k.user.as_deref(), Some("alice"));
        assert_eq!(k.limits.rpm, None, "0 = unlimited");
        assert_eq!(k.limits.tpm, Some(2_000));
        assert_eq!(k.expires_at_ms, None);
        assert_eq!(k.budget.unwrap().soft_nanousd, None);
        assert_eq!(k.budget_status.exhausted_until_ms, 172_800_000);
        assert!(g.find_key("sk-old", 4_999).is_some());
        assert!(
            g.find_key("sk-old", 5_000).is_none(),
            "rotation overlap ended"
        );
        let t = g.team_of(k).unwrap();
        assert_eq!(t.limits.tpm_counts, crate::governance::TokenCount::Input);
        assert_eq!(t.budget_status.spent_nanousd, 41_000_000_000);
        assert_eq!(
            g.prices.lookup("gpt-4o-mini").unwrap().cache_read,
            Some(0.5)
        );
        assert_eq!(
            g.prices.lookup("gpt-4o").unwrap().input,
            2.5,
            "defaults kept"
        );
        assert_eq!(
            g.default_output_estimate,
            crate::governance::DEFAULT_OUTPUT_ESTIMATE
        );
        // An explicit `none` still wins over keys.
        let mut open = snap.clone();
        open.client_auth = "none".into();
        let cfg = config_from_snapshot(&open, &ServerSettings::default()).unwrap();
        assert_eq!(cfg.server.auth, AuthMode::None);
    }

    #[test]
    fn bad_governance_snapshots_name_the_field() {
        let base = governed_snapshot();
        type Edit = fn(&mut Snapshot);
        let cases: &[(Edit, &str)] = &[
            (
                |s| s.key_digest_secret.truncate(31),
                "key_digest_secret: must be 32 bytes",
            ),
            (|s| s.key_digest_secret.clear(), "key_digest_secret"),
            (
                |s| s.keys[0].digests[0].digest = "xyz".into(),
                "keys[0] (7).digests[0].digest",
            ),
            (
                |s| s.keys[0].team = "ghost".into(),
                "keys[0] (7).team: unknown team \"ghost\"",
            ),
            (|s| s.keys[0].id.clear(), "keys[0].id"),
            (
                |s| {
                    let k = s.keys[0].clone();
                    s.keys.push(k);
                },
                "keys[1] (7).id: duplicate",
            ),
            (
                |s| {
                    let mut k = s.keys[0].clone();
                    k.id = "8".into();
                    s.keys.push(k);
                },
                "keys[1] (8).digests[0].digest: the same digest",
            ),
            (
                |s| s.keys[0].limits = limits(1_000_001, 0),
                "keys[0] (7).limits.rpm",
            ),
            (
                |s| s.keys[0].limits.as_mut().unwrap().tpm_counts = "all".into(),
                "keys[0] (7).limits.tpm_counts",
            ),
            (
                |s| s.keys[0].budget.as_mut().unwrap().window = "week".into(),
                "keys[0] (7).budget.window",
            ),
            (
                |s| s.teams[0].budget.as_mut().unwrap().soft_nanousd = u64::MAX,
                "teams[0] (ml).budget.soft_limit_usd",
            ),
            (
                |s| {
                    let t = s.teams[0].clone();
                    s.teams.push(t);
                },
                "teams[1] (ml).name: duplicate",
            ),
            (|s| s.teams[0].name.clear(), "teams[0].name"),
            (
                |s| s.teams[0].allowed_models.push(String::new()),
                "teams[0] (ml).allowed_models[1]",
            ),
            (|s| s.prices[0].input = f64::NAN, "prices[0].input"),
            (|s| s.prices[0].model = "a*b".into(), "prices[0].model"),
            (
                |s| {
                    s.providers.push(PbProvider {
                        name: "p".into(),
                        kind: "echo".into(),
                        limits: limits(0, 1_000_000_000_001),
                        ..Default::default()
                    })
                },
                "providers[0] (p).limits.tpm",
            ),
        ];
        for (edit, want) in cases {
            let mut s = base.clone();
            edit(&mut s);
            let e = config_from_snapshot(&s, &ServerSettings::default()).unwrap_err();
            assert!(e.contains(want), "`{e}` should mention `{want}`");
        }
        // No keys: no secret needed.
        let mut s = base;
        s.keys.clear();
        s.key_digest_secret.clear();
        assert!(config_from_snapshot(&s, &ServerSettings::default()).is_ok());
    }

    #[test]
    fn limits_and_prices_round_trip_but_keys_are_not_seeded() {
        let cfg = crate::file::parse_config(
            "t",
            r#"
env_providers = false
[[providers]]
name = "a"
kind = "echo"
  [providers.limits]
  rpm = 10
  tpm_counts = "output"
  tpm = 500
[[routes]]
name = "r"
  [[routes.targets]]
  provider = "a"
  [routes.limits]
  max_concurrent = 3
[[teams]]
name = "ml"
allowed_models = ["r"]
  [teams.budget]
  limit_usd = 2.5
  soft_limit_usd = 1.0
  window = "total"
[[keys]]
name = "k"
key = "sk-file-key"
team = "ml"
[[prices]]
model = "echo*"
input = 0.5
output = 1.5
reasoning = 3.0
per_request = 0.01
"#,
            &|_| None,
        )
        .unwrap();
        let snap = snapshot_from_config(&cfg);
        assert!(snap.keys.is_empty() && snap.key_digest_secret.is_empty());
        assert_eq!(snap.client_auth, "keys");
        assert_eq!(snap.prices.len(), 1, "only the overrides");
        let back = config_from_snapshot(&snap, &ServerSettings::default()).unwrap();
        assert_eq!(back.providers[0].limits, cfg.providers[0].limits);
        assert_eq!(back.routes[0].limits, cfg.routes[0].limits);
        assert_eq!(back.routes[0].limits.max_concurrent, Some(3));
        assert_eq!(
            back.governance.teams.get("ml"),
            cfg.governance.teams.get("ml")
        );
        assert_eq!(
            back.governance.prices.lookup("echo-1"),
            cfg.governance.prices.lookup("echo-1")
        );
        assert_eq!(
            back.governance.prices.overrides(),
            cfg.governance.prices.overrides()
        );
        assert!(back.governance.keys.is_empty());
        assert_eq!(
            back.server.auth,
            AuthMode::Keys,
            "fail closed until keys exist"
        );
        // Unlimited scopes carry no limits message at all.
        let plain = snapshot_from_config(&back);
        assert!(plain.routes[0].limits.is_some());
        let mut unlimited = back.clone();
        unlimited.routes[0].limits = RateLimits::default();
        assert!(snapshot_from_config(&unlimited).routes[0].limits.is_none());
    }
}
