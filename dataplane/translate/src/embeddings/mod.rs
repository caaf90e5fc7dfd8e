//! OpenAI `/v1/embeddings` for the data plane: the client's request parsed once, the Gemini
//! `batchEmbedContents` request built from it and the Gemini answer written back as an
//! OpenAI embedding list; plus the usage scan for answers passed through from an
//! OpenAI-compatible upstream.
//!
//! Mapping to Gemini: each input string is one `EmbedContentRequest` (`content.parts[0].text`)
//! of one batch; `dimensions` → `outputDimensionality`; `user` is dropped (Gemini has no
//! such field; it does not change the answer). Token-array inputs cannot be sent to Gemini
//! (it takes text only): [`EmbeddingsRequest::require_text`] refuses them.
//!
//! `encoding_format: "base64"` (what the openai Python SDK asks for by default) is each
//! vector's little-endian `f32` bytes in standard base64, as OpenAI sends it.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::openai::{check_model_name, RequestLimits};
use crate::{json_out, TranslateError, UpstreamError, Usage};

/// Most inputs in one request (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

/// A validated OpenAI embeddings request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingsRequest {
    /// The `model` the client named.
    pub model: String,
    /// The texts to embed, in order (empty when the input was token arrays).
    pub inputs: Vec<String>,
    /// `dimensions`: the size of each vector, when the client chose it.
    pub dimensions: Option<u32>,
    /// `encoding_format: "base64"` (else floats).
    pub base64: bool,
    /// `user`, the client's end-user id.
    pub user: Option<String>,
    /// The input was token arrays (`[1, 2]` or `[[1, 2], …]`), kept only for an
    /// OpenAI-compatible upstream, which takes the body as it is.
    pub token_input: bool,
}

impl EmbeddingsRequest {
    /// `Ok` when the inputs are text, which is all a translated request (Gemini) can
    /// carry; token-array inputs are a 400 naming `input`.
    pub fn require_text(&self) -> Result<(), TranslateError> {
        if self.token_input {
            return Err(TranslateError::new(
                "token-array inputs cannot be translated for this provider: send the text",
                "input",
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default, borrow)]
    model: Option<&'a RawValue>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    encoding_format: Option<&'a RawValue>,
    #[serde(default, borrow)]
    dimensions: Option<&'a RawValue>,
    #[serde(default, borrow)]
    user: Option<&'a RawValue>,
}

/// Parses and validates an OpenAI `/v1/embeddings` body: `model` (a valid model name),
/// `input` (a string, an array of strings, or token arrays), `encoding_format` (`float` or
/// `base64`), `dimensions` (positive) and `user`. Errors name the field.
pub fn parse(body: &[u8], limits: &RequestLimits) -> Result<EmbeddingsRequest, TranslateError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(TranslateError::body("request body must be a JSON object"));
    }
    let b: Body<'_> = serde_json::from_slice(body)
        .map_err(|e| TranslateError::body(format!("request body is not a JSON object: {e}")))?;
    let str_of = |raw: Option<&RawValue>, param: &str| -> Result<Option<String>, TranslateError> {
        match raw.map(|r| serde_json::from_str::<Value>(r.get())) {
            None | Some(Ok(Value::Null)) => Ok(None),
            Some(Ok(Value::String(s))) => Ok(Some(s)),
            _ => Err(TranslateError::new(
                format!("'{param}' must be a string"),
                param,
            )),
        }
    };
    let model = str_of(b.model, "model")?
        .ok_or_else(|| TranslateError::new("'model' is required", "model"))?;
    check_model_name(&model, limits.max_model_name_bytes)
        .map_err(|e| TranslateError::new(format!("invalid model name: {e}"), "model"))?;

    let input: Value = match b.input {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| TranslateError::new(format!("invalid 'input': {e}"), "input"))?,
        None => Value::Null,
    };
    let mut inputs = Vec::new();
    let mut token_input = false;
    match input {
        Value::String(s) => inputs.push(s),
        Value::Array(items) if !items.is_empty() => {
            if items.len() > MAX_INPUTS {
                return Err(TranslateError::new(
                    format!("'input' has more than {MAX_INPUTS} entries"),
                    "input",
                ));
            }
            let is_tokens = |v: &Value| {
                v.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_u64))
            };
            if items.iter().all(Value::is_u64) || items.iter().all(is_tokens) {
                token_input = true;
            } else {
                inputs.reserve(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => inputs.push(s),
                        _ => {
                            return Err(TranslateError::new(
                                "'input' entries must all be strings (or all token arrays)",
                                format!("input[{i}]"),
                            ))
                        }
                    }
                }
            }
        }
        Value::Null => return Err(TranslateError::new("'input' is required", "input")),
        _ => {
            return Err(TranslateError::new(
                "'input' must be a string or a non-empty array",
                "input",
            ))
        }
    }
    if let Some(i) = inputs.iter().position(String::is_empty) {
        let param = if inputs.len() == 1 {
            "input".to_owned()
        } else {
            format!("input[{i}]")
        };
        return Err(TranslateError::new("'input' must not be empty", param));
    }

    let base64 = match str_of(b.encoding_format, "encoding_format")?.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(TranslateError::new(
                format!("encoding_format must be 'float' or 'base64', not '{other}'"),
                "encoding_format",
            ))
        }
    };
    let dimensions = match b.dimensions.map(|r| serde_json::from_str::<Value>(r.get())) {
        None | Some(Ok(Value::Null)) => None,
        Some(Ok(Value::Number(n))) => Some(
            n.as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| *d > 0)
                .ok_or_else(|| {
                    TranslateError::new("'dimensions' must be a positive integer", "dimensions")
                })?,
        ),
        _ => {
            return Err(TranslateError::new(
                "'dimensions' must be a positive integer",
                "dimensions",
            ))
        }
    };
    let user = str_of(b.user, "user")?;
    Ok(EmbeddingsRequest {
        model,
        inputs,
        dimensions,
        base64,
        user,
        token_input,
    })
}

/// Request path for Gemini embeddings: `/v1beta/models/{model}:batchEmbedContents`
/// (`model` percent-encoded as one path segment).
pub fn gemini_path(model: &str) -> String {
    const PREFIX: &str = "/v1beta/models/";
    const METHOD: &str = ":batchEmbedContents";
    let mut out = String::with_capacity(PREFIX.len() + model.len() + METHOD.len());
    out.push_str(PREFIX);
    crate::path::push_segment(&mut out, model);
    out.push_str(METHOD);
    out
}

/// The Gemini `batchEmbedContents` body for `req`, naming `model` (the upstream's name):
/// `{"requests":[{"model":"models/<m>","content":{"parts":[{"text":…}]},
/// "outputDimensionality":d}, …]}`. Call [`EmbeddingsRequest::require_text`] first: token
/// inputs are not in `inputs`.
pub fn gemini_body(req: &EmbeddingsRequest, model: &str) -> Vec<u8> {
    let text_bytes: usize = req.inputs.iter().map(String::len).sum();
    let mut out = Vec::with_capacity(16 + text_bytes + req.inputs.len() * (80 + model.len()));
    out.extend_from_slice(b"{\"requests\":[");
    for (i, text) in req.inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"model\":\"models/");
        json_out::escaped(&mut out, model.as_bytes());
        out.extend_from_slice(b"\",\"content\":{\"parts\":[{\"text\":");
        json_out::string(&mut out, text.as_bytes());
        out.extend_from_slice(b"}]}");
        if let Some(d) = req.dimensions {
            out.extend_from_slice(b",\"outputDimensionality\":");
            json_out::uint(&mut out, u64::from(d));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

#[derive(Deserialize)]
struct GeminiEmbedding {
    values: Vec<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    total_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiAnswer {
    #[serde(default)]
    embeddings: Option<Vec<GeminiEmbedding>>,
    #[serde(default)]
    usage_metadata: Option<GeminiUsage>,
}

/// Estimated prompt tokens of `inputs` when the upstream reports none: one token per four
/// bytes of UTF-8 text, rounded up, at least one per input.
fn estimate_tokens(inputs: &[String]) -> u64 {
    inputs
        .iter()
        .map(|s| (s.len() as u64).div_ceil(4).max(1))
        .sum()
}

/// The Gemini `batchEmbedContents` answer `body` as an OpenAI embedding list
/// (`{"object":"list","data":[{"object":"embedding","index":i,"embedding":…}],"model":
/// model_label,"usage":{"prompt_tokens":n,"total_tokens":n}}`), vectors as floats or, when
/// `req.base64`, base64 of their little-endian `f32` bytes.
///
/// Usage comes from the answer's `usageMetadata` when Gemini sends it; the public Gemini
/// API does not for embeddings, so it is otherwise an **estimate**: one token per four
/// bytes of each input, rounded up, at least one per input. An error object, a body that
/// is not an embedding batch, or a count of vectors other than the inputs' is an error.
pub fn openai_from_gemini(
    body: &[u8],
    req: &EmbeddingsRequest,
    model_label: &str,
) -> Result<(Vec<u8>, Usage), UpstreamError> {
    #[derive(Deserialize)]
    struct ErrorEnvelope<'a> {
        #[serde(borrow)]
        #[allow(dead_code)] // only its presence is read
        error: &'a RawValue,
    }
    if serde_json::from_slice::<ErrorEnvelope<'_>>(body).is_ok() {
        return Err(crate::gemini::translate_error(200, body));
    }
    let answer: GeminiAnswer = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("invalid Gemini embeddings answer: {e}")))?;
    let embeddings = answer
        .embeddings
        .ok_or_else(|| UpstreamError::malformed("Gemini embeddings answer has no 'embeddings'"))?;
    if embeddings.len() != req.inputs.len() {
        return Err(UpstreamError::malformed(format!(
            "Gemini returned {} embeddings for {} inputs",
            embeddings.len(),
            req.inputs.len()
        )));
    }
    let prompt = answer
        .usage_metadata
        .and_then(|u| u.prompt_token_count.or(u.total_token_count))
        .unwrap_or_else(|| estimate_tokens(&req.inputs));
    let usage = Usage {
        prompt_tokens: prompt,
        total_tokens: prompt,
        ..Usage::default()
    };

    let floats: usize = embeddings.iter().map(|e| e.values.len()).sum();
    let mut out = Vec::with_capacity(128 + floats * if req.base64 { 6 } else { 12 });
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    let mut bytes = Vec::new();
    let mut encoded = String::new();
    for (i, e) in embeddings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        json_out::uint(&mut out, i as u64);
        out.extend_from_slice(b",\"embedding\":");
        if req.base64 {
            bytes.clear();
            bytes.extend(e.values.iter().flat_map(|v| v.to_le_bytes()));
            encoded.clear();
            base64::engine::general_purpose::STANDARD.encode_string(&bytes, &mut encoded);
            out.push(b'"');
            out.extend_from_slice(encoded.as_bytes());
            out.push(b'"');
        } else {
            serde_json::to_writer(&mut out, &e.values)
                .map_err(|e| UpstreamError::malformed(format!("cannot write embedding: {e}")))?;
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    json_out::string(&mut out, model_label.as_bytes());
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
    json_out::uint(&mut out, prompt);
    out.extend_from_slice(b",\"total_tokens\":");
    json_out::uint(&mut out, prompt);
    out.extend_from_slice(b"}}");
    Ok((out, usage))
}

/// Usage of an OpenAI embeddings answer passed through untouched: `usage.prompt_tokens`
/// and `usage.total_tokens` (the vectors are skipped, not parsed into values).
pub fn scan_openai_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct U {
        #[serde(default)]
        prompt_tokens: u64,
        #[serde(default)]
        total_tokens: Option<u64>,
    }
    #[derive(Deserialize)]
    struct Answer {
        usage: Option<U>,
    }
    let u = serde_json::from_slice::<Answer>(body).ok()?.usage?;
    Some(Usage {
        prompt_tokens: u.prompt_tokens,
        total_tokens: u.total_tokens.unwrap_or(u.prompt_tokens),
        ..Usage::default()
    })
}
