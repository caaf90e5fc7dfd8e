//! `build_request` features beyond the recorded requests: images, merging, system and
//! developer messages anywhere, tools and tool_choice (legacy too), stop, limits,
//! response_format and schema reduction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use serde_json::{json, Value};
use sluice_translate::{anthropic, gemini};

fn a(req: Value) -> Value {
    serde_json::from_slice(
        &anthropic::build_request(&serde_json::to_vec(&req).unwrap(), "claude-x")
            .unwrap()
            .body,
    )
    .unwrap()
}

fn g(req: Value) -> Value {
    serde_json::from_slice(
        &gemini::build_request(&serde_json::to_vec(&req).unwrap(), "gemini-x")
            .unwrap()
            .body,
    )
    .unwrap()
}

const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

fn conversation() -> Value {
    json!({
        "model": "gw", "backend": "b", "provider": "p", "fallback_providers": ["q"], "timeout": 5, "retry_count": 2,
        "messages": [
            {"role": "system", "content": "S1"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": PNG}}]},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}]},
            {"role": "developer", "content": [{"type": "text", "text": "D2"}]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
                "properties": {"city": {"type": "string", "examples": ["Paris"]}, "unit": {"$ref": "#/$defs/Unit"}},
                "required": ["city"], "$defs": {"Unit": {"type": ["string", "null"], "enum": ["c", "f"], "description": "unit"}}
            }}},
            {"type": "function", "function": {"name": "get_time"}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "stop": ["END", "STOP"],
        "max_completion_tokens": 100,
        "temperature": 1.7,
        "top_p": 0.9,
        "user": "u-1",
        "stream": true
    })
}

#[test]
fn anthropic_full_conversation() {
    let r = anthropic::build_request(&serde_json::to_vec(&conversation()).unwrap(), "claude-x")
        .unwrap();
    assert!(r.stream);
    let b: Value = serde_json::from_slice(&r.body).unwrap();
    for k in [
        "backend",
        "provider",
        "fallback_providers",
        "timeout",
        "retry_count",
        "user",
        "parallel_tool_calls",
        "n",
    ] {
        assert!(b.get(k).is_none(), "{k} must not be sent");
    }
    assert_eq!(b["model"], "claude-x");
    assert_eq!(
        b["system"],
        json!([{"type": "text", "text": "S1"}, {"type": "text", "text": "D2"}])
    );
    let m = b["messages"].as_array().unwrap();
    assert_eq!(
        m.len(),
        3,
        "user turns merged, tool results merged with the following user text"
    );
    assert_eq!(m[0]["role"], "user");
    assert_eq!(
        m[0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        m[0]["content"][2],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}})
    );
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(m[1]["content"][2]["input"], json!({}));
    assert_eq!(m[2]["role"], "user");
    assert_eq!(
        m[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp\": 21}"})
    );
    assert_eq!(m[2]["content"][1]["tool_use_id"], "call_2");
    assert_eq!(
        m[2]["content"][2],
        json!({"type": "text", "text": "thanks"})
    );
    assert_eq!(
        b["tool_choice"],
        json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        b["tools"][0]["input_schema"]["additionalProperties"], false,
        "Anthropic takes JSON Schema as is"
    );
    assert_eq!(
        b["tools"][1]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(b["stop_sequences"], json!(["END", "STOP"]));
    assert_eq!(b["max_tokens"], 100);
    assert_eq!(b["temperature"], 1.0, "clamped into 0..=1");
    assert_eq!(b["top_p"], 0.9);
    assert_eq!(b["metadata"]["user_id"], "u-1");
    assert_eq!(b["stream"], true);
}

#[test]
fn gemini_full_conversation() {
    let b = g(conversation());
    assert!(b.get("model").is_none(), "the model is in the URL");
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "S1"}, {"text": "D2"}]})
    );
    let c = b["contents"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(
        c[0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        c[0]["parts"][2],
        json!({"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}})
    );
    assert_eq!(c[1]["role"], "model");
    assert_eq!(
        c[1]["parts"][1],
        json!({"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}})
    );
    assert_eq!(
        c[2]["parts"][0],
        json!({"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"temp": 21}}})
    );
    assert_eq!(
        c[2]["parts"][1],
        json!({"functionResponse": {"id": "call_2", "name": "get_time", "response": {"result": "noon"}}})
    );
    assert_eq!(c[2]["parts"][2], json!({"text": "thanks"}));
    let gc = &b["generationConfig"];
    assert_eq!(gc["stopSequences"], json!(["END", "STOP"]));
    assert_eq!(gc["maxOutputTokens"], 100);
    assert_eq!(gc["temperature"], 1.7, "Gemini takes 0..=2");
    assert_eq!(gc["topP"], 0.9);
    assert_eq!(
        b["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    let params = &b["tools"][0]["functionDeclarations"][0]["parameters"];
    assert_eq!(
        *params,
        json!({"type": "OBJECT", "required": ["city"], "properties": {
            "city": {"type": "STRING"},
            "unit": {"type": "STRING", "nullable": true, "enum": ["c", "f"], "description": "unit"}
        }})
    );
    assert!(b["tools"][0]["functionDeclarations"][1]
        .get("parameters")
        .is_none());
}

#[test]
fn tool_choice_variants_and_legacy_functions() {
    let base = |choice: Value| {
        json!({"messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], "tool_choice": choice})
    };
    assert_eq!(
        a(base(json!("auto")))["tool_choice"],
        json!({"type": "auto"})
    );
    assert_eq!(
        a(base(json!("none")))["tool_choice"],
        json!({"type": "none"})
    );
    assert_eq!(
        a(base(json!("required")))["tool_choice"],
        json!({"type": "any"})
    );
    assert_eq!(
        g(base(json!("auto")))["toolConfig"]["functionCallingConfig"]["mode"],
        "AUTO"
    );
    assert_eq!(
        g(base(json!("none")))["toolConfig"]["functionCallingConfig"]["mode"],
        "NONE"
    );
    assert_eq!(
        g(base(json!("required")))["toolConfig"]["functionCallingConfig"]["mode"],
        "ANY"
    );

    let legacy = json!({
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
            {"role": "function", "name": "f", "content": "42"}
        ],
        "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}],
        "function_call": {"name": "f"}
    });
    let b = a(legacy.clone());
    assert_eq!(b["tools"][0]["name"], "f");
    assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "f"}));
    let id = b["messages"][1]["content"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(b["messages"][2]["content"][0]["tool_use_id"], id.as_str());
    let b = g(legacy);
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"]["name"],
        "f"
    );
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"result": 42})
    );
}

#[test]
fn response_format_and_reasoning() {
    let b = g(
        json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
    );
    assert_eq!(
        b["generationConfig"]["responseMimeType"],
        "application/json"
    );
    let b = g(
        json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": true, "schema": {
        "type": "object", "additionalProperties": false, "properties": {"xs": {"type": "array", "items": {"type": "integer", "minimum": 1}}, "k": {"const": "v"}}}}}}),
    );
    assert_eq!(
        b["generationConfig"]["responseSchema"],
        json!({"type": "OBJECT", "properties": {
        "xs": {"type": "ARRAY", "items": {"type": "INTEGER", "minimum": 1}}, "k": {"enum": ["v"]}}})
    );
    let b = g(
        json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "n": 3, "seed": 7}),
    );
    assert_eq!(
        b["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 4096, "includeThoughts": true})
    );
    assert_eq!(b["generationConfig"]["candidateCount"], 3);
    assert_eq!(b["generationConfig"]["seed"], 7);
    let b = a(
        json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "temperature": 0.2, "max_tokens": 1000}),
    );
    assert_eq!(
        b["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert_eq!(b["max_tokens"], 5096);
    assert!(
        b.get("temperature").is_none(),
        "thinking requires the default temperature"
    );
    let b = a(json!({"messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(b["max_tokens"], 4096);
}

#[test]
fn prefill_trailing_whitespace_is_trimmed_for_anthropic() {
    let b = a(
        json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "Sure: "}]}),
    );
    assert_eq!(b["messages"][1]["content"][0]["text"], "Sure:");
}

#[test]
fn paths_and_constants() {
    assert_eq!(
        gemini::path("gemini-2.5-flash", false),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        gemini::path("gemini-2.5-flash", true),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(anthropic::PATH, "/v1/messages");
    assert_eq!(anthropic::VERSION, "2023-06-01");
}
