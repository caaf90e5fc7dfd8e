//! The translation matrix at the crate level: every recorded upstream answer (OpenAI Chat,
//! Anthropic, Gemini, and OpenAI Responses once its recordings exist) × every client
//! protocol, through `hub::translator`.
//!
//! For each pair: (a) the recording fed whole and split in two at every byte offset gives
//! byte-identical output (and the same result); (b) the output parses in the client's
//! protocol, and what independent reference parsers (written here, one per protocol, on
//! `serde_json::Value`) read from it — answer text, tool calls (name, id, arguments as
//! JSON), stop reason, usage — equals what the same parsers read from the recording.
//!
//! Pairs whose decoder or encoder is still a placeholder (`hub/pending.rs`: the decoder
//! answers 501 "not implemented", the encoder writes nothing) are reported SKIPPED, so the
//! test covers them as soon as their adapters land. A missing recordings directory is
//! SKIPPED loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use sluice_translate::hub::{self, Protocol};
use sluice_translate::{ResponseContext, StreamTranslator, UpstreamError};

/// A client column: a protocol's encoder, or the hub events themselves.
#[derive(Debug, Clone, Copy)]
enum Client {
    Protocol(Protocol),
    Events,
}

const CLIENTS: [Client; 5] = [
    Client::Events,
    Client::Protocol(Protocol::OpenAi),
    Client::Protocol(Protocol::Anthropic),
    Client::Protocol(Protocol::Gemini),
    Client::Protocol(Protocol::OpenAiResponses),
];

fn loud(line: &str) {
    // The stderr handle itself, so libtest's capture cannot hide it.
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "client-model".into(),
        include_usage: true,
        created: 1_700_000_000,
        id: "chatcmpl-matrix".into(),
        json_array: false,
    }
}

/// One recorded upstream answer.
struct Recording {
    name: String,
    upstream: Protocol,
    stream: bool,
    body: Vec<u8>,
}

/// Answers (not requests, not error bodies) in `dir`, or `None` (said loudly) when absent.
fn recordings_in(dir: &Path, upstream: Protocol) -> Option<Vec<Recording>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        loud(&format!(
            "SKIPPED: no {upstream:?} recordings at {} (that column is not covered)",
            dir.display()
        ));
        return None;
    };
    let mut out: Vec<Recording> = entries
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let file = p.file_name()?.to_str()?.to_owned();
            if file.ends_with(".request.json") || file.starts_with("error_") {
                return None;
            }
            let stream = if file.ends_with(".sse") {
                true
            } else if file.ends_with(".json") {
                file.starts_with("stream_") || file.contains("_stream_")
            } else {
                return None;
            };
            Some(Recording {
                name: format!("{}/{file}", dir.file_name()?.to_str()?),
                upstream,
                stream,
                body: std::fs::read(&p).unwrap(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

fn all_recordings() -> Option<Vec<Recording>> {
    let shared = common::fixtures()?;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut all = Vec::new();
    for (dir, p) in [
        (shared.join("openai"), Protocol::OpenAi),
        (shared.join("anthropic"), Protocol::Anthropic),
        (shared.join("gemini"), Protocol::Gemini),
        (repo.join("openai_responses"), Protocol::OpenAiResponses),
    ] {
        all.extend(recordings_in(&dir, p).unwrap_or_default());
    }
    Some(all)
}

/// Feeds `body` in the given pieces; the output and the end result.
fn translate(
    rec: &Recording,
    client: Client,
    cuts: &[usize],
) -> (Vec<u8>, Result<(), UpstreamError>) {
    let mut t = match client {
        Client::Protocol(p) => hub::translator(rec.upstream, p, rec.stream, ctx()),
        Client::Events => hub::Translator::new(
            hub::decoder(rec.upstream, rec.stream),
            Box::<EventLog>::default(),
        ),
    };
    let mut out = BytesMut::new();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&rec.body.len())) {
        if let Err(e) = t.feed(Bytes::copy_from_slice(&rec.body[prev..cut]), &mut out) {
            return (out.to_vec(), Err(e));
        }
        prev = cut;
    }
    let r = t.finish(&mut out);
    (out.to_vec(), r)
}

/// A test encoder writing the hub events themselves, one JSON line each, and checking
/// their grammar as it goes: the decoder column of the matrix, covered whatever the state
/// of the client encoders.
#[derive(Default)]
struct EventLog {
    lines: Vec<String>,
    started: bool,
    stopped: bool,
    next_index: u32,
    open: std::collections::BTreeSet<u32>,
}

impl EventLog {
    fn push(&mut self, v: Value, out: &mut BytesMut) {
        out.extend_from_slice(v.to_string().as_bytes());
        out.extend_from_slice(b"\n");
        self.lines.push(v.to_string());
    }
}

impl hub::Encoder for EventLog {
    fn event(&mut self, ev: hub::Event<'_>, out: &mut BytesMut) {
        use hub::{Block, Delta, Event};
        use serde_json::json;
        assert!(!self.stopped, "event after Stop: {ev:?}");
        assert!(
            self.started || matches!(ev, Event::Start { .. }),
            "event before Start: {ev:?}"
        );
        let s = |e: &hub::Escaped<'_>| e.decode().into_owned();
        let v = match ev {
            Event::Start { id, model } => {
                assert!(!self.started, "second Start");
                self.started = true;
                json!({"start": {"id": id.map(|i| s(&i)), "model": model.map(|m| s(&m))}})
            }
            Event::BlockStart { index, block } => {
                assert_eq!(
                    index, self.next_index,
                    "blocks are numbered in opening order"
                );
                self.next_index += 1;
                self.open.insert(index);
                match block {
                    Block::Text => json!({"open": index, "kind": "text"}),
                    Block::Thinking => json!({"open": index, "kind": "thinking"}),
                    Block::Refusal => json!({"open": index, "kind": "refusal"}),
                    Block::RedactedThinking { .. } => json!({"open": index, "kind": "redacted"}),
                    Block::ToolCall { id, name } => {
                        json!({"open": index, "kind": "tool", "id": s(&id), "name": s(&name)})
                    }
                }
            }
            Event::Delta { index, delta } => {
                assert!(
                    self.open.contains(&index),
                    "delta for block {index}, not open"
                );
                let (kind, t) = match delta {
                    Delta::Text(t) => ("text", t),
                    Delta::Thinking(t) => ("thinking", t),
                    Delta::Refusal(t) => ("refusal", t),
                    Delta::Arguments(t) => ("args", t),
                    Delta::Signature(t) => ("signature", t),
                };
                json!({"delta": index, "kind": kind, "text": s(&t)})
            }
            Event::BlockStop { index } => {
                assert!(self.open.remove(&index), "stop of block {index}, not open");
                json!({"close": index})
            }
            Event::Usage(u) => json!({"usage": {
                "prompt": u.prompt_tokens, "completion": u.completion_tokens,
                "cached": u.cached_tokens, "reasoning": u.reasoning_tokens}}),
            Event::Stop { reason, .. } => {
                assert!(
                    self.open.is_empty(),
                    "Stop with blocks open: {:?}",
                    self.open
                );
                self.stopped = true;
                json!({"stop": format!("{reason:?}")})
            }
        };
        self.push(v, out);
    }

    fn finish(&mut self, _: &mut BytesMut) {
        assert!(self.stopped, "finished without Stop: {:?}", self.lines);
    }

    fn error(&mut self, _: &UpstreamError, _: &mut BytesMut) {}
}

/// What a client would read from the hub events [`EventLog`] wrote.
fn hub_events(bytes: &[u8]) -> Content {
    let mut c = Content::default();
    let mut tools: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for line in std::str::from_utf8(bytes).unwrap().lines() {
        let v = json(line);
        if let (Some(i), Some("tool")) = (v["open"].as_u64(), v["kind"].as_str()) {
            tools.insert(
                i,
                (
                    v["id"].as_str().unwrap().into(),
                    v["name"].as_str().unwrap().into(),
                    String::new(),
                ),
            );
        }
        if let Some(i) = v["delta"].as_u64() {
            let t = v["text"].as_str().unwrap();
            match v["kind"].as_str().unwrap() {
                "text" | "refusal" => c.text += t,
                "thinking" => c.thinking += t,
                "args" => tools.get_mut(&i).expect("args of a tool block").2 += t,
                _ => {}
            }
        }
        if let Some(u) = v.get("usage") {
            c.usage = Some(Norm {
                prompt: u["prompt"].as_u64(),
                completion: u["completion"].as_u64(),
                cached: u["cached"].as_u64(),
                reasoning: u["reasoning"].as_u64(),
            });
        }
        if let Some(r) = v["stop"].as_str() {
            c.stop = Some(match r {
                "MaxTokens" => StopClass::MaxTokens,
                "ToolUse" => StopClass::ToolUse,
                "ContentFilter" | "Refusal" => StopClass::Filtered,
                _ => StopClass::End,
            });
        }
    }
    c.calls = tools
        .into_values()
        .map(|(id, name, args)| Call {
            name,
            id: Some(id),
            args: args_value(&args),
        })
        .collect();
    c.finish()
}

fn is_pending(e: &UpstreamError) -> bool {
    e.status == 501 && e.message == "not implemented"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopClass {
    End,
    MaxTokens,
    ToolUse,
    Filtered,
}

/// Usage in OpenAI terms; `None` where the protocol does not report that number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Norm {
    prompt: Option<u64>,
    completion: Option<u64>,
    cached: Option<u64>,
    reasoning: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    id: Option<String>,
    args: Value,
}

/// What a client can read from an answer.
#[derive(Debug, Default)]
struct Content {
    text: String,
    thinking: String,
    calls: Vec<Call>,
    stop: Option<StopClass>,
    usage: Option<Norm>,
    error: Option<String>,
}

impl Content {
    fn finish(mut self) -> Self {
        // Protocols without a tool-use stop reason (Gemini) end a calling turn with STOP.
        if !self.calls.is_empty() && self.stop == Some(StopClass::End) {
            self.stop = Some(StopClass::ToolUse);
        }
        self
    }
}

// ---------- reference parsers ----------

/// SSE events of a complete body: (event name, data).
fn sse(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8(bytes.to_vec()).expect("SSE is UTF-8");
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut event, mut data, mut has) = (String::new(), Vec::new(), false);
        for line in block.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = value.to_owned(),
                "data" => {
                    data.push(value.to_owned());
                    has = true;
                }
                _ => {}
            }
        }
        if has {
            out.push((event, data.join("\n")));
        }
    }
    out
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn u(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn args_value(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        json(text)
    }
}

fn openai_usage(v: &Value) -> Norm {
    Norm {
        prompt: u(v, "prompt_tokens"),
        completion: u(v, "completion_tokens"),
        cached: v
            .pointer("/prompt_tokens_details/cached_tokens")
            .and_then(Value::as_u64),
        reasoning: v
            .pointer("/completion_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64),
    }
}

fn openai_stop(r: &str) -> StopClass {
    match r {
        "length" => StopClass::MaxTokens,
        "tool_calls" | "function_call" => StopClass::ToolUse,
        "content_filter" => StopClass::Filtered,
        _ => StopClass::End,
    }
}

fn choice0(v: &Value) -> Option<&Value> {
    v.get("choices")?
        .as_array()?
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

fn openai_chat(bytes: &[u8], stream: bool) -> Content {
    let mut c = Content::default();
    if !stream {
        let v = json(std::str::from_utf8(bytes).unwrap());
        if let Some(e) = v.get("error") {
            c.error = Some(e.to_string());
            return c;
        }
        let ch = choice0(&v).expect("choice 0");
        let m = &ch["message"];
        c.text += m["content"].as_str().unwrap_or("");
        c.text += m["refusal"].as_str().unwrap_or("");
        c.thinking += m["reasoning_content"].as_str().unwrap_or("");
        for tc in m["tool_calls"].as_array().into_iter().flatten() {
            c.calls.push(Call {
                name: tc["function"]["name"].as_str().unwrap().to_owned(),
                id: tc["id"].as_str().map(str::to_owned),
                args: args_value(tc["function"]["arguments"].as_str().unwrap_or("")),
            });
        }
        c.stop = ch["finish_reason"].as_str().map(openai_stop);
        c.usage = v.get("usage").filter(|u| !u.is_null()).map(openai_usage);
        return c.finish();
    }
    let mut calls: BTreeMap<u64, (Option<String>, String, String)> = BTreeMap::new();
    for (_, data) in sse(bytes) {
        if data.trim() == "[DONE]" {
            continue;
        }
        let v = json(&data);
        if let Some(e) = v.get("error") {
            c.error = Some(e.to_string());
            continue;
        }
        if let Some(us) = v.get("usage").filter(|u| !u.is_null()) {
            c.usage = Some(openai_usage(us));
        }
        let Some(ch) = choice0(&v) else { continue };
        let d = &ch["delta"];
        c.text += d["content"].as_str().unwrap_or("");
        c.text += d["refusal"].as_str().unwrap_or("");
        c.thinking += d["reasoning_content"].as_str().unwrap_or("");
        for (pos, tc) in d["tool_calls"].as_array().into_iter().flatten().enumerate() {
            let k = tc["index"].as_u64().unwrap_or(pos as u64);
            let e = calls.entry(k).or_default();
            if let Some(id) = tc["id"].as_str() {
                e.0 = Some(id.to_owned());
            }
            if let Some(n) = tc["function"]["name"].as_str() {
                e.1 += n;
            }
            e.2 += tc["function"]["arguments"].as_str().unwrap_or("");
        }
        if let Some(r) = ch["finish_reason"].as_str() {
            c.stop = Some(openai_stop(r));
        }
    }
    c.calls = calls
        .into_values()
        .map(|(id, name, args)| Call {
            name,
            id,
            args: args_value(&args),
        })
        .collect();
    c.finish()
}

fn anthropic_stop(r: &str) -> StopClass {
    match r {
        "max_tokens" => StopClass::MaxTokens,
        "tool_use" => StopClass::ToolUse,
        "refusal" => StopClass::Filtered,
        _ => StopClass::End,
    }
}

/// Anthropic usage fields seen so far (later events override the ones they carry).
fn anthropic_usage_merge(acc: &mut BTreeMap<String, u64>, v: &Value) {
    for key in [
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ] {
        if let Some(n) = u(v, key) {
            acc.insert(key.into(), n);
        }
    }
}

fn anthropic_norm(acc: &BTreeMap<String, u64>) -> Option<Norm> {
    if acc.is_empty() {
        return None;
    }
    let g = |k: &str| acc.get(k).copied().unwrap_or(0);
    Some(Norm {
        prompt: Some(
            g("input_tokens") + g("cache_read_input_tokens") + g("cache_creation_input_tokens"),
        ),
        completion: Some(g("output_tokens")),
        cached: Some(g("cache_read_input_tokens")),
        reasoning: None,
    })
}

fn anthropic(bytes: &[u8], stream: bool) -> Content {
    let mut c = Content::default();
    let mut usage = BTreeMap::new();
    if !stream {
        let v = json(std::str::from_utf8(bytes).unwrap());
        if v["type"] == "error" {
            c.error = Some(v["error"].to_string());
            return c;
        }
        for b in v["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("text") => c.text += b["text"].as_str().unwrap_or(""),
                Some("thinking") => c.thinking += b["thinking"].as_str().unwrap_or(""),
                Some("tool_use") => c.calls.push(Call {
                    name: b["name"].as_str().unwrap().to_owned(),
                    id: b["id"].as_str().map(str::to_owned),
                    args: b["input"].clone(),
                }),
                _ => {}
            }
        }
        c.stop = v["stop_reason"].as_str().map(anthropic_stop);
        anthropic_usage_merge(&mut usage, &v["usage"]);
        c.usage = anthropic_norm(&usage);
        return c.finish();
    }
    /// One content block: type, text, id, name, `input` at its start, `partial_json`.
    type AnthropicBlock = (String, String, Option<String>, String, Value, String);
    let mut blocks: BTreeMap<u64, AnthropicBlock> = BTreeMap::new();
    for (_, data) in sse(bytes) {
        let v = json(&data);
        match v["type"].as_str().unwrap_or("") {
            "message_start" => anthropic_usage_merge(&mut usage, &v["message"]["usage"]),
            "content_block_start" => {
                let b = &v["content_block"];
                blocks.insert(
                    v["index"].as_u64().unwrap(),
                    (
                        b["type"].as_str().unwrap_or("").to_owned(),
                        b["text"]
                            .as_str()
                            .or(b["thinking"].as_str())
                            .unwrap_or("")
                            .to_owned(),
                        b["id"].as_str().map(str::to_owned),
                        b["name"].as_str().unwrap_or("").to_owned(),
                        b["input"].clone(),
                        String::new(),
                    ),
                );
            }
            "content_block_delta" => {
                let b = blocks
                    .get_mut(&v["index"].as_u64().unwrap())
                    .expect("delta of an open block");
                let d = &v["delta"];
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => b.1 += d["text"].as_str().unwrap_or(""),
                    "thinking_delta" => b.1 += d["thinking"].as_str().unwrap_or(""),
                    "input_json_delta" => b.5 += d["partial_json"].as_str().unwrap_or(""),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    c.stop = Some(anthropic_stop(r));
                }
                anthropic_usage_merge(&mut usage, &v["usage"]);
            }
            "error" => c.error = Some(v["error"].to_string()),
            _ => {}
        }
    }
    for (ty, text, id, name, input, partial) in blocks.into_values() {
        match ty.as_str() {
            "text" => c.text += &text,
            "thinking" => c.thinking += &text,
            "tool_use" => c.calls.push(Call {
                name,
                id,
                args: if partial.trim().is_empty() {
                    if input.is_object() {
                        input
                    } else {
                        args_value("")
                    }
                } else {
                    json(&partial)
                },
            }),
            _ => {}
        }
    }
    c.usage = anthropic_norm(&usage);
    c.finish()
}

fn gemini_element(c: &mut Content, v: &Value) {
    if let Some(e) = v.get("error") {
        c.error = Some(e.to_string());
        return;
    }
    if v.pointer("/promptFeedback/blockReason").is_some() {
        c.stop = Some(StopClass::Filtered);
    }
    if let Some(um) = v.get("usageMetadata") {
        let thoughts = u(um, "thoughtsTokenCount");
        c.usage = Some(Norm {
            prompt: Some(
                u(um, "promptTokenCount").unwrap_or(0)
                    + u(um, "toolUsePromptTokenCount").unwrap_or(0),
            ),
            completion: Some(u(um, "candidatesTokenCount").unwrap_or(0) + thoughts.unwrap_or(0)),
            cached: Some(u(um, "cachedContentTokenCount").unwrap_or(0)),
            reasoning: Some(thoughts.unwrap_or(0)),
        });
    }
    let Some(cand) = v["candidates"].as_array().and_then(|a| {
        a.iter()
            .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
    }) else {
        return;
    };
    for p in cand["content"]["parts"].as_array().into_iter().flatten() {
        if let Some(t) = p["text"].as_str() {
            if p["thought"] == true {
                c.thinking += t;
            } else {
                c.text += t;
            }
        }
        if let Some(fc) = p.get("functionCall") {
            c.calls.push(Call {
                name: fc["name"].as_str().unwrap().to_owned(),
                id: fc["id"].as_str().map(str::to_owned),
                args: fc.get("args").cloned().unwrap_or_else(|| args_value("")),
            });
        }
    }
    if let Some(r) = cand["finishReason"].as_str() {
        c.stop = Some(match r {
            "STOP" | "FINISH_REASON_UNSPECIFIED" | "MALFORMED_FUNCTION_CALL" => StopClass::End,
            "MAX_TOKENS" => StopClass::MaxTokens,
            _ => StopClass::Filtered,
        });
    }
}

fn gemini(bytes: &[u8], stream: bool) -> Content {
    let mut c = Content::default();
    let text = std::str::from_utf8(bytes).unwrap();
    if stream && !text.trim_start().starts_with('[') {
        for (_, data) in sse(bytes) {
            gemini_element(&mut c, &json(&data));
        }
    } else {
        match json(text) {
            Value::Array(items) => items.iter().for_each(|v| gemini_element(&mut c, v)),
            v => gemini_element(&mut c, &v),
        }
    }
    c.finish()
}

fn responses_usage(v: &Value) -> Norm {
    Norm {
        prompt: u(v, "input_tokens"),
        completion: u(v, "output_tokens"),
        cached: v
            .pointer("/input_tokens_details/cached_tokens")
            .and_then(Value::as_u64),
        reasoning: v
            .pointer("/output_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64),
    }
}

fn responses_stop(resp: &Value) -> Option<StopClass> {
    match resp["status"].as_str()? {
        "incomplete" => Some(
            match resp
                .pointer("/incomplete_details/reason")
                .and_then(Value::as_str)
            {
                Some("max_output_tokens") => StopClass::MaxTokens,
                Some("content_filter") => StopClass::Filtered,
                _ => StopClass::End,
            },
        ),
        "completed" => Some(StopClass::End),
        _ => None,
    }
}

fn responses_output(c: &mut Content, resp: &Value, with_text: bool) {
    for item in resp["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") if with_text => {
                for part in item["content"].as_array().into_iter().flatten() {
                    c.text += part["text"]
                        .as_str()
                        .or(part["refusal"].as_str())
                        .unwrap_or("");
                }
            }
            Some("reasoning") if with_text => {
                for s in item["summary"].as_array().into_iter().flatten() {
                    c.thinking += s["text"].as_str().unwrap_or("");
                }
            }
            Some("function_call") => c.calls.push(Call {
                name: item["name"].as_str().unwrap().to_owned(),
                id: item["call_id"].as_str().map(str::to_owned),
                args: args_value(item["arguments"].as_str().unwrap_or("")),
            }),
            _ => {}
        }
    }
}

fn responses(bytes: &[u8], stream: bool) -> Content {
    let mut c = Content::default();
    if !stream {
        let v = json(std::str::from_utf8(bytes).unwrap());
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            c.error = Some(e.to_string());
            return c;
        }
        responses_output(&mut c, &v, true);
        c.stop = responses_stop(&v);
        c.usage = v.get("usage").filter(|u| !u.is_null()).map(responses_usage);
        return c.finish();
    }
    for (_, data) in sse(bytes) {
        if data.trim() == "[DONE]" {
            continue;
        }
        let v = json(&data);
        match v["type"].as_str().unwrap_or("") {
            "response.output_text.delta" | "response.refusal.delta" => {
                c.text += v["delta"].as_str().unwrap_or("")
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                c.thinking += v["delta"].as_str().unwrap_or("")
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let r = &v["response"];
                responses_output(&mut c, r, false);
                c.stop = responses_stop(r);
                c.usage = r.get("usage").filter(|u| !u.is_null()).map(responses_usage);
                if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
                    c.error = Some(e.to_string());
                }
            }
            "error" => c.error = Some(data.clone()),
            _ => {}
        }
    }
    c.finish()
}

fn read(p: Protocol, bytes: &[u8], stream: bool) -> Content {
    match p {
        Protocol::OpenAi | Protocol::Echo => openai_chat(bytes, stream),
        Protocol::Anthropic => anthropic(bytes, stream),
        Protocol::Gemini => gemini(bytes, stream),
        Protocol::OpenAiResponses => responses(bytes, stream),
    }
}

// ---------- comparison ----------

fn same_usage(want: &Norm, got: &Norm) -> Result<(), String> {
    for (what, a, b) in [
        ("prompt", want.prompt, got.prompt),
        ("completion", want.completion, got.completion),
        ("cached", want.cached, got.cached),
        ("reasoning", want.reasoning, got.reasoning),
    ] {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                return Err(format!("usage {what}: recording {a}, client {b}"));
            }
        }
    }
    Ok(())
}

fn compare(want: &Content, got: &Content) -> Result<(), String> {
    if want.text != got.text {
        return Err(format!(
            "text: recording {:?}, client {:?}",
            want.text, got.text
        ));
    }
    if !want.thinking.is_empty() && !got.thinking.is_empty() && want.thinking != got.thinking {
        return Err(format!(
            "thinking: recording {:?}, client {:?}",
            want.thinking, got.thinking
        ));
    }
    if want.calls.len() != got.calls.len() {
        return Err(format!(
            "tool calls: recording {:?}, client {:?}",
            want.calls, got.calls
        ));
    }
    for (a, b) in want.calls.iter().zip(&got.calls) {
        if a.name != b.name || a.args != b.args {
            return Err(format!("tool call: recording {a:?}, client {b:?}"));
        }
        if let (Some(x), Some(y)) = (&a.id, &b.id) {
            if x != y {
                return Err(format!("tool call id: recording {x}, client {y}"));
            }
        }
    }
    if let (Some(a), Some(b)) = (want.stop, got.stop) {
        if a != b {
            return Err(format!("stop: recording {a:?}, client {b:?}"));
        }
    }
    match (&want.usage, &got.usage) {
        (Some(a), Some(b)) => same_usage(a, b)?,
        (Some(_), None) => return Err("usage: the client saw none".into()),
        _ => {}
    }
    if got.error.is_some() && want.error.is_none() {
        return Err(format!("client saw an error: {:?}", got.error));
    }
    Ok(())
}

enum Outcome {
    Checked,
    ConsistentError(String),
    SkippedDecoder,
    SkippedEncoder,
}

fn check_pair(rec: &Recording, client: Client, want: &Content) -> Result<Outcome, String> {
    let (whole, result) = translate(rec, client, &[]);
    if let Err(e) = &result {
        if is_pending(e) {
            return Ok(Outcome::SkippedDecoder);
        }
    }
    if result.is_ok() && whole.is_empty() {
        return Ok(Outcome::SkippedEncoder);
    }
    // (a) the same bytes and result wherever the input is cut.
    for cut in 0..=rec.body.len() {
        let (out, r) = translate(rec, client, &[cut]);
        if out != whole || r != result {
            return Err(format!(
                "split at {cut}: output differs from the whole feed (result {r:?} vs {result:?})"
            ));
        }
    }
    // (b) the client reads what the recording says.
    if let Err(e) = result {
        let has_content = !want.text.is_empty() || !want.calls.is_empty();
        if has_content && want.error.is_none() {
            return Err(format!(
                "translation failed on an answer with content: {e:?}"
            ));
        }
        return Ok(Outcome::ConsistentError(e.message));
    }
    let got = std::panic::catch_unwind(|| match client {
        Client::Protocol(p) => read(p, &whole, rec.stream),
        Client::Events => hub_events(&whole),
    })
    .map_err(|_| {
        format!(
            "output does not parse as {client:?}: {}",
            String::from_utf8_lossy(&whole)
        )
    })?;
    compare(want, &got)
        .map_err(|e| format!("{e}\n  output: {}", String::from_utf8_lossy(&whole)))?;
    Ok(Outcome::Checked)
}

#[test]
fn every_recording_to_every_client() {
    let Some(recordings) = all_recordings() else {
        return;
    };
    let mut failures = Vec::new();
    let (mut checked, mut skipped) = (0, 0);
    for rec in &recordings {
        let want = read(rec.upstream, &rec.body, rec.stream);
        for client in CLIENTS {
            let label = format!(
                "{} → {}{}",
                rec.name,
                match client {
                    Client::Protocol(p) => format!("{p:?}"),
                    Client::Events => "hub events".into(),
                },
                if rec.stream { " (stream)" } else { "" }
            );
            match check_pair(rec, client, &want) {
                Ok(Outcome::Checked) => {
                    checked += 1;
                    loud(&format!("ok       {label}"));
                }
                Ok(Outcome::ConsistentError(m)) => {
                    checked += 1;
                    loud(&format!(
                        "ok       {label} (upstream error, same at every split: {m})"
                    ));
                }
                Ok(Outcome::SkippedDecoder) => {
                    skipped += 1;
                    loud(&format!(
                        "SKIPPED  {label}: {:?} decoder not written yet",
                        rec.upstream
                    ));
                }
                Ok(Outcome::SkippedEncoder) => {
                    skipped += 1;
                    loud(&format!("SKIPPED  {label}: client encoder not written yet"));
                }
                Err(e) => {
                    loud(&format!("FAILED   {label}: {e}"));
                    failures.push(format!("{label}: {e}"));
                }
            }
        }
    }
    loud(&format!(
        "hub matrix: {checked} pairs checked, {skipped} SKIPPED (adapters pending), {} failed",
        failures.len()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The reference parsers themselves read the recordings as the fixture README says.
#[test]
fn reference_parsers_read_the_recordings() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let r = |p: Protocol, name: &str, stream: bool| read(p, &common::read(&dir, name), stream);
    let c = r(
        Protocol::OpenAi,
        "openai/chat_stream_tool_calls_parallel.sse",
        true,
    );
    assert_eq!(c.calls.len(), 2);
    assert_eq!(c.calls[0].name, "GetWeatherArgs");
    assert_eq!(c.stop, Some(StopClass::ToolUse));
    assert!(c.usage.is_some());
    let c = r(Protocol::OpenAi, "openai/chat_stream_refusal.sse", true);
    assert!(c.text.starts_with("I'm sorry"), "{}", c.text);
    let c = r(Protocol::OpenAi, "openai/chat_n3_choices.json", false);
    assert!(!c.text.is_empty());
    let c = r(
        Protocol::Anthropic,
        "anthropic/messages_stream_parallel_tool_use_no_args.sse",
        true,
    );
    assert_eq!(c.calls.len(), 2);
    assert_eq!(c.calls[0].args, serde_json::json!({}));
    let c = r(
        Protocol::Anthropic,
        "anthropic/messages_stream_thinking.sse",
        true,
    );
    assert!(!c.thinking.is_empty() && !c.text.is_empty());
    let c = r(
        Protocol::Gemini,
        "gemini/stream_json_array_thinking_tool_call.json",
        true,
    );
    assert_eq!(c.calls.len(), 1);
    assert_eq!(c.stop, Some(StopClass::ToolUse));
    let c = r(Protocol::Gemini, "gemini/stream_prompt_blocked.sse", true);
    assert_eq!(c.stop, Some(StopClass::Filtered));
}

/// The comparison catches what a lossy client encoder would do: a dropped text delta, a
/// changed argument, a missing usage.
#[test]
fn comparison_catches_losses() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let rec = Recording {
        name: "openai/chat_stream_tool_calls_parallel.sse".into(),
        upstream: Protocol::OpenAi,
        stream: true,
        body: common::read(&dir, "openai/chat_stream_tool_calls_parallel.sse"),
    };
    let want = read(rec.upstream, &rec.body, true);
    let (events, r) = translate(&rec, Client::Events, &[]);
    r.unwrap();
    let events = String::from_utf8(events).unwrap();
    compare(&want, &hub_events(events.as_bytes())).unwrap();
    let lossy = |f: &dyn Fn(&str) -> Option<String>| -> String {
        events.lines().filter_map(f).map(|l| l + "\n").collect()
    };
    let dropped_args =
        lossy(&|l| (!(l.contains("\"args\"") && l.contains("urgh"))).then(|| l.to_owned()));
    assert!(compare(&want, &hub_events(dropped_args.as_bytes())).is_err());
    let no_usage = lossy(&|l| (!l.contains("\"usage\"")).then(|| l.to_owned()));
    assert!(compare(&want, &hub_events(no_usage.as_bytes())).is_err());
    let renamed = lossy(&|l| Some(l.replace("get_stock_price", "get_stock")));
    assert!(compare(&want, &hub_events(renamed.as_bytes())).is_err());
    let text = read(
        Protocol::OpenAi,
        &common::read(&dir, "openai/chat_stream_text_usage.sse"),
        true,
    );
    let mut cut = Content {
        text: text.text.clone(),
        usage: text.usage,
        stop: text.stop,
        ..Content::default()
    };
    compare(&text, &cut).unwrap();
    cut.text.pop();
    assert!(compare(&text, &cut).is_err());
}
