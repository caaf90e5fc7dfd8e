//! Admin authentication: `Authorization: Bearer <token>` or `X-Admin-Key: <token>`,
//! compared in constant time.

use axum::http::HeaderMap;

/// Whether the headers carry the admin token (always true when none is configured).
pub fn authorized(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let admin_key = headers.get("x-admin-key").and_then(|v| v.to_str().ok());
    [bearer, admin_key]
        .into_iter()
        .flatten()
        .any(|t| constant_time_eq(t.trim().as_bytes(), expected.as_bytes()))
}

/// Compares in constant time, without revealing where or whether the lengths differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    sluice_model::secrets_equal(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_or_admin_key() {
        let mut h = HeaderMap::new();
        assert!(authorized(None, &h));
        assert!(!authorized(Some("t0k"), &h));
        h.insert("authorization", "Bearer t0k".parse().unwrap());
        assert!(authorized(Some("t0k"), &h));
        let mut h = HeaderMap::new();
        h.insert("x-admin-key", "t0k".parse().unwrap());
        assert!(authorized(Some("t0k"), &h));
        assert!(!authorized(Some("t0K"), &h));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
