//! Upstream URL paths built from parts a client may choose (model names).

use std::fmt::Write as _;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Append `segment` to `out` percent-encoded as one URL path segment: every byte outside
/// RFC 3986's unreserved set becomes `%XX`, so a model name can never add a path
/// separator, a query, a fragment or a `:method` suffix of its own.
pub fn push_segment(out: &mut String, segment: &str) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{}", utf8_percent_encode(segment, SEGMENT));
}

/// `segment` percent-encoded as one URL path segment (see [`push_segment`]).
pub fn segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_segment(&mut out, segment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_bytes_pass_and_everything_else_is_encoded() {
        assert_eq!(segment("gemini-2.5-flash_x~1"), "gemini-2.5-flash_x~1");
        assert_eq!(
            segment("gemini-x:countTokens?"),
            "gemini-x%3AcountTokens%3F"
        );
        assert_eq!(segment("a/b#c d%"), "a%2Fb%23c%20d%25");
        assert_eq!(segment("é\n"), "%C3%A9%0A");
        assert_eq!(segment(""), "");
    }
}
