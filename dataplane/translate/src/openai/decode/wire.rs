//! Borrowed shapes of OpenAI Chat Completions answers: a `chat.completion.chunk` (one SSE
//! event) and a whole `chat.completion`. Strings stay `&RawValue` (their JSON literal,
//! escapes kept) so text reaches the hub events without being decoded; only choice 0 is
//! kept from `choices`, without collecting the array.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::usage::OaUsage;
use crate::hub::Escaped;
use crate::json_out::BStr;

/// One streamed `chat.completion.chunk` (or an error object sent in its place).
#[derive(Deserialize)]
pub(super) struct Chunk<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub model: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub object: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub choices: Choice0<StreamChoice<'a>>,
    #[serde(default)]
    pub usage: Option<OaUsage>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

/// A whole `chat.completion` body.
#[derive(Deserialize)]
pub(super) struct Completion<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub model: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub object: Option<BStr<'a>>,
    #[serde(default, borrow)]
    pub choices: Choice0<WholeChoice<'a>>,
    #[serde(default)]
    pub usage: Option<OaUsage>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

/// `choices[i]` of a chunk.
#[derive(Deserialize)]
pub(super) struct StreamChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub delta: Option<Message<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<BStr<'a>>,
}

/// `choices[i]` of a whole answer.
#[derive(Deserialize)]
pub(super) struct WholeChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub message: Option<Message<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<BStr<'a>>,
}

/// A chunk's `delta` or a whole answer's `message` (the same members).
#[derive(Deserialize)]
pub(super) struct Message<'a> {
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
    /// DeepSeek, vLLM, Qwen and others.
    #[serde(default, borrow)]
    pub reasoning_content: Option<&'a RawValue>,
    /// OpenRouter, Ollama and others.
    #[serde(default, borrow)]
    pub reasoning: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub refusal: Option<&'a RawValue>,
    /// Read entry by entry with [`each_tool_call`], never collected.
    #[serde(default, borrow)]
    pub tool_calls: Option<&'a RawValue>,
}

/// One `tool_calls` entry (a streamed fragment, or a whole call).
#[derive(Deserialize)]
pub(super) struct ToolCall<'a> {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub function: Option<Function<'a>>,
}

/// `tool_calls[i].function`.
#[derive(Deserialize)]
pub(super) struct Function<'a> {
    #[serde(default, borrow)]
    pub name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub arguments: Option<&'a RawValue>,
}

/// Something in `choices` with an `index`.
pub(super) trait Indexed {
    fn index(&self) -> u32;
}

impl Indexed for StreamChoice<'_> {
    fn index(&self) -> u32 {
        self.index
    }
}

impl Indexed for WholeChoice<'_> {
    fn index(&self) -> u32 {
        self.index
    }
}

/// The choice with index 0 of a `choices` array (`null` and `[]` give none). Other
/// choices are checked as JSON and dropped: the hub answers with one choice.
pub(super) struct Choice0<T>(pub Option<T>);

impl<T> Default for Choice0<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de> + Indexed> Deserialize<'de> for Choice0<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Indexed> Visitor<'de> for V<T> {
            type Value = Choice0<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Choice0(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Choice0(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut first = None;
                while let Some(choice) = seq.next_element::<T>()? {
                    if choice.index() == 0 && first.is_none() {
                        first = Some(choice);
                    }
                }
                Ok(Choice0(first))
            }
        }
        d.deserialize_option(V(PhantomData))
    }
}

/// The contents of a JSON string literal (`Some`), `null` (`None`), or an error naming
/// `field` for anything else.
pub(super) fn string<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<Escaped<'a>>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let text = raw.get().as_bytes();
    if text == b"null" {
        return Ok(None);
    }
    text.strip_prefix(b"\"")
        .and_then(|t| t.strip_suffix(b"\""))
        .map(|inner| Some(Escaped::from_json_contents(inner)))
        .ok_or_else(|| format!("'{field}' must be a string"))
}

/// Calls `f` with each entry of a `tool_calls` array and its position, in order.
pub(super) fn each_tool_call<'a, E>(
    raw: &'a RawValue,
    mut f: impl FnMut(usize, ToolCall<'a>) -> Result<(), E>,
) -> Result<(), Result<E, String>> {
    struct V<'f, 'a, E> {
        f: &'f mut dyn FnMut(usize, ToolCall<'a>) -> Result<(), E>,
        failed: &'f mut Option<E>,
    }
    impl<'de: 'a, 'a, E> Visitor<'de> for V<'_, 'a, E> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of tool calls")
        }
        fn visit_unit<Er>(self) -> Result<(), Er> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while let Some(call) = seq.next_element::<ToolCall<'de>>()? {
                if let Err(e) = (self.f)(i, call) {
                    *self.failed = Some(e);
                    // Stop reading; the caller returns the stored error.
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Err(de::Error::custom("stopped"));
                }
                i += 1;
            }
            Ok(())
        }
    }
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let result = de.deserialize_any(V {
        f: &mut f,
        failed: &mut failed,
    });
    match (result, failed) {
        (_, Some(e)) => Err(Ok(e)),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(Err(format!("invalid 'tool_calls': {e}"))),
    }
}
