//! Anthropic Messages: the paths under the API root. Requests pass through from Anthropic
//! clients and are built from the hub form for others; answers and errors go through the
//! hub (`sluice_translate::hub`).

/// Path of the Messages endpoint under the API root.
pub(super) const PATH: &str = sluice_translate::anthropic::PATH;

/// Path of the token-counting endpoint under the API root.
pub(super) const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";
