//! OpenAI Responses (`POST /v1/responses`), as a client surface and as a provider
//! protocol: stateless (`store: false` semantics).

pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
pub(crate) mod ingress;

/// Path of the Responses endpoint under an OpenAI-style API root (`…/v1`).
pub const PATH: &str = "/responses";
