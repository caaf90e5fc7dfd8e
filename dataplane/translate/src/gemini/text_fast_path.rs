//! Validating fast path for the streamed event that makes up nearly all of a text answer.

use super::wire::WireUsage;
use crate::json_out;

/// Fast path for the event that makes up nearly all of a streamed text answer: one
/// candidate (index 0) whose content is a single plain text part and no finish reason,
/// `{"candidates": [{"content": {"parts": [{"text": "…"}],"role": "model"},"index": 0}],
/// "usageMetadata": {…}, "modelVersion": "…", "responseId": "…"}` with any whitespace.
///
/// Returns the text literal (still escaped) and the usage, if the event carried it. The
/// whole event is checked against the JSON grammar first; anything unexpected (other keys
/// such as `promptFeedback`/`error`, `\u` escapes, duplicate counters, …) returns `None`
/// and goes through the serde walk instead, so the result never differs, only the cost.
pub(super) fn fast_text_event(data: &str) -> Option<(&str, Option<Option<WireUsage>>)> {
    let mut c = json_out::Cursor::new(data);
    for t in [
        "{",
        "\"candidates\"",
        ":",
        "[",
        "{",
        "\"content\"",
        ":",
        "{",
        "\"parts\"",
        ":",
        "[",
        "{",
        "\"text\"",
        ":",
    ] {
        c.token(t)?;
    }
    let raw = c.string()?;
    for t in ["}", "]", ",", "\"role\"", ":", "\"model\"", "}"] {
        c.token(t)?;
    }
    if c.token(",").is_some() {
        for t in ["\"index\"", ":", "0"] {
            c.token(t)?;
        }
    }
    c.token("}")?;
    c.token("]")?;
    // `None`: no usageMetadata key; `Some(None)`: `"usageMetadata": null`.
    let mut usage: Option<Option<WireUsage>> = None;
    while c.token(",").is_some() {
        let key = c.string()?;
        c.token(":")?;
        match key {
            "\"usageMetadata\"" => usage = Some(fast_usage(&mut c)?),
            "\"candidates\"" | "\"promptFeedback\"" | "\"error\"" => return None,
            _ => c.skip_value(0)?,
        }
    }
    c.token("}")?;
    c.rest().is_empty().then_some((raw, usage))
}

/// `usageMetadata` for [`fast_text_event`]; same fields as [`StreamUsage`].
fn fast_usage(c: &mut json_out::Cursor<'_>) -> Option<Option<WireUsage>> {
    if c.token("null").is_some() {
        return Some(None);
    }
    c.token("{")?;
    let mut u = WireUsage::default();
    let mut seen_details = 0u8;
    if c.token("}").is_some() {
        return Some(Some(u));
    }
    loop {
        let key = c.string()?;
        c.token(":")?;
        let slot = match key {
            "\"promptTokenCount\"" => Some(&mut u.prompt_token_count),
            "\"candidatesTokenCount\"" => Some(&mut u.candidates_token_count),
            "\"thoughtsTokenCount\"" => Some(&mut u.thoughts_token_count),
            "\"cachedContentTokenCount\"" => Some(&mut u.cached_content_token_count),
            "\"toolUsePromptTokenCount\"" => Some(&mut u.tool_use_prompt_token_count),
            _ => None,
        };
        let detail = match key {
            "\"promptTokensDetails\"" => Some(0),
            "\"candidatesTokensDetails\"" => Some(1),
            "\"cacheTokensDetails\"" => Some(2),
            "\"toolUsePromptTokensDetails\"" => Some(3),
            _ => None,
        };
        match (slot, detail) {
            // serde rejects a repeated field; leave that case to it.
            (Some(Some(_)), _) => return None,
            (Some(slot), _) => *slot = Some(c.uint()?),
            (None, Some(bit)) => {
                if seen_details & (1 << bit) != 0 {
                    return None;
                }
                seen_details |= 1 << bit;
                c.skip_value(1)?;
            }
            (None, None) => c.skip_value(1)?,
        }
        if c.token(",").is_none() {
            c.token("}")?;
            return Some(Some(u));
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::super::decode::GeminiDecoder;
    use super::*;
    use crate::hub::{Event, Sink};
    use crate::UpstreamError;
    use proptest::prelude::*;

    /// Every event, as its debug text.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn event(&mut self, ev: Event<'_>) {
            self.0.push(format!("{ev:?}"));
        }
    }

    /// (events, error) with and without the fast path.
    fn both(events: &[String]) -> [(Vec<String>, Option<UpstreamError>); 2] {
        [true, false].map(|fast| {
            let mut st = GeminiDecoder::new(true, Some("chatcmpl-x")).state;
            let mut log = Log::default();
            let mut err = None;
            for ev in events {
                let r = if fast {
                    st.on_event(ev.as_bytes(), &mut log)
                } else {
                    st.events += 1;
                    st.emit_start(ev, &mut log);
                    st.walk(ev, &mut log)
                };
                if let Err(e) = r {
                    err = Some(e);
                    break;
                }
            }
            // Syntax-error positions differ (the fast path re-parses the remainder), so
            // compare errors by kind.
            let err = err.map(|e| {
                let syntax = e.message.starts_with("invalid Gemini answer");
                UpstreamError {
                    message: if syntax { String::new() } else { e.message },
                    ..e
                }
            });
            (log.0, err)
        })
    }

    #[test]
    fn shapes() {
        let (raw, usage) = fast_text_event(r#"{"candidates": [{"content": {"parts": [{"text": "a\"b"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 1, "promptTokensDetails": [{"modality": "TEXT","tokenCount": 1}]}, "modelVersion": "g"}"#).unwrap();
        assert_eq!(raw, r#""a\"b""#);
        assert_eq!(usage.unwrap().unwrap().prompt_token_count, Some(1));
        let (raw, usage) = fast_text_event(
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}]}"#,
        )
        .unwrap();
        assert_eq!((raw, usage.is_none()), (r#""x""#, true));
        for no in [
            r#"{"candidates":[{"content":{"parts":[{"text":"x","thought":true}],"role":"model"}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"STOP"}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"index":1}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":1,"promptTokenCount":2}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"x":01}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"x":1.}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}],"error":{}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"}}]} x"#,
        ] {
            assert!(fast_text_event(no).is_none(), "{no}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde_walk(
            texts in prop::collection::vec(".{0,12}", 1..4),
            ws in prop::sample::select(vec!["", " ", "\n  "]),
            index in prop::sample::select(vec!["", ",\"index\": 0", ",\"index\":1"]),
            tail in prop::sample::select(vec![
                "}",
                ",\"usageMetadata\": {\"promptTokenCount\": 7,\"candidatesTokenCount\": 3,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 7}]},\"modelVersion\": \"g\",\"responseId\": \"r\"}",
                ",\"error\": {\"code\": 500, \"message\": \"boom\", \"status\": \"INTERNAL\"}}",
                ",\"usageMetadata\": {\"promptTokenCount\": }}",
                ",\"x\": [1, {\"y\": \"\\u00e9\"}]} ",
                ",}",
                "",
                ",\"usageMetadata\": null}",
                ",\"usageMetadata\": {\"promptTokenCount\": 1, \"promptTokenCount\": 2}}",
                ",\"usageMetadata\": {\"promptTokenCount\": -1}}",
                ",\"usageMetadata\": {\"promptTokenCount\": 1e3}}",
                ",\"usageMetadata\": {\"thoughtsTokenCount\": 18446744073709551616}}",
                ",\"usageMetadata\": {\"cachedContentTokenCount\": 5, \"x\": [true, false, null, -0.5e-3, {}, []]}, \"responseId\": \"r\"}",
                ",\"promptFeedback\": {\"blockReason\": \"SAFETY\"}}",
                ",\"modelVersion\": \"a\\u00e9\"}",
                ",\"modelVersion\": [1,]}",
                ",\"usageMetadata\": {}}  ",
                ",\"usageMetadata\": {\"promptTokensDetails\": [], \"promptTokensDetails\": []}}",
                ",\"usageMetadata\": {\"promptTokenCount\": null}}",
            ]),
        ) {
            let events: Vec<String> = texts
                .iter()
                .map(|t| {
                    let lit = serde_json::to_string(t).unwrap();
                    format!("{{{ws}\"candidates\":{ws}[{{\"content\":{ws}{{\"parts\": [{{\"text\":{ws}{lit}}}],\"role\": \"model\"}}{index}}}]{tail}")
                })
                .collect();
            let [fast, slow] = both(&events);
            prop_assert_eq!(fast, slow);
        }
    }
}
