//! The per-protocol wire conventions both planes need — which header carries the key and
//! how, the version header, which base-URL suffixes to strip to reach the API root, the
//! default model-listing path and the control plane's connectivity probe — as one static
//! table per protocol. Code reads these facts from [`Protocol::wire`] instead of matching
//! on the protocol itself.

use crate::provider::Protocol;

/// How a provider key is written into its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScheme {
    /// `Bearer <key>` (OpenAI style `Authorization`).
    Bearer,
    /// The key as is (`x-api-key`, `x-goog-api-key`).
    Raw,
}

/// What the control plane's connectivity check of an endpoint asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConventions {
    /// Path appended to the base URL as configured (empty: the base URL itself).
    pub path: &'static str,
    /// Whether the endpoint's key (and the version header) is sent with the check.
    pub send_key: bool,
}

/// The wire facts of one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireConventions {
    /// Header carrying the provider key (lower case).
    pub auth_header: &'static str,
    /// How the key is written into [`WireConventions::auth_header`].
    pub key_scheme: KeyScheme,
    /// A header every request carries (name, value), e.g. Anthropic's API version.
    pub version_header: Option<(&'static str, &'static str)>,
    /// Base-URL path suffixes that the protocol's own paths add again, tried in order; the
    /// first that matches is stripped to get the API root (`[providers.<name>]` files often
    /// configure `https://api.anthropic.com/v1`; Gemini bases may end in `/v1beta`).
    pub root_suffixes: &'static [&'static str],
    /// The model-listing path under the API root (the default active health check).
    pub models_path: &'static str,
    /// The control plane's connectivity check.
    pub probe: ProbeConventions,
}

/// OpenAI Chat Completions (and every OpenAI-compatible server).
static OPENAI: WireConventions = WireConventions {
    auth_header: "authorization",
    key_scheme: KeyScheme::Bearer,
    version_header: None,
    root_suffixes: &[],
    models_path: "/models",
    probe: ProbeConventions {
        path: "/models",
        send_key: true,
    },
};

/// Anthropic Messages.
static ANTHROPIC: WireConventions = WireConventions {
    auth_header: "x-api-key",
    key_scheme: KeyScheme::Raw,
    version_header: Some(("anthropic-version", "2023-06-01")),
    root_suffixes: &["/v1"],
    models_path: "/v1/models",
    probe: ProbeConventions {
        path: "",
        send_key: true,
    },
};

/// Gemini generateContent.
static GEMINI: WireConventions = WireConventions {
    auth_header: "x-goog-api-key",
    key_scheme: KeyScheme::Raw,
    version_header: None,
    root_suffixes: &["/v1beta", "/v1"],
    models_path: "/v1beta/models",
    probe: ProbeConventions {
        path: "",
        send_key: true,
    },
};

/// The built-in echo provider: OpenAI-shaped, answered locally; nothing to probe with a key.
static ECHO: WireConventions = WireConventions {
    auth_header: "authorization",
    key_scheme: KeyScheme::Bearer,
    version_header: None,
    root_suffixes: &[],
    models_path: "/models",
    probe: ProbeConventions {
        path: "",
        send_key: false,
    },
};

impl Protocol {
    /// This protocol's wire conventions.
    pub fn wire(self) -> &'static WireConventions {
        match self {
            Protocol::OpenAi | Protocol::OpenAiResponses => &OPENAI,
            Protocol::Anthropic => &ANTHROPIC,
            Protocol::Gemini => &GEMINI,
            Protocol::Echo => &ECHO,
        }
    }
}

impl WireConventions {
    /// The base URL's path without the version segment the protocol's own paths add again.
    pub fn api_root<'a>(&self, base_path: &'a str) -> &'a str {
        self.root_suffixes
            .iter()
            .find_map(|suffix| base_path.strip_suffix(suffix))
            .unwrap_or(base_path)
    }

    /// The value of [`WireConventions::auth_header`] for `key`.
    pub fn auth_value(&self, key: &str) -> String {
        match self.key_scheme {
            KeyScheme::Bearer => format!("Bearer {key}"),
            KeyScheme::Raw => key.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_roots() {
        assert_eq!(Protocol::Anthropic.wire().api_root("/v1"), "");
        assert_eq!(Protocol::Gemini.wire().api_root("/x/v1beta"), "/x");
        assert_eq!(Protocol::Gemini.wire().api_root("/v1"), "");
        assert_eq!(Protocol::OpenAi.wire().api_root("/v1"), "/v1");
        assert_eq!(Protocol::Echo.wire().api_root(""), "");
    }

    #[test]
    fn auth_values() {
        assert_eq!(Protocol::OpenAi.wire().auth_value("k"), "Bearer k");
        assert_eq!(Protocol::Anthropic.wire().auth_value("k"), "k");
        assert_eq!(Protocol::Gemini.wire().auth_header, "x-goog-api-key");
    }
}
