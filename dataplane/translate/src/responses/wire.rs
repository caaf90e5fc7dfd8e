//! Borrowed wire types of OpenAI Responses answers: stream events and the Response object.
//!
//! Strings the hub carries are kept as `&RawValue` (the JSON literal as written) so their
//! escaped contents pass to the client without unescaping; nested arrays the stream
//! decoder rarely needs (`output`, an item's `content`/`summary`) stay raw until asked.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::hub::Escaped;
use crate::json_out::BStr;
use crate::{UpstreamError, Usage};

/// One streamed event (`data:` of an SSE frame); every field but `type` is optional so
/// one struct reads every event kind.
#[derive(Deserialize)]
pub(super) struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: BStr<'a>,
    #[serde(default)]
    pub(super) output_index: Option<u32>,
    #[serde(default)]
    pub(super) content_index: Option<u32>,
    #[serde(default)]
    pub(super) summary_index: Option<u32>,
    #[serde(default, borrow)]
    pub(super) delta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) item: Option<Item<'a>>,
    #[serde(default, borrow)]
    pub(super) part: Option<Part<'a>>,
    #[serde(default, borrow)]
    pub(super) response: Option<ResponseObject<'a>>,
    /// `error` events: the error's fields sit at the top level.
    #[serde(default, borrow)]
    pub(super) code: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) message: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) param: Option<BStr<'a>>,
    /// `error` events as some compatible servers write them (`{"type":"error","error":{…}}`).
    #[serde(default, borrow)]
    pub(super) error: Option<WireError<'a>>,
}

/// An output item (`message`, `function_call`, `reasoning`, or a built-in tool's call).
#[derive(Deserialize)]
pub(super) struct Item<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: BStr<'a>,
    #[serde(default, borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) call_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) arguments: Option<&'a RawValue>,
    /// `message`: `[output_text | refusal]`; `reasoning`: `[reasoning_text]`.
    #[serde(default, borrow)]
    pub(super) content: Option<&'a RawValue>,
    /// `reasoning`: `[summary_text]`.
    #[serde(default, borrow)]
    pub(super) summary: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) encrypted_content: Option<&'a RawValue>,
}

/// A content part (`output_text`, `refusal`, `reasoning_text`) or a summary part
/// (`summary_text`).
#[derive(Deserialize)]
pub(super) struct Part<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) ty: BStr<'a>,
    #[serde(default, borrow)]
    pub(super) text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) refusal: Option<&'a RawValue>,
}

/// The Response object (whole answers, and the snapshots in lifecycle events).
#[derive(Deserialize)]
pub(super) struct ResponseObject<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) model: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) status: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) output: Option<&'a RawValue>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default, borrow)]
    pub(super) incomplete_details: Option<IncompleteDetails<'a>>,
    #[serde(default, borrow)]
    pub(super) error: Option<WireError<'a>>,
}

/// `incomplete_details`.
#[derive(Deserialize)]
pub(super) struct IncompleteDetails<'a> {
    #[serde(default, borrow)]
    pub(super) reason: Option<BStr<'a>>,
}

/// `usage` of a Response.
#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// In hub terms: Responses `input_tokens` already include cache reads and writes and
    /// `output_tokens` include reasoning, exactly as the hub counts them.
    pub(super) fn to_usage(&self) -> Usage {
        let input = self.input_tokens_details.as_ref();
        let output = self.output_tokens_details.as_ref();
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self
                .total_tokens
                .unwrap_or(self.input_tokens.saturating_add(self.output_tokens)),
            cached_tokens: input.and_then(|d| d.cached_tokens).unwrap_or(0),
            reasoning_tokens: output.and_then(|d| d.reasoning_tokens).unwrap_or(0),
            cache_write_tokens: input.and_then(|d| d.cache_write_tokens).unwrap_or(0),
        }
    }
}

/// An error object (`response.error`, the `error` event, an error envelope).
#[derive(Deserialize)]
pub(super) struct WireError<'a> {
    #[serde(default, borrow)]
    pub(super) code: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(super) message: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) param: Option<BStr<'a>>,
    #[serde(rename = "type", default, borrow)]
    pub(super) ty: Option<BStr<'a>>,
}

/// The escaped contents of a JSON string literal (`None` for anything but a string).
pub(super) fn escaped(raw: Option<&RawValue>) -> Option<Escaped<'_>> {
    let s = raw?.get().as_bytes();
    let inner = s.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Some(Escaped::from_json_contents(inner))
}

/// The escaped contents of a JSON string literal that is not empty.
pub(super) fn nonempty(raw: Option<&RawValue>) -> Option<Escaped<'_>> {
    escaped(raw).filter(|e| !e.is_empty())
}

/// An error code as text: a string's value, a number's digits.
fn code_text(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?;
    match serde_json::from_str::<serde_json::Value>(raw.get()).ok()? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// (status, OpenAI error type) for a Responses error code: documented codes of failed
/// responses are the request's fault unless they say otherwise.
fn status_for_code(code: &str, default: u16) -> u16 {
    match code {
        "rate_limit_exceeded" | "rate_limit_error" | "insufficient_quota" => 429,
        "server_error" | "vector_store_timeout" | "internal_error" => 500,
        "invalid_prompt" | "bio_policy" | "misalignment_policy_violation" => 400,
        c if c.starts_with("invalid_") || c.contains("image") => 400,
        _ => default,
    }
}

/// An upstream error from an error object's fields; `default_status` when the code does
/// not say.
pub(super) fn upstream_error(
    code: Option<&RawValue>,
    message: Option<&str>,
    param: Option<&str>,
    ty: Option<&str>,
    default_status: u16,
    what: &str,
) -> UpstreamError {
    let code = code_text(code);
    let status = code
        .as_deref()
        .or(ty)
        .map_or(default_status, |c| status_for_code(c, default_status));
    let message = message
        .filter(|m| !m.is_empty())
        .map_or_else(|| format!("OpenAI Responses {what}"), str::to_owned);
    let mut e = UpstreamError::new(status, UpstreamError::type_for_status(status), message);
    e.code = code.or_else(|| ty.map(str::to_owned));
    e.param = param.map(str::to_owned);
    e
}

impl WireError<'_> {
    /// This error object as an upstream error.
    pub(super) fn to_upstream(&self, default_status: u16, what: &str) -> UpstreamError {
        upstream_error(
            self.code,
            self.message.as_deref(),
            self.param.as_deref(),
            self.ty.as_deref(),
            default_status,
            what,
        )
    }
}
