//! Answers to upstream API requests (OpenAI Chat, OpenAI Responses, Anthropic, Gemini,
//! embeddings, token counting), per the active scenario.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::body::{Ending, PacedBody};
use crate::embed::{self, EmbedAsk};
use crate::fixture::FixtureRef;
use crate::flavor::{self, Answer, ApiEndpoint, Flavor, RequestProbe};
use crate::generate::{json_string, Shape};
use crate::scenario::{Content, Fault, Rule, Verdict};
use crate::server::ConnControl;
use crate::state::{LastRequest, MockState};
use crate::stats::{LogEntry, LOGGED_HEADERS};

/// Header naming the mock that answered.
pub const MOCK_NAME: HeaderName = HeaderName::from_static("x-mock-name");

/// Request header carrying one inline scenario rule, for direct use of the mock.
pub const MOCK_RULE: HeaderName = HeaderName::from_static("x-mock-rule");

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// What the request asked for, as far as the mock cares.
struct Ask {
    flavor: Flavor,
    model: Option<String>,
    stream: bool,
    shape: Shape,
    /// Set for the embedding endpoints.
    embed: Option<EmbedAsk>,
}

/// An upstream API request, routed and with its body read.
pub struct ApiRequest<'a> {
    /// The endpoint; `None` for a path the mock does not serve.
    pub endpoint: Option<ApiEndpoint>,
    /// Model named in the path (Gemini).
    pub path_model: Option<&'a str>,
    /// Path without query.
    pub path: &'a str,
    /// Query string.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The whole request body.
    pub body: Bytes,
    /// When the request head arrived, in ms since the mock started.
    pub t_ms: u64,
}

/// Answers one upstream API request. `Err` closes the connection without a response.
pub async fn answer(
    state: &MockState,
    conn: &ConnControl,
    req: ApiRequest<'_>,
) -> std::io::Result<Response<PacedBody>> {
    let ApiRequest {
        endpoint,
        path_model,
        path,
        query,
        headers,
        body,
        t_ms,
    } = req;
    let seq = state.stats.count(endpoint);
    let mut entry = LogEntry {
        seq,
        t_ms,
        path: path.to_owned(),
        model: None,
        stream: false,
        status: 0,
        bytes_in: body.len(),
        headers: logged_headers(headers),
        fault: None,
    };
    if !body.is_empty() {
        state.last_body.store(Arc::new(body.clone()));
    }
    let Some(endpoint) = endpoint else {
        entry.status = 404;
        state.stats.record(entry);
        let msg = format!("sluice-mock: no endpoint at {path}");
        return Ok(respond(
            state,
            StatusCode::NOT_FOUND,
            JSON,
            PacedBody::full(flavor::error_body(Flavor::Openai, 404, &msg)),
        ));
    };
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    if let Some(slot) = state.last.get(endpoint.index()) {
        slot.store(Some(Arc::new(LastRequest {
            target,
            body: body.clone(),
        })));
    }
    let flavor = endpoint.flavor();
    let ask = match inspect(endpoint, path_model, query, &body) {
        Ok(ask) => ask,
        Err(err) => {
            entry.status = 400;
            state.stats.record(entry);
            let msg = format!("sluice-mock: request body is not valid JSON: {err}");
            return Ok(respond(
                state,
                StatusCode::BAD_REQUEST,
                JSON,
                PacedBody::full(flavor::error_body(flavor, 400, &msg)),
            ));
        }
    };
    entry.model.clone_from(&ask.model);
    entry.stream = ask.stream;

    let scenario = state.scenario.load();
    let inline;
    let rule = match headers.get(MOCK_RULE) {
        None => scenario.select(flavor, ask.model.as_deref()),
        Some(json) => {
            match scenario.compile_inline(json.as_bytes(), &state.defaults, &state.fixtures_dir) {
                Ok(rule) => {
                    inline = rule;
                    &inline
                }
                Err(err) => {
                    entry.status = 400;
                    state.stats.record(entry);
                    let body = serde_json::json!({"error": {"message": format!("{err:#}")}});
                    return Ok(respond(
                        state,
                        StatusCode::BAD_REQUEST,
                        JSON,
                        PacedBody::full(Bytes::from(body.to_string())),
                    ));
                }
            }
        }
    };
    let verdict = rule.verdict();
    let response = match verdict {
        Verdict::NoResponse(fault) => {
            entry.fault = Some(fault.name());
            state.stats.record(entry);
            sleep(rule.delay).await;
            if fault == Fault::Reset {
                conn.request_reset();
                return Err(std::io::Error::other(
                    "sluice-mock: connection reset by fault",
                ));
            }
            return std::future::pending().await;
        }
        Verdict::Fail(status) => respond(
            state,
            status_code(status),
            JSON,
            PacedBody::full(rule.error_body(flavor, status)),
        ),
        Verdict::Serve => serve(state, rule, endpoint, &ask, &mut entry),
    };
    let mut response = response;
    if let Some(secs) = rule.retry_after {
        if !response.status().is_success() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
    }
    entry.status = response.status().as_u16();
    state.stats.record(entry);
    sleep(rule.delay).await;
    Ok(response)
}

/// The scenario's `delay` (part of the behaviour the mock is asked to show, e.g. a slow
/// or stalled upstream), skipped when zero.
async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn inspect(
    endpoint: ApiEndpoint,
    path_model: Option<&str>,
    query: Option<&str>,
    body: &[u8],
) -> Result<Ask, serde_json::Error> {
    let flavor = endpoint.flavor();
    let path_ask = |stream, shape, embed| Ask {
        flavor,
        model: path_model.map(str::to_owned),
        stream,
        shape,
        embed,
    };
    match endpoint {
        ApiEndpoint::GeminiGenerate | ApiEndpoint::GeminiStream => {
            let stream = endpoint == ApiEndpoint::GeminiStream;
            let shape = match (stream, flavor::wants_sse(query)) {
                (false, _) => Shape::Json,
                (true, true) => Shape::Sse { usage: true },
                (true, false) => Shape::JsonArray,
            };
            Ok(path_ask(stream, shape, None))
        }
        ApiEndpoint::GeminiEmbed => Ok(path_ask(
            false,
            Shape::Json,
            Some(embed::gemini_one_ask(body)?),
        )),
        ApiEndpoint::GeminiBatchEmbed => Ok(path_ask(
            false,
            Shape::Json,
            Some(embed::gemini_batch_ask(body)?),
        )),
        ApiEndpoint::OpenaiModels | ApiEndpoint::GeminiModels => Ok(Ask {
            flavor,
            model: None,
            stream: false,
            shape: Shape::Json,
            embed: None,
        }),
        ApiEndpoint::OpenaiEmbeddings => {
            let probe = RequestProbe::parse(body)?;
            Ok(Ask {
                flavor,
                model: probe.model.map(|m| m.into_owned()),
                stream: false,
                shape: Shape::Json,
                embed: Some(embed::openai_ask(body)?),
            })
        }
        ApiEndpoint::OpenaiChatV1
        | ApiEndpoint::OpenaiChat
        | ApiEndpoint::AnthropicMessages
        | ApiEndpoint::AnthropicCountTokens
        | ApiEndpoint::Responses => {
            let probe = RequestProbe::parse(body)?;
            let stream = probe.stream.unwrap_or(false) && endpoint.answer() == Answer::Generation;
            let usage = probe
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false);
            Ok(Ask {
                flavor,
                model: probe.model.map(|m| m.into_owned()),
                stream,
                shape: if stream {
                    Shape::Sse { usage }
                } else {
                    Shape::Json
                },
                embed: None,
            })
        }
    }
}

/// The rule's content for this request, with pacing and body faults applied.
fn serve(
    state: &MockState,
    rule: &Rule,
    endpoint: ApiEndpoint,
    ask: &Ask,
    entry: &mut LogEntry,
) -> Response<PacedBody> {
    let status = match rule.status {
        Some(s) => status_code(s),
        None => StatusCode::OK,
    };
    let builtin = match endpoint.answer() {
        Answer::Generation => None,
        Answer::Models => Some(models_list(state, ask.flavor)),
        Answer::CountTokens => Some(embed::count_tokens_answer()),
        Answer::Embeddings => Some(embeddings(endpoint, ask)),
    };
    if let Some(body) = builtin {
        let status = if endpoint.answer() == Answer::Models {
            StatusCode::OK
        } else {
            status
        };
        let body = paced(vec![body], false, rule, entry);
        return respond(state, status, JSON, body);
    }

    let (chunks, content_type) = match &rule.content {
        Content::Generated(generated) => {
            let model = json_string(ask.model.as_deref().unwrap_or("mock-model"));
            let chunks = generated
                .template(ask.flavor, ask.shape)
                .render(model.as_bytes());
            let content_type = match ask.shape {
                Shape::Sse { .. } => EVENT_STREAM,
                Shape::Json | Shape::JsonArray => JSON,
            };
            (chunks, content_type)
        }
        Content::Fixture { json, stream } => match if ask.stream { stream } else { json } {
            FixtureRef::Loaded(fixture) => (
                fixture.events.clone(),
                HeaderValue::from_static(fixture.content_type),
            ),
            FixtureRef::Missing { path, reason } => {
                let body = serde_json::json!({"error": {
                    "message": format!("sluice-mock: fixture {} unavailable: {reason}", path.display()),
                    "type": "mock_fixture_missing",
                    "path": path.display().to_string(),
                }});
                return respond(
                    state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    JSON,
                    PacedBody::full(Bytes::from(body.to_string())),
                );
            }
        },
    };
    let body = paced(chunks, ask.stream, rule, entry);
    let sse = content_type == EVENT_STREAM;
    let mut response = respond(state, status, content_type, body);
    if sse {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Builds the body: streams chunked at event boundaries, non-streams with a length.
/// Body faults keep half (`cut`) or the first event (`stall_body`); a one-piece
/// non-stream body is split in two first, so the fault lands mid-body.
fn paced(mut chunks: Vec<Bytes>, stream: bool, rule: &Rule, entry: &mut LogEntry) -> PacedBody {
    let fault = match rule.fault {
        Some(f @ (Fault::Cut | Fault::StallBody)) => Some(f),
        _ => None,
    };
    let total: usize = chunks.iter().map(Bytes::len).sum();
    if fault.is_some() && chunks.len() == 1 && total > 1 {
        let mut whole = chunks.remove(0);
        let head = whole.split_to(total / 2);
        chunks = vec![head, whole];
    }
    // `cut` keeps half the events (at least one, never all).
    let cut_keep = (chunks.len() / 2)
        .max(1)
        .min(chunks.len().saturating_sub(1));
    let mut body = if stream {
        PacedBody::new(chunks, rule.ttft, rule.gap)
    } else {
        PacedBody::new(chunks, Duration::ZERO, Duration::ZERO).with_exact_len(total as u64)
    };
    if let Some(fault) = fault {
        entry.fault = Some(fault.name());
        body = match fault {
            Fault::Cut => body.truncated(cut_keep, Ending::Cut),
            _ => body.truncated(1, Ending::Stall),
        };
    }
    body
}

/// The built-in embeddings answer of `endpoint`.
fn embeddings(endpoint: ApiEndpoint, ask: &Ask) -> Bytes {
    let embed = ask.embed.clone().unwrap_or(EmbedAsk {
        inputs: 1,
        dimensions: embed::DEFAULT_DIMENSIONS,
        base64: false,
    });
    match endpoint {
        ApiEndpoint::GeminiEmbed => embed::gemini_one_answer(&embed),
        ApiEndpoint::GeminiBatchEmbed => embed::gemini_batch_answer(&embed),
        _ => embed::openai_answer(&embed, ask.model.as_deref().unwrap_or("mock-embedding")),
    }
}

fn respond(
    state: &MockState,
    status: StatusCode,
    content_type: HeaderValue,
    body: PacedBody,
) -> Response<PacedBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(MOCK_NAME, state.name_header.clone());
    response
}

fn models_list(state: &MockState, flavor: Flavor) -> Bytes {
    let scenario = state.scenario.load();
    let mut models = scenario.models();
    if models.is_empty() {
        models.push("mock-model");
    }
    let body = if flavor == Flavor::Gemini {
        let list: Vec<serde_json::Value> = models
            .into_iter()
            .map(|id| {
                serde_json::json!({
                    "name": format!("models/{id}"),
                    "displayName": id,
                    "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                })
            })
            .collect();
        serde_json::json!({ "models": list })
    } else {
        let data: Vec<serde_json::Value> = models
            .into_iter()
            .map(|id| {
                serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "sluice-mock"})
            })
            .collect();
        serde_json::json!({"object": "list", "data": data})
    };
    Bytes::from(body.to_string())
}

fn logged_headers(headers: &HeaderMap) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for name in LOGGED_HEADERS {
        if let Some(value) = headers.get(name) {
            map.insert(
                name.to_owned(),
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
    }
    map
}
