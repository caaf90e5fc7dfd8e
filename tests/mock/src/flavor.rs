//! Provider flavors, request routing and provider-shaped error bodies.
//!
//! The mock speaks four upstream protocols from one process; the request path says which
//! one (and, for Gemini, also the model and whether the answer streams).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;

/// The upstream protocol a request speaks, implied by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// OpenAI Chat Completions (`/v1/chat/completions`, `/v1/models`).
    Openai,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// OpenAI Responses (`/v1/responses`).
    #[serde(rename = "openai_responses", alias = "responses")]
    Responses,
}

/// A routed upstream API endpoint (control endpoints are routed separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiEndpoint {
    /// `POST /v1/chat/completions`.
    OpenaiChatV1,
    /// `POST /chat/completions` (base URLs without `/v1`).
    OpenaiChat,
    /// `GET /v1/models`.
    OpenaiModels,
    /// `POST /v1/messages`.
    AnthropicMessages,
    /// `POST /v1beta/models/{model}:generateContent`.
    GeminiGenerate,
    /// `POST /v1beta/models/{model}:streamGenerateContent`.
    GeminiStream,
    /// `GET /v1beta/models`.
    GeminiModels,
    /// `POST /v1/responses` (and `/responses`).
    Responses,
    /// `POST /v1/embeddings` (and `/embeddings`).
    OpenaiEmbeddings,
    /// `POST /v1/messages/count_tokens`.
    AnthropicCountTokens,
    /// `POST /v1beta/models/{model}:embedContent`.
    GeminiEmbed,
    /// `POST /v1beta/models/{model}:batchEmbedContents`.
    GeminiBatchEmbed,
}

/// What an endpoint answers with, apart from faults and forced statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A model answer: a fixture or a generated text answer.
    Generation,
    /// The model list.
    Models,
    /// Built-in embedding vectors, one per input (fixtures are not used).
    Embeddings,
    /// Built-in `{"input_tokens": N}` (fixtures are not used).
    CountTokens,
}

impl ApiEndpoint {
    /// Every endpoint, in the order of [`ApiEndpoint::index`].
    pub const ALL: [ApiEndpoint; 12] = [
        ApiEndpoint::OpenaiChatV1,
        ApiEndpoint::OpenaiChat,
        ApiEndpoint::OpenaiModels,
        ApiEndpoint::AnthropicMessages,
        ApiEndpoint::GeminiGenerate,
        ApiEndpoint::GeminiStream,
        ApiEndpoint::GeminiModels,
        ApiEndpoint::Responses,
        ApiEndpoint::OpenaiEmbeddings,
        ApiEndpoint::AnthropicCountTokens,
        ApiEndpoint::GeminiEmbed,
        ApiEndpoint::GeminiBatchEmbed,
    ];

    /// Dense index, used for per-endpoint atomic counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The path pattern reported as the key of `by_path` in `/_mock/stats`.
    pub fn label(self) -> &'static str {
        match self {
            ApiEndpoint::OpenaiChatV1 => "/v1/chat/completions",
            ApiEndpoint::OpenaiChat => "/chat/completions",
            ApiEndpoint::OpenaiModels => "/v1/models",
            ApiEndpoint::AnthropicMessages => "/v1/messages",
            ApiEndpoint::GeminiGenerate => "/v1beta/models/{model}:generateContent",
            ApiEndpoint::GeminiStream => "/v1beta/models/{model}:streamGenerateContent",
            ApiEndpoint::GeminiModels => "/v1beta/models",
            ApiEndpoint::Responses => "/v1/responses",
            ApiEndpoint::OpenaiEmbeddings => "/v1/embeddings",
            ApiEndpoint::AnthropicCountTokens => "/v1/messages/count_tokens",
            ApiEndpoint::GeminiEmbed => "/v1beta/models/{model}:embedContent",
            ApiEndpoint::GeminiBatchEmbed => "/v1beta/models/{model}:batchEmbedContents",
        }
    }

    /// What kind of answer this endpoint gives.
    pub fn answer(self) -> Answer {
        match self {
            ApiEndpoint::OpenaiModels | ApiEndpoint::GeminiModels => Answer::Models,
            ApiEndpoint::OpenaiEmbeddings
            | ApiEndpoint::GeminiEmbed
            | ApiEndpoint::GeminiBatchEmbed => Answer::Embeddings,
            ApiEndpoint::AnthropicCountTokens => Answer::CountTokens,
            ApiEndpoint::OpenaiChatV1
            | ApiEndpoint::OpenaiChat
            | ApiEndpoint::AnthropicMessages
            | ApiEndpoint::GeminiGenerate
            | ApiEndpoint::GeminiStream
            | ApiEndpoint::Responses => Answer::Generation,
        }
    }

    /// The protocol this endpoint speaks.
    pub fn flavor(self) -> Flavor {
        match self {
            ApiEndpoint::OpenaiChatV1
            | ApiEndpoint::OpenaiChat
            | ApiEndpoint::OpenaiModels
            | ApiEndpoint::OpenaiEmbeddings => Flavor::Openai,
            ApiEndpoint::AnthropicMessages | ApiEndpoint::AnthropicCountTokens => Flavor::Anthropic,
            ApiEndpoint::GeminiGenerate
            | ApiEndpoint::GeminiStream
            | ApiEndpoint::GeminiModels
            | ApiEndpoint::GeminiEmbed
            | ApiEndpoint::GeminiBatchEmbed => Flavor::Gemini,
            ApiEndpoint::Responses => Flavor::Responses,
        }
    }
}

/// A mock control endpoint under `/_mock/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlEndpoint {
    /// `GET /_mock/stats`.
    Stats,
    /// `POST /_mock/reset`.
    Reset,
    /// `GET /_mock/last_body`.
    LastBody,
    /// `GET /_mock/last?path=P`: the last request to the endpoint of path `P`.
    Last,
    /// `POST /_mock/scenario`.
    SetScenario,
    /// `GET /_mock/scenario`.
    GetScenario,
}

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// An upstream API call; `model` is set for Gemini (taken from the path).
    Api {
        /// Which endpoint.
        endpoint: ApiEndpoint,
        /// Model named in the path (Gemini only).
        path_model: Option<&'a str>,
    },
    /// A control endpoint.
    Control(ControlEndpoint),
    /// Nothing here.
    NotFound,
}

/// Routes a request by method and path (without the query string).
pub fn route<'a>(method: &hyper::Method, path: &'a str) -> Route<'a> {
    use hyper::Method;
    let api = |endpoint| Route::Api {
        endpoint,
        path_model: None,
    };
    match (method, path) {
        (&Method::POST, "/v1/chat/completions") => api(ApiEndpoint::OpenaiChatV1),
        (&Method::POST, "/chat/completions") => api(ApiEndpoint::OpenaiChat),
        (&Method::GET, "/v1/models") | (&Method::GET, "/models") => api(ApiEndpoint::OpenaiModels),
        (&Method::POST, "/v1/messages") => api(ApiEndpoint::AnthropicMessages),
        (&Method::POST, "/v1/messages/count_tokens") => api(ApiEndpoint::AnthropicCountTokens),
        (&Method::POST, "/v1/responses") | (&Method::POST, "/responses") => {
            api(ApiEndpoint::Responses)
        }
        (&Method::POST, "/v1/embeddings") | (&Method::POST, "/embeddings") => {
            api(ApiEndpoint::OpenaiEmbeddings)
        }
        (&Method::GET, "/v1beta/models") => api(ApiEndpoint::GeminiModels),
        (&Method::GET, "/_mock/stats") => Route::Control(ControlEndpoint::Stats),
        (&Method::POST, "/_mock/reset") => Route::Control(ControlEndpoint::Reset),
        (&Method::GET, "/_mock/last_body") => Route::Control(ControlEndpoint::LastBody),
        (&Method::GET, "/_mock/last") => Route::Control(ControlEndpoint::Last),
        (&Method::POST, "/_mock/scenario") => Route::Control(ControlEndpoint::SetScenario),
        (&Method::GET, "/_mock/scenario") => Route::Control(ControlEndpoint::GetScenario),
        (&Method::POST, _) => route_gemini(path).unwrap_or(Route::NotFound),
        _ => Route::NotFound,
    }
}

fn route_gemini(path: &str) -> Option<Route<'_>> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let (model, action) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let endpoint = match action {
        "generateContent" => ApiEndpoint::GeminiGenerate,
        "streamGenerateContent" => ApiEndpoint::GeminiStream,
        "embedContent" => ApiEndpoint::GeminiEmbed,
        "batchEmbedContents" => ApiEndpoint::GeminiBatchEmbed,
        _ => return None,
    };
    Some(Route::Api {
        endpoint,
        path_model: Some(model),
    })
}

/// Whether the query string carries `alt=sse`.
pub fn wants_sse(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"))
}

/// The few request-body fields the mock looks at; everything else is skipped unparsed.
#[derive(Debug, Default, Deserialize)]
pub struct RequestProbe<'a> {
    /// `model` (OpenAI, Anthropic).
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    /// `stream` (OpenAI, Anthropic).
    #[serde(default)]
    pub stream: Option<bool>,
    /// `stream_options` (OpenAI).
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// OpenAI `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Whether a final usage chunk is requested.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

impl<'a> RequestProbe<'a> {
    /// Parses the probe fields out of a request body; an empty body is an empty probe.
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(body)
    }
}

/// The reason phrase-like default message for a status.
fn status_message(status: u16) -> &'static str {
    match status {
        400 => "Bad request (injected by sluice-mock)",
        401 => "Invalid API key (injected by sluice-mock)",
        403 => "Permission denied (injected by sluice-mock)",
        404 => "Not found (injected by sluice-mock)",
        408 => "Request timeout (injected by sluice-mock)",
        429 => "Rate limit exceeded (injected by sluice-mock)",
        529 => "Overloaded (injected by sluice-mock)",
        500..=599 => "Upstream server error (injected by sluice-mock)",
        _ => "Error (injected by sluice-mock)",
    }
}

/// Builds a provider-shaped JSON error body for `status` with the given message.
pub fn error_body(flavor: Flavor, status: u16, message: &str) -> Bytes {
    let body = match flavor {
        Flavor::Openai | Flavor::Responses => {
            let (kind, code) = match status {
                400 => ("invalid_request_error", "invalid_request"),
                401 => ("invalid_request_error", "invalid_api_key"),
                403 => ("invalid_request_error", "permission_denied"),
                404 => ("invalid_request_error", "model_not_found"),
                429 => ("requests", "rate_limit_exceeded"),
                _ => ("server_error", "server_error"),
            };
            serde_json::json!({
                "error": {"message": message, "type": kind, "param": null, "code": code}
            })
        }
        Flavor::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            serde_json::json!({
                "type": "error",
                "error": {"type": kind, "message": message}
            })
        }
        Flavor::Gemini => {
            let kind = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                _ => "INTERNAL",
            };
            serde_json::json!({
                "error": {"code": status, "message": message, "status": kind}
            })
        }
    };
    Bytes::from(body.to_string())
}

/// [`error_body`] with the default message for `status`.
pub fn default_error_body(flavor: Flavor, status: u16) -> Bytes {
    error_body(flavor, status, status_message(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    #[test]
    fn routes_every_flavor() {
        assert_eq!(
            route(&Method::POST, "/v1/chat/completions"),
            Route::Api {
                endpoint: ApiEndpoint::OpenaiChatV1,
                path_model: None
            }
        );
        assert_eq!(
            route(
                &Method::POST,
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
            ),
            Route::Api {
                endpoint: ApiEndpoint::GeminiStream,
                path_model: Some("gemini-2.0-flash")
            }
        );
        assert_eq!(route(&Method::POST, "/v1beta/models/:x"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/v1/messages"), Route::NotFound);
    }

    #[test]
    fn probe_reads_only_what_it_needs() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"m\"x","stream":true,"stream_options":{"include_usage":true}}"#;
        let probe = RequestProbe::parse(body).unwrap();
        assert_eq!(probe.model.as_deref(), Some("m\"x"));
        assert_eq!(probe.stream, Some(true));
        assert_eq!(probe.stream_options.unwrap().include_usage, Some(true));
        assert!(RequestProbe::parse(b"").unwrap().model.is_none());
        assert!(RequestProbe::parse(b"{nope").is_err());
    }

    #[test]
    fn alt_sse_detection() {
        assert!(wants_sse(Some("alt=sse")));
        assert!(wants_sse(Some("key=x&alt=sse")));
        assert!(!wants_sse(Some("alt=json")));
        assert!(!wants_sse(None));
    }
}
