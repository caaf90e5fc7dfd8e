//! Built-in answers of the non-generation endpoints: embeddings (OpenAI `/v1/embeddings`,
//! Gemini `:embedContent` / `:batchEmbedContents`) and Anthropic `count_tokens`.
//!
//! The vectors are deterministic and exactly representable as `f32` (multiples of 1/16),
//! so a test can compare them after any float/base64 round trip: input `i` (0-based) gets
//! `values[j] = (i * dims + j + 1) / 16`.

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::generate::PROMPT_TOKENS;

/// Vector length when the request names none.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// Prompt tokens reported per embedded input (OpenAI `usage`).
pub const TOKENS_PER_INPUT: u64 = 4;

/// Upper bound on the dimensions the mock renders (a request asking more gets this many).
const MAX_DIMENSIONS: usize = 4096;

/// An embeddings request, as far as the mock cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedAsk {
    /// Number of inputs (vectors to answer).
    pub inputs: usize,
    /// Vector length.
    pub dimensions: usize,
    /// OpenAI `encoding_format: "base64"`.
    pub base64: bool,
}

#[derive(Deserialize)]
struct OpenAiEmbedRequest<'a> {
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    encoding_format: Option<&'a str>,
    #[serde(default)]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiEmbedRequest {
    #[serde(default)]
    output_dimensionality: Option<usize>,
}

#[derive(Deserialize)]
struct GeminiBatchRequest {
    #[serde(default)]
    requests: Vec<GeminiEmbedRequest>,
}

/// Parses an OpenAI `/v1/embeddings` body: `input` is a string or a token array (one
/// input), or an array of strings or of token arrays (one input each).
pub fn openai_ask(body: &[u8]) -> Result<EmbedAsk, serde_json::Error> {
    let req: OpenAiEmbedRequest<'_> = serde_json::from_slice(body)?;
    let inputs = match req.input.map(RawValue::get) {
        Some(raw) if raw.trim_start().starts_with('[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw)?;
            let nested = items.first().is_some_and(|i| {
                matches!(i.get().trim_start().as_bytes().first(), Some(b'"' | b'['))
            });
            if nested {
                items.len()
            } else {
                1
            }
        }
        Some(_) | None => 1,
    };
    Ok(EmbedAsk {
        inputs,
        dimensions: dims(req.dimensions),
        base64: req.encoding_format == Some("base64"),
    })
}

/// Parses a Gemini `:embedContent` body (one input).
pub fn gemini_one_ask(body: &[u8]) -> Result<EmbedAsk, serde_json::Error> {
    let req: GeminiEmbedRequest = serde_json::from_slice(body)?;
    Ok(EmbedAsk {
        inputs: 1,
        dimensions: dims(req.output_dimensionality),
        base64: false,
    })
}

/// Parses a Gemini `:batchEmbedContents` body (one input per request).
pub fn gemini_batch_ask(body: &[u8]) -> Result<EmbedAsk, serde_json::Error> {
    let req: GeminiBatchRequest = serde_json::from_slice(body)?;
    let dimensions = dims(req.requests.first().and_then(|r| r.output_dimensionality));
    Ok(EmbedAsk {
        inputs: req.requests.len(),
        dimensions,
        base64: false,
    })
}

fn dims(asked: Option<usize>) -> usize {
    asked
        .filter(|&d| d > 0)
        .unwrap_or(DEFAULT_DIMENSIONS)
        .min(MAX_DIMENSIONS)
}

/// The vector of input `index`.
pub fn vector(index: usize, dimensions: usize) -> impl Iterator<Item = f32> {
    (0..dimensions).map(move |j| (index * dimensions + j + 1) as f32 / 16.0)
}

fn float_list(index: usize, dimensions: usize) -> String {
    let parts: Vec<String> = vector(index, dimensions).map(|v| v.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// The OpenAI answer: `data[i].embedding` as floats or base64 (little-endian `f32`s),
/// `usage.prompt_tokens` = [`TOKENS_PER_INPUT`] per input.
pub fn openai_answer(ask: &EmbedAsk, model: &str) -> Bytes {
    let data: Vec<String> = (0..ask.inputs)
        .map(|i| {
            let embedding = if ask.base64 {
                let bytes: Vec<u8> = vector(i, ask.dimensions)
                    .flat_map(f32::to_le_bytes)
                    .collect();
                format!(
                    "\"{}\"",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
            } else {
                float_list(i, ask.dimensions)
            };
            format!(r#"{{"object":"embedding","index":{i},"embedding":{embedding}}}"#)
        })
        .collect();
    let tokens = TOKENS_PER_INPUT * ask.inputs as u64;
    let model = serde_json::Value::from(model).to_string();
    Bytes::from(format!(
        r#"{{"object":"list","data":[{}],"model":{model},"usage":{{"prompt_tokens":{tokens},"total_tokens":{tokens}}}}}"#,
        data.join(",")
    ))
}

/// The Gemini `:embedContent` answer.
pub fn gemini_one_answer(ask: &EmbedAsk) -> Bytes {
    Bytes::from(format!(
        r#"{{"embedding":{{"values":{}}}}}"#,
        float_list(0, ask.dimensions)
    ))
}

/// The Gemini `:batchEmbedContents` answer.
pub fn gemini_batch_answer(ask: &EmbedAsk) -> Bytes {
    let list: Vec<String> = (0..ask.inputs)
        .map(|i| format!(r#"{{"values":{}}}"#, float_list(i, ask.dimensions)))
        .collect();
    Bytes::from(format!(r#"{{"embeddings":[{}]}}"#, list.join(",")))
}

/// The Anthropic `count_tokens` answer: always [`PROMPT_TOKENS`], like every generated
/// answer's prompt usage.
pub fn count_tokens_answer() -> Bytes {
    Bytes::from(format!(r#"{{"input_tokens":{PROMPT_TOKENS}}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_openai_inputs() {
        let ask = |b: &str| openai_ask(b.as_bytes()).unwrap();
        assert_eq!(ask(r#"{"input":"a"}"#).inputs, 1);
        assert_eq!(ask(r#"{"input":["a","b","c"]}"#).inputs, 3);
        assert_eq!(ask(r#"{"input":[1,2,3]}"#).inputs, 1);
        assert_eq!(ask(r#"{"input":[[1,2],[3]]}"#).inputs, 2);
        let a = ask(r#"{"input":"x","encoding_format":"base64","dimensions":3}"#);
        assert!(a.base64);
        assert_eq!(a.dimensions, 3);
        assert!(openai_ask(b"{nope").is_err());
    }

    #[test]
    fn openai_answer_floats_and_base64_agree() {
        let ask = EmbedAsk {
            inputs: 2,
            dimensions: 3,
            base64: false,
        };
        let v: serde_json::Value = serde_json::from_slice(&openai_answer(&ask, "e")).unwrap();
        assert_eq!(
            v["data"][1]["embedding"],
            serde_json::json!([0.25, 0.3125, 0.375])
        );
        assert_eq!(v["usage"]["prompt_tokens"], 8);
        let b64 = openai_answer(
            &EmbedAsk {
                base64: true,
                ..ask
            },
            "e",
        );
        let v: serde_json::Value = serde_json::from_slice(&b64).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["data"][1]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(floats, vec![0.25, 0.3125, 0.375]);
    }

    #[test]
    fn gemini_batch() {
        let ask = gemini_batch_ask(
            br#"{"requests":[{"model":"models/e","content":{"parts":[{"text":"a"}]},"outputDimensionality":2},{"model":"models/e","content":{"parts":[{"text":"b"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(ask.inputs, 2);
        let v: serde_json::Value = serde_json::from_slice(&gemini_batch_answer(&ask)).unwrap();
        assert_eq!(
            v["embeddings"][1]["values"],
            serde_json::json!([0.1875, 0.25])
        );
        let one = gemini_one_ask(br#"{"content":{"parts":[{"text":"a"}]}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&gemini_one_answer(&one)).unwrap();
        assert_eq!(
            v["embedding"]["values"].as_array().unwrap().len(),
            DEFAULT_DIMENSIONS
        );
    }
}
