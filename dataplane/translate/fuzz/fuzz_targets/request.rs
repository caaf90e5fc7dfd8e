//! Request parsing and building for both providers on arbitrary bytes (seed the corpus
//! with real OpenAI request bodies for depth).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_translate::{anthropic, gemini};

fuzz_target!(|body: &[u8]| {
    let bound = 16 * body.len() + 512 * 1024;
    for result in [
        anthropic::build_request(body, "claude-x"),
        gemini::build_request(body, "gemini-x"),
    ] {
        match result {
            Ok(req) => assert!(req.body.len() <= bound),
            Err(e) => assert_eq!(e.status(), 400),
        }
    }
    let _ = gemini::path(&String::from_utf8_lossy(body), true);
});
