//! DNS-rebinding and cross-site protection for an admin API without a token (`--dev`,
//! `sluice up` without `SLUICE_ADMIN_TOKEN`): such an API listens on loopback only, but a
//! browser on the same machine can still be made to reach it, either through a hostile
//! name that resolves to 127.0.0.1 (the `Host` header then carries that name) or by a page
//! posting to `http://127.0.0.1:8001` (the `Origin` header then names the page's site).

use axum::http::{header, HeaderMap, Method, Uri};

use crate::error::ApiError;

/// Host names the admin API answers to without a token: loopback names (any port) plus
/// the operator's own.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// `localhost`, `127.0.0.1`, `[::1]` and `extra` (host names, case-insensitive; a port
    /// or brackets in an entry are ignored).
    pub fn new(extra: &[String]) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        names.extend(
            extra
                .iter()
                .filter_map(|e| host_of_authority(e.trim()))
                .filter(|h| !h.is_empty()),
        );
        Self { names }
    }

    /// Whether `authority` (`host[:port]`, `[v6][:port]`) names an allowed host.
    pub fn allows(&self, authority: &str) -> bool {
        host_of_authority(authority).is_some_and(|h| self.names.contains(&h))
    }

    /// Checks a request to a token-less admin API: its `Host` (or HTTP/2 authority) must be
    /// allowed, and a write carrying an `Origin` must come from an allowed origin.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        match host {
            Some(h) if self.allows(h) => {}
            Some(h) => {
                return Err(ApiError::forbidden(format!(
                "Host `{}` is not allowed: without SLUICE_ADMIN_TOKEN the admin API only answers \
                     requests addressed to localhost, 127.0.0.1, [::1] or a name given with \
                     --admin-allowed-hosts",
                h.chars().take(100).collect::<String>()
            )))
            }
            None => return Err(ApiError::forbidden("a Host header is required")),
        }
        if is_write(method) {
            if let Some(origin) = headers.get(header::ORIGIN) {
                let allowed = origin
                    .to_str()
                    .ok()
                    .and_then(|o| o.split_once("://"))
                    .is_some_and(|(_, authority)| self.allows(authority));
                if !allowed {
                    return Err(ApiError::forbidden(
                        "cross-site request refused: the Origin is not an allowed host",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether `method` changes state.
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The lower-cased host of `host[:port]` or `[v6][:port]` (no trailing dot); `None` when
/// it is malformed (a port that is not a number, a stray colon).
fn host_of_authority(authority: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        (v6, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_configured_names_with_any_port() {
        let a = AllowedHosts::new(&["Admin.Internal".into(), "gw.example:8443".into()]);
        for ok in [
            "localhost",
            "localhost:8001",
            "LOCALHOST.:1",
            "127.0.0.1:8001",
            "[::1]:8001",
            "[::1]",
            "admin.internal:80",
            "gw.example",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8001",
            "localhost.evil.example",
            "127.0.0.2:8001",
            "127.0.0.1:80:80",
            "127.0.0.1:x",
            "[::1",
            "",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
    }

    #[test]
    fn origin_checked_on_writes() {
        let a = AllowedHosts::new(&[]);
        let uri: Uri = "/api/providers".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(a.check(&Method::GET, &uri, &h).is_err(), "no Host");
        h.insert(header::HOST, "127.0.0.1:8001".parse().unwrap());
        assert!(a.check(&Method::POST, &uri, &h).is_ok());
        h.insert(header::ORIGIN, "http://localhost:3000".parse().unwrap());
        assert!(a.check(&Method::POST, &uri, &h).is_ok());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(a.check(&Method::POST, &uri, &h).is_err());
        assert!(a.check(&Method::GET, &uri, &h).is_ok());
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(a.check(&Method::DELETE, &uri, &h).is_err());
        h.remove(header::ORIGIN);
        h.insert(header::HOST, "rebound.evil.example:8001".parse().unwrap());
        let e = a.check(&Method::GET, &uri, &h).unwrap_err();
        assert_eq!(e.kind.status(), 403);
    }
}
