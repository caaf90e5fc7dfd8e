//! The data plane's side of the client's chat-completion request. The parse, its
//! validation and the passthrough rewrite belong to `sluice-translate`
//! ([`sluice_translate::openai::ChatRequest`]); here its limits come from the `[server]`
//! config and its errors become the gateway's 400.

use sluice_translate::openai::RequestLimits;
pub use sluice_translate::openai::{write_json_str, ChatRequest};
use sluice_translate::TranslateError;

use crate::config::Limits;
use crate::error::GatewayError;

impl From<&Limits> for RequestLimits {
    fn from(l: &Limits) -> Self {
        RequestLimits {
            max_model_name_bytes: l.max_model_len,
            max_messages: l.max_messages,
            max_tools: l.max_tools,
            max_object_keys: l.max_object_keys,
            max_json_depth: l.max_json_depth,
        }
    }
}

/// A request the client got wrong is a 400 `invalid_request_error` naming the parameter.
impl From<TranslateError> for GatewayError {
    fn from(e: TranslateError) -> Self {
        GatewayError::InvalidRequest {
            message: e.message,
            param: e.param,
        }
    }
}
