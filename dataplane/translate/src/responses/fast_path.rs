//! Validating fast path for the delta events that make up nearly all of a streamed answer
//! (`response.output_text.delta`, `response.function_call_arguments.delta`,
//! `response.reasoning_summary_text.delta`, `response.refusal.delta`).
//!
//! The members are matched in any order with the crate's JSON [`Cursor`]; anything it does
//! not handle — a `\u` escape, a repeated or escaped key, a malformed literal — returns
//! `None` and goes through serde, so taking the fast path never changes the result.

use crate::json_out::Cursor;

/// Which delta event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeltaKind {
    /// `response.output_text.delta` (sub index: `content_index`).
    Text,
    /// `response.refusal.delta` (sub index: `content_index`).
    Refusal,
    /// `response.function_call_arguments.delta`.
    Arguments,
    /// `response.reasoning_summary_text.delta` (sub index: `summary_index`).
    Summary,
    /// `response.reasoning_text.delta` (sub index: `content_index`).
    ReasoningText,
}

impl DeltaKind {
    /// The kind for an event type.
    pub(super) fn of(ty: &str) -> Option<Self> {
        Some(match ty {
            "response.output_text.delta" => Self::Text,
            "response.refusal.delta" => Self::Refusal,
            "response.function_call_arguments.delta" => Self::Arguments,
            "response.reasoning_summary_text.delta" => Self::Summary,
            "response.reasoning_text.delta" => Self::ReasoningText,
            _ => return None,
        })
    }
}

/// A delta event read by the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FastDelta<'a> {
    pub(super) kind: DeltaKind,
    pub(super) output_index: u32,
    /// `content_index` or `summary_index` (0 when absent).
    pub(super) sub: u32,
    /// The delta's escaped contents (no quotes).
    pub(super) delta: &'a [u8],
}

fn unquote(lit: &str) -> Option<&[u8]> {
    lit.as_bytes().strip_prefix(b"\"")?.strip_suffix(b"\"")
}

fn small(n: u64) -> Option<u32> {
    u32::try_from(n).ok()
}

/// Reads a delta event, or `None` when serde must.
pub(super) fn fast_delta(data: &str) -> Option<FastDelta<'_>> {
    let mut c = Cursor::new(data);
    c.token("{")?;
    let (mut kind, mut output_index, mut sub, mut delta) = (None, None, None, None);
    let (mut seq, mut item_id, mut obfuscation, mut logprobs) = (false, false, false, false);
    // A repeated member is an error for serde's derive: leave it to serde.
    fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
        slot.is_none().then(|| *slot = Some(v))
    }
    fn flag(seen: &mut bool) -> Option<()> {
        (!*seen).then(|| *seen = true)
    }
    loop {
        let key = c.string()?;
        c.token(":")?;
        match key {
            "\"type\"" => {
                let ty = std::str::from_utf8(unquote(c.string()?)?).ok()?;
                once(&mut kind, DeltaKind::of(ty)?)?;
            }
            "\"output_index\"" => once(&mut output_index, small(c.uint()?)?)?,
            "\"content_index\"" | "\"summary_index\"" => once(&mut sub, small(c.uint()?)?)?,
            "\"delta\"" => once(&mut delta, unquote(c.string()?)?)?,
            "\"sequence_number\"" => {
                c.uint()?;
                flag(&mut seq)?;
            }
            "\"item_id\"" => {
                c.string()?;
                flag(&mut item_id)?;
            }
            "\"obfuscation\"" => {
                c.string()?;
                flag(&mut obfuscation)?;
            }
            "\"logprobs\"" => {
                c.skip_value(1)?;
                flag(&mut logprobs)?;
            }
            // Other members are not read: serde would skip them too.
            _ => return None,
        }
        if c.token(",").is_none() {
            c.token("}")?;
            break;
        }
    }
    if !c.rest().is_empty() {
        return None;
    }
    Some(FastDelta {
        kind: kind?,
        output_index: output_index?,
        sub: sub.unwrap_or(0),
        delta: delta?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::wire::{escaped, StreamEvent};
    use super::*;
    use proptest::prelude::*;

    fn serde_delta(data: &str) -> Option<(DeltaKind, u32, u32, Vec<u8>)> {
        let ev: StreamEvent<'_> = serde_json::from_str(data).ok()?;
        let kind = DeltaKind::of(&ev.ty)?;
        Some((
            kind,
            ev.output_index?,
            ev.content_index.or(ev.summary_index).unwrap_or(0),
            escaped(ev.delta)?.raw().to_vec(),
        ))
    }

    fn fast(data: &str) -> Option<(DeltaKind, u32, u32, Vec<u8>)> {
        fast_delta(data).map(|d| (d.kind, d.output_index, d.sub, d.delta.to_vec()))
    }

    #[test]
    fn api_shapes_take_the_fast_path() {
        let text = r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" \"Luna\"\n","logprobs":[],"obfuscation":"Xk"}"#;
        assert_eq!(
            fast(text),
            Some((DeltaKind::Text, 0, 0, br#" \"Luna\"\n"#.to_vec()))
        );
        assert_eq!(fast(text), serde_delta(text));
        let args = r#"{"type":"response.function_call_arguments.delta","sequence_number":7,"item_id":"fc_1","output_index":1,"delta":"{\""}"#;
        assert_eq!(
            fast(args),
            Some((DeltaKind::Arguments, 1, 0, br#"{\""#.to_vec()))
        );
        let summary = r#"{ "summary_index": 2, "output_index": 0, "type": "response.reasoning_summary_text.delta", "delta": "x", "item_id": "rs_1", "sequence_number": 9 }"#;
        assert_eq!(
            fast(summary),
            Some((DeltaKind::Summary, 0, 2, b"x".to_vec()))
        );
    }

    #[test]
    fn surprises_fall_back_to_serde() {
        for data in [
            r#"{"type":"response.output_text.delta","output_index":0,"delta":"\u00e9"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"delta":"a","delta":"b"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"delta":"a","extra":1}"#,
            r#"{"type":"response.completed","output_index":0,"delta":"a"}"#,
            r#"{"type":"response.output_text.delta","output_index":-1,"delta":"a"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"delta":"a"} x"#,
            r#"{"type":"response.output_text.delta","output_index":0}"#,
        ] {
            assert_eq!(fast(data), None, "{data}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn fast_path_agrees_with_serde(text in ".*", index in 0u32..100, pad in " {0,3}", tail in r#"[\\"}a \n,]{0,5}"#) {
            let lit = serde_json::to_string(&text).unwrap();
            let data = format!(r#"{{"type":"response.output_text.delta",{pad}"sequence_number":3,"item_id":"msg_x","output_index":{index},"content_index":0,"delta":{lit},"logprobs":[]}}{pad}"#);
            match fast(&data) {
                Some(f) => prop_assert_eq!(Some(f), serde_delta(&data)),
                None => prop_assert!(lit.contains("\\u"), "only \\u escapes leave the fast path: {}", lit),
            }
            let mangled = format!(r#"{{"type":"response.output_text.delta","output_index":{index},"delta":"{tail}"#);
            if let Some(f) = fast(&mangled) {
                prop_assert_eq!(Some(f), serde_delta(&mangled));
            }
        }
    }
}
