//! Hub form → a Gemini generateContent upstream request body (the builder in
//! [`super::request`]; the model is named in the URL path, not the body). `n` > 1 is
//! refused: the hub answer carries one candidate.

use crate::hub::request::HubRequest;
use crate::TranslateError;

/// The Gemini generateContent request body for `req`, naming `model`.
pub(crate) fn build(req: &HubRequest, model: &str) -> Result<Vec<u8>, TranslateError> {
    super::request::build(req, 1024, model, false)
}
