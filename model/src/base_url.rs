//! Upstream base URLs, parsed once at the config boundary so the request path only reads
//! fields.

/// A parsed upstream base URL (`scheme://host[:port][/path]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `true` for https.
    pub tls: bool,
    /// Host name or IP literal (no brackets).
    pub host: String,
    /// Port (defaulted from the scheme).
    pub port: u16,
    /// Path prefix without trailing slash (may be empty).
    pub path: String,
    /// The original text, for display.
    pub original: String,
    /// `host` or `host:port` as the Host header wants it (computed once, sent per request).
    authority: String,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port][/path]`; rejects other schemes, userinfo, query and fragment.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{s}` must start with http:// or https://"));
        };
        if rest.contains(['?', '#', '@', ' ']) {
            return Err(format!(
                "`{s}` must not contain a query, fragment, user info or spaces"
            ));
        }
        let (authority, path) = rest
            .find('/')
            .and_then(|i| rest.split_at_checked(i))
            .unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(format!("`{s}` has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{s}` has an unterminated IPv6 literal"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| format!("`{s}` has an invalid port"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("`{s}` has an invalid authority")),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| format!("`{s}` has an invalid port"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(format!("`{s}` has an empty host or port 0"));
        }
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        Ok(Self {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
            original: s.to_string(),
            authority,
        })
    }

    /// `host` or `host:port` as the Host header wants it.
    pub fn host_header(&self) -> &str {
        &self.authority
    }

    /// Whether `other` has the same scheme, host and port: a stored key is only ever sent
    /// to the origin it was given for.
    pub fn same_origin(&self, other: &BaseUrl) -> bool {
        self.tls == other.tls
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(&other.host)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        let u = BaseUrl::parse("https://api.openai.com/v1/").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "api.openai.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/v1");
        assert_eq!(u.host_header(), "api.openai.com");
        let u = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(u.port, 8080);
        assert_eq!(u.path, "");
        assert_eq!(u.host_header(), "127.0.0.1:8080");
        let u = BaseUrl::parse("http://[::1]:9000/x").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_header(), "[::1]:9000");
        for bad in [
            "ftp://x",
            "http://",
            "http://h:99999",
            "https://u@h",
            "http://h/?q",
            "api.openai.com",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let a = BaseUrl::parse("https://API.example.com/v1").unwrap();
        assert!(a.same_origin(&BaseUrl::parse("https://api.example.com:443/v2").unwrap()));
        assert!(!a.same_origin(&BaseUrl::parse("http://api.example.com/v1").unwrap()));
        assert!(!a.same_origin(&BaseUrl::parse("https://evil.example.com/v1").unwrap()));
    }
}
