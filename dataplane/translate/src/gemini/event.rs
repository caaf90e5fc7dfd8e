//! One streamed `GenerateContentResponse` walked in a single serde pass (seeds, no `Value`
//! tree, no heap allocation for the common shapes), feeding the stream state.

use bytes::BytesMut;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};

use super::error::error_from_wire;
use super::stream::State;
use super::wire::{StreamUsage, WireError, WirePart, WirePromptFeedback, WireUsage};
use crate::json_in::Skip;
use crate::json_out::BStr;
use crate::UpstreamError;

/// Parts of one candidate, kept on the stack (spilling to the heap past four) until the
/// candidate's `index` is known: Gemini sends `index` after `content`.
pub(super) struct PartsBuf<'de> {
    inline: [Option<WirePart<'de>>; 4],
    pub(super) len: usize,
    overflow: Vec<WirePart<'de>>,
}

impl<'de> PartsBuf<'de> {
    pub(super) fn new() -> Self {
        Self {
            inline: [None, None, None, None],
            len: 0,
            overflow: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, p: WirePart<'de>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(p);
                self.len += 1;
            }
            None => self.overflow.push(p),
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &WirePart<'de>> {
        self.inline.iter().flatten().chain(self.overflow.iter())
    }
}

/// Fail the serde walk with a translation error parked in `slot`.
fn park<E: serde::de::Error>(slot: &mut Option<UpstreamError>, e: UpstreamError) -> E {
    let msg = e.message.clone();
    *slot = Some(e);
    E::custom(msg)
}

pub(super) struct EventSeed<'s> {
    pub(super) state: &'s mut State,
    pub(super) out: &'s mut BytesMut,
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Gemini GenerateContentResponse object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut any_candidate = false;
        let mut blocked = false;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "candidates" => {
                    any_candidate |= map.next_value_seed(CandidatesSeed {
                        state: &mut *self.state,
                        out: &mut *self.out,
                    })?;
                }
                "usageMetadata" => {
                    let u: Option<StreamUsage> = map.next_value()?;
                    if let Some(u) = u {
                        self.state.usage = Some(WireUsage::from(u).usage());
                    }
                }
                "promptFeedback" => {
                    let f: Option<WirePromptFeedback<'de>> = map.next_value()?;
                    blocked = f.and_then(|f| f.block_reason).is_some();
                }
                "error" => {
                    let e: WireError<'de> = map.next_value()?;
                    let e = error_from_wire(None, &e);
                    return Err(park(&mut self.state.pending, e));
                }
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        if blocked && !any_candidate {
            self.state.blocked(self.out);
        }
        Ok(())
    }
}

struct CandidatesSeed<'s> {
    pub(super) state: &'s mut State,
    pub(super) out: &'s mut BytesMut,
}

impl<'de> DeserializeSeed<'de> for CandidatesSeed<'_> {
    /// Whether any candidate was present.
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CandidatesSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of candidates")
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut position = 0u32;
        while seq
            .next_element_seed(CandidateSeed {
                state: &mut *self.state,
                out: &mut *self.out,
                position,
            })?
            .is_some()
        {
            position = position.saturating_add(1);
        }
        Ok(position > 0)
    }
}

struct CandidateSeed<'s> {
    pub(super) state: &'s mut State,
    pub(super) out: &'s mut BytesMut,
    position: u32,
}

impl<'de> DeserializeSeed<'de> for CandidateSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CandidateSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a candidate object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut parts = PartsBuf::new();
        let mut index = None;
        let mut finish: Option<BStr<'de>> = None;
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            match &*key {
                "content" => map.next_value_seed(ContentSeed { parts: &mut parts })?,
                "finishReason" => finish = map.next_value()?,
                "index" => index = map.next_value()?,
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        let choice = index.unwrap_or(self.position);
        self.state
            .on_candidate(choice, &parts, finish.as_deref(), self.out)
            .map_err(|e| park(&mut self.state.pending, e))
    }
}

struct ContentSeed<'p, 'de> {
    pub(super) parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<BStr<'de>>()? {
            if &*key == "parts" {
                map.next_value_seed(PartsSeed {
                    parts: &mut *self.parts,
                })?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(())
    }
}

struct PartsSeed<'p, 'de> {
    pub(super) parts: &'p mut PartsBuf<'de>,
}

impl<'de> DeserializeSeed<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PartsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of parts")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(p) = seq.next_element::<WirePart<'de>>()? {
            self.parts.push(p);
        }
        Ok(())
    }
}
