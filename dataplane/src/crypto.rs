//! Secrets at rest: AES-256-GCM with a random 96-bit nonce per value, under the 32-byte
//! master key (`SLUICE_MASTER_KEY`, base64). Used by the control plane's store and backups
//! and by the data plane's last-good snapshot cache.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Ciphertext prefix identifying the format (`v1:` + base64(nonce ‖ ciphertext ‖ tag)).
const PREFIX: &str = "v1:";

/// Errors of the secret box.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key text is not 32 bytes of base64.
    #[error(
        "master key must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)"
    )]
    BadKey,
    /// Wrong key, or the value was tampered with.
    #[error("cannot decrypt: wrong master key or corrupted value")]
    Decrypt,
    /// Not a value this module wrote.
    #[error("not an encrypted value")]
    Format,
}

/// An AES-256-GCM key.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// Parses a base64 32-byte key.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = B64.decode(text.trim()).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKey);
        }
        Ok(Self(*Key::<Aes256Gcm>::from_slice(&bytes)))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(Aes256Gcm::generate_key(OsRng))
    }

    /// The key from `SLUICE_MASTER_KEY` if set, else the one stored at `path`, else a new
    /// one written there with mode 0600 (development setups such as `sluice up`).
    pub fn from_env_or_file(path: &std::path::Path) -> anyhow::Result<Self> {
        if let Ok(text) = std::env::var("SLUICE_MASTER_KEY") {
            return Ok(Self::from_base64(&text)?);
        }
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        let key = Self::generate();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(key.to_base64().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        tracing::warn!(path = %path.display(), "generated a development master key; set SLUICE_MASTER_KEY in production");
        Ok(key)
    }

    /// The key as base64 (to store it for development setups).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_slice())
    }

    /// Encrypts `plain` with a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> String {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut buf = Vec::with_capacity(12 + ct.len());
        buf.extend_from_slice(nonce.as_slice());
        buf.extend_from_slice(&ct);
        format!("{PREFIX}{}", B64.encode(buf))
    }

    /// Decrypts a value written by [`MasterKey::seal`].
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let b64 = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Format)?;
        let buf = B64.decode(b64).map_err(|_| CryptoError::Format)?;
        if buf.len() < 12 + 16 {
            return Err(CryptoError::Format);
        }
        let (nonce, ct) = buf.split_at(12);
        Aes256Gcm::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Decrypts to UTF-8 text.
    pub fn open_str(&self, sealed: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let k = MasterKey::generate();
        let a = k.seal(b"sk-secret");
        let b = k.seal(b"sk-secret");
        assert_ne!(a, b, "fresh nonce per value");
        assert!(!a.contains("sk-secret"));
        assert_eq!(k.open_str(&a).unwrap(), "sk-secret");
        let other = MasterKey::generate();
        assert!(matches!(other.open(&a), Err(CryptoError::Decrypt)));
        let mut t = a.clone().into_bytes();
        let n = t.len() - 3;
        t[n] = if t[n] == b'A' { b'B' } else { b'A' };
        assert!(k.open(std::str::from_utf8(&t).unwrap()).is_err());
        assert!(matches!(k.open("plain"), Err(CryptoError::Format)));
        let k2 = MasterKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k2.open_str(&a).unwrap(), "sk-secret");
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
