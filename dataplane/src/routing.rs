//! Per-request planning on top of the routing engine (`sluice-route`): which target a
//! request tries first and in which order it fails over, which endpoint of a provider it
//! uses, and passive health fed back from every attempt. Health lives in a registry keyed
//! by endpoint, so it survives config snapshot swaps; balancers are rebuilt per snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::Serialize;
use sluice_route::{
    Balancer, EndpointGroups, EndpointHealth, HealthPolicy, HealthRegistry, HealthSnapshot,
    HealthView, Member, Permit,
};

pub use sluice_route::AttemptOutcome as Outcome;

use crate::config::{Provider, RuntimeConfig, Strategy};
use crate::resolve::{Candidate, Resolution};

/// A planned target set for one request.
pub struct Plan {
    /// Candidates in the order to try them (available first).
    pub candidates: Vec<Candidate>,
    /// How many leading candidates are currently available.
    pub available: usize,
    /// When the soonest unavailable candidate is expected back (for `Retry-After`).
    pub retry_after: Option<Duration>,
}

/// An endpoint admitted for one attempt.
pub struct EndpointChoice {
    /// Index into the provider's endpoints.
    pub index: usize,
    /// In-flight slot; record the attempt's outcome through it.
    pub permit: Permit,
}

struct TargetSet {
    balancer: Balancer,
    groups: Vec<Vec<Arc<EndpointHealth>>>,
}

struct ProviderEndpoints {
    balancer: Balancer,
    health: Vec<Arc<EndpointHealth>>,
}

/// Balancers of one config version.
struct VersionState {
    version: u64,
    providers: Vec<ProviderEndpoints>,
    targets: HashMap<String, Arc<TargetSet>>,
}

/// Plans candidates and picks endpoints; keeps health across snapshots.
pub struct Router {
    health: HealthRegistry,
    state: RwLock<Arc<VersionStateCell>>,
}

struct VersionStateCell {
    inner: RwLock<VersionState>,
}

/// One endpoint's health as reported to operators.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    /// Provider name.
    pub provider: String,
    /// Endpoint base URL.
    pub base_url: String,
    /// Health numbers.
    pub health: HealthSnapshot,
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

fn health_key(p: &Provider, i: usize) -> String {
    match p.endpoints.get(i) {
        Some(e) => e.health_key.clone(),
        None => format!("{}|local", p.name),
    }
}

impl Router {
    /// A router with default health policy.
    pub fn new() -> Self {
        Self::with_policy(HealthPolicy::default())
    }

    /// A router with the given health policy.
    pub fn with_policy(policy: HealthPolicy) -> Self {
        Self {
            health: HealthRegistry::new(policy),
            state: RwLock::new(Arc::new(VersionStateCell {
                inner: RwLock::new(VersionState {
                    version: u64::MAX,
                    providers: Vec::new(),
                    targets: HashMap::new(),
                }),
            })),
        }
    }

    /// The per-version state for `cfg`, rebuilt when the version changes.
    fn version_state(&self, cfg: &RuntimeConfig) -> Arc<VersionStateCell> {
        let cell = self.state.read().clone();
        if cell.inner.read().version == cfg.version {
            return cell;
        }
        let providers = cfg
            .providers
            .iter()
            .map(|p| {
                let n = p.endpoints.len().max(1);
                let health = (0..n)
                    .map(|i| self.health.get_or_insert(&health_key(p, i)))
                    .collect();
                ProviderEndpoints {
                    balancer: Balancer::new(&vec![Member::new(1, 0); n], Strategy::RoundRobin),
                    health,
                }
            })
            .collect();
        let keys: Vec<String> = cfg
            .providers
            .iter()
            .flat_map(|p| (0..p.endpoints.len().max(1)).map(move |i| health_key(p, i)))
            .collect();
        self.health.retain(keys);
        let fresh = Arc::new(VersionStateCell {
            inner: RwLock::new(VersionState {
                version: cfg.version,
                providers,
                targets: HashMap::new(),
            }),
        });
        let mut slot = self.state.write();
        if slot.inner.read().version != cfg.version {
            *slot = fresh.clone();
        }
        slot.clone()
    }

    fn target_set(
        &self,
        cell: &VersionStateCell,
        key: &str,
        strategy: Strategy,
        cands: &[Candidate],
    ) -> Arc<TargetSet> {
        if let Some(t) = cell.inner.read().targets.get(key) {
            return t.clone();
        }
        let mut st = cell.inner.write();
        let members: Vec<Member> = cands
            .iter()
            .map(|c| Member::new(c.weight, c.priority))
            .collect();
        let groups = cands
            .iter()
            .map(|c| {
                st.providers
                    .get(c.provider)
                    .map(|p| p.health.clone())
                    .unwrap_or_default()
            })
            .collect();
        let set = Arc::new(TargetSet {
            balancer: Balancer::new(&members, strategy),
            groups,
        });
        st.targets.insert(key.to_string(), set.clone());
        set
    }

    /// Orders the resolution's candidates for one request: primaries by the strategy and
    /// health, then the client's `fallback_providers` in their order.
    pub fn plan(&self, cfg: &RuntimeConfig, res: &Resolution) -> Plan {
        let now = Instant::now();
        let cell = self.version_state(cfg);
        let mut order = Vec::with_capacity(res.candidates.len());
        let mut available = 0;
        let mut retry_after = None;
        if res.candidates.len() == 1 {
            order.push(0);
            let view = self.groups_for(&cell, &res.candidates);
            let a = EndpointGroups(&view).availability(0, now);
            available = usize::from(a.is_available());
            retry_after = a.retry_after(now);
        } else if !res.candidates.is_empty() {
            // Key by route name, or by the provider set for implicit resolutions (bounded by config).
            let key = match &res.route {
                Some(r) => format!("route|{r}"),
                None => {
                    let mut k = String::from("implicit|");
                    for c in &res.candidates {
                        k.push_str(itoa::Buffer::new().format(c.provider));
                        k.push(',');
                    }
                    k
                }
            };
            let set = self.target_set(&cell, &key, res.strategy, &res.candidates);
            available = set
                .balancer
                .plan(&EndpointGroups(&set.groups), now, &mut order);
            if let Some(&first_unavailable) = order.get(available) {
                retry_after = EndpointGroups(&set.groups)
                    .availability(first_unavailable, now)
                    .retry_after(now);
            }
        }
        let mut candidates: Vec<Candidate> = order
            .into_iter()
            .filter_map(|i| res.candidates.get(i).cloned())
            .collect();
        candidates.extend(res.fallbacks.iter().cloned());
        Plan {
            candidates,
            available,
            retry_after,
        }
    }

    fn groups_for(
        &self,
        cell: &VersionStateCell,
        cands: &[Candidate],
    ) -> Vec<Vec<Arc<EndpointHealth>>> {
        let st = cell.inner.read();
        cands
            .iter()
            .map(|c| {
                st.providers
                    .get(c.provider)
                    .map(|p| p.health.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Admits one endpoint of `provider` for an attempt (healthy ones first, one
    /// half-open probe at a time). `None` when every endpoint is ejected.
    pub fn pick_endpoint(&self, cfg: &RuntimeConfig, provider: usize) -> Option<EndpointChoice> {
        self.admit_endpoint(cfg, provider, false)
    }

    /// Admits an endpoint even when ejected (pinned requests), in the balancer's order.
    pub fn force_endpoint(&self, cfg: &RuntimeConfig, provider: usize) -> Option<EndpointChoice> {
        self.admit_endpoint(cfg, provider, true)
    }

    fn admit_endpoint(
        &self,
        cfg: &RuntimeConfig,
        provider: usize,
        force: bool,
    ) -> Option<EndpointChoice> {
        let now = Instant::now();
        let cell = self.version_state(cfg);
        let st = cell.inner.read();
        let pe = st.providers.get(provider)?;
        let mut order = Vec::with_capacity(pe.health.len());
        pe.balancer.plan(pe.health.as_slice(), now, &mut order);
        if force {
            let index = *order.first()?;
            return Some(EndpointChoice {
                index,
                permit: pe.health.get(index)?.acquire_unchecked(),
            });
        }
        order.into_iter().find_map(|i| {
            pe.health
                .get(i)?
                .try_acquire(now)
                .map(|permit| EndpointChoice { index: i, permit })
        })
    }

    /// Records an active health check of one endpoint.
    pub fn record_probe(
        &self,
        cfg: &RuntimeConfig,
        provider: usize,
        endpoint: usize,
        healthy: bool,
    ) {
        let cell = self.version_state(cfg);
        let st = cell.inner.read();
        if let Some(h) = st
            .providers
            .get(provider)
            .and_then(|p| p.health.get(endpoint))
        {
            h.record_probe_result(healthy, Instant::now());
        }
    }

    /// When every endpoint of `provider` is expected back.
    pub fn provider_retry_after(&self, cfg: &RuntimeConfig, provider: usize) -> Option<Duration> {
        let now = Instant::now();
        let cell = self.version_state(cfg);
        let st = cell.inner.read();
        let pe = st.providers.get(provider)?;
        pe.health
            .iter()
            .filter_map(|h| h.availability(now).retry_after(now))
            .min()
    }

    /// Health of every endpoint of the snapshot.
    pub fn health_report(&self, cfg: &RuntimeConfig) -> Vec<EndpointReport> {
        let now = Instant::now();
        let mut out = Vec::new();
        for p in &cfg.providers {
            for i in 0..p.endpoints.len().max(1) {
                let h = self.health.get_or_insert(&health_key(p, i));
                out.push(EndpointReport {
                    provider: p.name.clone(),
                    base_url: p
                        .endpoints
                        .get(i)
                        .map(|e| e.base_url.original.clone())
                        .unwrap_or_else(|| "local".into()),
                    health: h.snapshot(now),
                });
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;
    use crate::chat_request::ChatRequest;
    use bytes::Bytes;

    fn cfg(strategy: &str) -> RuntimeConfig {
        crate::config::parse_config(
            "t",
            &format!(
                r#"
env_providers = false
[[providers]]
name = "a"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "b"
kind = "openai"
base_url = "http://127.0.0.1:2/v1"
[[providers.endpoints]]
base_url = "http://127.0.0.1:3/v1"
[[routes]]
name = "r"
strategy = "{strategy}"
[[routes.targets]]
provider = "a"
model = "m"
weight = 3
[[routes.targets]]
provider = "b"
model = "m"
weight = 1
"#
            ),
            &|_| None,
        )
        .unwrap()
    }

    fn res(c: &RuntimeConfig) -> Resolution {
        let req = ChatRequest::parse(
            Bytes::from_static(br#"{"model":"r","messages":[{"role":"user"}]}"#),
            &crate::config::Limits::default(),
        )
        .unwrap();
        crate::resolve::resolve(c, &crate::chat_request::ClientRequest::from_chat(req)).unwrap()
    }

    #[test]
    fn weighted_split_and_ejection() {
        let mut c = cfg("weighted");
        c.version = 1;
        let router = Router::new();
        let r = res(&c);
        let mut first = [0usize; 2];
        for _ in 0..400 {
            let p = router.plan(&c, &r);
            first[p.candidates[0].provider] += 1;
        }
        assert_eq!(first, [300, 100]);
        // Eject provider a (3 consecutive failures) and it is planned last.
        for _ in 0..3 {
            let ch = router.pick_endpoint(&c, 0).unwrap();
            ch.permit.record(
                Outcome::ServerError(500),
                Duration::from_millis(1),
                Instant::now(),
            );
        }
        assert!(router.pick_endpoint(&c, 0).is_none());
        let p = router.plan(&c, &r);
        assert_eq!(p.candidates[0].provider, 1);
        assert_eq!(p.available, 1);
        // Health survives a new snapshot version.
        c.version = 2;
        assert!(router.pick_endpoint(&c, 0).is_none());
        let rep = router.health_report(&c);
        assert_eq!(rep.len(), 3);
        assert!(!rep[0].health.is_available);
    }

    #[test]
    fn endpoints_round_robin() {
        let mut c = cfg("round_robin");
        c.version = 1;
        let router = Router::new();
        let picks: Vec<usize> = (0..4)
            .map(|_| router.pick_endpoint(&c, 1).unwrap().index)
            .collect();
        assert_eq!(picks, [0, 1, 0, 1]);
    }
}
