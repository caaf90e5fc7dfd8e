//! The structural pre-scan: nesting depth, members per object and entries of `tools`,
//! bounded before the body is parsed.

use std::ops::Range;

use super::limits::RequestLimits;
use crate::TranslateError;

/// Deepest nesting the shape scan tracks: the config caps `max_json_depth` here, and
/// serde_json refuses deeper input anyway.
const MAX_TRACKED_DEPTH: usize = 128;

/// Checks nesting depth, members per object and the entries of `tools` (or `functions`)
/// in one pass over the body, before it is parsed: a few comparisons per byte outside
/// strings, a short loop or `memchr` inside them, no allocation. Malformed JSON is let
/// through (the parser reports it). A refusal names the top-level member it happened in.
#[inline]
pub(crate) fn check_shape(body: &[u8], limits: &RequestLimits) -> Result<(), TranslateError> {
    let max_depth = limits.max_json_depth.min(MAX_TRACKED_DEPTH);
    // Fast path: the `{`/`[` bytes bound the depth and the commas bound every count (both
    // over-count, as bytes inside strings count too), so a body under both limits needs no
    // structural scan. One branch-free pass that the compiler vectorises.
    let (mut opens, mut commas) = (0usize, 0usize);
    for chunk in body.chunks(128) {
        // Byte-wide counters over short chunks: the loop compiles to vector compares.
        let (mut o, mut n) = (0u8, 0u8);
        for &b in chunk {
            // `[` is 0x5b and `{` is 0x7b: one compare after setting bit 5 finds both.
            o += u8::from(b | 0x20 == b'{');
            n += u8::from(b == b',');
        }
        opens += usize::from(o);
        commas += usize::from(n);
    }
    if opens <= max_depth && commas < limits.max_tools.min(limits.max_object_keys) {
        return Ok(());
    }
    // Commas still allowed in the open container at each depth (a container with n
    // commas has n + 1 entries).
    let mut commas_left = [0usize; MAX_TRACKED_DEPTH + 1];
    let mut depth = 0usize;
    // The last string at depth 1, and the top-level member being scanned (key spans).
    let mut last_str = 0..0;
    let mut top_key: Option<Range<usize>> = None;
    // The array open at depth 2 is the value of `tools` / `functions` (by the raw key; an
    // escaped key is counted after parsing instead).
    let mut tools_open = false;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        i += 1;
        match c {
            b'"' => {
                let start = i;
                // The closing quote: skip escapes (a backslash and the byte after it).
                loop {
                    let Some(k) = quote_or_backslash(body.get(i..).unwrap_or_default()) else {
                        return Ok(());
                    };
                    i += k + 1;
                    if body.get(i - 1) == Some(&b'"') {
                        break;
                    }
                    i += 1;
                }
                if depth == 1 {
                    last_str = start..i - 1;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                let tools = c == b'[' && depth == 2 && is_tools_key(body, &top_key);
                let left = if c == b'{' {
                    limits.max_object_keys
                } else if tools {
                    limits.max_tools
                } else {
                    usize::MAX
                };
                if depth == 2 {
                    tools_open = tools;
                }
                match commas_left.get_mut(depth) {
                    Some(n) if depth <= max_depth => *n = left.saturating_sub(1),
                    _ => {
                        let (param, what) = shape_site(body, depth, &top_key);
                        return Err(TranslateError {
                            message: format!(
                                "{what} is nested deeper than the limit of {max_depth} levels"
                            ),
                            param,
                        });
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b':' if depth == 1 => top_key = Some(last_str.clone()),
            b',' => match commas_left.get_mut(depth) {
                Some(0) => {
                    let (param, what) = shape_site(body, depth, &top_key);
                    let message = if depth == 2 && tools_open {
                        format!(
                            "{what} has more than the limit of {} entries",
                            limits.max_tools
                        )
                    } else {
                        format!(
                            "an object in {what} has more than the limit of {} members",
                            limits.max_object_keys
                        )
                    };
                    return Err(TranslateError { message, param });
                }
                Some(n) => *n -= 1,
                None => {}
            },
            _ => {}
        }
    }
    Ok(())
}

/// The first `"` or `\` in `s`. Keys and short values end within a few words, where
/// testing 8 bytes at a time beats the set-up of `memchr`; long text goes to `memchr`.
pub(super) fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_le_bytes([b'\\'; 8]);
    const WORDS_BEFORE_MEMCHR: usize = 8;
    let mut done = 0;
    while let Some(word) = s.get(done..done + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let (q, b) = (w ^ QUOTES, w ^ BACKSLASHES);
        // A zero byte in `q` or `b` is a match; the lowest flagged byte is always a true
        // one (a false flag can only sit above a true zero).
        let hits = ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGH;
        if hits != 0 {
            return Some(done + (hits.trailing_zeros() / 8) as usize);
        }
        done += 8;
        if done == 8 * WORDS_BEFORE_MEMCHR {
            return memchr::memchr2(b'"', b'\\', s.get(done..)?).map(|k| done + k);
        }
    }
    // Less than a word left.
    s.get(done..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|k| done + k)
}

/// Whether the top-level key spanning `key` is `tools` or `functions` as written.
fn is_tools_key(body: &[u8], key: &Option<Range<usize>>) -> bool {
    matches!(
        key.clone().and_then(|k| body.get(k)),
        Some(b"tools" | b"functions")
    )
}

/// The `param` and the wording for a shape refusal at `depth` inside the top-level member
/// whose key spans `key` (as written, escapes and all).
fn shape_site(body: &[u8], depth: usize, key: &Option<Range<usize>>) -> (Option<String>, String) {
    match key
        .clone()
        .and_then(|k| body.get(k))
        .map(std::str::from_utf8)
    {
        Some(Ok(k)) if depth > 1 => (Some(k.to_string()), format!("`{k}`")),
        _ => (None, "the request body".to_string()),
    }
}
