//! Upstream providers: their kind (and the wire protocol it implies), endpoints and
//! active health check.

use std::fmt;
use std::time::Duration;

use crate::base_url::BaseUrl;
use crate::secret::Secret;

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
    /// OpenAI's Responses API (`POST /v1/responses`), stateless.
    OpenAiResponses,
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
        "openai_responses",
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
            "openai_responses" | "openai-responses" | "responses" => Self::OpenAiResponses,
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
            Self::OpenAiResponses => "openai_responses",
            Self::Echo => "echo",
        }
    }

    /// The wire protocol used towards the upstream.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::OpenAi | Self::DeepSeek | Self::OpenAiCompatible => Protocol::OpenAi,
            Self::Anthropic => Protocol::Anthropic,
            Self::Gemini => Protocol::Gemini,
            Self::OpenAiResponses => Protocol::OpenAiResponses,
            Self::Echo => Protocol::Echo,
        }
    }

    /// The listing endpoint a health check asks by default (relative to the base URL).
    pub fn default_health_path(self) -> &'static str {
        self.protocol().wire().models_path
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wire protocol, of an upstream provider or of a client surface; its conventions are in
/// [`Protocol::wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenAi,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Gemini generateContent (`/v1beta/models/{model}:generateContent`).
    Gemini,
    /// OpenAI Responses (`/v1/responses`).
    OpenAiResponses,
    /// Answered inside the gateway (OpenAI Chat shaped).
    Echo,
}

impl Protocol {
    /// Short name (metrics labels, logs, README matrix).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai_chat",
            Protocol::Anthropic => "anthropic_messages",
            Protocol::Gemini => "gemini",
            Protocol::OpenAiResponses => "openai_responses",
            Protocol::Echo => "echo",
        }
    }
}

/// Guesses a provider kind from its name or base URL (for payloads and files that omit
/// the kind, as the provider-management API and `[providers.<name>]` tables do).
pub fn infer_kind(name: &str, base_url: &str) -> ProviderKind {
    let hay = format!(
        "{} {}",
        name.to_ascii_lowercase(),
        base_url.to_ascii_lowercase()
    );
    if hay.contains("anthropic") || hay.contains("claude") {
        ProviderKind::Anthropic
    } else if hay.contains("generativelanguage") || hay.contains("gemini") {
        ProviderKind::Gemini
    } else if hay.contains("deepseek") {
        ProviderKind::DeepSeek
    } else if hay.contains("api.openai.com") {
        ProviderKind::OpenAi
    } else {
        ProviderKind::OpenAiCompatible
    }
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
    /// Limits that keep Sluice under the provider's own quota (all data planes together).
    pub limits: crate::governance::RateLimits,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_infer() {
        for n in ProviderKind::NAMES {
            assert_eq!(ProviderKind::parse(n).unwrap().as_str(), *n);
        }
        assert_eq!(
            infer_kind("x", "https://api.anthropic.com/v1"),
            ProviderKind::Anthropic
        );
        assert_eq!(infer_kind("my-gemini", ""), ProviderKind::Gemini);
        assert_eq!(
            infer_kind("o", "https://api.openai.com/v1"),
            ProviderKind::OpenAi
        );
        assert_eq!(
            infer_kind("local", "http://127.0.0.1:11434/v1"),
            ProviderKind::OpenAiCompatible
        );
    }
}
