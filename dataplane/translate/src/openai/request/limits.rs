//! The bounds the boundary parse enforces on a client's request.

use sluice_model::Limits;

/// Size and shape limits for one chat-completion body; the data plane fills them from its
/// `[server]` config, and the defaults are the config's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest accepted `model` (and provider pin) value, bytes.
    pub max_model_name_bytes: usize,
    /// Most entries of `messages`.
    pub max_messages: usize,
    /// Most entries of `tools` (or legacy `functions`).
    pub max_tools: usize,
    /// Most members of any one JSON object in a request.
    pub max_object_keys: usize,
    /// Deepest JSON nesting in a request.
    pub max_json_depth: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self::from(&Limits::default())
    }
}

/// The `[server]` limits of the config model are the one source of these bounds.
impl From<&Limits> for RequestLimits {
    fn from(l: &Limits) -> Self {
        Self {
            max_model_name_bytes: l.max_model_len,
            max_messages: l.max_messages,
            max_tools: l.max_tools,
            max_object_keys: l.max_object_keys,
            max_json_depth: l.max_json_depth,
        }
    }
}

impl From<&RequestLimits> for RequestLimits {
    fn from(limits: &RequestLimits) -> Self {
        *limits
    }
}
