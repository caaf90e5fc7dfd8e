//! OpenAI Responses (`/responses` under the OpenAI-style API root, OpenAI auth): requests
//! pass through from Responses clients and are built from the hub form for others;
//! answers and errors go through the hub.

/// Path under the API root (which already ends in `/v1` for OpenAI-style bases).
pub(super) const PATH: &str = sluice_translate::responses::PATH;
