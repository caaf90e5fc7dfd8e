//! The bounds the boundary parse enforces on a client's request.

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
        Self {
            max_model_name_bytes: 256,
            max_messages: 10_000,
            max_tools: 512,
            max_object_keys: 4_096,
            max_json_depth: 64,
        }
    }
}

impl From<&RequestLimits> for RequestLimits {
    fn from(limits: &RequestLimits) -> Self {
        *limits
    }
}
