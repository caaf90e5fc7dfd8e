//! The data plane's side of the client's chat-completion request. The parse, its
//! validation and the passthrough rewrite belong to `sluice-translate`
//! ([`sluice_translate::openai::ChatRequest`]); here its limits come from the `[server]`
//! config and its errors become the gateway's 400.

pub use sluice_translate::openai::{write_json_str, ChatRequest};
use sluice_translate::TranslateError;

use crate::error::GatewayError;

/// A request the client got wrong is a 400 `invalid_request_error` naming the parameter.
impl From<TranslateError> for GatewayError {
    fn from(e: TranslateError) -> Self {
        GatewayError::InvalidRequest {
            message: e.message,
            param: e.param,
        }
    }
}
