//! Requests: the hand-written `*.request.json` recordings through the Responses ingress
//! and back out through the Responses egress, and the 400s of what Sluice cannot do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a failure here is a failing test

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{egress, ingress};
use crate::hub::request::{Part, ResponseFormat, Role, ToolChoice};
use crate::openai::RequestLimits;

fn read(name: &str) -> Vec<u8> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/openai_responses");
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// A request with what Responses → hub → Responses keeps, in one spelling: system and
/// developer messages joined into `instructions`, content always as parts.
fn normalise(body: &Value) -> Value {
    let mut instructions: Vec<String> = body["instructions"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    let mut input = Vec::new();
    let items = match &body["input"] {
        Value::String(s) => vec![json!({"role": "user", "content": s})],
        Value::Array(a) => a.clone(),
        _ => panic!("input"),
    };
    for item in items {
        if item.get("role").is_some() {
            let role = item["role"].as_str().unwrap();
            let out_type = if role == "assistant" {
                "output_text"
            } else {
                "input_text"
            };
            let parts: Vec<Value> = match &item["content"] {
                Value::String(s) => vec![json!({"type": out_type, "text": s})],
                Value::Array(a) => a
                    .iter()
                    .map(|p| {
                        let mut p = p.clone();
                        p.as_object_mut().unwrap().remove("annotations");
                        p.as_object_mut().unwrap().remove("detail");
                        p
                    })
                    .collect(),
                _ => panic!("content"),
            };
            if role == "system" || role == "developer" {
                instructions.push(
                    parts
                        .iter()
                        .map(|p| p["text"].as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                continue;
            }
            input.push(json!({"role": role, "content": parts}));
        } else {
            input.push(item);
        }
    }
    let tools: Vec<Value> = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| {
                    let mut t = t.clone();
                    t.as_object_mut().unwrap().remove("strict");
                    t
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "model": body["model"],
        "instructions": instructions.join("\n\n"),
        "input": input,
        "tools": tools,
        "tool_choice": body["tool_choice"],
        "parallel_tool_calls": body["parallel_tool_calls"],
        "max_output_tokens": body["max_output_tokens"],
        "temperature": body["temperature"],
        "top_p": body["top_p"],
        "text_format": body["text"]["format"],
        "reasoning_effort": body["reasoning"]["effort"],
        "include": body["include"],
        "stream": body["stream"].as_bool().unwrap_or(false),
        "store": body["store"].as_bool().unwrap_or(false),
        "user": body["user"],
    })
}

const REQUESTS: [&str; 5] = [
    "stream_text.request.json",
    "stream_function_call.request.json",
    "stream_reasoning_function_call.request.json",
    "text.request.json",
    "function_call.request.json",
];

#[test]
fn recorded_requests_go_through_the_hub_unchanged() {
    for name in REQUESTS {
        let body = read(name);
        let ing = ingress::parse(&body, &RequestLimits::default()).unwrap();
        let model = ing.model.clone().unwrap();
        let built = egress::build(&ing.hub, &model).unwrap();
        let original: Value = serde_json::from_slice(&body).unwrap();
        let rebuilt: Value = serde_json::from_slice(&built).unwrap();
        assert_eq!(rebuilt["store"], false, "{name}");
        assert!(rebuilt["tools"]
            .as_array()
            .is_none_or(|t| t.iter().all(|t| t["strict"] == false)));
        assert_eq!(normalise(&rebuilt), normalise(&original), "{name}");
    }
}

#[test]
fn hub_form_of_a_tool_round() {
    let ing = ingress::parse(
        &read("function_call.request.json"),
        &RequestLimits::default(),
    )
    .unwrap();
    let h = &ing.hub;
    assert_eq!(h.system, ["You are a weather assistant."]);
    let roles: Vec<Role> = h.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::User
        ]
    );
    let call = &h.messages[1].tool_calls[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("call_Z3ePq8LbVw1xNnR4tYk7Hs2M", "get_weather")
    );
    assert_eq!(
        call.arguments,
        json!({"location": "Paris, France", "unit": "celsius"})
    );
    assert_eq!(h.messages[2].tool_name.as_deref(), Some("get_weather"));
    assert_eq!(
        h.messages[2].tool_call_id.as_deref(),
        Some("call_Z3ePq8LbVw1xNnR4tYk7Hs2M")
    );
    assert_eq!(h.messages[3].index, 4);
    assert_eq!(h.tool_choice, Some(ToolChoice::Required));
    assert_eq!(h.max_tokens, Some(512));
    assert_eq!(h.tools.len(), 2);

    let ing = ingress::parse(&read("text.request.json"), &RequestLimits::default()).unwrap();
    assert_eq!(ing.hub.response_format, Some(ResponseFormat::Text));
    assert_eq!(ing.hub.user.as_deref(), Some("user-1234"));
    assert!(matches!(ing.hub.messages[0].parts[1], Part::Image(_)));
}

#[test]
fn reasoning_items_replay_with_their_id() {
    let body = json!({
        "model": "o4-mini",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_abc123", "summary": [{"type": "summary_text", "text": "Thinking."}, {"type": "summary_text", "text": "More."}], "encrypted_content": "gAAAA-_x=="},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""},
            {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "42"}]},
            {"type": "reasoning", "id": "rs_sluice_made_up_1", "summary": [], "encrypted_content": "opaque"}
        ],
        "reasoning": {"effort": "high", "summary": "auto"}
    });
    let ing = ingress::parse(body.to_string().as_bytes(), &RequestLimits::default()).unwrap();
    let m = &ing.hub.messages[1];
    assert_eq!(
        m.parts,
        [
            Part::Thinking {
                text: "Thinking.".into(),
                signature: None
            },
            Part::Thinking {
                text: "More.".into(),
                signature: None
            },
            Part::RedactedThinking("rs_abc123:gAAAA-_x==".into())
        ]
    );
    assert_eq!(m.tool_calls[0].arguments, json!({}));
    assert_eq!(
        ing.hub.messages[3].parts,
        [Part::RedactedThinking("opaque".into())]
    );
    let out: Value = serde_json::from_slice(&egress::build(&ing.hub, "o4-mini").unwrap()).unwrap();
    assert_eq!(
        out["input"][1],
        json!({"type": "reasoning", "id": "rs_abc123", "summary": [{"type": "summary_text", "text": "Thinking."}, {"type": "summary_text", "text": "More."}], "encrypted_content": "gAAAA-_x=="})
    );
    assert_eq!(out["input"][2]["arguments"], "{}");
    assert_eq!(out["input"][3]["output"], "42");
    // Reasoning Sluice cannot send back to OpenAI (no reasoning id) is dropped.
    assert_eq!(out["input"].as_array().unwrap().len(), 4);
    assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(out["reasoning"], json!({"effort": "high"}));
}

fn param_of(body: Value) -> Option<String> {
    param_with(body, &RequestLimits::default())
}

fn param_with(body: Value, limits: &RequestLimits) -> Option<String> {
    match ingress::parse(body.to_string().as_bytes(), limits) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => {
            assert_eq!(e.status(), 400);
            e.param
        }
    }
}

#[test]
fn stateful_and_built_in_features_are_400s_naming_their_field() {
    let base = || json!({"model": "gpt-4.1", "input": "hi"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let e = ingress::parse(&read("error_400.request.json"), &RequestLimits::default()).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("previous_response_id"));
    assert_eq!(
        e.message,
        "Sluice is stateless: previous_response_id is not supported; send the full input"
    );
    for (field, value) in [
        ("conversation", json!("conv_1")),
        ("background", json!(true)),
        ("prompt", json!({"id": "pmpt_1"})),
    ] {
        assert_eq!(param_of(with(field, value)).as_deref(), Some(field));
    }
    assert!(ingress::parse(
        with("background", json!(false)).to_string().as_bytes(),
        &RequestLimits::default()
    )
    .is_ok());
    assert!(ingress::parse(
        with("store", json!(true)).to_string().as_bytes(),
        &RequestLimits::default()
    )
    .is_ok());
    let tools = json!([{"type": "function", "name": "f"}, {"type": "web_search_preview"}]);
    assert_eq!(
        param_of(with("tools", tools)).as_deref(),
        Some("tools[1].type")
    );
    assert_eq!(
        param_of(with("tool_choice", json!({"type": "file_search"}))).as_deref(),
        Some("tool_choice.type")
    );
    let input = json!([
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x/y.png"}]}
    ]);
    assert_eq!(
        param_of(with("input", input)).as_deref(),
        Some("input[2].content[0].image_url")
    );
    let input = json!([{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "file_id": "file-1"}]}]);
    assert_eq!(
        param_of(with("input", input)).as_deref(),
        Some("input[0].content[1].file_id")
    );
    let input = json!([{"type": "item_reference", "id": "msg_1"}]);
    assert_eq!(
        param_of(with("input", input)).as_deref(),
        Some("input[0].type")
    );
    let input = json!([{"type": "web_search_call", "id": "ws_1"}]);
    assert_eq!(
        param_of(with("input", input)).as_deref(),
        Some("input[0].type")
    );
    let input = json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]);
    assert_eq!(
        param_of(with("input", input)).as_deref(),
        Some("input[0].arguments")
    );
    assert_eq!(
        param_of(with("temperature", json!(3))).as_deref(),
        Some("temperature")
    );
    assert_eq!(
        param_of(with("max_output_tokens", json!(0))).as_deref(),
        Some("max_output_tokens")
    );
    assert_eq!(
        param_of(with("model", json!("a b"))).as_deref(),
        Some("model")
    );
    assert_eq!(param_of(json!({"model": "m"})).as_deref(), Some("input"));
    assert_eq!(
        param_of(with(
            "text",
            json!({"format": {"type": "json_schema", "name": "x"}})
        ))
        .as_deref(),
        Some("text.format.schema")
    );
}

#[test]
fn limits_are_respected() {
    let limits = RequestLimits {
        max_messages: 2,
        max_tools: 1,
        max_json_depth: 6,
        ..RequestLimits::default()
    };
    let body = json!({"model": "m", "input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}]});
    assert_eq!(param_with(body, &limits).as_deref(), Some("input"));
    let body = json!({"model": "m", "input": "a", "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}]});
    assert_eq!(param_with(body, &limits).as_deref(), Some("tools"));
    let body = json!({"model": "m", "input": "a", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}});
    assert_eq!(param_with(body, &limits).as_deref(), Some("metadata"));
}

#[test]
fn egress_refuses_what_responses_cannot_say() {
    let ing = ingress::parse(&read("text.request.json"), &RequestLimits::default()).unwrap();
    let mut h = ing.hub.clone();
    h.n = Some(2);
    assert_eq!(
        egress::build(&h, "m").unwrap_err().param.as_deref(),
        Some("n")
    );
    let mut h = ing.hub.clone();
    h.stop = vec!["END".into()];
    assert_eq!(
        egress::build(&h, "m").unwrap_err().param.as_deref(),
        Some("stop")
    );
    let mut h = ing.hub.clone();
    h.frequency_penalty = Some(0.5);
    assert_eq!(
        egress::build(&h, "m").unwrap_err().param.as_deref(),
        Some("frequency_penalty")
    );
    let mut h = ing.hub.clone();
    h.thinking_budget = Some(8000);
    h.response_format = Some(ResponseFormat::JsonSchema(json!({"type": "object"})));
    let out: Value = serde_json::from_slice(&egress::build(&h, "m").unwrap()).unwrap();
    assert_eq!(out["reasoning"]["effort"], "high");
    assert_eq!(out["text"]["format"]["type"], "json_schema");
    assert_eq!(out["text"]["format"]["schema"], json!({"type": "object"}));
    assert_eq!(
        out["input"][0]["content"][1]["image_url"],
        ing.hub.messages[0]
            .parts
            .get(1)
            .map(|p| match p {
                Part::Image(crate::hub::request::Media::Url { url, .. }) => json!(url),
                _ => json!(null),
            })
            .unwrap()
    );
}

#[test]
fn reasoning_payload_carries_real_ids_only() {
    use super::{reasoning_data, split_reasoning_data};
    assert_eq!(reasoning_data("rs_68af", "gAAA-_=="), "rs_68af:gAAA-_==");
    assert_eq!(reasoning_data("rs_sluice_x_0", "gAAA"), "gAAA");
    assert_eq!(reasoning_data("", "gAAA"), "gAAA");
    assert_eq!(
        split_reasoning_data("rs_68af:gAAA-_=="),
        (Some("rs_68af"), "gAAA-_==")
    );
    // Anthropic's redacted thinking (standard base64, no `rs_` prefix) is not split.
    assert_eq!(
        split_reasoning_data("EmwKAhgBEgy+/=="),
        (None, "EmwKAhgBEgy+/==")
    );
    assert_eq!(split_reasoning_data("abc:def"), (None, "abc:def"));
}
