//! The hub's answer form: a stream of [`Event`]s every provider decoder emits and every
//! client encoder consumes. A non-streamed answer is the same events delivered at once.
//!
//! Strings are carried as they were written inside the upstream's JSON string literals
//! ([`Escaped`]), so text passes from one JSON protocol to another by copying bytes, never
//! decoded and re-escaped on the hot path.

use std::borrow::Cow;

use crate::Usage;

/// The contents of a JSON string literal exactly as written between its quotes (escape
/// sequences kept). Copying it between quotes in any JSON output is always valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(&'a [u8]);

impl<'a> Escaped<'a> {
    /// Wraps bytes that are a valid JSON string literal's contents (the caller took them
    /// from a parsed JSON string, or escaped them with `json_out::escaped`).
    pub fn from_json_contents(raw: &'a [u8]) -> Self {
        Self(raw)
    }

    /// Wraps a plain string that needs no escaping (`None` when it does: quotes,
    /// backslashes or control characters).
    pub fn plain(s: &'a str) -> Option<Self> {
        s.bytes()
            .all(|b| b >= 0x20 && b != b'"' && b != b'\\')
            .then_some(Self(s.as_bytes()))
    }

    /// The escaped bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.0
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The string's value (escapes decoded); borrowed when there were none.
    pub fn decode(&self) -> Cow<'a, str> {
        if !self.0.contains(&b'\\') {
            if let Ok(s) = std::str::from_utf8(self.0) {
                return Cow::Borrowed(s);
            }
        }
        let mut quoted = Vec::with_capacity(self.0.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(self.0);
        quoted.push(b'"');
        match serde_json::from_slice::<String>(&quoted) {
            Ok(s) => Cow::Owned(s),
            Err(_) => String::from_utf8_lossy(self.0),
        }
    }
}

/// One step of an answer. The grammar every decoder emits and every encoder may rely on:
/// `Start`, then any number of blocks (`BlockStart`, `Delta`s, `BlockStop`; blocks may
/// interleave only when the upstream interleaves them), `Usage` at any point, `Stop` once
/// at the end. Indexes number blocks from 0 in the order they open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// The answer begins; the upstream's answer id and model name when it sent them.
    Start {
        /// Upstream answer id (`msg_…`, `chatcmpl-…`, `resp_…`, Gemini `responseId`).
        id: Option<Escaped<'a>>,
        /// Model the upstream says answered.
        model: Option<Escaped<'a>>,
    },
    /// A content block opens.
    BlockStart {
        /// Block index (0, 1, … in opening order).
        index: u32,
        /// What the block holds.
        block: Block<'a>,
    },
    /// More content for an open block.
    Delta {
        /// Block index.
        index: u32,
        /// The content.
        delta: Delta<'a>,
    },
    /// A block is complete.
    BlockStop {
        /// Block index.
        index: u32,
    },
    /// Usage so far: each event carries the whole running total (replaces the previous).
    Usage(Usage),
    /// Why the answer ended; sent once, after the last block.
    Stop {
        /// The normalised reason.
        reason: StopReason,
        /// The stop sequence that matched, when the upstream names it.
        sequence: Option<Escaped<'a>>,
    },
}

/// The kind of a content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block<'a> {
    /// Answer text.
    Text,
    /// Visible reasoning ("thinking"); may end with a [`Delta::Signature`].
    Thinking,
    /// Reasoning the provider returns encrypted only (Anthropic `redacted_thinking`,
    /// OpenAI `encrypted_content`).
    RedactedThinking {
        /// The opaque payload, to be replayed verbatim to the same provider.
        data: Escaped<'a>,
    },
    /// A function call; its arguments follow as [`Delta::Arguments`] fragments.
    ToolCall {
        /// Call id (`call_…`, `toolu_…`; synthesised by the decoder when the upstream has
        /// none, as Gemini).
        id: Escaped<'a>,
        /// Function name.
        name: Escaped<'a>,
    },
    /// A refusal (OpenAI `refusal`), text the model gave instead of an answer.
    Refusal,
}

/// Content for an open block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta<'a> {
    /// Text for a [`Block::Text`].
    Text(Escaped<'a>),
    /// Reasoning text for a [`Block::Thinking`].
    Thinking(Escaped<'a>),
    /// The signature that closes a [`Block::Thinking`] (Anthropic `signature_delta`,
    /// Gemini `thoughtSignature`).
    Signature(Escaped<'a>),
    /// A fragment of a [`Block::ToolCall`]'s arguments: JSON text, itself escaped as a JSON
    /// string's contents (exactly OpenAI's `arguments` / Anthropic's `partial_json`). The
    /// concatenation of all fragments is one JSON object; no fragments means `{}`.
    Arguments(Escaped<'a>),
    /// Text for a [`Block::Refusal`].
    Refusal(Escaped<'a>),
}

/// Why an answer ended, normalised across protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its turn (OpenAI `stop`, Anthropic `end_turn`, Gemini `STOP`).
    EndTurn,
    /// The output token limit was reached (`length`, `max_tokens`, `MAX_TOKENS`).
    MaxTokens,
    /// A client stop sequence matched.
    StopSequence,
    /// The model called tools and waits for their results.
    ToolUse,
    /// A safety or content filter stopped the answer (`content_filter`, `SAFETY`, …).
    ContentFilter,
    /// The model refused (Anthropic `refusal`).
    Refusal,
    /// A long-running turn paused (Anthropic `pause_turn`); the client may continue it.
    PauseTurn,
}
