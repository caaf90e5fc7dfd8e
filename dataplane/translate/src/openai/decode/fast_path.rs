//! Validating fast path for the chunks that make up nearly all of a streamed answer:
//! `{…,"choices":[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]…}`
//! (OpenAI's form; the echo provider's, without `logprobs`; `usage: null` allowed), and
//! the same with `"delta":{"tool_calls":[{"index":K,"function":{"arguments":"…"}}]}`.

use crate::json_out::Cursor;

/// Top-level members the full parse treats specially; the fast path refuses a repeated one
/// (serde rejects duplicates of declared fields) and any it cannot vouch for.
const ID: u8 = 1;
const MODEL: u8 = 2;
const USAGE: u8 = 4;
const OBJECT: u8 = 8;

/// What a fast-path chunk carries for choice 0: a string literal, quotes included and
/// escapes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fast<'a> {
    /// `delta.content`.
    Text(&'a str),
    /// `delta.tool_calls[0].function.arguments` of the call with index `.0`.
    Arguments(u32, &'a str),
}

/// The one thing a chunk carries for choice 0 when it carries nothing else the full parse
/// would act on (no usage, no error, no finish reason, no other choice, no other delta
/// member).
///
/// Anything else — other key order inside the choice, `\u` escapes, control characters, a
/// malformed literal — returns `None` and goes through serde, so accepting input here
/// never changes the result, only skips the generic deserialiser.
pub(super) fn chunk(data: &str) -> Option<Fast<'_>> {
    let mut c = Cursor::new(data);
    c.token("{")?;
    let mut text = None;
    let mut seen = 0u8;
    let mut once = |bit: u8| {
        let first = seen & bit == 0;
        seen |= bit;
        first.then_some(())
    };
    loop {
        let key = c.string()?;
        c.token(":")?;
        match key {
            "\"choices\"" => {
                if text.is_some() {
                    return None;
                }
                text = Some(choice0_text(&mut c)?);
            }
            "\"usage\"" => {
                once(USAGE)?;
                c.token("null")?;
            }
            "\"object\"" => {
                once(OBJECT)?;
                if c.string()? == "\"error\"" {
                    return None;
                }
            }
            "\"id\"" => {
                once(ID)?;
                c.skip_value(0)?;
            }
            "\"model\"" => {
                once(MODEL)?;
                c.skip_value(0)?;
            }
            "\"error\"" => return None,
            _ => c.skip_value(0)?,
        }
        if c.token(",").is_none() {
            c.token("}")?;
            break;
        }
    }
    c.rest().is_empty().then_some(())?;
    text
}

/// `[{"index":0,"delta":{"content":"…"}` (or one tool call's arguments) then `logprobs` /
/// `finish_reason` as `null`, `}]`.
fn choice0_text<'a>(c: &mut Cursor<'a>) -> Option<Fast<'a>> {
    c.token("[")?;
    c.token("{")?;
    c.token("\"index\"")?;
    c.token(":")?;
    c.token("0")?;
    c.token(",")?;
    c.token("\"delta\"")?;
    c.token(":")?;
    c.token("{")?;
    let fast = if c.token("\"content\"").is_some() {
        c.token(":")?;
        Fast::Text(c.string()?)
    } else {
        c.token("\"tool_calls\"")?;
        c.token(":")?;
        c.token("[")?;
        c.token("{")?;
        c.token("\"index\"")?;
        c.token(":")?;
        let k = u32::try_from(c.uint()?).ok()?;
        c.token(",")?;
        c.token("\"function\"")?;
        c.token(":")?;
        c.token("{")?;
        c.token("\"arguments\"")?;
        c.token(":")?;
        let args = c.string()?;
        c.token("}")?;
        c.token("}")?;
        c.token("]")?;
        Fast::Arguments(k, args)
    };
    c.token("}")?;
    let mut finish_seen = false;
    while c.token(",").is_some() {
        // `finish_reason` must be null; members the full parse does not read (`logprobs`,
        // vLLM's `stop_reason`, …) are only checked; `index` or `delta` again would be a
        // duplicate the full parse refuses.
        match c.string()? {
            "\"finish_reason\"" if !finish_seen => {
                finish_seen = true;
                c.token(":")?;
                c.token("null")?;
            }
            "\"finish_reason\"" | "\"index\"" | "\"delta\"" => return None,
            _ => {
                c.token(":")?;
                c.skip_value(0)?;
            }
        }
    }
    c.token("}")?;
    c.token("]")?;
    Some(fast)
}

#[cfg(test)]
mod tests {
    use super::super::wire::{each_tool_call, string, Chunk};
    use super::*;
    use proptest::prelude::*;

    /// What the full parse reads from a chunk the fast path may accept.
    fn serde_read(data: &str) -> Option<(Option<u32>, String)> {
        let chunk: Chunk<'_> = serde_json::from_str(data).ok()?;
        if chunk.error.is_some() || chunk.usage.is_some() {
            return None;
        }
        let choice = chunk.choices.0?;
        if choice.finish_reason.is_some() {
            return None;
        }
        let delta = choice.delta?;
        let quoted = |e: crate::hub::Escaped<'_>| {
            Some(format!("\"{}\"", std::str::from_utf8(e.raw()).ok()?))
        };
        if let Some(text) = string(delta.content, "content").ok()? {
            return Some((None, quoted(text)?));
        }
        let mut found = None;
        each_tool_call::<()>(delta.tool_calls?, |_, call| {
            let args = string(call.function.as_ref().and_then(|f| f.arguments), "a");
            found = Some((call.index, args.ok().flatten().and_then(quoted)));
            Ok(())
        })
        .ok()?;
        let (k, args) = found?;
        Some((k, args?))
    }

    fn fast_read(data: &str) -> Option<(Option<u32>, String)> {
        match chunk(data)? {
            Fast::Text(t) => Some((None, t.to_owned())),
            Fast::Arguments(k, a) => Some((Some(k), a.to_owned())),
        }
    }

    fn text_chunk(data: &str) -> Option<&str> {
        match chunk(data)? {
            Fast::Text(t) => Some(t),
            Fast::Arguments(..) => None,
        }
    }

    #[test]
    fn recorded_shapes_take_the_fast_path() {
        let openai = r#"{"id":"chatcmpl-A","object":"chat.completion.chunk","created":1727346169,"model":"gpt-4o","system_fingerprint":"fp_5","choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}]}"#;
        assert_eq!(text_chunk(openai), Some("\"The\""));
        let echo = r#"{"id":"e","object":"chat.completion.chunk","created":1,"model":"echo","choices":[{"index":0,"delta":{"content":" a\"b\n"},"finish_reason":null}]}"#;
        assert_eq!(text_chunk(echo), Some(r#"" a\"b\n""#));
        let usage_null = r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}"#;
        assert_eq!(text_chunk(usage_null), Some("\"x\""));
        let vllm = r#"{"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"q","choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[]},"finish_reason":null,"stop_reason":null}],"obfuscation":"ab"}"#;
        assert_eq!(text_chunk(vllm), Some("\"x\""));
        assert_eq!(fast_read(vllm), serde_read(vllm));
        for refused in [
            r#"{"choices":[{"index":1,"delta":{"content":"x"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null,"delta":{}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"stop_reason":[}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x","refusal":null},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"\u00e9"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null},{"index":1,"delta":{}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"error":null}"#,
            r#"{"id":"a","id":"b","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]} x"#,
            r#"{"choices":[{"index":00,"delta":{"content":"x"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x"}},{"index":1}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"x"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":01,"function":{"arguments":"x"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":4294967296,"function":{"arguments":"x"}}]},"finish_reason":null}]}"#,
        ] {
            assert_eq!(chunk(refused), None, "{refused}");
        }
        let args = r#"{"id":"chatcmpl-A","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp_5","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}]}"#;
        assert_eq!(chunk(args), Some(Fast::Arguments(1, r#""{\"ci""#)));
        assert_eq!(fast_read(args), serde_read(args));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde(
            text in ".*",
            logprobs in any::<bool>(),
            usage in any::<bool>(),
            pad in " {0,3}",
            tail in r#"[\\"}\]a ,:]{0,6}"#,
        ) {
            let lit = serde_json::to_string(&text).unwrap();
            let lp = if logprobs { ",\"logprobs\":null" } else { "" };
            let us = if usage { ",\"usage\":null" } else { "" };
            let data = format!(
                r#"{{"id":"c",{pad}"object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{{"content":{lit}}}{lp},"finish_reason":null}}]{us}}}"#
            );
            let fast = text_chunk(&data);
            match fast {
                Some(_) => prop_assert_eq!(fast_read(&data), serde_read(&data)),
                None => prop_assert!(lit.contains("\\u"), "only \\u escapes leave the fast path: {}", lit),
            }
            let args = format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{k},"function":{{"arguments":{lit}}}}}]}}{lp},"finish_reason":null}}]{us}}}"#,
                k = text.len() % 7
            );
            match chunk(&args) {
                Some(_) => prop_assert_eq!(fast_read(&args), serde_read(&args)),
                None => prop_assert!(lit.contains("\\u"), "only \\u escapes leave the fast path: {}", lit),
            }
            for mangled in [
                format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"{tail}"#),
                format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"a"}}{tail}"#),
                format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{tail}"#),
                format!(r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"x"}}{tail}"#),
            ] {
                if chunk(&mangled).is_some() {
                    prop_assert_eq!(fast_read(&mangled), serde_read(&mangled));
                }
            }
        }
    }
}
