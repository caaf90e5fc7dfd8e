//! The built-in `echo` provider: answers locally and deterministically with the last user
//! message, streamed word by word with configurable pacing. It lets `sluice up` answer with
//! no provider key at all and gives smoke and load tests a gateway-only path.
//!
//! Nothing here grows with the request: one streaming pass over `messages` counts the
//! prompt's words and keeps at most [`MAX_ECHO_CHARS`] of the last user message, and the
//! answer's events are written one at a time by [`EchoStream`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::chat_request::{write_json_str, ChatRequest};

/// Most characters of the last user message that the answer repeats.
pub const MAX_ECHO_CHARS: usize = 8192;

/// What the answer says before the echoed text.
const PREFIX: &str = "Echo: ";

/// A computed echo answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoAnswer {
    /// `Echo: ` and at most [`MAX_ECHO_CHARS`] characters of the last user message.
    pub text: String,
    /// Prompt "tokens" (words across all messages).
    pub prompt_tokens: u64,
    /// Completion "tokens": the pieces the answer streams in (`text` split at each space).
    pub completion_tokens: u64,
}

/// Computes the answer for a request: the last user message, prefixed with `Echo: `.
///
/// A message's text is its `content` string, or the `text` of its content parts joined
/// with spaces (content with a part that is not an object with a string `text` counts as
/// empty, as does any other content).
pub fn answer(req: &ChatRequest) -> EchoAnswer {
    let mut scan = Scan::default();
    if let Some(raw) = req.raw_field("messages") {
        let mut de = serde_json::Deserializer::from_slice(raw);
        // `ChatRequest::parse` validated the array; should this pass fail anyway, the
        // answer is the empty echo rather than an error.
        if MessagesSeed(&mut scan).deserialize(&mut de).is_err() {
            scan = Scan::default();
        }
    }
    let mut text = String::with_capacity(PREFIX.len() + scan.last_user.len());
    text.push_str(PREFIX);
    text.push_str(&scan.last_user);
    let completion_tokens = memchr::memchr_iter(b' ', text.as_bytes()).count() as u64 + 1;
    EchoAnswer {
        text,
        prompt_tokens: scan.prompt_tokens,
        completion_tokens,
    }
}

/// State of the pass over `messages`.
#[derive(Default)]
struct Scan {
    prompt_tokens: u64,
    /// Text of the last user message so far (capped).
    last_user: String,
    /// Text of the message being read (capped), and its words.
    current: Capped,
    words: u64,
}

/// A string that keeps at most [`MAX_ECHO_CHARS`] characters of what is pushed onto it.
#[derive(Default)]
struct Capped {
    text: String,
    chars: usize,
}

impl Capped {
    fn clear(&mut self) {
        self.text.clear();
        self.chars = 0;
    }

    fn push(&mut self, s: &str) {
        let room = MAX_ECHO_CHARS - self.chars;
        if room == 0 {
            return;
        }
        let (end, n) = match s.char_indices().nth(room) {
            Some((end, _)) => (end, room),
            None => (s.len(), s.chars().count()),
        };
        self.text.push_str(s.get(..end).unwrap_or_default());
        self.chars += n;
    }
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// The `messages` array.
struct MessagesSeed<'s>(&'s mut Scan);

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of messages")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(MessageSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One message: its words are counted, its text kept if it is a user message.
struct MessageSeed<'s>(&'s mut Scan);

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let scan = self.0;
        scan.current.clear();
        scan.words = 0;
        let mut user = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Role => user = map.next_value::<Role>()?.0,
                Key::Content => {
                    scan.current.clear();
                    scan.words = 0;
                    if !map.next_value_seed(ContentSeed(&mut *scan))? {
                        scan.current.clear();
                        scan.words = 0;
                    }
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        scan.prompt_tokens = scan.prompt_tokens.saturating_add(scan.words);
        if user {
            std::mem::swap(&mut scan.last_user, &mut scan.current.text);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key of a message: only two matter.
enum Key {
    Role,
    Content,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "role" => Key::Role,
                    "content" => Key::Content,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Whether a `role` value is the string `user`.
struct Role(bool);

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Role(false))
    }
}

impl<'de> Visitor<'de> for Role {
    type Value = Role;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a role")
    }
    fn visit_str<E>(self, v: &str) -> Result<Role, E> {
        Ok(Role(v == "user"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Role, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Role, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Role, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Role, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Role, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Role, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Role, E> {
        Ok(self)
    }
}

/// A message's `content`: a string, or an array of parts whose `text`s are joined with
/// spaces. Answers whether it was usable (`false` leaves the message without text).
struct ContentSeed<'s>(&'s mut Scan);

impl<'de> DeserializeSeed<'de> for ContentSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("message content")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        self.0.current.push(v);
        self.0.words = words(v);
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut part = Part {
            scan: self.0,
            texts: 0,
            ok: true,
        };
        while seq.next_element_seed(&mut part)?.is_some() {}
        Ok(part.ok)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
}

/// The parts of one `content` array, read one after the other.
struct Part<'s> {
    scan: &'s mut Scan,
    /// Parts with a `text` so far (a space goes between two).
    texts: usize,
    /// Every part so far was an object whose `text` is a string or null, given once.
    ok: bool,
}

impl<'de> DeserializeSeed<'de> for &mut Part<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Part<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a content part")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_text = false;
        while let Some(key) = map.next_key::<PartKey>()? {
            if !key.0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let text = map.next_value_seed(PartText(self.ok.then_some(&mut *self)))?;
            if seen_text || !text {
                self.ok = false;
            }
            seen_text = true;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.ok = false;
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.ok = false;
        Ok(())
    }
}

/// Whether a key of a content part is `text`.
struct PartKey(bool);

impl<'de> serde::Deserialize<'de> for PartKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PartKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<PartKey, E> {
                Ok(PartKey(v == "text"))
            }
        }
        d.deserialize_str(V)
    }
}

/// A part's `text`: a string is appended (when the parts so far are usable), `null` is
/// no text; anything else makes the content unusable (answers `false`).
struct PartText<'p, 's>(Option<&'p mut Part<'s>>);

impl<'de> DeserializeSeed<'de> for PartText<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PartText<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        if let Some(part) = self.0 {
            if part.texts > 0 {
                part.scan.current.push(" ");
            }
            part.texts += 1;
            part.scan.current.push(v);
            part.scan.words = part.scan.words.saturating_add(words(v));
        }
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn usage_json(out: &mut BytesMut, a: &EchoAnswer) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b"{\"prompt_tokens\":");
    out.extend_from_slice(b.format(a.prompt_tokens).as_bytes());
    out.extend_from_slice(b",\"completion_tokens\":");
    out.extend_from_slice(b.format(a.completion_tokens).as_bytes());
    out.extend_from_slice(b",\"total_tokens\":");
    out.extend_from_slice(
        b.format(a.prompt_tokens.saturating_add(a.completion_tokens))
            .as_bytes(),
    );
    out.put_u8(b'}');
}

/// Non-streamed chat.completion body.
pub fn completion(a: &EchoAnswer, id: &str, model: &str) -> Bytes {
    completion_at(a, id, model, now())
}

fn completion_at(a: &EchoAnswer, id: &str, model: &str, created: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(256 + a.text.len());
    out.extend_from_slice(b"{\"id\":");
    write_json_str(&mut out, id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
    out.extend_from_slice(b",\"model\":");
    write_json_str(&mut out, model);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    write_json_str(&mut out, &a.text);
    out.extend_from_slice(b"},\"finish_reason\":\"stop\"}],\"usage\":");
    usage_json(&mut out, a);
    out.put_u8(b'}');
    out.freeze()
}

/// Which event comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Role,
    Piece,
    Finish,
    Usage,
    Done,
    End,
}

/// The streamed answer as OpenAI SSE events, written one at a time: role chunk, one chunk
/// per word, finish chunk, optional usage chunk, `[DONE]`.
pub struct EchoStream<'a> {
    answer: &'a EchoAnswer,
    id: &'a str,
    model: &'a str,
    created: u64,
    include_usage: bool,
    next: Next,
    /// Where the next piece starts in `answer.text` (at the space it was split at, but
    /// for the first piece).
    pos: usize,
    first: bool,
}

impl<'a> EchoStream<'a> {
    /// The events for `answer`, stamped now.
    pub fn new(answer: &'a EchoAnswer, id: &'a str, model: &'a str, include_usage: bool) -> Self {
        Self::at(answer, id, model, include_usage, now())
    }

    fn at(
        answer: &'a EchoAnswer,
        id: &'a str,
        model: &'a str,
        include_usage: bool,
        created: u64,
    ) -> Self {
        EchoStream {
            answer,
            id,
            model,
            created,
            include_usage,
            next: Next::Role,
            pos: 0,
            first: true,
        }
    }

    /// Appends the next event to `out`; `false` once there are no more.
    pub fn next_event(&mut self, out: &mut BytesMut) -> bool {
        match self.next {
            Next::Role => {
                self.head(out);
                out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
                self.next = Next::Piece;
            }
            Next::Piece => {
                // Pieces are `text` split at each space, every one after the first
                // keeping the space it was split at.
                let text = self.answer.text.as_str();
                let from = if std::mem::take(&mut self.first) {
                    self.pos
                } else {
                    self.pos + 1
                };
                let end = text
                    .as_bytes()
                    .get(from..)
                    .and_then(|rest| memchr::memchr(b' ', rest))
                    .map_or(text.len(), |k| from + k);
                self.head(out);
                out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
                write_json_str(out, text.get(self.pos..end).unwrap_or_default());
                out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
                self.pos = end;
                if end >= text.len() {
                    self.next = Next::Finish;
                }
            }
            Next::Finish => {
                self.head(out);
                out.extend_from_slice(
                    b",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                );
                self.next = if self.include_usage {
                    Next::Usage
                } else {
                    Next::Done
                };
            }
            Next::Usage => {
                self.head(out);
                out.extend_from_slice(b",\"choices\":[],\"usage\":");
                usage_json(out, self.answer);
                out.extend_from_slice(b"}\n\n");
                self.next = Next::Done;
            }
            Next::Done => {
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.next = Next::End;
            }
            Next::End => return false,
        }
        true
    }

    fn head(&self, out: &mut BytesMut) {
        out.extend_from_slice(b"data: {\"id\":");
        write_json_str(out, self.id);
        out.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.created).as_bytes());
        out.extend_from_slice(b",\"model\":");
        write_json_str(out, self.model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    /// The former builder (a `Vec` of words and of events), kept to pin the bytes.
    mod former {
        use super::super::usage_json;
        use crate::chat_request::{write_json_str, ChatRequest};
        use crate::provider::echo::EchoAnswer;
        use bytes::{Bytes, BytesMut};
        use serde::Deserialize;
        use serde_json::value::RawValue;

        #[derive(Deserialize)]
        struct Msg<'a> {
            #[serde(borrow)]
            role: &'a str,
            #[serde(borrow, default)]
            content: Option<&'a RawValue>,
        }

        #[derive(Deserialize)]
        struct Part {
            #[serde(default)]
            text: Option<String>,
        }

        fn content_text(raw: Option<&RawValue>) -> String {
            let Some(raw) = raw else { return String::new() };
            if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
                return s;
            }
            serde_json::from_str::<Vec<Part>>(raw.get())
                .map(|parts| {
                    parts
                        .into_iter()
                        .filter_map(|p| p.text)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        }

        pub fn pieces(req: &ChatRequest) -> (Vec<String>, u64) {
            let msgs: Vec<Msg> = req
                .raw_field("messages")
                .and_then(|m| serde_json::from_slice(m).ok())
                .unwrap_or_default();
            let prompt_tokens = msgs
                .iter()
                .map(|m| content_text(m.content).split_whitespace().count() as u64)
                .sum();
            let last = msgs
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .map(|m| content_text(m.content))
                .unwrap_or_default();
            let text = format!("Echo: {}", last.chars().take(8192).collect::<String>());
            let mut pieces = Vec::new();
            for (i, w) in text.split(' ').enumerate() {
                pieces.push(if i == 0 {
                    w.to_string()
                } else {
                    format!(" {w}")
                });
            }
            (pieces, prompt_tokens)
        }

        pub fn answer(req: &ChatRequest) -> (EchoAnswer, Vec<String>) {
            let (pieces, prompt_tokens) = pieces(req);
            let a = EchoAnswer {
                text: pieces.concat(),
                prompt_tokens,
                completion_tokens: pieces.len() as u64,
            };
            (a, pieces)
        }

        pub fn completion(a: &EchoAnswer, id: &str, model: &str, created: u64) -> Bytes {
            let mut out = BytesMut::with_capacity(256);
            out.extend_from_slice(b"{\"id\":");
            write_json_str(&mut out, id);
            out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
            out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
            out.extend_from_slice(b",\"model\":");
            write_json_str(&mut out, model);
            out.extend_from_slice(
                b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
            );
            write_json_str(&mut out, &a.text);
            out.extend_from_slice(b"},\"finish_reason\":\"stop\"}],\"usage\":");
            usage_json(&mut out, a);
            out.extend_from_slice(b"}");
            out.freeze()
        }

        pub fn stream_events(
            a: &EchoAnswer,
            pieces: &[String],
            id: &str,
            model: &str,
            include_usage: bool,
            created: u64,
        ) -> Vec<Bytes> {
            let head = |out: &mut BytesMut| {
                out.extend_from_slice(b"data: {\"id\":");
                write_json_str(out, id);
                out.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
                out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
                out.extend_from_slice(b",\"model\":");
                write_json_str(out, model);
            };
            let mut events = Vec::new();
            let mut out = BytesMut::new();
            head(&mut out);
            out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
            events.push(out.split().freeze());
            for p in pieces {
                head(&mut out);
                out.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"content\":");
                write_json_str(&mut out, p);
                out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
                events.push(out.split().freeze());
            }
            head(&mut out);
            out.extend_from_slice(
                b",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            );
            events.push(out.split().freeze());
            if include_usage {
                head(&mut out);
                out.extend_from_slice(b",\"choices\":[],\"usage\":");
                usage_json(&mut out, a);
                out.extend_from_slice(b"}\n\n");
                events.push(out.split().freeze());
            }
            events.push(Bytes::from_static(b"data: [DONE]\n\n"));
            events
        }
    }

    fn req(body: &str) -> ChatRequest {
        ChatRequest::parse(Bytes::copy_from_slice(body.as_bytes()), &Limits::default())
            .unwrap_or_else(|e| panic!("{body}: {e:?}"))
    }

    fn events(a: &EchoAnswer, include_usage: bool, created: u64) -> Vec<Bytes> {
        let mut s = EchoStream::at(a, "id1", "echo", include_usage, created);
        let mut out = BytesMut::new();
        let mut v = Vec::new();
        while s.next_event(&mut out) {
            v.push(out.split().freeze());
        }
        assert!(!s.next_event(&mut out) && out.is_empty());
        v
    }

    #[test]
    fn echoes_last_user_message() {
        let req = req(
            r#"{"model":"echo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}"#,
        );
        let a = answer(&req);
        assert_eq!(a.text, "Echo: hello there");
        assert_eq!(a.prompt_tokens, 4);
        assert_eq!(a.completion_tokens, 3);
        let v: serde_json::Value = serde_json::from_slice(&completion(&a, "id1", "echo")).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Echo: hello there");
        assert_eq!(v["usage"]["total_tokens"], 7);
        let ev = events(&a, true, 1);
        assert_eq!(ev.len(), 1 + 3 + 1 + 1 + 1);
        for e in &ev[..ev.len() - 1] {
            let body = e
                .strip_prefix(b"data: ")
                .unwrap()
                .strip_suffix(b"\n\n")
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn bytes_match_the_former_builder() {
        let long = "w ".repeat(5000) + &"é".repeat(5000);
        let bodies = [
            r#"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"system","content":"be  brief\tnow"},{"role":"user","content":"a  b "},{"role":"assistant","content":null},{"role":"user","content":" lead\nnew \"q\" \\ é 😀"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":[{"type":"text","text":"one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":null},{"type":"text","text":"two three"}]}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":5}]},{"role":"tool","content":"t u"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":{"a":1}},{"role":"assistant","content":"x y"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":""}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"system","content":"only system"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"content":"c first","role":"user","name":"n"}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":[]}]}"#.to_string(),
            r#"{"model":"echo","messages":[{"role":"user","content":"a\u0020b\u00e9\n"}]}"#.to_string(),
            format!(r#"{{"model":"echo","messages":[{{"role":"user","content":"{long}"}}]}}"#),
            format!(
                r#"{{"model":"echo","messages":[{{"role":"user","content":[{{"text":"{long}"}},{{"text":"tail"}}]}}]}}"#
            ),
        ];
        for body in &bodies {
            let r = req(body);
            let (want, pieces) = former::answer(&r);
            let got = answer(&r);
            assert_eq!(got, want, "{body}");
            assert_eq!(
                completion_at(&got, "id1", "echo", 7),
                former::completion(&want, "id1", "echo", 7),
                "{body}"
            );
            for usage in [false, true] {
                assert_eq!(
                    events(&got, usage, 7),
                    former::stream_events(&want, &pieces, "id1", "echo", usage, 7),
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn memory_does_not_follow_the_input() {
        // 2 MB of prompt in 200 messages, the last user message 100 KB without a space.
        let word = "A".repeat(100_000);
        let spaced = "ab ".repeat(3_000);
        let mut msgs = Vec::new();
        for i in 0..199 {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            msgs.push(format!(r#"{{"role":"{role}","content":"{spaced}"}}"#));
        }
        msgs.push(format!(r#"{{"role":"user","content":"{word}"}}"#));
        let body = format!(r#"{{"model":"echo","messages":[{}]}}"#, msgs.join(","));
        let a = answer(&req(&body));
        assert_eq!(a.text.len(), PREFIX.len() + MAX_ECHO_CHARS);
        assert_eq!(a.prompt_tokens, 199 * 3_000 + 1);
        assert_eq!(a.completion_tokens, 2);
        let mut s = EchoStream::new(&a, "id", "echo", true);
        let mut out = BytesMut::new();
        let mut n = 0;
        while s.next_event(&mut out) {
            assert!(out.len() < MAX_ECHO_CHARS + 512, "{}", out.len());
            out.clear();
            n += 1;
        }
        assert_eq!(n, 2 + 1 + 1 + 1 + 1);
    }
}
