//! OpenAI embeddings ⇄ Gemini `batchEmbedContents`.
//!
//! PLACEHOLDER: `sluice_translate::embeddings::{parse, gemini_path, gemini_body,
//! openai_from_gemini}` is being written in the translate crate; until it lands, this
//! local version with the same four steps serves. It is not the streaming hot path (one
//! request, one answer), so it uses `serde_json::Value`.

use serde_json::{json, Value};
use sluice_translate::{TranslateError, UpstreamError, Usage};

/// The inputs of an OpenAI embeddings request that Gemini can embed.
pub(super) struct Input {
    texts: Vec<String>,
    dimensions: Option<u64>,
}

/// Reads `input` (a string or an array of strings; token arrays cannot be sent to Gemini)
/// and `dimensions`.
pub(super) fn parse(body: &[u8]) -> Result<Input, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::body(format!("request body is not valid JSON: {e}")))?;
    let texts = match v.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(TranslateError::new(
                    "only text inputs can be embedded by this provider",
                    format!("input[{i}]"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(TranslateError::new(
                "`input` must be a string or a non-empty array of strings",
                "input",
            ))
        }
        None => return Err(TranslateError::new("missing required field `input`", "input")),
    };
    let dimensions = match v.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(d) => Some(d.as_u64().filter(|d| *d > 0).ok_or_else(|| {
            TranslateError::new("`dimensions` must be a positive integer", "dimensions")
        })?),
    };
    Ok(Input { texts, dimensions })
}

/// `/v1beta/models/{model}:batchEmbedContents`, the model one path segment.
pub(super) fn gemini_path(model: &str) -> String {
    let mut out = String::from("/v1beta/models/");
    sluice_translate::path::push_segment(&mut out, model);
    out.push_str(":batchEmbedContents");
    out
}

/// The `batchEmbedContents` body: one request per input.
pub(super) fn gemini_body(input: &Input, model: &str) -> Vec<u8> {
    let name = format!("models/{model}");
    let requests: Vec<Value> = input
        .texts
        .iter()
        .map(|t| {
            let mut r = json!({"model": name, "content": {"parts": [{"text": t}]}});
            if let (Some(d), Some(obj)) = (input.dimensions, r.as_object_mut()) {
                obj.insert("outputDimensionality".into(), json!(d));
            }
            r
        })
        .collect();
    serde_json::to_vec(&json!({ "requests": requests })).unwrap_or_default()
}

/// Gemini's `{embeddings:[{values}]}` as OpenAI's embedding list. Gemini reports no usage:
/// none is invented.
pub(super) fn openai_from_gemini(
    body: &[u8],
    input: &Input,
    model: &str,
) -> Result<(Vec<u8>, Option<Usage>), UpstreamError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::malformed(format!("embeddings answer is not JSON: {e}")))?;
    let Some(list) = v.get("embeddings").and_then(Value::as_array) else {
        return Err(UpstreamError::malformed(
            "embeddings answer has no `embeddings` array",
        ));
    };
    if list.len() != input.texts.len() {
        return Err(UpstreamError::malformed(format!(
            "embeddings answer has {} vectors for {} inputs",
            list.len(),
            input.texts.len()
        )));
    }
    let data: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({
                "object": "embedding",
                "index": i,
                "embedding": e.get("values").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect();
    let out = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    });
    Ok((serde_json::to_vec(&out).unwrap_or_default(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let input = parse(br#"{"model":"m","input":["a","b"],"dimensions":4}"#).unwrap();
        assert_eq!(gemini_path("text-embedding-004"), "/v1beta/models/text-embedding-004:batchEmbedContents");
        let body: Value = serde_json::from_slice(&gemini_body(&input, "e")).unwrap();
        assert_eq!(body["requests"][1]["content"]["parts"][0]["text"], "b");
        assert_eq!(body["requests"][0]["model"], "models/e");
        assert_eq!(body["requests"][0]["outputDimensionality"], 4);
        let (out, usage) = openai_from_gemini(
            br#"{"embeddings":[{"values":[0.5]},{"values":[1.0]}]}"#,
            &input,
            "e",
        )
        .unwrap();
        assert!(usage.is_none());
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["data"][1]["embedding"][0], 1.0);
        assert_eq!(out["data"][1]["index"], 1);
        assert_eq!(
            parse(br#"{"input":[[1,2]]}"#).err().and_then(|e| e.param),
            Some("input[0]".to_owned())
        );
    }
}
