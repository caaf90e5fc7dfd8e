//! The one validated, immutable configuration snapshot the request path reads
//! ([`RuntimeConfig`]), with its lookup indexes and prefix rules. File formats, env
//! zero-config and control-plane snapshots all convert into it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::limits::ServerSettings;
use crate::provider::{Provider, ProviderKind};
use crate::route::Route;

/// A model-prefix rule: `gpt-*` → openai, ...
#[derive(Debug, Clone)]
pub struct PrefixRule {
    /// Model name prefix.
    pub prefix: String,
    /// A provider name, or a provider kind meaning every enabled provider of that kind.
    pub target: String,
}

/// Default prefix rules (docs/ARCHITECTURE.md, model resolution step 5).
pub fn default_prefix_rules() -> Vec<PrefixRule> {
    [
        ("gpt-", ProviderKind::OpenAi),
        ("o1-", ProviderKind::OpenAi),
        ("o3-", ProviderKind::OpenAi),
        ("o4-", ProviderKind::OpenAi),
        ("chatgpt-", ProviderKind::OpenAi),
        ("claude-", ProviderKind::Anthropic),
        ("anthropic-", ProviderKind::Anthropic),
        ("gemini-", ProviderKind::Gemini),
        ("deepseek-", ProviderKind::DeepSeek),
    ]
    .into_iter()
    .map(|(p, k)| PrefixRule {
        prefix: p.to_string(),
        target: k.as_str().to_string(),
    })
    .collect()
}

/// A validated, immutable configuration snapshot.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Monotonic version (file reloads count up; control plane versions are its own).
    pub version: u64,
    /// Server settings.
    pub server: ServerSettings,
    /// Providers, in declaration order.
    pub providers: Vec<Provider>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Prefix rules.
    pub prefix_rules: Vec<PrefixRule>,
    /// Provider name → index.
    pub provider_index: HashMap<String, usize>,
    /// Route name → index.
    pub route_index: HashMap<String, usize>,
    /// Every model name the configuration mentions (route names, target models, provider
    /// model lists): the only model values metrics carry as labels.
    pub configured_models: HashSet<String, BuildFnv>,
    /// Client keys, teams, budgets and prices.
    pub governance: crate::governance::Governance,
}

/// FNV-1a, for the per-request lookup of a (short) model name among the configured ones:
/// SipHash's set-up costs more than the whole name. The set's contents come from the
/// configuration, never from clients, so there is no collision flooding to defend against.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildFnv;

/// The FNV-1a state.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Shared handle to a snapshot.
pub type SharedConfig = Arc<RuntimeConfig>;

impl RuntimeConfig {
    /// Builds the lookup indexes and checks cross references and uniqueness.
    pub fn new(
        server: ServerSettings,
        providers: Vec<Provider>,
        routes: Vec<Route>,
        prefix_rules: Vec<PrefixRule>,
    ) -> Result<Self, String> {
        let mut provider_index = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            if provider_index.insert(p.name.clone(), i).is_some() {
                return Err(format!("duplicate provider name `{}`", p.name));
            }
            if p.endpoints.is_empty() && p.kind != ProviderKind::Echo {
                return Err(format!("provider `{}` has no endpoints", p.name));
            }
        }
        let mut route_index = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            if route_index.insert(r.name.clone(), i).is_some() {
                return Err(format!("duplicate route name `{}`", r.name));
            }
            if r.targets.is_empty() {
                return Err(format!("route `{}` has no targets", r.name));
            }
            for t in &r.targets {
                if t.provider >= providers.len() {
                    return Err(format!("route `{}` names an unknown provider", r.name));
                }
            }
        }
        let configured_models = routes
            .iter()
            .flat_map(|r| {
                std::iter::once(r.name.clone()).chain(r.targets.iter().map(|t| t.model.clone()))
            })
            .chain(providers.iter().flat_map(|p| p.models.iter().cloned()))
            .collect();
        Ok(Self {
            version: 0,
            configured_models,
            governance: crate::governance::Governance::default(),
            server,
            providers,
            routes,
            prefix_rules,
            provider_index,
            route_index,
        })
    }

    /// Provider by name.
    pub fn provider(&self, name: &str) -> Option<(usize, &Provider)> {
        self.provider_index
            .get(name)
            .and_then(|&i| self.providers.get(i).map(|p| (i, p)))
    }

    /// Whether `model` is named in the configuration (a metric label may carry it).
    pub fn is_configured_model(&self, model: &str) -> bool {
        self.configured_models.contains(model)
    }

    /// Route by name.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.route_index.get(name).and_then(|&i| self.routes.get(i))
    }
}
