//! A Anthropic Messages client request → hub form.

use crate::hub::request::Ingress;
use crate::openai::RequestLimits;
use crate::TranslateError;

/// Parses and validates a Anthropic Messages request body.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<Ingress, TranslateError> {
    crate::hub::pending::parse(body, limits)
}
