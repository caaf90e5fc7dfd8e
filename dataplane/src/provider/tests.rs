use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::config::{parse_config, Limits, RuntimeConfig};
use crate::error::AttemptError;
use crate::routing::Outcome;
use crate::upstream::AttemptFailure;

fn config() -> RuntimeConfig {
    parse_config(
        "t.toml",
        r#"
[[providers]]
name = "oa"
kind = "openai"
models = ["gpt-4o"]
  [[providers.endpoints]]
  base_url = "https://api.openai.com/v1"
  api_key = "sk-oa"
[[providers]]
name = "ds"
kind = "deepseek"
models = ["deepseek-chat"]
  [[providers.endpoints]]
  base_url = "https://api.deepseek.com/v1"
  api_key = "sk-ds"
[[providers]]
name = "an"
kind = "anthropic"
models = ["claude-x"]
  [[providers.endpoints]]
  base_url = "https://api.anthropic.com/v1"
  api_key = "sk-an"
[[providers]]
name = "ge"
kind = "gemini"
models = ["gemini-x"]
  [[providers.endpoints]]
  base_url = "https://generativelanguage.googleapis.com/v1beta"
  api_key = "g-key"
[[providers]]
name = "ec"
kind = "echo"
models = ["echo"]
  [[providers.endpoints]]
  base_url = "http://127.0.0.1:1"
[[providers]]
name = "rs"
kind = "openai_responses"
models = ["gpt-5"]
  [[providers.endpoints]]
  base_url = "https://api.openai.com/v1"
  api_key = "sk-rs"
"#,
        &|_| None,
    )
    .unwrap()
}

fn provider<'a>(cfg: &'a RuntimeConfig, name: &str) -> &'a Provider {
    cfg.providers.iter().find(|p| p.name == name).unwrap()
}

fn chat(body: &str) -> ClientRequest {
    ClientRequest::from_chat(
        crate::chat_request::ChatRequest::parse(
            Bytes::copy_from_slice(body.as_bytes()),
            &Limits::default(),
        )
        .unwrap(),
    )
}

fn surface(protocol: Protocol, body: &str) -> ClientRequest {
    ClientRequest::scan(
        protocol,
        Bytes::copy_from_slice(body.as_bytes()),
        None,
        None,
        &sluice_translate::openai::RequestLimits::default(),
    )
    .unwrap()
}

const HELLO: &str = r#"{"model":"alias","messages":[{"role":"user","content":"hi"}],"provider":"x","retry_count":1}"#;
const HELLO_STREAM: &str =
    r#"{"model":"alias","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

fn header<'a>(o: &'a OutboundRequest<'_>, name: &str) -> Option<&'a str> {
    o.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn answer_ctx() -> AnswerContext<'static> {
    AnswerContext {
        request_id: "r1",
        model: "m",
        include_usage: true,
        client: Protocol::OpenAi,
        json_array: false,
    }
}

#[test]
fn every_kind_resolves_to_its_module() {
    let cfg = config();
    let adapters: Vec<_> = cfg.providers.iter().map(|p| for_kind(p.kind)).collect();
    assert_eq!(
        adapters,
        [
            Adapter::OpenAi,
            Adapter::OpenAi,
            Adapter::Anthropic,
            Adapter::Gemini,
            Adapter::Echo,
            Adapter::OpenAiResponses,
        ]
    );
    assert!(Adapter::Echo.answers_locally());
    assert!(!Adapter::OpenAi.answers_locally());
}

#[test]
fn openai_compatible_request_is_the_client_body_with_the_upstream_model() {
    let cfg = config();
    for name in ["oa", "ds"] {
        let p = provider(&cfg, name);
        let ep = &p.endpoints[0];
        let o = for_kind(p.kind)
            .build_request(p, ep, "up-model", &chat(HELLO), None)
            .unwrap();
        assert_eq!(
            (o.method, o.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert_eq!(
            header(&o, "authorization"),
            Some(format!("Bearer sk-{name}").as_str())
        );
        assert_eq!(header(&o, "accept"), None);
        let v: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
        assert_eq!(v["model"], "up-model");
        assert_eq!(v["messages"][0]["content"], "hi");
        assert!(v.get("provider").is_none() && v.get("retry_count").is_none());
    }
    let p = provider(&cfg, "oa");
    let o = Adapter::OpenAi
        .build_request(p, &p.endpoints[0], "m", &chat(HELLO_STREAM), None)
        .unwrap();
    assert_eq!(header(&o, "accept"), Some("text/event-stream"));
}

#[test]
fn anthropic_request_is_translated() {
    let cfg = config();
    let p = provider(&cfg, "an");
    let o = Adapter::Anthropic
        .build_request(p, &p.endpoints[0], "claude-x", &chat(HELLO_STREAM), None)
        .unwrap();
    // The configured `/v1` is not doubled.
    assert_eq!(o.path, "/v1/messages");
    assert_eq!(header(&o, "x-api-key"), Some("sk-an"));
    assert!(header(&o, "anthropic-version").is_some());
    assert_eq!(header(&o, "accept"), Some("text/event-stream"));
    let v: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(v["model"], "claude-x");
    assert_eq!(v["stream"], true);
    assert!(v["max_tokens"].is_u64());

    let Err(err) = Adapter::Anthropic.build_request(
        p,
        &p.endpoints[0],
        "claude-x",
        &chat(r#"{"model":"a","n":2,"messages":[{"role":"user","content":"hi"}]}"#),
        None,
    ) else {
        panic!("n > 1 has no Anthropic equivalent");
    };
    assert_eq!(err.status(), 400);
    assert!(
        err.to_string().starts_with("provider 'an' cannot serve"),
        "{err}"
    );
    assert!(matches!(err, GatewayError::InvalidRequest { param: Some(ref p), .. } if p == "n"));
}

#[test]
fn gemini_request_names_model_and_method_in_the_path() {
    let cfg = config();
    let p = provider(&cfg, "ge");
    let o = Adapter::Gemini
        .build_request(p, &p.endpoints[0], "gemini-x", &chat(HELLO), None)
        .unwrap();
    assert_eq!(o.path, "/v1beta/models/gemini-x:generateContent");
    assert_eq!(header(&o, "x-goog-api-key"), Some("g-key"));
    let v: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(v["contents"][0]["parts"][0]["text"], "hi");
    let o = Adapter::Gemini
        .build_request(p, &p.endpoints[0], "gemini-x", &chat(HELLO_STREAM), None)
        .unwrap();
    assert_eq!(
        o.path,
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    );
}

#[test]
fn health_check_request_uses_the_api_root_and_credentials() {
    let cfg = config();
    let p = provider(&cfg, "an");
    let o = Adapter::Anthropic.health_check_request(p, &p.endpoints[0], "/v1/models");
    assert_eq!((o.method, o.path.as_str()), ("GET", "/v1/models"));
    assert_eq!(header(&o, "x-api-key"), Some("sk-an"));
    assert!(o.body.is_empty());
    let p = provider(&cfg, "oa");
    let o = Adapter::OpenAi.health_check_request(p, &p.endpoints[0], "/models");
    assert_eq!(o.path, "/v1/models");
    assert_eq!(header(&o, "authorization"), Some("Bearer sk-oa"));
}

#[test]
fn whole_answers_in_openai_terms() {
    let body = Bytes::from_static(
        br#"{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
    );
    let (out, usage) = Adapter::OpenAi
        .translate_response(body.clone(), &answer_ctx())
        .unwrap();
    assert_eq!(out, body, "passthrough answers are not touched");
    assert_eq!(usage.map(|u| u.total_tokens), Some(7));

    let anthropic = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}"#;
    let (out, usage) = Adapter::Anthropic
        .translate_response(Bytes::from_static(anthropic), &answer_ctx())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello");
    assert_eq!(v["model"], "m");
    assert_eq!(usage.map(|u| u.prompt_tokens), Some(5));

    let e = Adapter::Gemini
        .translate_response(Bytes::from_static(b"not json"), &answer_ctx())
        .unwrap_err();
    assert_eq!(e.error.status(), 502);
    assert_eq!(e.outcome, Outcome::StreamError);
    assert!(
        e.retryable(),
        "a malformed answer may come out right elsewhere"
    );
}

#[test]
fn passthrough_stream_without_done_is_an_error() {
    let mut relay = Adapter::OpenAi.stream_relay(&answer_ctx());
    let mut out = BytesMut::new();
    relay
        .feed(
            Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"),
            &mut out,
        )
        .unwrap();
    assert!(!out.is_empty());
    let e = relay.finish(&mut out).unwrap_err();
    assert_eq!(e.status, 502);

    let mut relay = Adapter::OpenAi.stream_relay(&answer_ctx());
    let mut out = BytesMut::new();
    relay
        .feed(Bytes::from_static(b"data: [DONE]\n\n"), &mut out)
        .unwrap();
    relay.finish(&mut out).unwrap();
    assert!(matches!(
        Adapter::Anthropic.stream_relay(&answer_ctx()),
        Relay::Translate(_)
    ));
}

#[test]
fn openai_errors_pass_through_with_their_verdict() {
    let cfg = config();
    let p = provider(&cfg, "oa");
    let body =
        br#"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}"#;
    let e = Adapter::OpenAi.translate_error(p, 429, body, Some(" 7 "));
    assert_eq!(e.error.status(), 429);
    assert_eq!(e.error.retry_after(), Some(7));
    assert_eq!(&e.error.envelope("r")[..], &body[..]);
    // Other surfaces get the upstream's message in their own format.
    assert_eq!(e.error.to_string(), "slow down");
    let anthropic = e.error.body_for(Protocol::Anthropic, "r");
    assert!(std::str::from_utf8(&anthropic)
        .unwrap()
        .contains("slow down"));
    assert_eq!(
        e.outcome,
        Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(e.retryable());

    let e = Adapter::OpenAi.translate_error(p, 400, b"bad things", None);
    assert_eq!(e.error.status(), 400);
    assert_eq!(e.error.error_type(), "invalid_request_error");
    assert_eq!(
        e.error.to_string(),
        "provider 'oa' answered 400: bad things"
    );
    assert_eq!(e.outcome, Outcome::ClientError(400));
    assert!(!e.retryable());

    let e = Adapter::OpenAi.translate_error(p, 502, b"<html>", None);
    assert_eq!(e.outcome, Outcome::ServerError(502));
    assert!(e.retryable());
}

#[test]
fn anthropic_errors_are_translated_with_their_verdict() {
    let cfg = config();
    let p = provider(&cfg, "an");
    let e = Adapter::Anthropic.translate_error(
        p,
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        None,
    );
    assert_eq!(e.error.status(), 503);
    assert_eq!(e.error.code(), "overloaded_error");
    assert_eq!(e.outcome, Outcome::ServerError(529));
    assert!(e.retryable());

    let e = Adapter::Anthropic.translate_error(
        p,
        401,
        br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        None,
    );
    assert_eq!(e.error.status(), 401);
    assert_eq!(e.error.error_type(), "authentication_error");
    assert!(!e.retryable());

    let e = Adapter::Anthropic.translate_error(p, 429, b"{}", Some("3"));
    assert_eq!(e.error.retry_after(), Some(3));
    assert!(e.retryable());
}

#[test]
fn gemini_errors_prefer_the_body_retry_hint() {
    let cfg = config();
    let p = provider(&cfg, "ge");
    let body = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#;
    let e = Adapter::Gemini.translate_error(p, 429, body, Some("2"));
    assert_eq!(e.error.status(), 429);
    assert_eq!(e.error.retry_after(), Some(12));
    assert_eq!(
        e.outcome,
        Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        }
    );
    assert!(e.retryable());

    let body = br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
    let e = Adapter::Gemini.translate_error(p, 400, body, None);
    assert_eq!(e.error.status(), 400);
    assert!(!e.retryable());
}

#[test]
fn failures_carry_their_verdict() {
    for (f, outcome, status) in [
        (
            AttemptFailure::Connect("refused".into()),
            Outcome::ConnectError,
            502,
        ),
        (AttemptFailure::Timeout, Outcome::Timeout, 504),
        (
            AttemptFailure::Io("reset".into()),
            Outcome::StreamError,
            502,
        ),
    ] {
        let e = AttemptError::from_failure(&f, "p");
        assert_eq!((e.outcome, e.error.status()), (outcome, status));
        assert!(e.retryable(), "{f}");
        let e = AttemptError::from_stream_failure(&f, "p");
        assert_eq!((e.outcome, e.error.status()), (outcome, status));
        assert!(e.retryable(), "{f}");
    }
    let e = AttemptError::from_failure(&AttemptFailure::Timeout, "p");
    assert_eq!(e.error.to_string(), "provider 'p' did not answer in time");

    // An error inside an answer: health counts the broken stream either way; the status
    // in OpenAI terms decides whether another candidate may serve the request.
    let refused = UpstreamError::new(400, "invalid_request_error", "no");
    let e = AttemptError::from_answer(refused);
    assert_eq!(e.outcome, Outcome::StreamError);
    assert!(!e.retryable());
    for status in [429, 500, 503] {
        let e = AttemptError::from_answer(UpstreamError::new(status, "server_error", "x"));
        assert_eq!(e.outcome, Outcome::StreamError);
        assert!(e.retryable(), "{status}");
    }
}

#[test]
fn same_protocol_requests_pass_through_with_the_model_mapped() {
    let cfg = config();
    let p = provider(&cfg, "an");
    let body = r#"{"model":"alias", "max_tokens":5,"fallback_providers":["an"],"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"#;
    let req = surface(Protocol::Anthropic, body);
    let o = Adapter::Anthropic
        .build_request(p, &p.endpoints[0], "claude-x", &req, Some("beta-1"))
        .unwrap();
    assert_eq!(o.path, "/v1/messages");
    assert_eq!(
        std::str::from_utf8(&o.body).unwrap(),
        r#"{"model":"claude-x", "max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"#
    );
    assert_eq!(header(&o, "anthropic-beta"), Some("beta-1"));
    // `anthropic-beta` is an Anthropic client's header: never sent on a translated request.
    let o = Adapter::Anthropic
        .build_request(p, &p.endpoints[0], "claude-x", &chat(HELLO), Some("beta-1"))
        .map(|o| header(&o, "anthropic-beta").map(str::to_owned));
    assert!(!matches!(o, Ok(Some(_))));

    let p = provider(&cfg, "rs");
    let req = surface(
        Protocol::OpenAiResponses,
        r#"{"model":"a","input":"hi","stream":true}"#,
    );
    let o = Adapter::OpenAiResponses
        .build_request(p, &p.endpoints[0], "gpt-5", &req, None)
        .unwrap();
    assert_eq!(o.path, "/v1/responses");
    assert_eq!(header(&o, "authorization"), Some("Bearer sk-rs"));
    assert_eq!(header(&o, "accept"), Some("text/event-stream"));
    assert_eq!(
        std::str::from_utf8(&o.body).unwrap(),
        r#"{"model":"gpt-5","input":"hi","stream":true}"#
    );

    let p = provider(&cfg, "ge");
    let req = ClientRequest::scan(
        Protocol::Gemini,
        Bytes::from_static(br#"{"contents":[]}"#),
        Some("alias"),
        Some(true),
        &sluice_translate::openai::RequestLimits::default(),
    )
    .unwrap();
    let o = Adapter::Gemini
        .build_request(p, &p.endpoints[0], "gemini-x", &req, None)
        .unwrap();
    assert_eq!(
        o.path,
        "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    );
    assert_eq!(&o.body[..], br#"{"contents":[]}"#);
}

#[test]
fn token_counting_and_embeddings_per_provider() {
    let cfg = config();
    let req = surface(Protocol::Anthropic, r#"{"model":"a","messages":[]}"#);
    let p = provider(&cfg, "an");
    assert!(Adapter::Anthropic.counts_tokens());
    let o = Adapter::Anthropic
        .count_tokens_request(p, &p.endpoints[0], "claude-x", &req, None)
        .unwrap();
    assert_eq!(o.path, "/v1/messages/count_tokens");
    assert_eq!(&o.body[..], br#"{"model":"claude-x","messages":[]}"#);
    let g = provider(&cfg, "ge");
    assert!(!Adapter::Gemini.counts_tokens());
    assert!(Adapter::Gemini
        .count_tokens_request(g, &g.endpoints[0], "gemini-x", &req, None)
        .is_none());

    let emb = surface(Protocol::OpenAi, r#"{"model":"a","input":["x","y"]}"#);
    let parsed = sluice_translate::embeddings::parse(
        &emb.body,
        &sluice_translate::openai::RequestLimits::default(),
    )
    .unwrap();
    let p = provider(&cfg, "oa");
    let o = Adapter::OpenAi
        .embeddings_request(p, &p.endpoints[0], "text-embedding-3-small", &emb, &parsed)
        .unwrap()
        .unwrap();
    assert_eq!(o.path, "/v1/embeddings");
    assert_eq!(
        &o.body[..],
        br#"{"model":"text-embedding-3-small","input":["x","y"]}"#
    );
    let o = Adapter::Gemini
        .embeddings_request(g, &g.endpoints[0], "text-embedding-004", &emb, &parsed)
        .unwrap()
        .unwrap();
    assert_eq!(
        o.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    let (body, _) = Adapter::Gemini
        .embeddings_response(
            Bytes::from_static(br#"{"embeddings":[{"values":[1]},{"values":[2]}]}"#),
            &parsed,
            "text-embedding-004",
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"][1]["embedding"][0].as_f64(), Some(2.0));
    for a in [Adapter::Anthropic, Adapter::OpenAiResponses] {
        let p = provider(&cfg, if a == Adapter::Anthropic { "an" } else { "rs" });
        assert!(a
            .embeddings_request(p, &p.endpoints[0], "m", &emb, &parsed)
            .unwrap()
            .is_none());
    }
}

#[test]
fn stream_relays_pass_through_or_translate() {
    let ctx = |client| AnswerContext {
        request_id: "r",
        model: "m",
        include_usage: false,
        client,
        json_array: false,
    };
    assert!(matches!(
        Adapter::OpenAi.stream_relay(&ctx(Protocol::OpenAi)),
        Relay::Passthrough(_)
    ));
    assert!(matches!(
        Adapter::Anthropic.stream_relay(&ctx(Protocol::Anthropic)),
        Relay::Observe(_)
    ));
    assert!(matches!(
        Adapter::Gemini.stream_relay(&ctx(Protocol::Anthropic)),
        Relay::Translate(_)
    ));
    assert!(matches!(
        Adapter::OpenAi.stream_relay(&ctx(Protocol::OpenAiResponses)),
        Relay::Translate(_)
    ));
    // A Gemini client asking for a JSON array gets the SSE answer re-framed.
    let array = AnswerContext {
        json_array: true,
        ..ctx(Protocol::Gemini)
    };
    assert!(matches!(
        Adapter::Gemini.stream_relay(&array),
        Relay::Translate(_)
    ));
    // An OpenAI Chat client's failed stream ends with the gateway's envelope event.
    let mut relay = Adapter::Anthropic.stream_relay(&ctx(Protocol::OpenAi));
    let mut out = BytesMut::new();
    let err = GatewayError::from(UpstreamError::new(502, "server_error", "cut"));
    relay.write_error(&err, &ctx(Protocol::OpenAi), &mut out);
    assert!(out.starts_with(b"data: {\"error\":"));
    assert!(std::str::from_utf8(&out)
        .unwrap()
        .contains("\"request_id\":\"r\""));
}

const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn anthropic_client() -> AnswerContext<'static> {
    AnswerContext {
        request_id: "r",
        model: "m",
        include_usage: false,
        client: Protocol::Anthropic,
        json_array: false,
    }
}

#[test]
fn observed_passthrough_forwards_the_bytes_and_reads_usage() {
    let mut relay = Adapter::Anthropic.stream_relay(&anthropic_client());
    let mut out = BytesMut::new();
    for piece in ANTHROPIC_STREAM.as_bytes().chunks(7) {
        relay.feed(Bytes::copy_from_slice(piece), &mut out).unwrap();
    }
    relay.finish(&mut out).unwrap();
    assert_eq!(&out[..], ANTHROPIC_STREAM.as_bytes());
    let usage = relay.usage().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (5, 2));

    // Cut before message_stop: an error, and the surface's own error event ends it.
    let mut relay = Adapter::Anthropic.stream_relay(&anthropic_client());
    let mut out = BytesMut::new();
    let cut = ANTHROPIC_STREAM.find("event: message_delta").unwrap();
    relay
        .feed(
            Bytes::copy_from_slice(&ANTHROPIC_STREAM.as_bytes()[..cut]),
            &mut out,
        )
        .unwrap();
    let e = relay.finish(&mut out).unwrap_err();
    let before = out.len();
    relay.write_error(&GatewayError::from(e), &anthropic_client(), &mut out);
    let tail = std::str::from_utf8(&out[before..]).unwrap();
    assert!(tail.starts_with("event: error\n"), "{tail}");

    // The upstream's own error event mid-stream is forwarded as sent, nothing added.
    let mut relay = Adapter::Anthropic.stream_relay(&anthropic_client());
    let mut out = BytesMut::new();
    let start = ANTHROPIC_STREAM.find("event: content_block_start").unwrap();
    relay
        .feed(
            Bytes::copy_from_slice(&ANTHROPIC_STREAM.as_bytes()[..start]),
            &mut out,
        )
        .unwrap();
    let error_event: &[u8] = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let e = relay
        .feed(Bytes::from_static(error_event), &mut out)
        .unwrap_err();
    assert!(out.ends_with(error_event));
    let before = out.len();
    relay.write_error(&GatewayError::from(e), &anthropic_client(), &mut out);
    assert_eq!(out.len(), before);

    // An error event before any byte reached the client writes nothing (another
    // candidate may answer).
    let mut relay = Adapter::Anthropic.stream_relay(&anthropic_client());
    let mut out = BytesMut::new();
    assert!(relay
        .feed(Bytes::from_static(error_event), &mut out)
        .is_err());
    assert!(out.is_empty());
}
