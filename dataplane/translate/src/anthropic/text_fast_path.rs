//! Validating fast path for the `text_delta` event that makes up nearly all of a streamed
//! text answer.

use crate::json_out;

/// Fast path for the event that makes up nearly all of a text answer, in the exact compact
/// form Anthropic sends:
/// `{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}`
/// (trailing padding allowed). Returns the block index and the text's JSON string literal,
/// still escaped.
///
/// Anything else — other key order or spacing, `\u` escapes, control characters, a
/// malformed literal — returns `None` and goes through serde, so accepting input here
/// never changes the result, only skips the generic deserialiser.
pub(super) fn fast_text_delta(data: &str) -> Option<(u32, &str)> {
    const HEAD: &str = "{\"type\":\"content_block_delta\",\"index\":";
    const MID: &str = ",\"delta\":{\"type\":\"text_delta\",\"text\":";
    let rest = data.strip_prefix(HEAD)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let (index, rest) = rest.split_at_checked(digits)?;
    // At most 9 digits: always a `u32`. A leading zero is not JSON: serde decides.
    if index.len() > 1 && index.starts_with('0') {
        return None;
    }
    let index = index.parse().ok()?;
    let lit = rest.strip_prefix(MID)?;
    let end = json_out::simple_string_end(lit.as_bytes())?;
    let (lit, tail) = lit.split_at_checked(end)?;
    (tail.trim_end_matches([' ', '\t', '\n', '\r']) == "}}").then_some((index, lit))
}

#[cfg(test)]
mod fast_path_tests {
    use super::super::wire::StreamEvent;
    use super::*;
    use proptest::prelude::*;

    fn serde_text(data: &str) -> Option<(u32, String)> {
        let ev: StreamEvent<'_> = serde_json::from_str(data).ok()?;
        let d = ev.delta?;
        if ev.ty == "content_block_delta" && d.ty.as_deref() == Some("text_delta") {
            Some((ev.index?, d.text?.get().to_owned()))
        } else {
            None
        }
    }

    #[test]
    fn recorded_shape_takes_the_fast_path() {
        let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ican():\n    return \"A\""}}       "#;
        assert_eq!(
            fast_text_delta(data),
            Some((0, r#""ican():\n    return \"A\"""#))
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":07,"delta":{"type":"text_delta","text":"x"}}"#
            ),
            None
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\u00e9"}}"#
            ),
            None
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":1}"#
            ),
            None
        );
        assert_eq!(
            fast_text_delta(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x\"}}"#
            ),
            None
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde(text in ".*", index in 0u32..100, pad in " {0,8}", tail in r#"[\\"}a \n]{0,5}"#) {
            let lit = serde_json::to_string(&text).unwrap();
            let data = format!(r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":{lit}}}}}{pad}"#);
            let fast = fast_text_delta(&data);
            if let Some((i, f)) = fast {
                prop_assert_eq!(Some((i, f.to_owned())), serde_text(&data));
            } else {
                prop_assert!(lit.contains("\\u"), "only \\u escapes leave the fast path: {}", lit);
            }
            // Truncated and mangled events: whatever the fast path accepts, serde agrees on.
            let mangled = format!(r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":"{tail}"#);
            if let Some((i, f)) = fast_text_delta(&mangled) {
                prop_assert_eq!(Some((i, f.to_owned())), serde_text(&mangled));
            }
        }
    }
}
