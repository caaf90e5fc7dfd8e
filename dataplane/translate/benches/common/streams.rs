//! Synthetic streamed answers of every upstream protocol, in the shapes of the recorded
//! fixtures: a long text answer and a tool-call answer. Built in code; no files needed.
#![allow(dead_code)] // each bench uses what it needs

use sluice_translate::hub::Protocol;

/// Text deltas in a text answer.
pub const TEXT_DELTAS: usize = 2_000;
/// Argument fragments in a tool-call answer (Gemini: whole calls, one per 20 fragments).
pub const ARG_FRAGMENTS: usize = 200;

const WORDS: &str = r#" word{i} and a \"quoted\" bit,\n then more text"#;

fn text_piece(i: usize) -> String {
    WORDS.replace("{i}", &i.to_string())
}

/// Fragment `i` of the arguments: together one JSON object with [`ARG_FRAGMENTS`] members.
fn arg_piece(i: usize) -> String {
    let open = if i == 0 { "{" } else { "" };
    let close = if i + 1 == ARG_FRAGMENTS { "}" } else { ", " };
    format!(r#"{open}\"k{i}\": \"San Francisco\"{close}"#)
}

/// A streamed answer of `p`: [`TEXT_DELTAS`] text deltas, or (`tool`) a short text and
/// one tool call in [`ARG_FRAGMENTS`] argument fragments.
pub fn stream(p: Protocol, tool: bool) -> Vec<u8> {
    let mut s = String::new();
    let texts = if tool { 5 } else { TEXT_DELTAS };
    match p {
        Protocol::OpenAi | Protocol::Echo => {
            let head = r#"data: {"id":"chatcmpl-ABfw2KKFuVXmEJgVwYfBvejMAdWtq","object":"chat.completion.chunk","created":1727346170,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_b40fb1c6fb","choices":["#;
            s += &format!("{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n");
            for i in 0..texts {
                s += &format!("{head}{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n", text_piece(i));
            }
            if tool {
                s += &format!("{head}{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_JMW1whyEaYG438VE1OIflxA2\",\"type\":\"function\",\"function\":{{\"name\":\"GetWeatherArgs\",\"arguments\":\"\"}}}}]}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n");
                for i in 0..ARG_FRAGMENTS {
                    s += &format!("{head}{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{}\"}}}}]}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n", arg_piece(i));
                }
            }
            let reason = if tool { "tool_calls" } else { "stop" };
            s += &format!("{head}{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"{reason}\"}}]}}\n\n");
            s += &format!("{head}],\"usage\":{{\"prompt_tokens\":79,\"completion_tokens\":4000,\"total_tokens\":4079,\"prompt_tokens_details\":{{\"cached_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0}}}}}}\n\n");
            s += "data: [DONE]\n\n";
        }
        Protocol::Anthropic => {
            s += "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5-20251001\",\"id\":\"msg_01T8kTq7cYyYJeQ5DxcVUc6D\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":2,\"service_tier\":\"standard\"}}   }\n\n";
            s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}     }\n\n";
            for i in 0..texts {
                if i % 50 == 0 {
                    s += "event: ping\ndata: {\"type\": \"ping\"}\n\n";
                }
                s += &format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{}\"}}}}      \n\n", text_piece(i));
            }
            s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
            if tool {
                s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01KFbKqPYSuAKujiL6mTfzYA\",\"name\":\"json\",\"input\":{}}}\n\n";
                for i in 0..ARG_FRAGMENTS {
                    s += &format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}}}\n\n", arg_piece(i));
                }
                s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n";
            }
            let reason = if tool { "tool_use" } else { "end_turn" };
            s += &format!("event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{reason}\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":4000}}}}\n\n");
            s += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        }
        Protocol::Gemini => {
            for i in 0..texts {
                s += &format!("data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"{}\"}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 15,\"candidatesTokenCount\": {i},\"totalTokenCount\": {},\"promptTokensDetails\": [{{\"modality\": \"TEXT\",\"tokenCount\": 15}}]}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"w1peaMz6INOvnvgPgYfPiQY\"}}\r\n\r\n", text_piece(i), 15 + i);
            }
            if tool {
                for i in 0..ARG_FRAGMENTS / 20 {
                    s += &format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"functionCall\":{{\"name\":\"weather\",\"args\":{{\"location\":\"San Francisco {i}\",\"days\":[1,2,3]}}}},\"thoughtSignature\":\"EqUCCqICAb4+9vsh8Pd5taZVoPzSvjWWwzBrvhEQWBLCGa7IdY8FBMm7Z6dCKFU3Ft0la15gF7RaHe1NlPRygQ\"}}],\"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":29,\"candidatesTokenCount\":15,\"totalTokenCount\":89,\"thoughtsTokenCount\":45}},\"modelVersion\":\"gemini-3-pro-preview\",\"responseId\":\"b36LacjwM668nsEP2tbsgQQ\"}}\r\n\r\n");
                }
            }
            s += "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 15,\"candidatesTokenCount\": 2000,\"totalTokenCount\": 2015}}\r\n\r\n";
        }
        Protocol::OpenAiResponses => {
            let mut seq = 0;
            let mut ev = |s: &mut String, ty: &str, body: &str| {
                *s += &format!(
                    "event: {ty}\ndata: {{\"type\":\"{ty}\",\"sequence_number\":{seq},{body}}}\n\n"
                );
                seq += 1;
            };
            ev(
                &mut s,
                "response.created",
                r#""response":{"id":"resp_68b5","object":"response","created_at":1756737000,"status":"in_progress","model":"gpt-4.1-2025-04-14","output":[],"usage":null}"#,
            );
            ev(
                &mut s,
                "response.output_item.added",
                r#""output_index":0,"item":{"id":"msg_68b5","type":"message","status":"in_progress","content":[],"role":"assistant"}"#,
            );
            ev(
                &mut s,
                "response.content_part.added",
                r#""item_id":"msg_68b5","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}"#,
            );
            for i in 0..texts {
                ev(
                    &mut s,
                    "response.output_text.delta",
                    &format!(
                        r#""item_id":"msg_68b5","output_index":0,"content_index":0,"delta":"{}","logprobs":[]"#,
                        text_piece(i)
                    ),
                );
            }
            ev(
                &mut s,
                "response.output_text.done",
                r#""item_id":"msg_68b5","output_index":0,"content_index":0,"text":"…","logprobs":[]"#,
            );
            ev(
                &mut s,
                "response.output_item.done",
                r#""output_index":0,"item":{"id":"msg_68b5","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"…"}],"role":"assistant"}"#,
            );
            let mut output = r#"{"id":"msg_68b5","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"…"}],"role":"assistant"}"#.to_owned();
            if tool {
                ev(
                    &mut s,
                    "response.output_item.added",
                    r#""output_index":1,"item":{"id":"fc_68b5","type":"function_call","status":"in_progress","arguments":"","call_id":"call_JMW1whyEaYG438VE1OIflxA2","name":"GetWeatherArgs"}"#,
                );
                let mut all = String::new();
                for i in 0..ARG_FRAGMENTS {
                    all += &arg_piece(i);
                    ev(
                        &mut s,
                        "response.function_call_arguments.delta",
                        &format!(
                            r#""item_id":"fc_68b5","output_index":1,"delta":"{}""#,
                            arg_piece(i)
                        ),
                    );
                }
                ev(
                    &mut s,
                    "response.function_call_arguments.done",
                    &format!(r#""item_id":"fc_68b5","output_index":1,"arguments":"{all}""#),
                );
                let item = format!(
                    r#"{{"id":"fc_68b5","type":"function_call","status":"completed","arguments":"{all}","call_id":"call_JMW1whyEaYG438VE1OIflxA2","name":"GetWeatherArgs"}}"#
                );
                ev(
                    &mut s,
                    "response.output_item.done",
                    &format!(r#""output_index":1,"item":{item}"#),
                );
                output = format!("{output},{item}");
            }
            ev(
                &mut s,
                "response.completed",
                &format!(
                    r#""response":{{"id":"resp_68b5","object":"response","created_at":1756737000,"status":"completed","model":"gpt-4.1-2025-04-14","output":[{output}],"usage":{{"input_tokens":79,"input_tokens_details":{{"cached_tokens":0}},"output_tokens":4000,"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":4079}}}}"#
                ),
            );
        }
    }
    s.into_bytes()
}
