//! `build_request` against the request bodies real clients sent (`*.request.json`): for
//! each one, the equivalent OpenAI request is written by hand here, translated, and
//! compared semantically with the recording on the fields both protocols can express.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::{fixtures, list, read};
use serde_json::{json, Value};
use sluice_translate::{anthropic, gemini};

fn recorded(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_slice(&read(dir, name)).unwrap()
}

fn build_anthropic(openai: Value, model: &str) -> (Value, bool) {
    let r = anthropic::build_request(&serde_json::to_vec(&openai).unwrap(), model).unwrap();
    (serde_json::from_slice(&r.body).unwrap(), r.stream)
}

fn build_gemini(openai: Value) -> (Value, bool) {
    let r = gemini::build_request(&serde_json::to_vec(&openai).unwrap(), "ignored").unwrap();
    (serde_json::from_slice(&r.body).unwrap(), r.stream)
}

/// Remove nulls and `stream: false` (absent means the same) and normalise schema type case.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, v)| {
                    !(v.is_null() || k.as_str() == "stream" && **v == Value::Bool(false))
                })
                .map(|(k, v)| match (k.as_str(), v) {
                    ("type", Value::String(s))
                        if s.eq_ignore_ascii_case("object") || s.eq_ignore_ascii_case("string") =>
                    {
                        (k.clone(), Value::from(s.to_ascii_uppercase()))
                    }
                    _ => (k.clone(), normalise(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        _ => v.clone(),
    }
}

/// Compare the whole bodies except `ignore`d top-level keys (which the test checks apart).
fn assert_same_except(built: &Value, recorded: &Value, ignore: &[&str], name: &str) {
    let strip = |v: &Value| {
        let mut v = normalise(v);
        if let Value::Object(o) = &mut v {
            for k in ignore {
                o.remove(*k);
            }
        }
        v
    };
    assert_eq!(strip(built), strip(recorded), "{name}");
}

#[test]
fn anthropic_requests_match_recordings() {
    let Some(dir) = fixtures() else { return };
    let mut checked = 0;

    // Plain text, defaults: max_tokens falls back to 4096.
    let name = "anthropic/error_400_unsupported_effort.request.json";
    let (b, stream) = build_anthropic(
        json!({"model": "x", "messages": [{"role": "user", "content": "What is 2+2?"}]}),
        "claude-opus-4-6",
    );
    assert!(!stream);
    // output_config.effort has no OpenAI spelling of its own (reasoning_effort maps to thinking).
    assert_same_except(&b, &recorded(&dir, name), &["output_config"], name);
    checked += 1;

    let name = "anthropic/messages_parallel_tool_use.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_anthropic(
        json!({
            "model": "gw-route", "provider": "anthropic", "fallback_providers": ["x"], "timeout": 30, "retry_count": 1,
            "messages": [
                {"role": "system", "content": rec["system"]},
                {"role": "user", "content": [{"type": "text", "text": "Alice, Bob, Charlie and Daisy are a family. Who is the youngest?"}]}
            ],
            "tools": [{"type": "function", "function": {
                "name": "retrieve_entity_info", "description": "Get the knowledge about the given entity.",
                "parameters": {"additionalProperties": false, "properties": {"name": {"type": "string"}}, "required": ["name"], "type": "object"}
            }}],
            "tool_choice": "auto", "stream": false
        }),
        "claude-haiku-4-5",
    );
    assert_same_except(&b, &rec, &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_parallel_tool_use_no_args.request.json";
    let (b, stream) = build_anthropic(
        json!({
            "model": "m", "max_tokens": 8192, "temperature": 1.0, "stream": true,
            "messages": [{"role": "user", "content": "Two names for a pet pelican"}],
            "tools": [{"type": "function", "function": {"name": "pelican_name_generator", "description": "", "parameters": {"properties": {}, "type": "object"}}}]
        }),
        "claude-haiku-4-5-20251001",
    );
    assert!(stream);
    assert_same_except(&b, &recorded(&dir, name), &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_redacted_thinking.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_anthropic(
        json!({
            "model": "m", "stream": true, "reasoning_effort": "low", "max_completion_tokens": 3072,
            "messages": [{"role": "user", "content": rec["messages"][0]["content"][0]["text"]}]
        }),
        "claude-sonnet-4-5-20250929",
    );
    assert_same_except(&b, &rec, &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_stop_sequence.request.json";
    let (b, _) = build_anthropic(
        json!({
            "model": "m", "max_tokens": 8192, "temperature": 1.0, "stream": true, "stop": "```",
            "messages": [
                {"role": "user", "content": "Very short function describing a pelican"},
                {"role": "assistant", "content": "```python"}
            ]
        }),
        "claude-haiku-4-5-20251001",
    );
    assert_same_except(&b, &recorded(&dir, name), &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_text.request.json";
    let (b, _) = build_anthropic(
        json!({"model": "m", "max_tokens": 8192, "temperature": 1.0, "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": [{"type": "text", "text": "Say just hello"}]}]}),
        "claude-haiku-4-5-20251001",
    );
    assert_same_except(&b, &recorded(&dir, name), &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_text_after_tool_result.request.json";
    let (b, _) = build_anthropic(
        json!({
            "model": "m", "max_tokens": 8192, "temperature": 1.0, "stream": true,
            "messages": [
                {"role": "user", "content": "Two names for a pet pelican"},
                {"role": "assistant", "content": " ", "tool_calls": [
                    {"id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "type": "function", "function": {"name": "pelican_name_generator", "arguments": "{}"}},
                    {"id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "type": "function", "function": {"name": "pelican_name_generator", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_01LtHJmixrs9NcWQkK8hu8hj", "content": "Charles"},
                {"role": "tool", "tool_call_id": "toolu_01N8a4jWyf116qKTMqKKmjyt", "content": [{"type": "text", "text": "Sammy"}]}
            ],
            "tools": [{"type": "function", "function": {"name": "pelican_name_generator", "description": "", "parameters": {"properties": {}, "type": "object"}}}]
        }),
        "claude-haiku-4-5-20251001",
    );
    assert_same_except(&b, &recorded(&dir, name), &[], name);
    checked += 1;

    let name = "anthropic/messages_stream_thinking.request.json";
    let (b, _) = build_anthropic(
        json!({"model": "m", "max_completion_tokens": 7168, "temperature": 1.0, "stream": true, "reasoning_effort": "low",
               "messages": [{"role": "developer", "content": []}, {"role": "user", "content": "Two names for a pet pelican, be brief"}]}),
        "claude-sonnet-4-5",
    );
    assert_same_except(&b, &recorded(&dir, name), &[], name);
    checked += 1;

    let name = "anthropic/messages_thinking_tool_use.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_anthropic(
        json!({
            "model": "m", "reasoning_effort": "medium", "max_tokens": 2048,
            "messages": [{"role": "user", "content": "What is the largest city in the user country?"}],
            "tools": [{"type": "function", "function": {"name": "get_user_country", "description": "", "parameters": {"additionalProperties": false, "properties": {}, "type": "object"}}}],
            "tool_choice": "auto"
        }),
        "claude-sonnet-4-0",
    );
    // The recording's 3000-token budget is not one of reasoning_effort's budgets.
    assert_same_except(&b, &rec, &["thinking", "max_tokens"], name);
    assert_eq!(b["thinking"]["type"], "enabled");
    assert_eq!(b["max_tokens"], 2048 + 2048);
    checked += 1;

    let all = list(&dir, "anthropic")
        .into_iter()
        .filter(|f| f.ends_with(".request.json"))
        .count();
    assert_eq!(checked, all, "every anthropic request fixture is covered");
}

#[test]
fn gemini_requests_match_recordings() {
    let Some(dir) = fixtures() else { return };
    let mut checked = 0;

    let name = "gemini/finish_safety.request.json";
    let rec = recorded(&dir, name);
    let (b, stream) = build_gemini(json!({"model": "m", "messages": [
        {"role": "system", "content": "You hate the world!"},
        {"role": "user", "content": "Tell me a joke about a Brazilians."}
    ]}));
    assert!(!stream);
    assert_eq!(b["contents"], rec["contents"], "{name}");
    assert_eq!(
        b["systemInstruction"]["parts"], rec["systemInstruction"]["parts"],
        "{name}"
    );
    assert!(b.get("generationConfig").is_none() && rec["generationConfig"] == json!({}));
    // safetySettings has no OpenAI equivalent.
    checked += 1;

    let name = "gemini/max_tokens.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_gemini(
        json!({"model": "m", "max_tokens": 5, "reasoning_effort": "none", "messages": [
            {"role": "system", "content": "You are a helpful chatbot."},
            {"role": "user", "content": "What is the capital of France?"}
        ]}),
    );
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(
        b["systemInstruction"]["parts"],
        rec["systemInstruction"]["parts"]
    );
    assert_eq!(
        b["generationConfig"]["maxOutputTokens"],
        rec["generationConfig"]["maxOutputTokens"]
    );
    assert_eq!(
        b["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        rec["generationConfig"]["thinkingConfig"]["thinking_budget"]
    );
    checked += 1;

    let name = "gemini/stream_json_array_thinking_tool_call.request.json";
    let rec = recorded(&dir, name);
    let (b, stream) = build_gemini(
        json!({"model": "m", "stream": true, "reasoning_effort": "high",
        "messages": [{"role": "user", "content": "Two names for a pet pelican"}],
        "tools": [{"type": "function", "function": {"name": "pelican_name_generator", "parameters": {"properties": {}, "type": "object"}}}]}),
    );
    assert!(stream);
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(normalise(&b["tools"]), normalise(&rec["tools"]));
    assert_eq!(
        b["generationConfig"]["thinkingConfig"]["includeThoughts"],
        true
    );
    checked += 1;

    let name = "gemini/stream_text.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_gemini(
        json!({"model": "m", "stream": true, "temperature": 0.0, "messages": [
            {"role": "system", "content": "You are a helpful chatbot."},
            {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
        ]}),
    );
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(b["generationConfig"], rec["generationConfig"]);
    assert_eq!(
        b["systemInstruction"]["parts"],
        rec["systemInstruction"]["parts"]
    );
    checked += 1;

    let name = "gemini/stream_text_after_function_response.request.json";
    let rec = recorded(&dir, name);
    let call = &rec["contents"][1]["parts"][0];
    let call_id = format!(
        "{}__thought__{}",
        call["functionCall"]["id"].as_str().unwrap(),
        call["thoughtSignature"].as_str().unwrap()
    );
    let (b, _) = build_gemini(json!({"model": "m", "stream": true,
        "messages": [
            {"role": "user", "content": "What is the capital of the user country? Call the tool"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "get_country", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "{\"return_value\":\"Mexico\"}"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_country", "description": "", "parameters": rec["tools"][0]["functionDeclarations"][0]["parameters_json_schema"]}}]}));
    assert_eq!(
        b["contents"], rec["contents"],
        "{name}: function call id, signature and recovered name"
    );
    let decl = &b["tools"][0]["functionDeclarations"][0];
    let rec_decl = &rec["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], rec_decl["name"]);
    assert_eq!(decl["description"], rec_decl["description"]);
    // additionalProperties is stripped: Gemini's Schema rejects it.
    assert_eq!(
        decl["parameters"],
        json!({"properties": {}, "type": "OBJECT"})
    );
    checked += 1;

    let name = "gemini/stream_thinking.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_gemini(
        json!({"model": "m", "stream": true, "reasoning_effort": "medium", "messages": [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "How do I cross the street?"}
    ], "tools": [{"type": "function", "function": {"name": "dummy", "description": "", "parameters": {"properties": {}, "type": "object"}}}]}),
    );
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(
        b["systemInstruction"]["parts"],
        rec["systemInstruction"]["parts"]
    );
    assert_eq!(b["tools"], rec["tools"]);
    assert_eq!(
        b["generationConfig"]["thinkingConfig"]["includeThoughts"],
        true
    );
    checked += 1;

    let name = "gemini/stream_tool_call_no_args_thought_signature.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_gemini(json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": "What is the capital of the user country? Call the tool"}],
        "tools": [{"type": "function", "function": {"name": "get_country", "description": "", "parameters": {"additionalProperties": false, "properties": {}, "type": "object"}}}]}));
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(
        b["tools"][0]["functionDeclarations"][0]["name"],
        "get_country"
    );
    checked += 1;

    let name = "gemini/tool_call.request.json";
    let rec = recorded(&dir, name);
    let (b, _) = build_gemini(json!({"model": "m",
    "messages": [{"role": "user", "content": "What is the largest city in the user country?"}],
    "tool_choice": "required",
    "tools": [
        {"type": "function", "function": {"name": "get_user_country", "description": "", "parameters": {"properties": {}, "type": "object"}}},
        {"type": "function", "function": {"name": "final_result", "description": "The final response which ends this conversation",
            "parameters": {"properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city", "country"], "type": "object"}}}
    ]}));
    assert_eq!(b["contents"], rec["contents"]);
    assert_eq!(b["tools"], rec["tools"]);
    assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    // "required" allows every declared tool, which is what the recording lists explicitly.
    checked += 1;

    let all = list(&dir, "gemini")
        .into_iter()
        .filter(|f| f.ends_with(".request.json"))
        .count();
    assert_eq!(checked, all, "every gemini request fixture is covered");
}
