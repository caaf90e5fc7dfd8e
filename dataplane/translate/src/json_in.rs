//! Borrowed JSON input for the request parser.
//!
//! Parsing the client body into `serde_json::Value` allocates a `String` for every key and
//! string and a map per object, then the parser copies most of those strings again. These
//! types borrow strings from the body (owning only strings with escapes), keep object
//! members in a `Vec`, and [`Skip`] checks fields nobody reads without keeping anything.
//!
//! They are deliberately as strict as `Value`: every visitor accepts any JSON and goes
//! through `deserialize_any`, so the same serde_json code parses strings and numbers and
//! enforces the recursion limit, and the same input yields the same error at the same
//! position. (`IgnoredAny` or `RawValue` would not do: serde_json's skipping path accepts
//! lone surrogate escapes, out-of-range numbers and nesting that `Value` rejects.)

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The key serde_json's `raw_value` feature uses to smuggle a `RawValue` through a map.
///
/// `Value` treats an object whose *first* key is this as a JSON text to parse (see
/// [`raw_value_token`]); the visitors here do the same so such input behaves as before.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A JSON value whose strings borrow from the input where they have no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any number, as serde_json represents it in a `Value`.
    Number(Number),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(Object<'a>),
}

/// Object members in document order, duplicates included; lookups answer the last one,
/// as a `serde_json::Map` built from the same text would.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    /// The value of `key` (the last one if the key repeats).
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// `null`, for lookups that find nothing (absent and `null` mean the same to the parser).
pub(crate) static NULL: Json<'static> = Json::Null;

impl Default for Json<'_> {
    /// `null`: an absent member reads as `null`.
    fn default() -> Self {
        Json::Null
    }
}

impl<'a> Json<'a> {
    /// Like `Value::get` with a string key: the member of an object, `None` otherwise.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(o) => o.get(key),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Whether this is an object.
    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// The same value as a `serde_json::Value`, exactly as `Value` would have parsed it
    /// (members inserted in document order, so a repeated key keeps its last value).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::Str(s) => Value::String(s.as_ref().to_owned()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(o) => {
                let mut map = Map::new();
                for (k, v) in &o.0 {
                    map.insert(k.as_ref().to_owned(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }

    /// An owned copy of a `Value` (only for the rare [`RAW_VALUE_TOKEN`] objects).
    pub(crate) fn from_value(v: Value) -> Json<'static> {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(b),
            Value::Number(n) => Json::Number(n),
            Value::String(s) => Json::Str(Cow::Owned(s)),
            Value::Array(items) => Json::Array(items.into_iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(Object(
                map.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Json::from_value(v)))
                    .collect(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(i.into()))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(u.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Json<'de>, E> {
        // Same rule as `Value`: a non-finite float (never produced by the parser) is null.
        Ok(Number::from_f64(f).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let Some(Key(first)) = map.next_key()? else {
            return Ok(Json::Object(Object::default()));
        };
        if first == RAW_VALUE_TOKEN {
            return raw_value_token::<Value, A>(&mut map).map(Json::from_value);
        }
        let mut members = vec![(first, map.next_value()?)];
        while let Some((Key(k), v)) = map.next_entry()? {
            members.push((k, v));
        }
        Ok(Json::Object(Object(members)))
    }
}

/// An object key, borrowed when it has no escapes (serde's own `Cow<str>` always copies).
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Finish an object whose first key was [`RAW_VALUE_TOKEN`] the way `Value` does: its
/// value must be a string, which is parsed as a JSON text of its own; the object ends
/// there (serde_json then rejects any further member at the outer level).
pub(crate) fn raw_value_token<'de, T, A>(map: &mut A) -> Result<T, A::Error>
where
    T: de::DeserializeOwned,
    A: MapAccess<'de>,
{
    struct RawText;
    impl<'de> DeserializeSeed<'de> for RawText {
        type Value = String;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl Visitor<'_> for RawText {
        type Value = String;
        // serde_json's wording, as it appears in the invalid-type error.
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("raw value")
        }
        fn visit_str<E>(self, s: &str) -> Result<String, E> {
            Ok(s.to_owned())
        }
        fn visit_string<E>(self, s: String) -> Result<String, E> {
            Ok(s)
        }
    }
    let text = map.next_value_seed(RawText)?;
    serde_json::from_str(&text).map_err(de::Error::custom)
}

/// Checks a value nobody reads exactly as strictly as `Value` would, keeping nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        let Some(Key(first)) = map.next_key()? else {
            return Ok(Skip);
        };
        if first == RAW_VALUE_TOKEN {
            return raw_value_token::<Skip, A>(&mut map);
        }
        map.next_value::<Skip>()?;
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `text` both ways; both must agree on success (same value) or failure (same
    /// message, position included).
    fn same_as_value(text: &str) {
        let ours = serde_json::from_str::<Json<'_>>(text).map(|j| j.to_value());
        let skip = serde_json::from_str::<Skip>(text);
        let theirs = serde_json::from_str::<Value>(text);
        match (&ours, &skip, &theirs) {
            (Ok(a), Ok(_), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(a), Err(s), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{text}");
                assert_eq!(s.to_string(), b.to_string(), "{text}");
            }
            _ => panic!("{text}: json {ours:?}, skip {skip:?}, value {theirs:?}"),
        }
    }

    #[test]
    fn as_strict_as_value() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        for text in [
            "null",
            "true",
            r#"{"a":[1,-2,3.5,1e3,18446744073709551615,-9223372036854775808],"b":{"c":null}}"#,
            r#"{"a":1,"a":2,"b":{"x":1},"b":[true]}"#,
            r#""es\"caped \u00e9 \ud83d\ude00""#,
            r#"{"k\u0065y":"v"}"#,
            r#""\ud800""#,
            r#"{"a":"\ud800"}"#,
            "1e400",
            r#"{"a":1e400}"#,
            "[1,]",
            r#"{"a":1,}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"$serde_json::private::RawValue":"{\"x\":1}"}"#,
            r#"{"$serde_json::private::RawValue":"[1"}"#,
            r#"{"$serde_json::private::RawValue":5}"#,
            r#"{"$serde_json::private::RawValue":"{}","more":1}"#,
            r#"{"x":{"$serde_json::private::RawValue":"[\"\\ud800\"]"}}"#,
            &deep(127),
            &deep(128),
            &deep(129),
        ] {
            same_as_value(text);
        }
    }

    #[test]
    fn borrows_plain_strings_and_keys() {
        let text = r#"{"plain":"text","esc\u0061ped":"a\nb"}"#;
        let Ok(Json::Object(o)) = serde_json::from_str::<Json<'_>>(text) else {
            panic!("not an object");
        };
        let [(k1, v1), (k2, v2)] = o.0.as_slice() else {
            panic!("two members expected");
        };
        assert!(matches!(k1, Cow::Borrowed("plain")));
        assert!(matches!(v1, Json::Str(Cow::Borrowed("text"))));
        assert!(matches!(k2, Cow::Owned(k) if k == "escaped"));
        assert!(matches!(v2, Json::Str(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn lookups_take_the_last_duplicate() {
        let Ok(j) = serde_json::from_str::<Json<'_>>(r#"{"a":1,"b":"x","a":"last"}"#) else {
            panic!("valid JSON");
        };
        assert_eq!(j.get("a").and_then(Json::as_str), Some("last"));
        assert_eq!(j.get("b").and_then(Json::as_str), Some("x"));
        assert!(j.get("c").is_none());
        assert!(Json::Array(Vec::new()).get("a").is_none());
        assert!(j.is_object() && !j.is_null() && NULL.is_null());
    }
}
