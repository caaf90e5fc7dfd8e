//! The built-in `echo` provider: answers locally and deterministically with the last user
//! message, streamed word by word with configurable pacing. It lets `sluice up` answer with
//! no provider key at all and gives smoke and load tests a gateway-only path.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::chat_request::{write_json_str, ChatRequest};

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow)]
    role: &'a str,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

fn content_text(raw: Option<&RawValue>) -> String {
    let Some(raw) = raw else { return String::new() };
    if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        return s;
    }
    serde_json::from_str::<Vec<Part>>(raw.get())
        .map(|parts| {
            parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A computed echo answer.
pub struct EchoAnswer {
    /// The words of the answer, in order (each includes its leading space but the first).
    pub pieces: Vec<String>,
    /// Prompt "tokens" (words across all messages).
    pub prompt_tokens: u64,
    /// Completion "tokens" (words of the answer).
    pub completion_tokens: u64,
}

/// Computes the answer for a request: the last user message, prefixed with `Echo: `.
pub fn answer(req: &ChatRequest) -> EchoAnswer {
    let msgs: Vec<Msg> = req
        .raw_field("messages")
        .and_then(|m| serde_json::from_slice(m).ok())
        .unwrap_or_default();
    let prompt_tokens = msgs
        .iter()
        .map(|m| content_text(m.content).split_whitespace().count() as u64)
        .sum();
    let last = msgs
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| content_text(m.content))
        .unwrap_or_default();
    let text = format!("Echo: {}", last.chars().take(8192).collect::<String>());
    let mut pieces = Vec::new();
    for (i, w) in text.split(' ').enumerate() {
        pieces.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    let completion_tokens = pieces.len() as u64;
    EchoAnswer {
        pieces,
        prompt_tokens,
        completion_tokens,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn usage_json(out: &mut BytesMut, a: &EchoAnswer) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b"{\"prompt_tokens\":");
    out.extend_from_slice(b.format(a.prompt_tokens).as_bytes());
    out.extend_from_slice(b",\"completion_tokens\":");
    out.extend_from_slice(b.format(a.completion_tokens).as_bytes());
    out.extend_from_slice(b",\"total_tokens\":");
    out.extend_from_slice(b.format(a.prompt_tokens + a.completion_tokens).as_bytes());
    out.put_u8(b'}');
}

/// Non-streamed chat.completion body.
pub fn completion(a: &EchoAnswer, id: &str, model: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.extend_from_slice(b"{\"id\":");
    write_json_str(&mut out, id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    out.extend_from_slice(itoa::Buffer::new().format(now()).as_bytes());
    out.extend_from_slice(b",\"model\":");
    write_json_str(&mut out, model);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    write_json_str(&mut out, &a.pieces.concat());
    out.extend_from_slice(b"},\"finish_reason\":\"stop\"}],\"usage\":");
    usage_json(&mut out, a);
    out.put_u8(b'}');
    out.freeze()
}

/// Streamed answer as OpenAI SSE events: role chunk, one chunk per word, finish chunk,
/// optional usage chunk, `[DONE]`.
pub fn stream_events(a: &EchoAnswer, id: &str, model: &str, include_usage: bool) -> Vec<Bytes> {
    let created = now();
    let head = |out: &mut BytesMut| {
        out.extend_from_slice(b"data: {\"id\":");
        write_json_str(out, id);
        out.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
        out.extend_from_slice(b",\"model\":");
        write_json_str(out, model);
    };
    let mut events = Vec::with_capacity(a.pieces.len() + 4);
    let mut out = BytesMut::new();
    head(&mut out);
    out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
    events.push(out.split().freeze());
    for p in &a.pieces {
        head(&mut out);
        out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
        write_json_str(&mut out, p);
        out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
        events.push(out.split().freeze());
    }
    head(&mut out);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    events.push(out.split().freeze());
    if include_usage {
        head(&mut out);
        out.extend_from_slice(b",\"choices\":[],\"usage\":");
        usage_json(&mut out, a);
        out.extend_from_slice(b"}\n\n");
        events.push(out.split().freeze());
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_last_user_message() {
        let req = ChatRequest::parse(Bytes::from_static(
            br#"{"model":"echo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}"#,
        ))
        .unwrap();
        let a = answer(&req);
        assert_eq!(a.pieces.concat(), "Echo: hello there");
        assert_eq!(a.prompt_tokens, 4);
        let v: serde_json::Value = serde_json::from_slice(&completion(&a, "id1", "echo")).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Echo: hello there");
        assert_eq!(v["usage"]["total_tokens"], 7);
        let ev = stream_events(&a, "id1", "echo", true);
        assert_eq!(ev.len(), 1 + 3 + 1 + 1 + 1);
        for e in &ev[..ev.len() - 1] {
            let body = e
                .strip_prefix(b"data: ")
                .unwrap()
                .strip_suffix(b"\n\n")
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(body).unwrap();
        }
    }
}
