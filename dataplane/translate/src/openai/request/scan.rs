//! The single pass over the body's top level: every member kept as a span, `messages`
//! validated in place (array of objects with known roles) while it is skipped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// What the one pass over `messages` found (the array is validated while the top level is
/// parsed, so it is scanned once; problems are reported after the whole body parsed, in
/// field order, exactly as a second pass would).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum MessagesCheck {
    Ok,
    NotArray,
    Empty,
    /// An element is not an object, or its `role` is not a string (or repeats).
    BadShape,
    MissingRole(usize),
    UnknownRole(usize, String),
}

/// The verdict on `messages` and how many entries it has (0 when not an array).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MessagesScan {
    pub(super) check: MessagesCheck,
    pub(super) len: usize,
}

/// One top-level member as the single pass sees it.
pub(super) enum Member<'a> {
    Raw(&'a RawValue),
    /// `messages`, validated in place; its span is recovered from its neighbours.
    Messages(MessagesScan),
}

/// The `visit_*` methods for JSON scalars of a validating visitor: each one answers
/// `$v` (with `numbers_only`, strings and `null` are left to the visitor itself).
macro_rules! scalars_are {
    ($v:expr; numbers_only) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
    ($v:expr) => {
        scalars_are!($v; numbers_only);
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
}

pub(super) struct TopLevel<'a>(pub(super) Vec<(Cow<'a, str>, Member<'a>)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(16);
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    // Only a key that borrows from the body can locate the value's span.
                    let v = if matches!(&k, Cow::Borrowed("messages")) {
                        Member::Messages(map.next_value()?)
                    } else {
                        Member::Raw(map.next_value()?)
                    };
                    out.push((k, v));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Accepts any JSON value and records whether it is a valid `messages` array.
impl<'de> Deserialize<'de> for MessagesScan {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessagesScan;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            #[inline]
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut verdict = MessagesCheck::Ok;
                let mut n = 0;
                while let Some(role) = seq.next_element::<RoleCheck<'de>>()? {
                    if verdict == MessagesCheck::Ok {
                        verdict = match role {
                            RoleCheck::Known => MessagesCheck::Ok,
                            RoleCheck::Missing => MessagesCheck::MissingRole(n),
                            RoleCheck::Unknown(r) => MessagesCheck::UnknownRole(n, r.into_owned()),
                            RoleCheck::BadShape => MessagesCheck::BadShape,
                        };
                    } else if role == RoleCheck::BadShape && verdict != MessagesCheck::BadShape {
                        // A shape error anywhere outranks a role error, as a typed parse of
                        // the whole array would have failed before looking at roles.
                        verdict = MessagesCheck::BadShape;
                    }
                    n += 1;
                }
                Ok(MessagesScan {
                    check: if n == 0 {
                        MessagesCheck::Empty
                    } else {
                        verdict
                    },
                    len: n,
                })
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MessagesScan::NOT_ARRAY)
            }
            scalars_are!(MessagesScan::NOT_ARRAY);
        }
        d.deserialize_any(V)
    }
}

impl MessagesScan {
    pub(super) const NOT_ARRAY: MessagesScan = MessagesScan {
        check: MessagesCheck::NotArray,
        len: 0,
    };
}

/// The number of entries of a JSON array (`None` for anything else, left to whoever reads
/// the value). A second scan of just that value.
pub(super) struct ArrayLen(pub(super) Option<usize>);

impl<'de> Deserialize<'de> for ArrayLen {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ArrayLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            #[inline]
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(ArrayLen(Some(n)))
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ArrayLen(None))
            }
            scalars_are!(ArrayLen(None));
        }
        d.deserialize_any(V)
    }
}

/// One element of `messages`, reduced to what validation needs.
#[derive(Debug, PartialEq)]
pub(super) enum RoleCheck<'a> {
    Known,
    Missing,
    Unknown(Cow<'a, str>),
    BadShape,
}

impl<'de> Deserialize<'de> for RoleCheck<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RoleCheck<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut role: Option<Option<RoleValue>> = None;
                let mut repeated = false;
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    if k == "role" {
                        repeated |= role.is_some();
                        role = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(match role {
                    _ if repeated => RoleCheck::BadShape,
                    None | Some(None) => RoleCheck::Missing,
                    Some(Some(RoleValue::Other)) => RoleCheck::BadShape,
                    Some(Some(RoleValue::Str(r))) => match r.as_ref() {
                        "system" | "developer" | "user" | "assistant" | "tool" | "function" => {
                            RoleCheck::Known
                        }
                        _ => RoleCheck::Unknown(r),
                    },
                })
            }
            #[inline]
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RoleCheck::BadShape)
            }
            scalars_are!(RoleCheck::BadShape);
        }
        d.deserialize_any(V)
    }
}

/// A string that borrows from the body unless it had escapes. (serde's own `Cow<str>`
/// always allocates; only a derive with `#[serde(borrow)]` borrows.)
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A `role` value: a string, or something else (`null` reads as absent, via `Option`).
pub(super) enum RoleValue<'a> {
    Str(Cow<'a, str>),
    Other,
}

impl<'de> Deserialize<'de> for RoleValue<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RoleValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RoleValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RoleValue::Str(Cow::Owned(v.to_owned())))
            }
            #[inline]
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RoleValue::Other)
            }
            #[inline]
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RoleValue::Other)
            }
            scalars_are!(RoleValue::Other; numbers_only);
        }
        d.deserialize_any(V)
    }
}

/// Where the value of a member starts: after its key's closing quote, spaces and `:`.
#[inline]
pub(super) fn value_start(text: &str, key_end: usize) -> usize {
    let after = text.as_bytes().get(key_end..).unwrap_or_default();
    key_end
        + after
            .iter()
            .take_while(|&&c| c.is_ascii_whitespace() || c == b':')
            .count()
}

/// Where a value ends, given where what follows it begins (the next key's opening quote,
/// or the object's closing brace): back over spaces and the separating comma.
#[inline]
pub(super) fn value_end(text: &str, next: usize) -> usize {
    let Some(before) = text.as_bytes().get(..next) else {
        return next;
    };
    next - before
        .iter()
        .rev()
        .take_while(|&&c| c.is_ascii_whitespace() || c == b',')
        .count()
}

/// Length of the JSON value at the start of `text` (a second scan: only for the rare
/// `messages` followed by an escaped key, whose position serde does not reveal).
pub(super) fn raw_len(text: &str) -> usize {
    let mut de = serde_json::Deserializer::from_str(text);
    <&RawValue>::deserialize(&mut de).map_or(0, |r| r.get().len())
}
