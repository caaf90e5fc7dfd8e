//! Hub form → an Anthropic Messages upstream request body.

use super::request::build_body;
use crate::hub::request::HubRequest;
use crate::TranslateError;

/// The Anthropic Messages request body for `req`, naming `model` (see
/// [`build_body`] for what is mapped and how).
pub(crate) fn build(req: &HubRequest, model: &str) -> Result<Vec<u8>, TranslateError> {
    // Sized for a typical conversation; the encoder grows it as needed.
    build_body(req, 1024, model)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::hub::request::{Message, Part, Role, ToolCall};

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message {
            role,
            parts,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
            index: 0,
        }
    }

    fn body(req: &HubRequest) -> Value {
        serde_json::from_slice(&build(req, "claude-x").unwrap()).unwrap()
    }

    #[test]
    fn replayed_reasoning_budget_top_k_and_error_results() {
        let mut assistant = message(
            Role::Assistant,
            vec![
                Part::Text("calling".into()),
                Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("sig".into()),
                },
                Part::Thinking {
                    text: "unsigned".into(),
                    signature: None,
                },
                Part::RedactedThinking("opaque".into()),
            ],
        );
        assistant.tool_calls.push(ToolCall {
            id: "toolu_1".into(),
            name: "f".into(),
            arguments: json!({"a": 1}),
        });
        let mut result = message(Role::Tool, vec![Part::Text("boom".into())]);
        result.tool_call_id = Some("toolu_1".into());
        result.is_error = true;
        let req = HubRequest {
            messages: vec![
                message(Role::User, vec![Part::Text("hi".into())]),
                assistant,
                result,
            ],
            max_tokens: Some(4000),
            thinking_budget: Some(2000),
            reasoning_effort: Some("high".into()),
            top_k: Some(5),
            ..HubRequest::default()
        };
        let v = body(&req);
        assert_eq!(
            v["thinking"],
            json!({"type": "enabled", "budget_tokens": 2000})
        );
        assert_eq!(v["max_tokens"], 4000, "the budget is inside max_tokens");
        assert!(
            v.get("top_k").is_none(),
            "top_k does not combine with thinking"
        );
        assert_eq!(
            v["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ])
        );
        assert_eq!(
            v["messages"][2]["content"],
            json!([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "boom", "is_error": true}])
        );

        let req = HubRequest {
            messages: vec![message(
                Role::User,
                vec![
                    Part::Thinking {
                        text: "user turns carry no thinking".into(),
                        signature: Some("s".into()),
                    },
                    Part::Text("q".into()),
                ],
            )],
            max_tokens: Some(1000),
            thinking_budget: Some(1500),
            top_k: Some(3),
            ..HubRequest::default()
        };
        let v = body(&req);
        assert_eq!(
            v["messages"][0]["content"],
            json!([{"type": "text", "text": "q"}])
        );
        assert_eq!(v["max_tokens"], 2500, "max_tokens must exceed the budget");
        let req = HubRequest {
            thinking_budget: Some(0),
            ..req
        };
        let v = body(&req);
        assert!(
            v.get("thinking").is_none(),
            "a zero budget disables thinking"
        );
        assert_eq!(v["top_k"], 3);
    }
}
