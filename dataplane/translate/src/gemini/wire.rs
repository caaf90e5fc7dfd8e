//! Gemini wire types: the `generateContent` request body written from the parsed OpenAI
//! request, and the borrowed response, stream and error shapes read back.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::call_id::split_call_id;
use crate::json_in::Skip;
use crate::json_out::BStr;
use crate::openai::request::hub::{Media, ToolCall};
use crate::Usage;

// The body is serialized straight from the parsed request through the borrowed structs
// below rather than built as a `serde_json::Value` tree first (only the reduced schemas,
// which [`schema`] returns as values, are still trees): the tree copied every string and
// tool input, allocated every key and was then dropped. The bytes stay those the tree
// produced, whose maps sort their keys (serde_json's `preserve_order` is off): serde
// writes a struct's fields in declaration order, so every struct's fields (as renamed)
// and every hand-written map's entries here are in byte order of their names.
// `output_oracle` compares with the old tree builder.

/// The `generateContent` request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RequestBody<'a> {
    pub(super) contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) generation_config: Option<GenerationConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_config: Option<ToolConfig<'a>>,
    /// One `Tool` holding every declaration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tools: Option<[FunctionDeclarations<'a>; 1]>,
}

/// One turn: consecutive client messages of the same role merged.
#[derive(Serialize)]
pub(super) struct Content<'a> {
    pub(super) parts: Vec<ContentPart<'a>>,
    pub(super) role: &'static str,
}

/// A `Part`.
pub(super) enum ContentPart<'a> {
    Text(&'a str),
    Media(&'a Media),
    FunctionCall(&'a ToolCall),
    FunctionResponse {
        /// The call id without the carried thought signature.
        id: &'a str,
        name: &'a str,
        response: Value,
    },
}

impl Serialize for ContentPart<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self {
            ContentPart::Text(text) => map.serialize_entry("text", text)?,
            ContentPart::Media(Media::Inline { mime, data }) => {
                map.serialize_entry(
                    "inlineData",
                    &InlineData {
                        data,
                        mime_type: mime,
                    },
                )?;
            }
            ContentPart::Media(Media::Url { url, mime }) => {
                let file = FileData {
                    file_uri: url,
                    mime_type: mime.as_deref().unwrap_or("image/jpeg"),
                };
                map.serialize_entry("fileData", &file)?;
            }
            ContentPart::FunctionCall(call) => {
                let (id, signature) = split_call_id(&call.id);
                let function_call = FunctionCall {
                    args: &call.arguments,
                    id,
                    name: &call.name,
                };
                map.serialize_entry("functionCall", &function_call)?;
                if let Some(sig) = signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
            }
            ContentPart::FunctionResponse { id, name, response } => {
                let function_response = FunctionResponse { id, name, response };
                map.serialize_entry("functionResponse", &function_response)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    pub(super) data: &'a str,
    mime_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    file_uri: &'a str,
    mime_type: &'a str,
}

#[derive(Serialize)]
pub(super) struct FunctionCall<'a> {
    pub(super) args: &'a Value,
    pub(super) id: &'a str,
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct FunctionResponse<'a> {
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    pub(super) response: &'a Value,
}

#[derive(Serialize)]
pub(super) struct SystemInstruction<'a> {
    pub(super) parts: Vec<ContentPart<'a>>,
}

/// `generationConfig`; sent only when some field is set.
#[derive(Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) candidate_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<i64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thinking_config: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f64>,
}

#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThinkingConfig {
    /// `Some(true)` with a budget; left out when thinking is turned off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) include_thoughts: Option<bool>,
    pub(super) thinking_budget: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionDeclarations<'a> {
    pub(super) function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
pub(super) struct FunctionDeclaration<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolConfig<'a> {
    pub(super) function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionCallingConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) allowed_function_names: Option<[&'a str; 1]>,
    pub(super) mode: &'static str,
}

#[derive(Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) prompt_token_count: Option<u64>,
    #[serde(default)]
    pub(super) candidates_token_count: Option<u64>,
    #[serde(default)]
    pub(super) thoughts_token_count: Option<u64>,
    #[serde(default)]
    pub(super) cached_content_token_count: Option<u64>,
    #[serde(default)]
    pub(super) tool_use_prompt_token_count: Option<u64>,
}

impl WireUsage {
    pub(super) fn usage(&self) -> Usage {
        // Saturating: the counts come from the network.
        let prompt = self
            .prompt_token_count
            .unwrap_or(0)
            .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0));
        let reasoning = self.thoughts_token_count.unwrap_or(0);
        let completion = self
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(reasoning);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_tokens: self.cached_content_token_count.unwrap_or(0),
            reasoning_tokens: reasoning,
            cache_write_tokens: 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePromptFeedback<'a> {
    #[serde(default, borrow)]
    pub(super) block_reason: Option<BStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireErrorDetail<'a> {
    #[serde(rename = "@type", default, borrow)]
    pub(super) ty: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) reason: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) retry_delay: Option<BStr<'a>>,
}

#[derive(Deserialize)]
pub(super) struct WireError<'a> {
    #[serde(default)]
    pub(super) code: Option<u16>,
    #[serde(default, borrow)]
    pub(super) message: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) status: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub(super) details: Vec<WireErrorDetail<'a>>,
}

/// `usageMetadata` for the stream: the per-modality detail arrays are walked, not skipped
/// by serde_json (see [`Skip`](crate::json_in::Skip)).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamUsage {
    #[serde(default)]
    pub(super) prompt_token_count: Option<u64>,
    #[serde(default)]
    pub(super) candidates_token_count: Option<u64>,
    #[serde(default)]
    pub(super) thoughts_token_count: Option<u64>,
    #[serde(default)]
    pub(super) cached_content_token_count: Option<u64>,
    #[serde(default)]
    pub(super) tool_use_prompt_token_count: Option<u64>,
    #[serde(rename = "promptTokensDetails", default)]
    _prompt_tokens_details: Option<Skip>,
    #[serde(rename = "candidatesTokensDetails", default)]
    _candidates_tokens_details: Option<Skip>,
    #[serde(rename = "cacheTokensDetails", default)]
    _cache_tokens_details: Option<Skip>,
    #[serde(rename = "toolUsePromptTokensDetails", default)]
    _tool_use_prompt_tokens_details: Option<Skip>,
}

impl From<StreamUsage> for WireUsage {
    fn from(u: StreamUsage) -> Self {
        WireUsage {
            prompt_token_count: u.prompt_token_count,
            candidates_token_count: u.candidates_token_count,
            thoughts_token_count: u.thoughts_token_count,
            cached_content_token_count: u.cached_content_token_count,
            tool_use_prompt_token_count: u.tool_use_prompt_token_count,
        }
    }
}
