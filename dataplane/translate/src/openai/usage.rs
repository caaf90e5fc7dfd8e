//! OpenAI `usage` read from a non-streamed answer or from one stream event.

use serde::Deserialize;

use crate::Usage;

#[derive(Deserialize)]
pub(super) struct OaUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<OaPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<OaCompletionDetails>,
}

#[derive(Deserialize)]
struct OaPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OaCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct OaUsageCarrier {
    #[serde(default)]
    pub(super) usage: Option<OaUsage>,
    #[serde(default)]
    pub(super) choices: Option<Vec<serde::de::IgnoredAny>>,
}

impl From<OaUsage> for Usage {
    fn from(u: OaUsage) -> Self {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let completion = u.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            // Saturating: the counts come from the network.
            total_tokens: u
                .total_tokens
                .unwrap_or_else(|| prompt.saturating_add(completion)),
            cached_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
        }
    }
}

/// Usage from a non-streamed OpenAI `chat.completion` body (`None` if absent/invalid).
///
/// `usage` sits at the end of OpenAI's answers (only scalar members such as
/// `system_fingerprint` follow it), so the scan looks for the last `"usage":` key and parses
/// only that object, after checking that what follows it closes the root object. A quote
/// inside a JSON string is always escaped, so the pattern cannot match message text.
/// Anything else falls back to parsing the whole body.
pub fn scan_usage(body: &[u8]) -> Option<Usage> {
    if let Some(u) = usage_near_end(body) {
        return u;
    }
    serde_json::from_slice::<OaUsageCarrier>(body)
        .ok()?
        .usage
        .map(Usage::from)
}

/// `Some(answer)` when the fast path could decide; `None` to fall back.
fn usage_near_end(body: &[u8]) -> Option<Option<Usage>> {
    let pos = memchr::memmem::rfind(body, b"\"usage\"")?;
    let rest = body.get(pos + 7..)?.trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start();
    if rest.first() != Some(&b'{') {
        return None;
    }
    let mut objects = serde_json::Deserializer::from_slice(rest).into_iter::<OaUsage>();
    let usage = objects.next()?.ok()?;
    closes_root(rest.get(objects.byte_offset()..)?).then(|| Some(Usage::from(usage)))
}

/// Whether `tail` is only scalar members and then the one `}` that ends the document:
/// then the object holding `usage` is the root, not something nested in it.
fn closes_root(tail: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut closes = 0;
    for &b in tail {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if closes == 0 => in_string = true,
            b'{' | b'[' | b']' | b'"' => return false,
            b'}' => closes += 1,
            _ if closes > 0 && !b.is_ascii_whitespace() => return false,
            _ => {}
        }
    }
    closes == 1 && !in_string
}
