//! The data plane's side of the client's request on every surface. The parse, its
//! validation and the upstream bodies belong to `sluice-translate`
//! ([`sluice_translate::openai::ChatRequest`] for OpenAI Chat,
//! [`sluice_translate::ClientRequest`] for every surface); here its limits come from the
//! `[server]` config and its errors become the gateway's 400.

pub use sluice_translate::openai::{write_json_str, ChatRequest};
pub use sluice_translate::ClientRequest;
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
