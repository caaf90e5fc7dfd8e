use serde_json::{json, Value};

use super::*;
use crate::hub::request::{Tool, ToolCall};

fn msg(role: Role, parts: Vec<Part>, index: usize) -> Message {
    Message {
        role,
        parts,
        tool_calls: Vec::new(),
        tool_call_id: None,
        tool_name: None,
        is_error: false,
        index,
    }
}

fn body(req: &HubRequest) -> Value {
    serde_json::from_slice(&build(req, "gpt-test").unwrap()).unwrap()
}

#[test]
fn full_request_maps_every_field() {
    let mut assistant = msg(
        Role::Assistant,
        vec![
            Part::Thinking {
                text: "hmm".into(),
                signature: Some("sig".into()),
            },
            Part::RedactedThinking("opaque".into()),
            Part::Text("Let me look.".into()),
        ],
        2,
    );
    assistant.tool_calls.push(ToolCall {
        id: "toolu_1".into(),
        name: "weather".into(),
        arguments: json!({"city": "Paris"}),
    });
    let mut tool = msg(Role::Tool, vec![Part::Text("21C".into())], 3);
    tool.tool_call_id = Some("toolu_1".into());
    tool.is_error = true;
    let req = HubRequest {
        system: vec!["one".into(), "two".into()],
        messages: vec![
            msg(
                Role::User,
                vec![
                    Part::Text("look".into()),
                    Part::Image(Media::Inline {
                        mime: "image/png".into(),
                        data: "AAAA".into(),
                    }),
                    Part::Image(Media::Url {
                        url: "https://x.test/a.png".into(),
                        mime: None,
                    }),
                ],
                1,
            ),
            assistant,
            tool,
        ],
        tools: vec![Tool {
            name: "weather".into(),
            description: Some("Weather".into()),
            parameters: Some(json!({"type": "object"})),
            index: 0,
            legacy: false,
        }],
        tool_choice: Some(ToolChoice::Function("weather".into())),
        parallel_tool_calls: Some(false),
        stop: vec!["END".into()],
        max_tokens: Some(100),
        temperature: Some(0.5),
        top_p: Some(0.9),
        n: Some(1),
        seed: Some(7),
        presence_penalty: Some(0.1),
        frequency_penalty: Some(-0.1),
        stream: true,
        response_format: Some(ResponseFormat::JsonSchema(json!({"type": "object"}))),
        reasoning_effort: None,
        thinking_budget: Some(2000),
        top_k: Some(40),
        user: Some("u1".into()),
    };
    assert_eq!(
        body(&req),
        json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "one\n\ntwo"},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                ]},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "toolu_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Weather", "parameters": {"type": "object"}}}],
            "parallel_tool_calls": false,
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "response_format": {"type": "json_schema",
                "json_schema": {"name": "response", "schema": {"type": "object"}}},
            "max_completion_tokens": 100,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END"],
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
            "reasoning_effort": "medium",
            "user": "u1",
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn minimal_request_and_text_shapes() {
    let mut assistant = msg(Role::Assistant, Vec::new(), 1);
    assistant.tool_calls.push(ToolCall {
        id: "c".into(),
        name: "f".into(),
        arguments: json!({}),
    });
    let req = HubRequest {
        messages: vec![
            msg(
                Role::User,
                vec![Part::Text("a".into()), Part::Text("b".into())],
                0,
            ),
            assistant,
        ],
        parallel_tool_calls: Some(true),
        tool_choice: Some(ToolChoice::Auto),
        reasoning_effort: Some("low".into()),
        thinking_budget: Some(9000),
        ..HubRequest::default()
    };
    assert_eq!(
        body(&req),
        json!({
            "model": "gpt-test",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            ],
            "reasoning_effort": "low",
            "stream": false,
        })
    );
}

#[test]
fn an_assistant_turn_of_reasoning_only_keeps_a_content() {
    let req = HubRequest {
        messages: vec![
            msg(Role::User, vec![Part::Text("q".into())], 0),
            msg(Role::Assistant, vec![Part::RedactedThinking("x".into())], 1),
        ],
        ..HubRequest::default()
    };
    assert_eq!(
        body(&req)["messages"][1],
        json!({"role": "assistant", "content": ""})
    );
}

#[test]
fn budgets_map_to_the_nearest_effort() {
    for (budget, effort) in [
        (0, "minimal"),
        (1, "low"),
        (1024, "low"),
        (1500, "medium"),
        (2048, "medium"),
        (3000, "high"),
        (32000, "high"),
    ] {
        assert_eq!(effort_for_budget(budget), effort, "{budget}");
    }
}

#[test]
fn what_openai_cannot_take_is_refused_by_field() {
    let req = HubRequest {
        messages: vec![msg(Role::User, vec![Part::Text("a".into())], 0)],
        n: Some(2),
        ..HubRequest::default()
    };
    assert_eq!(build(&req, "m").unwrap_err().param.as_deref(), Some("n"));
    let image = Part::Image(Media::Url {
        url: "https://x.test/i.png".into(),
        mime: None,
    });
    let mut tool = msg(Role::Tool, vec![image.clone()], 4);
    tool.tool_call_id = Some("c".into());
    let req = HubRequest {
        messages: vec![tool],
        ..HubRequest::default()
    };
    assert_eq!(
        build(&req, "m").unwrap_err().param.as_deref(),
        Some("messages[4].content")
    );
    let req = HubRequest {
        messages: vec![msg(Role::Assistant, vec![image], 2)],
        ..HubRequest::default()
    };
    assert_eq!(
        build(&req, "m").unwrap_err().param.as_deref(),
        Some("messages[2].content")
    );
    let req = HubRequest {
        messages: vec![msg(Role::Tool, vec![Part::Text("r".into())], 3)],
        ..HubRequest::default()
    };
    assert_eq!(
        build(&req, "m").unwrap_err().param.as_deref(),
        Some("messages[3]")
    );
}

#[test]
fn openai_ingress_round_trips_through_egress() {
    let client = br#"{"model":"x","messages":[{"role":"developer","content":"sys"},{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"call_1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required","max_tokens":9,"stop":"Z","stream":false}"#;
    let ing =
        super::super::ingress::parse(client, &crate::openai::RequestLimits::default()).unwrap();
    assert_eq!(
        body(&ing.hub),
        json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "max_completion_tokens": 9,
            "stop": ["Z"],
            "stream": false,
        })
    );
}
