use std::fmt::Write as _;

use super::*;
use crate::hub::{Block, Delta, Event, Sink};

/// Renders events as one line each, strings as their escaped bytes.
#[derive(Default)]
struct Trace(String);

fn s(e: &crate::hub::Escaped<'_>) -> String {
    String::from_utf8_lossy(e.raw()).into_owned()
}

impl Sink for Trace {
    fn event(&mut self, ev: Event<'_>) {
        let line = match ev {
            Event::Start { id, model } => format!(
                "start {} {}",
                id.map_or("-".into(), |i| s(&i)),
                model.map_or("-".into(), |m| s(&m))
            ),
            Event::BlockStart { index, block } => match block {
                Block::Text => format!("open {index} text"),
                Block::Thinking => format!("open {index} thinking"),
                Block::Refusal => format!("open {index} refusal"),
                Block::ToolCall { id, name } => {
                    format!("open {index} tool {} {}", s(&id), s(&name))
                }
                Block::RedactedThinking { .. } => format!("open {index} redacted"),
            },
            Event::Delta { index, delta } => match delta {
                Delta::Text(t) => format!("text {index} {}", s(&t)),
                Delta::Thinking(t) => format!("thinking {index} {}", s(&t)),
                Delta::Refusal(t) => format!("refusal {index} {}", s(&t)),
                Delta::Arguments(t) => format!("args {index} {}", s(&t)),
                Delta::Signature(t) => format!("signature {index} {}", s(&t)),
            },
            Event::BlockStop { index } => format!("stop {index}"),
            Event::Usage(u) => format!(
                "usage {} {} {} cached={} reasoning={}",
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            Event::Stop { reason, .. } => format!("end {reason:?}"),
        };
        let _ = writeln!(self.0, "{line}");
    }
}

fn run(stream: bool, input: &[u8], cuts: &[usize]) -> (String, Result<(), crate::UpstreamError>) {
    let mut d = decoder(stream);
    let mut t = Trace::default();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        if let Err(e) = d.feed(&input[prev..cut], &mut t) {
            return (t.0, Err(e));
        }
        prev = cut;
    }
    let r = d.finish(&mut t);
    (t.0, r)
}

/// Decodes whole, then split at every offset and byte by byte: all the same.
fn decode_everywhere(stream: bool, input: &[u8]) -> (String, Result<(), crate::UpstreamError>) {
    let whole = run(stream, input, &[]);
    for cut in 0..=input.len() {
        assert_eq!(run(stream, input, &[cut]), whole, "split at {cut}");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(stream, input, &bytes), whole, "byte by byte");
    whole
}

fn chunk(choice: &str) -> String {
    format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-x\",\"choices\":[{choice}]}}\n\n")
}

#[test]
fn text_stream_with_usage() {
    let mut input = chunk(
        r#"{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}"#,
    );
    input +=
        &chunk(r#"{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}"#);
    input += &chunk(
        r#"{"index":0,"delta":{"content":"lo \"you\"\n"},"logprobs":null,"finish_reason":null}"#,
    );
    input +=
        &chunk(r#"{"index":0,"delta":{"content":"\u00e9"},"logprobs":null,"finish_reason":null}"#);
    input += &chunk(r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}"#);
    input += "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-x\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\ndata: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-1 gpt-x\nopen 0 text\ntext 0 Hel\ntext 0 lo \\\"you\\\"\\n\ntext 0 \\u00e9\nstop 0\nusage 10 5 15 cached=4 reasoning=2\nend EndTurn\n"
    );
}

#[test]
fn reasoning_then_text_then_parallel_interleaved_tools() {
    let mut input = chunk(
        r#"{"index":0,"delta":{"role":"assistant","reasoning_content":"think"},"finish_reason":null}"#,
    );
    input += &chunk(r#"{"index":0,"delta":{"reasoning":" more"},"finish_reason":null}"#);
    input += &chunk(r#"{"index":0,"delta":{"content":"ok"},"finish_reason":null}"#);
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"fa","arguments":""}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"fb","arguments":"{\"b\":"}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]},"finish_reason":null}"#,
    );
    input += &chunk(r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#);
    input += "data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-1 gpt-x\nopen 0 thinking\nthinking 0 think\nthinking 0  more\nstop 0\nopen 1 text\ntext 1 ok\nstop 1\n\
open 2 tool call_a fa\nopen 3 tool call_b fb\nargs 3 {\\\"b\\\":\nargs 2 {\\\"a\\\":1}\nargs 3 2}\nstop 2\nstop 3\nend ToolUse\n"
    );
}

#[test]
fn other_choices_are_ignored_and_refusal_decodes() {
    let mut input = chunk(
        r#"{"index":1,"delta":{"content":"not me"},"finish_reason":null},{"index":0,"delta":{"refusal":"no"},"finish_reason":null}"#,
    );
    input += &chunk(r#"{"index":2,"delta":{"content":"nor me"},"finish_reason":"stop"}"#);
    input += &chunk(r#"{"index":0,"delta":{"refusal":"pe"},"finish_reason":"content_filter"}"#);
    input += "data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-1 gpt-x\nopen 0 refusal\nrefusal 0 no\nrefusal 0 pe\nstop 0\nend ContentFilter\n"
    );
}

#[test]
fn tool_name_after_arguments_and_missing_ids() {
    let mut input = chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\""}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":":1}"}}]},"finish_reason":"stop"}"#,
    );
    input += "data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-1 gpt-x\nopen 0 tool call_0 f\nargs 0 {\\\"x\\\"\nargs 0 :1}\nstop 0\nend ToolUse\n"
    );
    // A call that never gets a name is an error, not a silent loss.
    let mut input = chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}"#,
    );
    input += "data: [DONE]\n\n";
    assert!(run(true, input.as_bytes(), &[]).1.is_err());
    let input = chunk(&format!(
        r#"{{"index":0,"delta":{{"tool_calls":[{{"index":{MAX_TOOL_CALLS},"id":"c","function":{{"name":"f"}}}}]}}}}"#
    ));
    let e = run(true, input.as_bytes(), &[]).1.unwrap_err();
    assert!(e.message.contains("exceeds"), "{e:?}");
}

#[test]
fn whole_calls_under_a_reused_index_are_separate_calls() {
    // Gemini's OpenAI-compatible endpoint: each call whole, every one as index 0.
    let mut input = chunk(
        r#"{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":null}"#,
    );
    input += &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"id":"","type":"function","function":{"name":"h","arguments":"{}"}}]},"finish_reason":"tool_calls"}"#,
    );
    input += "data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-1 gpt-x\nopen 0 tool a f\nargs 0 {\\\"x\\\":1}\nopen 1 tool b g\nargs 1 {}\nopen 2 tool call_2 h\nargs 2 {}\nstop 0\nstop 1\nstop 2\nend ToolUse\n"
    );
}

#[test]
fn finish_reasons_map() {
    for (reason, want) in [
        ("stop", "EndTurn"),
        ("length", "MaxTokens"),
        ("tool_calls", "ToolUse"),
        ("function_call", "ToolUse"),
        ("content_filter", "ContentFilter"),
        ("eos", "EndTurn"),
    ] {
        let input = chunk(&format!(
            r#"{{"index":0,"delta":{{"content":"x"}},"finish_reason":"{reason}"}}"#
        )) + "data: [DONE]\n\n";
        let (trace, r) = run(true, input.as_bytes(), &[]);
        r.unwrap();
        assert!(
            trace.ends_with(&format!("end {want}\n")),
            "{reason}: {trace}"
        );
    }
}

#[test]
fn errors_and_cut_streams() {
    let input = chunk(r#"{"index":0,"delta":{"content":"x"},"finish_reason":null}"#)
        + "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n";
    let (trace, r) = run(true, input.as_bytes(), &[]);
    let e = r.unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (429, "Rate limit reached"));
    assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
    assert!(trace.contains("text 0 x"));
    let e = run(
        true,
        b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
        &[],
    )
    .1
    .unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (500, "boom"));
    let e = run(true, b"event: error\ndata: {\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\n", &[]).1.unwrap_err();
    assert_eq!(e.status, 400);
    let e = run(true, b"data: {\"object\":\"error\",\"message\":\"vllm says no\",\"type\":\"BadRequestError\",\"code\":400}\n\n", &[]).1.unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (400, "vllm says no"));
    // No [DONE]: an error at finish, never a clean end.
    let cut = chunk(r#"{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}"#);
    let (trace, r) = run(true, cut.as_bytes(), &[]);
    assert!(r.unwrap_err().message.contains("[DONE]"));
    assert!(!trace.contains("end "));
    assert!(run(true, b"data: {not json}\n\n", &[]).1.is_err());
    assert!(run(
        true,
        &chunk(r#"{"index":0,"delta":{"content":5}}"#).into_bytes(),
        &[]
    )
    .1
    .is_err());
    // An empty stream that still ends properly.
    let (trace, r) = run(true, b"data: [DONE]\n\n", &[]);
    r.unwrap();
    assert_eq!(trace, "start - -\nend EndTurn\n");
}

#[test]
fn azure_prompt_filter_chunk_starts_without_an_id() {
    let input = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n"
        .to_owned()
        + &chunk(r#"{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}"#)
        + "data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start - -\nopen 0 text\ntext 0 x\nstop 0\nend EndTurn\n"
    );
}

#[test]
fn echo_provider_chunks_decode() {
    let input = "data: {\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"echo\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"echo\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Echo:\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"echo\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"echo\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"id\":\"chatcmpl-echo\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"echo\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n\
data: [DONE]\n\n";
    let (trace, r) = decode_everywhere(true, input.as_bytes());
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-echo echo\nopen 0 text\ntext 0 Echo:\ntext 0  hi\nstop 0\nusage 1 2 3 cached=0 reasoning=0\nend EndTurn\n"
    );
}

#[test]
fn whole_answers() {
    let body = br#"{"id": "chatcmpl-W", "object": "chat.completion", "model": "gpt-x", "choices": [{"index": 1, "message": {"content": "other"}, "finish_reason": "stop"}, {"index": 0, "message": {"role": "assistant", "reasoning_content": "r", "content": "Hi \"there\"", "refusal": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}, {"type": "function", "function": {"name": "g", "arguments": ""}}]}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}"#;
    let (trace, r) = decode_everywhere(false, body);
    r.unwrap();
    assert_eq!(
        trace,
        "start chatcmpl-W gpt-x\nopen 0 thinking\nthinking 0 r\nstop 0\nopen 1 text\ntext 1 Hi \\\"there\\\"\nstop 1\n\
open 2 tool call_1 f\nargs 2 {\\\"a\\\": 1}\nstop 2\nopen 3 tool call_1 g\nstop 3\nusage 3 4 7 cached=0 reasoning=0\nend ToolUse\n"
    );
    let e = run(
        false,
        br#"{"error": {"message": "nope", "type": "invalid_request_error", "code": null}}"#,
        &[],
    )
    .1
    .unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (400, "nope"));
    assert!(run(false, br#"{"id": "x", "choices": []}"#, &[]).1.is_err());
    assert!(run(
        false,
        br#"{"id": "x", "choices": [{"index": 0, "message": {"content": "cut"#,
        &[]
    )
    .1
    .is_err());
}

mod generated {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::super::decoder;
    use crate::hub::{Block, Delta, Event, Sink};

    /// One step of a generated answer.
    #[derive(Debug, Clone)]
    enum Step {
        Text(String),
        Reasoning(String),
        Refusal(String),
        /// A fragment of tool call `k` (its first fragment carries id and name).
        Args(usize, String),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => ".{0,12}".prop_map(Step::Text),
            1 => ".{0,12}".prop_map(Step::Reasoning),
            1 => ".{0,12}".prop_map(Step::Refusal),
            2 => (0usize..3, ".{0,12}").prop_map(|(k, s)| Step::Args(k, s)),
        ]
    }

    /// What a client reads from the events, checking their grammar on the way.
    #[derive(Default, Debug, PartialEq)]
    struct Read {
        text: String,
        thinking: String,
        refusal: String,
        /// By OpenAI call name (`f<k>`): concatenated arguments.
        calls: BTreeMap<String, String>,
        open: Vec<(u32, String)>,
        next: u32,
        stopped: bool,
    }

    impl Sink for Read {
        fn event(&mut self, ev: Event<'_>) {
            assert!(!self.stopped, "event after Stop");
            match ev {
                Event::Start { .. } | Event::Usage(_) => {}
                Event::BlockStart { index, block } => {
                    assert_eq!(index, self.next);
                    self.next += 1;
                    let name = match block {
                        Block::ToolCall { name, .. } => name.decode().into_owned(),
                        _ => String::new(),
                    };
                    self.calls.entry(name.clone()).or_default();
                    self.open.push((index, name));
                }
                Event::Delta { index, delta } => {
                    let (_, name) = self.open.iter().find(|(i, _)| *i == index).expect("open");
                    let name = name.clone();
                    match delta {
                        Delta::Text(t) => self.text += &t.decode(),
                        Delta::Thinking(t) => self.thinking += &t.decode(),
                        Delta::Refusal(t) => self.refusal += &t.decode(),
                        Delta::Arguments(t) => *self.calls.entry(name).or_default() += &t.decode(),
                        Delta::Signature(_) => panic!("no signatures in OpenAI answers"),
                    }
                }
                Event::BlockStop { index } => {
                    let at = self
                        .open
                        .iter()
                        .position(|(i, _)| *i == index)
                        .expect("open");
                    self.open.remove(at);
                }
                Event::Stop { .. } => {
                    assert!(self.open.is_empty());
                    self.stopped = true;
                }
            }
        }
    }

    fn render(steps: &[Step]) -> (Vec<u8>, Read) {
        let mut out = String::new();
        let mut want = Read::default();
        let mut started = [false; 3];
        let mut push = |delta: serde_json::Value| {
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]});
            out += &format!("data: {chunk}\n\n");
        };
        for s in steps {
            match s {
                Step::Text(t) => {
                    want.text += t;
                    push(json!({"content": t}));
                }
                Step::Reasoning(t) => {
                    want.thinking += t;
                    push(json!({"reasoning_content": t}));
                }
                Step::Refusal(t) => {
                    want.refusal += t;
                    push(json!({"refusal": t}));
                }
                Step::Args(k, a) => {
                    let name = format!("f{k}");
                    let first = !started[*k];
                    started[*k] = true;
                    *want.calls.entry(name.clone()).or_default() += a;
                    let call = if first {
                        json!({"index": k, "id": format!("call_{k}"), "type": "function",
                            "function": {"name": name, "arguments": a}})
                    } else {
                        json!({"index": k, "function": {"arguments": a}})
                    };
                    push(json!({"tool_calls": [call]}));
                }
            }
        }
        out += "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        (out.into_bytes(), want)
    }

    /// Drops tool-call fragments after other content followed the calls: other content
    /// closes every call (OpenAI sends calls last), and the decoder refuses fragments for
    /// a closed call.
    fn contiguous(steps: Vec<Step>) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::new();
        let mut closed = false;
        for s in steps {
            match &s {
                Step::Args(..) if closed => continue,
                Step::Args(..) => {}
                _ => closed |= out.iter().any(|s| matches!(s, Step::Args(..))),
            }
            out.push(s);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn generated_answers_decode_whatever_the_cuts(
            steps in proptest::collection::vec(step(), 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let steps = contiguous(steps);
            let (input, want) = render(&steps);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut d = decoder(true);
            let mut got = Read::default();
            let mut prev = 0;
            for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
                d.feed(&input[prev..cut], &mut got).unwrap();
                prev = cut;
            }
            d.finish(&mut got).unwrap();
            prop_assert!(got.stopped);
            prop_assert_eq!(&got.text, &want.text);
            prop_assert_eq!(&got.thinking, &want.thinking);
            prop_assert_eq!(&got.refusal, &want.refusal);
            // Calls whose name arrived; text-only blocks register under "".
            let calls: BTreeMap<_, _> = got.calls.into_iter().filter(|(n, _)| !n.is_empty()).collect();
            prop_assert_eq!(calls, want.calls);
        }
    }
}
