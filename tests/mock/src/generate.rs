//! Synthesized responses of each flavor.
//!
//! Everything but the echoed model name is rendered once, when a rule is compiled, into a
//! [`Template`]; a request only copies the pieces into one buffer and splits it into events.

use bytes::{Bytes, BytesMut};

use crate::flavor::Flavor;

/// Prompt token count reported by generated responses (fixed, so tests can assert it).
pub const PROMPT_TOKENS: u64 = 10;

/// Stands for the JSON-encoded model name inside a rendered template string.
const MODEL_SLOT: &str = "\u{0}MODEL\u{0}";

/// One piece of an event: literal bytes or the request's model (already JSON-encoded).
#[derive(Debug, Clone)]
enum Piece {
    Literal(Bytes),
    Model,
}

/// A response body as a list of events (stream chunks); a non-stream body is one event.
#[derive(Debug, Clone)]
pub struct Template {
    events: Vec<Vec<Piece>>,
    literal_len: usize,
    model_slots: usize,
}

impl Template {
    fn new(events: Vec<String>) -> Self {
        let mut literal_len = 0;
        let mut model_slots = 0;
        let events = events
            .into_iter()
            .map(|event| {
                let mut pieces = Vec::new();
                for (i, part) in event.split(MODEL_SLOT).enumerate() {
                    if i > 0 {
                        pieces.push(Piece::Model);
                        model_slots += 1;
                    }
                    if !part.is_empty() {
                        literal_len += part.len();
                        pieces.push(Piece::Literal(Bytes::copy_from_slice(part.as_bytes())));
                    }
                }
                pieces
            })
            .collect();
        Self {
            events,
            literal_len,
            model_slots,
        }
    }

    /// Renders the events with `model_json` (a JSON string literal, quotes included) in
    /// every model slot: one allocation, events split off it without copying.
    pub fn render(&self, model_json: &[u8]) -> Vec<Bytes> {
        let mut buf =
            BytesMut::with_capacity(self.literal_len + self.model_slots * model_json.len());
        let mut lens = Vec::with_capacity(self.events.len());
        for event in &self.events {
            let start = buf.len();
            for piece in event {
                match piece {
                    Piece::Literal(bytes) => buf.extend_from_slice(bytes),
                    Piece::Model => buf.extend_from_slice(model_json),
                }
            }
            lens.push(buf.len() - start);
        }
        let mut all = buf.freeze();
        lens.into_iter().map(|len| all.split_to(len)).collect()
    }
}

/// How a generated answer looks: `chunks` text deltas, each `chunk_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Number of text deltas in a stream (the non-stream text is them concatenated).
    pub chunks: u32,
    /// Text of each delta.
    pub chunk_text: String,
    /// Identifier placed in the response ids (the mock's `--name`).
    pub id: String,
}

/// All precomputed generated bodies for one [`GenerateSpec`].
#[derive(Debug, Clone)]
pub struct Generated {
    openai_json: Template,
    openai_stream: Template,
    openai_stream_usage: Template,
    anthropic_json: Template,
    anthropic_stream: Template,
    gemini_json: Template,
    gemini_sse: Template,
    gemini_array: Template,
    responses_json: Template,
    responses_stream: Template,
}

/// Which shape of generated body a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON object.
    Json,
    /// Server-sent events; `usage` asks for OpenAI's final usage chunk.
    Sse {
        /// OpenAI `stream_options.include_usage`.
        usage: bool,
    },
    /// Gemini `streamGenerateContent` without `alt=sse`: one JSON array.
    JsonArray,
}

impl Generated {
    /// Renders every flavor's bodies for `spec`.
    pub fn new(spec: &GenerateSpec) -> Self {
        let text = json_string(&spec.chunk_text);
        let full_text = json_string(&spec.chunk_text.repeat(spec.chunks as usize));
        let id = &spec.id;
        let n = spec.chunks;
        Self {
            openai_json: Template::new(vec![openai_json(id, &full_text, n)]),
            openai_stream: Template::new(openai_stream(id, &text, n, false)),
            openai_stream_usage: Template::new(openai_stream(id, &text, n, true)),
            anthropic_json: Template::new(vec![anthropic_json(id, &full_text, n)]),
            anthropic_stream: Template::new(anthropic_stream(id, &text, n)),
            gemini_json: Template::new(vec![gemini_object(id, &full_text, n, true)]),
            gemini_sse: Template::new(
                gemini_stream_objects(id, &text, n)
                    .into_iter()
                    .map(|obj| format!("data: {obj}\r\n\r\n"))
                    .collect(),
            ),
            gemini_array: Template::new(gemini_array(gemini_stream_objects(id, &text, n))),
            responses_json: Template::new(vec![responses_object(
                id,
                "completed",
                &format!(
                    "[{}]",
                    responses_message_item(
                        id,
                        "completed",
                        &format!("[{}]", output_text_part(&full_text)),
                    )
                ),
                &responses_usage(n),
            )]),
            responses_stream: Template::new(responses_stream(id, &text, &full_text, n)),
        }
    }

    /// The template for a flavor and shape.
    pub fn template(&self, flavor: Flavor, shape: Shape) -> &Template {
        match (flavor, shape) {
            (Flavor::Openai, Shape::Json) => &self.openai_json,
            (Flavor::Openai, Shape::Sse { usage: false }) => &self.openai_stream,
            (Flavor::Openai, Shape::Sse { usage: true }) => &self.openai_stream_usage,
            (Flavor::Openai, Shape::JsonArray) => &self.openai_json,
            (Flavor::Anthropic, Shape::Json | Shape::JsonArray) => &self.anthropic_json,
            (Flavor::Anthropic, Shape::Sse { .. }) => &self.anthropic_stream,
            (Flavor::Gemini, Shape::Json) => &self.gemini_json,
            (Flavor::Gemini, Shape::Sse { .. }) => &self.gemini_sse,
            (Flavor::Gemini, Shape::JsonArray) => &self.gemini_array,
            (Flavor::Responses, Shape::Json | Shape::JsonArray) => &self.responses_json,
            (Flavor::Responses, Shape::Sse { .. }) => &self.responses_stream,
        }
    }
}

/// Encodes `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

const CREATED: u64 = 1_700_000_000;

fn openai_json(id: &str, full_text: &str, n: u32) -> String {
    let total = PROMPT_TOKENS + u64::from(n);
    format!(
        r#"{{"id":"chatcmpl-{id}","object":"chat.completion","created":{CREATED},"model":{MODEL_SLOT},"choices":[{{"index":0,"message":{{"role":"assistant","content":{full_text},"refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{PROMPT_TOKENS},"completion_tokens":{n},"total_tokens":{total}}},"system_fingerprint":"fp_mock"}}"#
    )
}

fn openai_stream(id: &str, text: &str, n: u32, usage: bool) -> Vec<String> {
    let head = format!(
        r#"{{"id":"chatcmpl-{id}","object":"chat.completion.chunk","created":{CREATED},"model":{MODEL_SLOT},"system_fingerprint":"fp_mock","choices":"#
    );
    let usage_null = if usage { r#","usage":null"# } else { "" };
    let mut events = Vec::with_capacity(n as usize + 4);
    events.push(format!(
        "data: {head}[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}\n\n"
    ));
    for _ in 0..n {
        events.push(format!(
            "data: {head}[{{\"index\":0,\"delta\":{{\"content\":{text}}},\"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}\n\n"
        ));
    }
    events.push(format!(
        "data: {head}[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]{usage_null}}}\n\n"
    ));
    if usage {
        let total = PROMPT_TOKENS + u64::from(n);
        events.push(format!(
            "data: {head}[],\"usage\":{{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{n},\"total_tokens\":{total}}}}}\n\n"
        ));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

fn anthropic_json(id: &str, full_text: &str, n: u32) -> String {
    format!(
        r#"{{"id":"msg_{id}","type":"message","role":"assistant","model":{MODEL_SLOT},"content":[{{"type":"text","text":{full_text}}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{PROMPT_TOKENS},"output_tokens":{n}}}}}"#
    )
}

fn anthropic_stream(id: &str, text: &str, n: u32) -> Vec<String> {
    let sse = |event: &str, data: String| format!("event: {event}\ndata: {data}\n\n");
    let mut events = Vec::with_capacity(n as usize + 6);
    events.push(sse(
        "message_start",
        format!(
            r#"{{"type":"message_start","message":{{"id":"msg_{id}","type":"message","role":"assistant","model":{MODEL_SLOT},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{PROMPT_TOKENS},"output_tokens":1}}}}}}"#
        ),
    ));
    events.push(sse(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
            .to_owned(),
    ));
    events.push(sse("ping", r#"{"type": "ping"}"#.to_owned()));
    for _ in 0..n {
        events.push(sse(
            "content_block_delta",
            format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{text}}}}}"#
            ),
        ));
    }
    events.push(sse(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#.to_owned(),
    ));
    events.push(sse(
        "message_delta",
        format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{n}}}}}"#
        ),
    ));
    events.push(sse("message_stop", r#"{"type":"message_stop"}"#.to_owned()));
    events
}

/// One Gemini response object; `last` carries `finishReason` and the final usage.
fn gemini_object(id: &str, text: &str, completion_tokens: u32, last: bool) -> String {
    let (finish, usage) = if last {
        let total = PROMPT_TOKENS + u64::from(completion_tokens);
        (
            r#","finishReason":"STOP""#.to_owned(),
            format!(
                r#"{{"promptTokenCount":{PROMPT_TOKENS},"candidatesTokenCount":{completion_tokens},"totalTokenCount":{total}}}"#
            ),
        )
    } else {
        (
            String::new(),
            format!(r#"{{"promptTokenCount":{PROMPT_TOKENS},"totalTokenCount":{PROMPT_TOKENS}}}"#),
        )
    };
    format!(
        r#"{{"candidates":[{{"content":{{"parts":[{{"text":{text}}}],"role":"model"}}{finish},"index":0}}],"usageMetadata":{usage},"modelVersion":{MODEL_SLOT},"responseId":"{id}"}}"#
    )
}

fn gemini_stream_objects(id: &str, text: &str, n: u32) -> Vec<String> {
    if n == 0 {
        return vec![gemini_object(id, "\"\"", 0, true)];
    }
    (0..n)
        .map(|i| gemini_object(id, text, n, i + 1 == n))
        .collect()
}

/// Gemini's non-SSE stream: `[obj` then `,\r\nobj` ... then `]`, one element per event.
fn gemini_array(objects: Vec<String>) -> Vec<String> {
    let count = objects.len();
    objects
        .into_iter()
        .enumerate()
        .map(|(i, obj)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == count { "]" } else { "" };
            format!("{open}{obj}{close}")
        })
        .collect()
}

/// An OpenAI Responses `response` object with `output` (a JSON array) and `usage`
/// (a JSON value, `null` while in progress).
fn responses_object(id: &str, status: &str, output: &str, usage: &str) -> String {
    format!(
        r#"{{"id":"resp_{id}","object":"response","created_at":{CREATED},"status":"{status}","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":{MODEL_SLOT},"output":{output},"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{{"effort":null,"summary":null}},"store":false,"temperature":1.0,"text":{{"format":{{"type":"text"}}}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{usage},"user":null,"metadata":{{}}}}"#
    )
}

/// The assistant `message` output item holding `content` (a JSON array).
fn responses_message_item(id: &str, status: &str, content: &str) -> String {
    format!(
        r#"{{"id":"msg_{id}","type":"message","status":"{status}","content":{content},"role":"assistant"}}"#
    )
}

/// An `output_text` content part.
fn output_text_part(text: &str) -> String {
    format!(r#"{{"type":"output_text","annotations":[],"text":{text}}}"#)
}

fn responses_usage(n: u32) -> String {
    let total = PROMPT_TOKENS + u64::from(n);
    format!(
        r#"{{"input_tokens":{PROMPT_TOKENS},"input_tokens_details":{{"cached_tokens":0}},"output_tokens":{n},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{total}}}"#
    )
}

/// The Responses event sequence of a text answer: created, in_progress, the message item
/// and its text part opened, `n` text deltas, everything closed, completed (with usage).
fn responses_stream(id: &str, text: &str, full_text: &str, n: u32) -> Vec<String> {
    let mut seq = 0u32;
    let mut event = |kind: &str, fields: String| {
        let e = format!(
            "event: {kind}\ndata: {{\"type\":\"{kind}\",\"sequence_number\":{seq},{fields}}}\n\n"
        );
        seq += 1;
        e
    };
    let item_id = format!("msg_{id}");
    let mut events = Vec::with_capacity(n as usize + 8);
    let pending = responses_object(id, "in_progress", "[]", "null");
    events.push(event(
        "response.created",
        format!(r#""response":{pending}"#),
    ));
    events.push(event(
        "response.in_progress",
        format!(r#""response":{pending}"#),
    ));
    events.push(event(
        "response.output_item.added",
        format!(
            r#""output_index":0,"item":{}"#,
            responses_message_item(id, "in_progress", "[]")
        ),
    ));
    events.push(event(
        "response.content_part.added",
        format!(
            r#""item_id":"{item_id}","output_index":0,"content_index":0,"part":{}"#,
            output_text_part("\"\"")
        ),
    ));
    for _ in 0..n {
        events.push(event(
            "response.output_text.delta",
            format!(r#""item_id":"{item_id}","output_index":0,"content_index":0,"delta":{text},"logprobs":[]"#),
        ));
    }
    events.push(event(
        "response.output_text.done",
        format!(r#""item_id":"{item_id}","output_index":0,"content_index":0,"text":{full_text},"logprobs":[]"#),
    ));
    let part = output_text_part(full_text);
    events.push(event(
        "response.content_part.done",
        format!(r#""item_id":"{item_id}","output_index":0,"content_index":0,"part":{part}"#),
    ));
    let item = responses_message_item(id, "completed", &format!("[{part}]"));
    events.push(event(
        "response.output_item.done",
        format!(r#""output_index":0,"item":{item}"#),
    ));
    let done = responses_object(id, "completed", &format!("[{item}]"), &responses_usage(n));
    events.push(event("response.completed", format!(r#""response":{done}"#)));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(chunks: u32) -> Generated {
        Generated::new(&GenerateSpec {
            chunks,
            chunk_text: "hi \"x\" ".to_owned(),
            id: "mock".to_owned(),
        })
    }

    fn concat(events: &[Bytes]) -> String {
        events
            .iter()
            .map(|e| std::str::from_utf8(e).unwrap())
            .collect()
    }

    #[test]
    fn json_bodies_parse_and_echo_model() {
        let g = spec(3);
        for flavor in [
            Flavor::Openai,
            Flavor::Anthropic,
            Flavor::Gemini,
            Flavor::Responses,
        ] {
            let events = g.template(flavor, Shape::Json).render(br#""m-1""#);
            assert_eq!(events.len(), 1);
            let v: serde_json::Value = serde_json::from_slice(&events[0]).unwrap();
            let model = v.get("model").or_else(|| v.get("modelVersion")).unwrap();
            assert_eq!(model, "m-1");
        }
    }

    #[test]
    fn openai_stream_framing() {
        let g = spec(4);
        let events = g
            .template(Flavor::Openai, Shape::Sse { usage: true })
            .render(br#""gpt""#);
        assert_eq!(events.len(), 1 + 4 + 1 + 1 + 1);
        assert_eq!(&events[events.len() - 1][..], b"data: [DONE]\n\n");
        for event in &events[..events.len() - 1] {
            let s = std::str::from_utf8(event).unwrap();
            let json = s
                .strip_prefix("data: ")
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            serde_json::from_str::<serde_json::Value>(json).unwrap();
        }
        let usage = &events[events.len() - 2];
        assert!(std::str::from_utf8(usage)
            .unwrap()
            .contains(r#""completion_tokens":4"#));
    }

    #[test]
    fn gemini_array_is_one_json_array() {
        let g = spec(3);
        let events = g
            .template(Flavor::Gemini, Shape::JsonArray)
            .render(br#""g""#);
        let v: serde_json::Value = serde_json::from_str(&concat(&events)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
        let sse = concat(
            &g.template(Flavor::Gemini, Shape::Sse { usage: false })
                .render(b"\"g\""),
        );
        assert_eq!(sse.matches("\r\n\r\n").count(), 3);
    }

    #[test]
    fn responses_stream_is_a_complete_event_sequence() {
        let g = spec(3);
        let events = g
            .template(Flavor::Responses, Shape::Sse { usage: false })
            .render(br#""r-1""#);
        assert_eq!(events.len(), 4 + 3 + 4);
        let mut text = String::new();
        for (i, event) in events.iter().enumerate() {
            let s = std::str::from_utf8(event).unwrap();
            let (head, data) = s.split_once('\n').unwrap();
            let kind = head.strip_prefix("event: ").unwrap();
            let json = data
                .strip_prefix("data: ")
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(v["type"], kind);
            assert_eq!(v["sequence_number"], i as u64);
            if kind == "response.output_text.delta" {
                text.push_str(v["delta"].as_str().unwrap());
            }
            if kind == "response.completed" {
                assert_eq!(v["response"]["model"], "r-1");
                assert_eq!(v["response"]["usage"]["output_tokens"], 3);
                assert_eq!(v["response"]["output"][0]["content"][0]["text"], text);
            }
        }
        assert_eq!(text, "hi \"x\" ".repeat(3));
    }
}
