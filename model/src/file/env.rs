//! Zero-config providers from well-known environment variables:
//! `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `DEEPSEEK_API_KEY`, each with an
//! optional `*_API_BASE`. A provider of the same name in the file wins.

use super::EnvLookup;
use crate::provider::{Provider, ProviderKind};
use crate::secret::Secret;
use crate::validate::{build_provider, DEFAULT_TIMEOUT_MS};

/// `(provider name, kind, key var, base var, default base URL)`.
const ENV_PROVIDERS: &[(&str, ProviderKind, &str, &str, &str)] = &[
    (
        "openai",
        ProviderKind::OpenAi,
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "https://api.openai.com/v1",
    ),
    (
        "anthropic",
        ProviderKind::Anthropic,
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_BASE",
        "https://api.anthropic.com",
    ),
    (
        "gemini",
        ProviderKind::Gemini,
        "GEMINI_API_KEY",
        "GEMINI_API_BASE",
        "https://generativelanguage.googleapis.com",
    ),
    (
        "deepseek",
        ProviderKind::DeepSeek,
        "DEEPSEEK_API_KEY",
        "DEEPSEEK_API_BASE",
        "https://api.deepseek.com/v1",
    ),
];

/// Appends a provider for every `*_API_KEY` set in the environment and not already configured.
/// Invalid `*_API_BASE` values are logged and skipped rather than failing the whole config.
pub fn add_env_providers(providers: &mut Vec<Provider>, env: EnvLookup) {
    for &(name, kind, key_var, base_var, default_base) in ENV_PROVIDERS {
        let Some(key) = env(key_var).filter(|k| !k.trim().is_empty()) else {
            continue;
        };
        if providers.iter().any(|p| p.name == name) {
            continue;
        }
        let base = env(base_var)
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| default_base.to_string());
        match build_provider(
            name.to_string(),
            kind,
            Vec::new(),
            true,
            1,
            0,
            DEFAULT_TIMEOUT_MS,
            vec![(base, Secret(key.trim().to_string()))],
            &format!("env {key_var}"),
        ) {
            Ok(p) => providers.push(p),
            Err(e) => {
                tracing::warn!(key = %e.field, problem = %e.problem, "ignoring zero-config provider")
            }
        }
    }
}
