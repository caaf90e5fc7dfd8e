//! An OpenAI Chat Completions client request → hub form: the one boundary parse
//! ([`ChatRequest::parse`], which enforces the request limits and checks the model name)
//! followed by the hub conversion of the body it validated.

use bytes::Bytes;

use crate::hub::request::{HubRequest, Ingress};
use crate::openai::{ChatRequest, RequestLimits};
use crate::TranslateError;

/// Parses and validates an OpenAI Chat Completions request body.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<Ingress, TranslateError> {
    let req = ChatRequest::parse(Bytes::copy_from_slice(body), limits)?;
    let hub = HubRequest::from_checked(&req)?;
    Ok(Ingress {
        hub,
        model: Some(req.model),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::request::{Part, Role};

    #[test]
    fn parses_into_hub_form_with_the_model() {
        let body = br#"{"model":"gpt-x","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}"#;
        let ing = parse(body, &RequestLimits::default()).unwrap();
        assert_eq!(ing.model.as_deref(), Some("gpt-x"));
        assert_eq!(ing.hub.system, vec!["be brief".to_owned()]);
        assert_eq!(ing.hub.messages.len(), 1);
        assert_eq!(ing.hub.messages[0].role, Role::User);
        assert_eq!(ing.hub.messages[0].parts, vec![Part::Text("hi".into())]);
        assert_eq!(ing.hub.max_tokens, Some(5));
        assert!(ing.hub.stream);
    }

    #[test]
    fn limits_and_validation_apply() {
        let limits = RequestLimits {
            max_messages: 1,
            ..RequestLimits::default()
        };
        let two = br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#;
        assert!(parse(two, &limits).is_err());
        let limits = RequestLimits {
            max_model_name_bytes: 3,
            ..RequestLimits::default()
        };
        let e = parse(
            br#"{"model":"long-name","messages":[{"role":"user","content":"a"}]}"#,
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = parse(
            br#"{"messages":[{"role":"user","content":"a"}]}"#,
            &RequestLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = parse(
            br#"{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":3}"#,
            &RequestLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("temperature"));
        assert!(parse(b"not json", &RequestLimits::default()).is_err());
    }
}
