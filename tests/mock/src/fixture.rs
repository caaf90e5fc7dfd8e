//! Recorded provider responses, loaded once and replayed byte for byte.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

/// A fixture file split into the pieces it is sent in.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The file's bytes, split at SSE event boundaries (`.sse`) or whole (anything else).
    pub events: Vec<Bytes>,
    /// `text/event-stream` for `.sse`, `application/json` otherwise.
    pub content_type: &'static str,
}

/// A fixture reference as a rule holds it: loaded, or the reason it could not be.
#[derive(Debug, Clone)]
pub enum FixtureRef {
    /// Loaded and ready to replay.
    Loaded(Fixture),
    /// Missing or unreadable: served as a 500 naming `path`.
    Missing {
        /// The full path that was tried.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
}

/// The directories fixture paths are relative to: the recorded traffic (`--fixtures`)
/// first, then `--fixtures-extra` directories (e.g. recordings kept in the repository).
#[derive(Debug, Clone)]
pub struct FixtureRoots(Vec<PathBuf>);

impl FixtureRoots {
    /// `primary` first, then `extra` in order.
    pub fn new(primary: PathBuf, extra: impl IntoIterator<Item = PathBuf>) -> Self {
        Self(std::iter::once(primary).chain(extra).collect())
    }

    /// The first root holding `relative` (refusing absolute paths and `..`); when none
    /// does, the path under the primary root (reported as missing when served).
    pub fn resolve(&self, relative: &str) -> anyhow::Result<PathBuf> {
        let mut first = None;
        for root in &self.0 {
            let path = resolve(root, relative)?;
            if path.exists() {
                return Ok(path);
            }
            first.get_or_insert(path);
        }
        first.ok_or_else(|| anyhow::anyhow!("no fixtures directory"))
    }
}

/// Resolves `relative` under `root`, refusing absolute paths and `..`.
pub fn resolve(root: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let rel = Path::new(relative);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        anyhow::bail!("fixture path {relative:?} must be relative to the fixtures dir, without ..");
    }
    Ok(root.join(rel))
}

/// Loads the fixture at `path`; a missing file is kept as [`FixtureRef::Missing`].
pub fn load(path: &Path) -> FixtureRef {
    match std::fs::read(path) {
        Ok(bytes) => FixtureRef::Loaded(from_bytes(path, Bytes::from(bytes))),
        Err(err) => FixtureRef::Missing {
            path: path.to_owned(),
            reason: err.to_string(),
        },
    }
}

fn from_bytes(path: &Path, bytes: Bytes) -> Fixture {
    if path.extension().is_some_and(|ext| ext == "sse") {
        Fixture {
            events: split_events(bytes),
            content_type: "text/event-stream",
        }
    } else {
        Fixture {
            events: vec![bytes],
            content_type: "application/json",
        }
    }
}

/// Splits an SSE body after each blank line (`\n\n` or `\r\n\r\n`), without copying;
/// the pieces concatenate back to the input exactly.
pub fn split_events(mut bytes: Bytes) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let blank_line_end = bytes[i] == b'\n'
            && i > 0
            && (bytes[i - 1] == b'\n' || (i > 1 && bytes[i - 1] == b'\r' && bytes[i - 2] == b'\n'));
        if blank_line_end {
            events.push(bytes.split_to(i + 1));
            i = 0;
        } else {
            i += 1;
        }
    }
    if !bytes.is_empty() {
        events.push(bytes);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lf_and_crlf_events() {
        let input = "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n";
        let events = split_events(Bytes::from(input));
        assert_eq!(events.len(), 2);
        assert_eq!(&events[1][..], b"event: b\ndata: 2\n\n");

        let input = "data: {}\r\n\r\ndata: {}\r\n\r\ntrailing";
        let events = split_events(Bytes::from(input));
        assert_eq!(events.len(), 3);
        assert_eq!(&events[0][..], b"data: {}\r\n\r\n");
        let joined: Vec<u8> = events.iter().flat_map(|e| e.to_vec()).collect();
        assert_eq!(joined, input.as_bytes());
    }

    #[test]
    fn extra_roots_are_searched_in_order() {
        let dir = std::env::temp_dir().join(format!("sluice-mock-roots-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(b.join("x")).unwrap();
        std::fs::write(b.join("x/f.sse"), "data: 1\n\n").unwrap();
        let roots = FixtureRoots::new(a.clone(), [b.clone()]);
        assert_eq!(roots.resolve("x/f.sse").unwrap(), b.join("x/f.sse"));
        assert_eq!(roots.resolve("x/none.sse").unwrap(), a.join("x/none.sse"));
        assert!(roots.resolve("../f").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn refuses_escaping_paths() {
        let root = Path::new("/f");
        assert!(resolve(root, "openai/x.sse").is_ok());
        assert!(resolve(root, "../etc/passwd").is_err());
        assert!(resolve(root, "/etc/passwd").is_err());
    }
}
