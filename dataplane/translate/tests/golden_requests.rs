//! The request builders' exact output, byte for byte, on 33 bodies (the recorded fixtures'
//! OpenAI requests, the bench bodies, and rich bodies covering escapes, media, legacy
//! functions, tool choices, thinking, schemas and errors). The golden file was written by
//! the previous, `serde_json::Value`-tree builders when the builders switched to
//! serializing directly, so any change of key order, escaping or number formatting shows
//! up here. It belongs to this repo (not `../shared/fixtures`): update it deliberately.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

use sluice_translate::{anthropic, gemini, TranslateError, UpstreamRequest};

fn entry(r: Result<UpstreamRequest, TranslateError>) -> serde_json::Value {
    match r {
        Ok(u) => serde_json::json!({
            "body": String::from_utf8(u.body).expect("builders write UTF-8"),
            "stream": u.stream,
        }),
        Err(e) => serde_json::json!({ "error": format!("{e:?}") }),
    }
}

#[test]
fn builders_match_the_golden_output_byte_for_byte() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/build_request.json"
    );
    let golden: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).unwrap();
    assert!(golden.len() >= 30);
    let mut built = 0;
    for (i, case) in golden.iter().enumerate() {
        let body = case["request"].as_str().expect("request text").as_bytes();
        let a = entry(anthropic::build_request(body, "claude-x"));
        assert_eq!(a, case["anthropic"], "anthropic, case {i}");
        let g = entry(gemini::build_request(body, "gemini-x"));
        assert_eq!(g, case["gemini"], "gemini, case {i}");
        built += usize::from(a.get("body").is_some()) + usize::from(g.get("body").is_some());
    }
    // Most cases must translate, or the comparison says little.
    assert!(built >= 40, "{built}");
}
