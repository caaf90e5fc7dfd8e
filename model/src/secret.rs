//! Secrets: provider keys that never print themselves, the `sk-…abcd` mask shown instead,
//! and sealing at rest — AES-256-GCM with a random 96-bit nonce per value, under the
//! 32-byte master key (`SLUICE_MASTER_KEY`, base64). Used by the control plane's store and
//! backups and by the data plane's last-good snapshot cache.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl Secret {
    /// The plaintext, for building upstream requests only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sk-…abcd` style mask for display.
    pub fn masked(&self) -> String {
        mask_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

/// Masks a secret as `prefix…last4`; short secrets are fully hidden.
pub fn mask_secret(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "****".to_string();
    }
    let prefix: String = chars.iter().take(3).collect();
    let suffix: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("{prefix}…{suffix}")
}

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

/// Why [`MasterKey::from_env_or_file`] found no usable key.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// `SLUICE_MASTER_KEY` is set but not a valid key.
    #[error("SLUICE_MASTER_KEY: {0}")]
    Env(CryptoError),
    /// The key file exists but does not hold a valid key.
    #[error("{}: {source}", path.display())]
    File {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        source: CryptoError,
    },
    /// The development key file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file (or its directory).
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
}

/// An AES-256-GCM key.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    pub fn from_env_or_file(path: &Path) -> Result<Self, KeyFileError> {
        if let Ok(text) = std::env::var("SLUICE_MASTER_KEY") {
            return Self::from_base64(&text).map_err(KeyFileError::Env);
        }
        if let Ok(text) = std::fs::read_to_string(path) {
            return Self::from_base64(&text).map_err(|source| KeyFileError::File {
                path: path.to_path_buf(),
                source,
            });
        }
        let key = Self::generate();
        key.write_new(path).map_err(|source| KeyFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        tracing::warn!(path = %path.display(), "generated a development master key; set SLUICE_MASTER_KEY in production");
        Ok(key)
    }

    /// Writes the key to `path` (mode 0600), atomically: temp file + rename.
    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(self.to_base64().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
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
    fn masks() {
        assert_eq!(mask_secret("sk-1234567890abcd"), "sk-…abcd");
        assert_eq!(mask_secret("short"), "****");
        assert_eq!(mask_secret(""), "");
        assert_eq!(
            format!("{:?}", Secret("sk-1234567890abcd".into())),
            "Secret(sk-…abcd)"
        );
    }

    #[test]
    fn development_key_file() {
        let dir = std::env::temp_dir().join(format!("sluice-model-key-{}", std::process::id()));
        let path = dir.join("master.key");
        let _ = std::fs::remove_dir_all(&dir);
        if std::env::var("SLUICE_MASTER_KEY").is_err() {
            let a = MasterKey::from_env_or_file(&path).unwrap();
            let b = MasterKey::from_env_or_file(&path).unwrap();
            assert_eq!(a.to_base64(), b.to_base64());
            std::fs::write(&path, "c2hvcnQ=").unwrap();
            assert!(matches!(
                MasterKey::from_env_or_file(&path),
                Err(KeyFileError::File { .. })
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

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
