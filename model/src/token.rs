//! Shared secrets between the planes and for the admin API (`SLUICE_DATAPLANE_TOKEN`,
//! `SLUICE_ADMIN_TOKEN`): checked once at start so a weak or empty token never becomes
//! "no authentication" by accident.

/// Shortest accepted token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Set to the empty string (often a templating or secret-mount mistake).
    #[error("{var} is set but empty; set a random token of at least {MIN_TOKEN_BYTES} bytes (e.g. `openssl rand -hex 32`) or unset it")]
    Empty {
        /// The variable.
        var: String,
    },
    /// Too short to resist guessing.
    #[error("{var} is {len} bytes long; it must be at least {MIN_TOKEN_BYTES} bytes (e.g. `openssl rand -hex 32`)")]
    TooShort {
        /// The variable.
        var: String,
        /// Its length.
        len: usize,
    },
    /// A template placeholder (`REPLACE-WITH-…`, `changeme`, `<token>`) left in place.
    #[error("{var} still holds a placeholder; set a random token (e.g. `openssl rand -hex 32`)")]
    Placeholder {
        /// The variable.
        var: String,
    },
    /// Spaces, control or non-ASCII characters cannot travel in an HTTP/gRPC header intact.
    #[error("{var} must be printable ASCII without spaces (it is sent in an HTTP header)")]
    Unprintable {
        /// The variable.
        var: String,
    },
}

/// Validates a token read from `var`: `None` stays `None` (the caller decides whether that
/// is allowed), anything set must be at least [`MIN_TOKEN_BYTES`] of printable ASCII.
pub fn check_token(var: &str, value: Option<String>) -> Result<Option<String>, TokenError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.is_empty() {
        return Err(TokenError::Empty { var: var.into() });
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Unprintable { var: var.into() });
    }
    if is_placeholder(&value) {
        return Err(TokenError::Placeholder { var: var.into() });
    }
    if value.len() < MIN_TOKEN_BYTES {
        return Err(TokenError::TooShort {
            var: var.into(),
            len: value.len(),
        });
    }
    Ok(Some(value))
}

/// Template values that must never work as secrets (deploy manifests ship such values).
fn is_placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    v.contains('<')
        || v.contains('>')
        || [
            "replace-with",
            "replace_with",
            "replace-me",
            "replaceme",
            "change-me",
            "changeme",
            "change_me",
            "placeholder",
        ]
        .iter()
        .any(|p| v.contains(p))
}

/// Reads and validates the token in environment variable `var` (unset → `None`; set but
/// not valid UTF-8 → refused).
pub fn token_from_env(var: &str) -> Result<Option<String>, TokenError> {
    match std::env::var(var) {
        Ok(v) => check_token(var, Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(TokenError::Unprintable { var: var.into() }),
    }
}

/// Compares two secrets in time independent of where they differ and of their lengths:
/// both sides are hashed first, then the digests are compared with `subtle`'s
/// constant-time equality.
pub fn secrets_equal(presented: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(presented);
    let b = Sha256::digest(expected);
    a.as_slice().ct_eq(b.as_slice()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_short_and_unprintable_tokens_are_refused() {
        assert_eq!(check_token("T", None), Ok(None));
        assert!(matches!(
            check_token("T", Some(String::new())),
            Err(TokenError::Empty { .. })
        ));
        assert!(matches!(
            check_token("T", Some("fifteen-bytes-x".into())),
            Err(TokenError::TooShort { len: 15, .. })
        ));
        assert!(matches!(
            check_token("T", Some("sixteen bytes xx".into())),
            Err(TokenError::Unprintable { .. })
        ));
        assert!(matches!(
            check_token("T", Some("sixteen-bytes-é".into())),
            Err(TokenError::Unprintable { .. })
        ));
        assert_eq!(
            check_token("T", Some("sixteen-bytes-xx".into())),
            Ok(Some("sixteen-bytes-xx".into()))
        );
        for placeholder in [
            "REPLACE-WITH-ADMIN-TOKEN",
            "changeme-changeme-changeme",
            "<your-dataplane-token-here>",
        ] {
            assert!(matches!(
                check_token("T", Some(placeholder.into())),
                Err(TokenError::Placeholder { .. })
            ));
        }
        let msg = check_token("SLUICE_ADMIN_TOKEN", Some("abc".into()))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("SLUICE_ADMIN_TOKEN") && msg.contains("16"),
            "{msg}"
        );
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal(b"sixteen-bytes-xx", b"sixteen-bytes-xx"));
        assert!(!secrets_equal(b"sixteen-bytes-xy", b"sixteen-bytes-xx"));
        assert!(!secrets_equal(b"", b"sixteen-bytes-xx"));
        assert!(!secrets_equal(
            b"sixteen-bytes-xx-and-more",
            b"sixteen-bytes-xx"
        ));
    }
}
