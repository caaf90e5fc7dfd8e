//! OpenAI side: the client's request parse, chunk/error writers shared by the translators,
//! and the zero-copy passthrough scanner for OpenAI → OpenAI streams.

mod chunk;
pub(crate) mod decode;
pub(crate) mod egress;
pub(crate) mod encode;
mod error;
pub(crate) mod ingress;
mod passthrough;
pub(crate) mod request;
mod usage;

pub(crate) use error::upstream_error;
pub use error::{error_body, write_error_event};
pub use passthrough::PassthroughScanner;
pub use request::{
    check_model_name, write_json_str, BadName, ChatRequest, RequestLimits, GATEWAY_FIELDS,
};
pub use usage::scan_usage;
