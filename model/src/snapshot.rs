//! Conversion between the gRPC [`Snapshot`] and the internal [`RuntimeConfig`]. Snapshots
//! are validated exactly like static files (same builders), so a control plane can validate
//! a candidate state with [`config_from_snapshot`] before committing it, and a data plane
//! NACKs anything that does not convert.

use sluice_proto::{
    Endpoint as PbEndpoint, PrefixRule as PbPrefixRule, Provider as PbProvider, Route as PbRoute,
    Snapshot, Target as PbTarget,
};

use crate::auth::{decode_hash, AuthMode};
use crate::config::{default_prefix_rules, PrefixRule, RuntimeConfig};
use crate::limits::ServerSettings;
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
            limits: Default::default(),
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
    let mut cfg = RuntimeConfig::new(server, providers, routes, prefix_rules)?;
    cfg.version = snap.version;
    Ok(cfg)
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
        "" if snap.client_key_sha256.is_empty() => {}
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
                // TODO(governance): limits to proto.
                limits: None,
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
                // TODO(governance): limits to proto.
                limits: None,
            })
            .collect(),
        // TODO(governance): keys, teams and prices to proto.
        keys: Vec::new(),
        teams: Vec::new(),
        prices: Vec::new(),
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
}
