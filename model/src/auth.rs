//! Client authentication: the explicit mode and how client keys are hashed, stored and
//! carried in snapshots (never in plaintext).

/// How the proxy authenticates clients. There is no implicit mode: an empty key set in
/// `Keys` mode denies every request (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every LLM request must present one of the configured client keys.
    Keys,
    /// No client authentication: anyone who reaches the proxy spends the provider keys.
    None,
}

impl AuthMode {
    /// Parses `keys` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keys" => Some(Self::Keys),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The config-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::None => "none",
        }
    }
}

/// SHA-256 of a client API key, as stored and compared.
pub fn client_key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// Hex form of a client key hash, as carried in snapshots and stored by the control plane.
pub fn encode_hash(h: &[u8; 32]) -> String {
    hex::encode(h)
}

/// Parses the hex form written by [`encode_hash`] (64 hex digits).
pub fn decode_hash(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip() {
        let h = client_key_hash("ck-1");
        let text = encode_hash(&h);
        assert_eq!(text.len(), 64);
        assert_eq!(decode_hash(&text), Some(h));
        assert_eq!(decode_hash(&"AB".repeat(32)), Some([0xab; 32]));
        assert_eq!(decode_hash("abc"), None);
        assert_eq!(decode_hash(&"zz".repeat(32)), None);
        assert_eq!(AuthMode::parse("keys"), Some(AuthMode::Keys));
        assert_eq!(
            AuthMode::parse(AuthMode::None.as_str()),
            Some(AuthMode::None)
        );
    }
}
