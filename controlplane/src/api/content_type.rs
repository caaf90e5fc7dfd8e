//! Writes must declare a JSON body: a browser can send `text/plain` or form bodies to any
//! origin without a CORS preflight, `application/json` it cannot. Endpoints that take no
//! body (`/enable`, `/disable`, `/test`, `DELETE`, ...) may omit the header when the body is
//! empty.

use axum::http::{header, HeaderMap, Method};

use super::host::is_write;
use crate::error::ApiError;

/// Checks the `Content-Type` of a request to an admin surface (415 on a write whose body is
/// not declared as `application/json`).
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if !is_write(method) {
        return Ok(());
    }
    match headers.get(header::CONTENT_TYPE) {
        Some(v) => {
            let essence = v
                .to_str()
                .ok()
                .and_then(|t| t.split(';').next())
                .map(|t| t.trim().to_ascii_lowercase());
            if essence.as_deref() == Some("application/json") {
                Ok(())
            } else {
                Err(ApiError::unsupported_media_type())
            }
        }
        None if body_is_empty(headers) => Ok(()),
        None => Err(ApiError::unsupported_media_type()),
    }
}

/// No body: `Content-Length: 0`, or neither a length nor a transfer coding.
fn body_is_empty(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_LENGTH) {
        Some(len) => len.as_bytes() == b"0",
        None => !headers.contains_key(header::TRANSFER_ENCODING),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn json_required_on_writes_with_a_body() {
        let ok = |m: Method, h: &[(&str, &str)]| check(&m, &headers(h)).is_ok();
        assert!(ok(Method::GET, &[("content-type", "text/plain")]));
        assert!(ok(Method::POST, &[("content-type", "application/json")]));
        assert!(ok(
            Method::PATCH,
            &[("content-type", "Application/JSON; charset=utf-8")]
        ));
        assert!(!ok(Method::POST, &[("content-type", "text/plain")]));
        assert!(!ok(
            Method::PUT,
            &[("content-type", "application/x-www-form-urlencoded")]
        ));
        assert!(!ok(
            Method::POST,
            &[("content-type", "multipart/form-data")]
        ));
        assert!(!ok(Method::POST, &[("content-type", "application/jsonx")]));
        // Bodiless endpoints: no header and no body is fine, a body without a type is not.
        assert!(ok(Method::POST, &[]));
        assert!(ok(Method::DELETE, &[("content-length", "0")]));
        assert!(!ok(Method::POST, &[("content-length", "2")]));
        assert!(!ok(Method::POST, &[("transfer-encoding", "chunked")]));
        let e = check(&Method::POST, &headers(&[("content-type", "text/plain")])).unwrap_err();
        assert_eq!(e.kind.status(), 415);
    }
}
