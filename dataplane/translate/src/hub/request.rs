//! The hub's request form: one provider-neutral representation of a client's request that
//! every client surface's ingress parser builds and every provider's egress builder reads.
//!
//! Request building is once per request (not the streaming hot path), so this side owns
//! its strings and uses `serde_json::Value` for schemas and arguments.

use std::fmt;

use serde_json::Value;

/// Who said a message, after system/developer messages were pulled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
    Tool,
}

/// Where an image (or file) comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Media {
    /// `data:<mime>;base64,<data>` URL, already validated as base64.
    Inline { mime: String, data: String },
    /// An `http(s)` URL the provider fetches itself.
    Url { url: String, mime: Option<String> },
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code)] // replayed reasoning: read by the egress adapters being written
pub(crate) enum Part {
    Text(String),
    Image(Media),
    /// Earlier visible reasoning being replayed, with the provider's signature when it gave
    /// one (Anthropic requires it with tool use; other providers drop it).
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Earlier encrypted reasoning being replayed verbatim (Anthropic `redacted_thinking`).
    RedactedThinking(String),
}

/// An assistant tool call being replayed to the provider.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// Parsed `function.arguments` (always a JSON object).
    pub arguments: Value,
}

/// One non-system message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the id of the call this answers.
    pub tool_call_id: Option<String>,
    /// For `Role::Tool`: the function name, when the client gave it (`name`) or it was
    /// recovered from the earlier assistant tool call with the same id.
    pub tool_name: Option<String>,
    /// For `Role::Tool`: the tool reported a failure (Anthropic `is_error`).
    pub is_error: bool,
    /// Index in the client's `messages` array, for error params.
    pub index: usize,
}

/// A function tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    /// Where the definition sat: index in `tools`, or in legacy `functions` when `legacy`.
    pub index: usize,
    pub legacy: bool,
}

impl Tool {
    /// The `param` naming this tool's `parameters` in an error (formatted only then).
    pub(crate) fn parameters_param(&self) -> ParametersParam<'_> {
        ParametersParam(self)
    }
}

/// `tools[i].function.parameters` or `functions[i].parameters`.
pub(crate) struct ParametersParam<'a>(&'a Tool);

impl fmt::Display for ParametersParam<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.legacy {
            write!(f, "functions[{}].parameters", self.0.index)
        } else {
            write!(f, "tools[{}].function.parameters", self.0.index)
        }
    }
}

/// `tool_choice` / legacy `function_call`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Function(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema(Value),
}

/// The validated request.
#[derive(Debug, Clone, Default)]
#[allow(dead_code)] // thinking_budget, top_k: read by the egress adapters being written
pub(crate) struct HubRequest {
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub stop: Vec<String>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub n: Option<u64>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub stream: bool,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    /// An explicit thinking budget in tokens (Anthropic `thinking.budget_tokens`, Gemini
    /// `thinkingBudget`); wins over `reasoning_effort` where the provider takes a budget.
    pub thinking_budget: Option<u64>,
    pub top_k: Option<u64>,
    pub user: Option<String>,
}

/// Thinking budget (tokens) for an OpenAI `reasoning_effort`; `None` disables thinking.
pub(crate) fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        "xhigh" => Some(8192),
        _ => None,
    }
}

/// Separator used to carry a Gemini `thoughtSignature` inside an OpenAI tool-call id, so
/// it can be replayed when the client sends the tool call back (Gemini 3 requires it).
pub(crate) const THOUGHT_SIGNATURE_SEPARATOR: &str = "__thought__";

/// A client request parsed by its surface's ingress parser: the hub form plus what routing
/// needs from it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read by the client request boundary being written
pub(crate) struct Ingress {
    /// The request in hub form.
    pub hub: HubRequest,
    /// The `model` the body names (`None` where the surface carries it in the path, as
    /// Gemini does).
    pub model: Option<String>,
}
