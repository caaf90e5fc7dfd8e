//! Small hand-written JSON writer used on the hot path: escaping into a reused buffer is
//! cheaper than building and serialising a tree per chunk.

use std::borrow::Cow;

use bytes::BufMut;

/// A string borrowed from the input when it has no escapes (serde's `#[serde(borrow)]`
/// does not reach a `Cow` inside an `Option`, which would allocate for every field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BStr<'a>(pub Cow<'a, str>);

impl std::ops::Deref for BStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for BStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Bytes that must be escaped inside a JSON string: control characters, `"` and `\`.
// in bounds: evaluated at compile time (an out-of-bounds index would not compile).
#[allow(clippy::indexing_slicing)]
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Write `s` as a quoted JSON string.
pub(crate) fn string<B: BufMut>(out: &mut B, s: &[u8]) {
    out.put_u8(b'"');
    escaped(out, s);
    out.put_u8(b'"');
}

/// Write the escaped contents of `s` (no quotes).
// in bounds: `NEEDS_ESCAPE` has 256 entries for a `u8`, `HEX` 16 for a nibble, and
// `start <= i < s.len()` (both from `enumerate`).
#[allow(clippy::indexing_slicing)]
pub(crate) fn escaped<B: BufMut>(out: &mut B, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        if start < i {
            out.put_slice(&s[start..i]);
        }
        match b {
            b'"' => out.put_slice(b"\\\""),
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            _ => {
                out.put_slice(b"\\u00");
                out.put_u8(HEX[usize::from(b >> 4)]);
                out.put_u8(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    if start < s.len() {
        out.put_slice(&s[start..]);
    }
}

/// Write an unsigned integer.
pub(crate) fn uint<B: BufMut>(out: &mut B, n: u64) {
    let mut buf = itoa::Buffer::new();
    out.put_slice(buf.format(n).as_bytes());
}

/// For bytes starting with a JSON string literal (`s[0] == b'"'`), the index just past its
/// closing quote — but only for "simple" literals: no control characters and no escapes
/// other than `\" \\ \/ \b \f \n \r \t`. Anything else (including `\u`) is `None`, so
/// callers fall back to serde for it. Input must already be valid UTF-8.
pub(crate) fn simple_string_end(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    loop {
        let off = s
            .get(i..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        i += off;
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match s.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// A whitespace-tolerant matcher over a fixed JSON shape, for hot-path fast paths that
/// fall back to serde on any surprise.
pub(crate) struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Start at the beginning of `s`.
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, i: 0 }
    }

    fn ws(&mut self) {
        let b = self.s.as_bytes();
        while matches!(b.get(self.i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    /// Expect `token` after optional whitespace.
    pub(crate) fn token(&mut self, token: &str) -> Option<()> {
        self.ws();
        let t = token.as_bytes();
        let here = self.s.as_bytes().get(self.i..self.i + t.len())?;
        // A byte loop: tokens are short and a `memcmp` call per token costs more.
        here.iter()
            .zip(t)
            .all(|(a, b)| a == b)
            .then(|| self.i += t.len())
    }

    /// Expect a simple string literal (see [`simple_string_end`]); returns it with quotes.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        let end = start + simple_string_end(self.s.as_bytes().get(start..)?)?;
        self.i = end;
        self.s.get(start..end)
    }

    /// The next byte after optional whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.as_bytes().get(self.i).copied()
    }

    /// A JSON number, checked against the JSON grammar; returns its text.
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let b = self.s.as_bytes();
        let start = self.i;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        self.s.get(start..i)
    }

    /// A JSON number that is a `u64` (no sign, fraction or exponent, no overflow).
    pub(crate) fn uint(&mut self) -> Option<u64> {
        let n = self.number()?;
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    }

    /// Skip one JSON value, checking it against the JSON grammar as serde would (strings
    /// limited as in [`simple_string_end`]; nesting limited to 64). `None` means "not
    /// handled here", never "valid".
    pub(crate) fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.i += 1;
                if self.token("}").is_some() {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.token(":")?;
                    self.skip_value(depth + 1)?;
                    if self.token(",").is_none() {
                        return self.token("}");
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.token("]").is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if self.token(",").is_none() {
                        return self.token("]");
                    }
                }
            }
            b't' => self.token("true"),
            b'f' => self.token("false"),
            b'n' => self.token("null"),
            _ => self.number().map(drop),
        }
    }

    /// What is left, after optional whitespace.
    pub(crate) fn rest(&mut self) -> &'a str {
        self.ws();
        self.s.get(self.i..).unwrap_or("")
    }
}

/// Copy JSON text without the insignificant whitespace outside strings.
// in bounds: `start <= i < json.len()` (`i` from `enumerate`, `start` a former `i + 1`).
#[allow(clippy::indexing_slicing)]
pub(crate) fn minified<B: BufMut>(out: &mut B, json: &[u8]) {
    let mut in_string = false;
    let mut escape = false;
    let mut start = 0;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            if start < i {
                out.put_slice(&json[start..i]);
            }
            start = i + 1;
        }
    }
    if start < json.len() {
        out.put_slice(&json[start..]);
    }
}

/// Write JSON text `json` as a JSON string literal holding its minified form, in one pass
/// and without allocating.
// in bounds: `start <= i < json.len()` (`i` from `enumerate`, `start` a former `i + 1`).
#[allow(clippy::indexing_slicing)]
pub(crate) fn json_as_string<B: BufMut>(out: &mut B, json: &[u8]) {
    out.put_u8(b'"');
    let mut in_string = false;
    let mut escape = false;
    let mut start = 0;
    for (i, &b) in json.iter().enumerate() {
        let skip = if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
            false
        } else if b == b'"' {
            in_string = true;
            false
        } else {
            matches!(b, b' ' | b'\n' | b'\r' | b'\t')
        };
        if skip {
            escaped(out, &json[start..i]);
            start = i + 1;
        }
    }
    escaped(out, &json[start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let input = "a\"b\\c\nd\u{1}e\u{7f}é\u{2028}";
        let mut out = Vec::new();
        string(&mut out, input.as_bytes());
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, input);
    }

    #[test]
    fn minifies_outside_strings_only() {
        let mut out = Vec::new();
        minified(&mut out, b"{ \"a b\" : [1, 2],\n \"c\\\" d\": \" x \" }");
        assert_eq!(out, b"{\"a b\":[1,2],\"c\\\" d\":\" x \"}");
        let raw = b"{ \"a b\" : [1, 2],\n \"c\\\" d\": \" x \" }";
        let mut s = Vec::new();
        json_as_string(&mut s, raw);
        let back: String = serde_json::from_slice(&s).unwrap();
        assert_eq!(back.as_bytes(), &out[..]);
    }
}
