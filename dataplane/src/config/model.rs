//! The one internal configuration model. File formats, env zero-config and (later)
//! control-plane snapshots all convert into [`RuntimeConfig`] and are validated there;
//! the request path only ever sees a validated, immutable snapshot.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Protocol family a provider speaks; decides how requests are built and answers translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// api.openai.com and anything speaking its Chat Completions API.
    OpenAi,
    /// DeepSeek (OpenAI-compatible wire format).
    DeepSeek,
    /// Any OpenAI-compatible server (vLLM, Ollama, LM Studio, ...).
    OpenAiCompatible,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini generateContent API.
    Gemini,
    /// Built-in local echo provider: no network, deterministic answers.
    Echo,
}

impl ProviderKind {
    /// Every kind name accepted in config files and admin APIs.
    pub const NAMES: &'static [&'static str] = &[
        "openai",
        "anthropic",
        "gemini",
        "deepseek",
        "openai_compatible",
        "echo",
    ];

    /// Parses a kind name (a few common aliases accepted).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "openai" => Self::OpenAi,
            "deepseek" => Self::DeepSeek,
            "openai_compatible" | "openai-compatible" | "vllm" | "ollama" | "custom" => {
                Self::OpenAiCompatible
            }
            "anthropic" | "claude" => Self::Anthropic,
            "gemini" | "google" => Self::Gemini,
            "echo" => Self::Echo,
            _ => return None,
        })
    }

    /// Canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::DeepSeek => "deepseek",
            Self::OpenAiCompatible => "openai_compatible",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Echo => "echo",
        }
    }

    /// The wire protocol used towards the upstream.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::OpenAi | Self::DeepSeek | Self::OpenAiCompatible => Protocol::OpenAi,
            Self::Anthropic => Protocol::Anthropic,
            Self::Gemini => Protocol::Gemini,
            Self::Echo => Protocol::Echo,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Upstream wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI Chat Completions: forwarded byte for byte.
    OpenAi,
    /// Anthropic Messages: translated.
    Anthropic,
    /// Gemini generateContent: translated.
    Gemini,
    /// Answered inside the gateway.
    Echo,
}

/// A parsed upstream base URL (`scheme://host[:port][/path]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `true` for https.
    pub tls: bool,
    /// Host name or IP literal (no brackets).
    pub host: String,
    /// Port (defaulted from the scheme).
    pub port: u16,
    /// Path prefix without trailing slash (may be empty).
    pub path: String,
    /// The original text, for display.
    pub original: String,
    /// `host` or `host:port` as the Host header wants it (computed once, sent per request).
    authority: String,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port][/path]`; rejects other schemes, userinfo, query and fragment.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{s}` must start with http:// or https://"));
        };
        if rest.contains(['?', '#', '@', ' ']) {
            return Err(format!(
                "`{s}` must not contain a query, fragment, user info or spaces"
            ));
        }
        let (authority, path) = rest
            .find('/')
            .and_then(|i| rest.split_at_checked(i))
            .unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(format!("`{s}` has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{s}` has an unterminated IPv6 literal"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| format!("`{s}` has an invalid port"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("`{s}` has an invalid authority")),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| format!("`{s}` has an invalid port"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(format!("`{s}` has an empty host or port 0"));
        }
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        Ok(Self {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
            original: s.to_string(),
            authority,
        })
    }

    /// `host` or `host:port` as the Host header wants it.
    pub fn host_header(&self) -> &str {
        &self.authority
    }
}

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl Secret {
    /// The plaintext, for building upstream requests only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sk-…abcd` style mask for display.
    pub fn masked(&self) -> String {
        mask_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

/// SHA-256 of a client API key, as stored and compared.
pub fn client_key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// Masks a secret as `prefix…last4`; short secrets are fully hidden.
pub fn mask_secret(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "****".to_string();
    }
    let prefix: String = chars.iter().take(3).collect();
    let suffix: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("{prefix}…{suffix}")
}

/// One `{base_url, api_key}` entry of a provider: the unit of health.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Parsed base URL.
    pub base_url: BaseUrl,
    /// Upstream credential (may be empty for keyless local servers).
    pub api_key: Secret,
    /// Stable key for health tracking across snapshots: `provider|base_url|index`.
    pub health_key: String,
}

/// An upstream provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Unique name; what `provider`/`backend` pins refer to.
    pub name: String,
    /// Protocol family.
    pub kind: ProviderKind,
    /// Models it serves (empty: only reachable through routes, pins and prefix rules).
    pub models: Vec<String>,
    /// Disabled providers are never selected.
    pub enabled: bool,
    /// Relative weight among equals.
    pub weight: u32,
    /// Failover tier: lower is preferred.
    pub priority: i32,
    /// Time allowed to the first byte, and between streamed chunks.
    pub timeout: Duration,
    /// One or more endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Pause between streamed chunks (the `echo` kind only).
    pub pace: Duration,
    /// Optional active health check of every endpoint.
    pub health_check: Option<HealthCheck>,
}

/// An active health check: `GET {base_url}{path}` with the endpoint's credentials every
/// `interval`; 2xx passes, anything else (or no answer within the provider's timeout) fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between checks of one endpoint.
    pub interval: Duration,
    /// Path appended to the base URL's path.
    pub path: String,
}

impl ProviderKind {
    /// The listing endpoint a health check asks by default (relative to the base URL).
    pub fn default_health_path(self) -> &'static str {
        match self {
            Self::Anthropic => "/v1/models",
            Self::Gemini => "/v1beta/models",
            _ => "/models",
        }
    }
}

/// Load-balancing strategy of a route (the routing engine's own type).
pub use sluice_route::Strategy;

/// One target of a route.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index into [`RuntimeConfig::providers`].
    pub provider: usize,
    /// Upstream model name.
    pub model: String,
    /// Relative weight.
    pub weight: u32,
    /// Failover tier (lower first).
    pub priority: i32,
}

/// A public model name mapped onto targets.
#[derive(Debug, Clone)]
pub struct Route {
    /// What clients send as `model`.
    pub name: String,
    /// How targets are chosen.
    pub strategy: Strategy,
    /// Default retries (attempts = 1 + retries).
    pub retries: u32,
    /// Ordered targets.
    pub targets: Vec<Target>,
}

/// How the proxy authenticates clients. There is no implicit mode: an empty key set in
/// `Keys` mode denies every request (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every LLM request must present one of the configured client keys.
    Keys,
    /// No client authentication: anyone who reaches the proxy spends the provider keys.
    None,
}

impl AuthMode {
    /// Parses `keys` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keys" => Some(Self::Keys),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::None => "none",
        }
    }
}

/// Admission limits: every resource a client can make the data plane hold is bounded by
/// one of these (all under `[server]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open downstream connections; beyond it new connections get a 503 and are closed.
    pub max_connections: usize,
    /// Requests being served at once; beyond it new requests get a 503 with `Retry-After`.
    pub max_inflight: usize,
    /// Request-body bytes buffered across all connections at once; beyond it new
    /// requests get a 503 with `Retry-After`.
    pub max_buffered_body_bytes: usize,
    /// Total time allowed to receive a request head (from its first byte on a reused
    /// connection, from accept on a new one).
    pub header_timeout: Duration,
    /// Total time allowed to receive a request body.
    pub body_timeout: Duration,
    /// Slowest accepted body upload once `body_rate_grace` has passed, bytes per second.
    pub min_body_rate: u64,
    /// Time a body upload may take before `min_body_rate` applies.
    pub body_rate_grace: Duration,
    /// Time one write of the answer may wait for a slow reader.
    pub write_timeout: Duration,
    /// Idle time allowed between requests on a kept-alive connection.
    pub keepalive_timeout: Duration,
    /// Longest accepted `model` (and pin) value, bytes.
    pub max_model_len: usize,
    /// Most entries of `messages`.
    pub max_messages: usize,
    /// Most entries of `tools`.
    pub max_tools: usize,
    /// Most members of any one JSON object in a request.
    pub max_object_keys: usize,
    /// Deepest JSON nesting in a request.
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_inflight: 4_096,
            max_buffered_body_bytes: 256 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            min_body_rate: 16 * 1024,
            body_rate_grace: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            max_model_len: 256,
            max_messages: 10_000,
            max_tools: 512,
            max_object_keys: 4_096,
            max_json_depth: 64,
        }
    }
}

/// Data-plane server settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Proxy listen address.
    pub listen: String,
    /// Ops (metrics/health) listen address.
    pub ops_listen: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Upper bound on per-request `retry_count`.
    pub max_retries: u32,
    /// Retries when a request resolves without a route.
    pub default_retries: u32,
    /// Client authentication mode.
    pub auth: AuthMode,
    /// SHA-256 of accepted client API keys (in `Keys` mode; empty denies everyone).
    pub client_key_hashes: Vec<[u8; 32]>,
    /// Admission limits.
    pub limits: Limits,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8000".into(),
            ops_listen: "0.0.0.0:9090".into(),
            max_body_bytes: 10 * 1024 * 1024,
            max_retries: 5,
            default_retries: 2,
            auth: AuthMode::None,
            client_key_hashes: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl ServerSettings {
    /// Whether the proxy's configured listen address reaches beyond loopback.
    pub fn exposed(&self) -> bool {
        listens_beyond_loopback(&self.listen)
    }
}

/// Whether a listen address (`ip:port`) reaches beyond loopback; anything that does not
/// parse counts as exposed.
pub fn listens_beyond_loopback(listen: &str) -> bool {
    listen
        .parse::<std::net::SocketAddr>()
        .map_or(true, |a| !a.ip().is_loopback())
}

/// A model-prefix rule (seed 004): `gpt-*` → openai, ...
#[derive(Debug, Clone)]
pub struct PrefixRule {
    /// Model name prefix.
    pub prefix: String,
    /// A provider name, or a provider kind meaning every enabled provider of that kind.
    pub target: String,
}

/// Default prefix rules from DESIGN.md.
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

    #[test]
    fn base_url_forms() {
        let u = BaseUrl::parse("https://api.openai.com/v1/").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "api.openai.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/v1");
        assert_eq!(u.host_header(), "api.openai.com");
        let u = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(u.port, 8080);
        assert_eq!(u.path, "");
        assert_eq!(u.host_header(), "127.0.0.1:8080");
        let u = BaseUrl::parse("http://[::1]:9000/x").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_header(), "[::1]:9000");
        for bad in [
            "ftp://x",
            "http://",
            "http://h:99999",
            "https://u@h",
            "http://h/?q",
            "api.openai.com",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_secret("sk-1234567890abcd"), "sk-…abcd");
        assert_eq!(mask_secret("short"), "****");
        assert_eq!(
            format!("{:?}", Secret("sk-1234567890abcd".into())),
            "Secret(sk-…abcd)"
        );
    }

    #[test]
    fn strategies_and_kinds_parse() {
        assert_eq!(
            "round-robin".parse::<Strategy>().ok(),
            Some(Strategy::RoundRobin)
        );
        assert_eq!(
            "failover".parse::<Strategy>().ok(),
            Some(Strategy::Priority)
        );
        assert!("nope".parse::<Strategy>().is_err());
        for n in ProviderKind::NAMES {
            assert_eq!(ProviderKind::parse(n).unwrap().as_str(), *n);
        }
    }
}
