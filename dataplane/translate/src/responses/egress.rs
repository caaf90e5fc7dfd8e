//! Hub form → a OpenAI Responses upstream request body.

use crate::hub::request::HubRequest;
use crate::TranslateError;

/// The OpenAI Responses request body for `req`, naming `model`.
pub(crate) fn build(req: &HubRequest, model: &str) -> Result<Vec<u8>, TranslateError> {
    crate::hub::pending::build(req, model)
}
