//! The corpus of malformed requests in `tests/attacks/corpus/` (regenerate with
//! `python3 tests/attacks/gen_corpus.py`). One file per case; the prefix of its name says
//! how it is sent and what counts as a correct answer:
//!
//! - `json-*.json`: a request body, sent as `POST /v1/chat/completions` with a correct
//!   `Content-Length` and `Connection: close`. A complete response below 500 is required.
//! - `raw-*.http`: the exact bytes of one or more requests. A request line and head that
//!   can be read are there, so at least one complete response below 500 is required.
//! - `noreq-*.http`: bytes from which no request can be parsed (garbage, a cut head, a
//!   head beyond the size limit): a clean close is fine, and any response must be < 500.

use std::path::{Path, PathBuf};

/// How a case is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// At least one complete response, every one below 500.
    Answer,
    /// Responses, if any, below 500; a close without one is fine.
    AnswerOrClose,
}

/// One corpus case.
pub struct Case {
    /// File name.
    pub name: String,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// How it is judged.
    pub expect: Expect,
}

/// The corpus directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attacks/corpus")
}

/// Loads every case, sorted by name.
pub fn load() -> Vec<Case> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/attacks/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let data = std::fs::read(&p).expect("read corpus file");
        let case = if name.starts_with("json-") && name.ends_with(".json") {
            Case {
                bytes: super::http::chat_request(&data, "", true),
                name,
                expect: Expect::Answer,
            }
        } else if name.starts_with("raw-") && name.ends_with(".http") {
            Case {
                bytes: data,
                name,
                expect: Expect::Answer,
            }
        } else if name.starts_with("noreq-") && name.ends_with(".http") {
            Case {
                bytes: data,
                name,
                expect: Expect::AnswerOrClose,
            }
        } else {
            continue;
        };
        out.push(case);
    }
    out
}
