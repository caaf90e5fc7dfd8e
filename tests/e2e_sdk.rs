//! End-to-end with the real `openai` Python SDK as the client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::*;

fn config(mock: &Mock, extra_server: &str) -> String {
    format!(
        "env_providers = false\n[server]\n{extra_server}\n[[providers]]\nname = \"mock-openai\"\nkind = \"openai_compatible\"\nmodels = [\"gpt-4o\"]\nbase_url = \"{}/v1\"\napi_key = \"sk-test\"\n",
        mock.url()
    )
}

#[test]
fn openai_sdk_non_stream_stream_models_errors() {
    let Some(fx) = fixtures() else { return };
    let mock = Mock::with_scenario(
        "sdk",
        r#"{"rules":[{"fixture_stream":"openai/chat_stream_text_usage.sse","fixture_json":"openai/chat_text.json"}]}"#,
    );
    let gw = Gateway::start(&config(&mock, ""));
    let keyed = Gateway::start(&config(&mock, "api_keys = [\"ck-good\"]"));
    let out = run_sdk_script(
        "openai_basic.py",
        &gw.url(),
        &[
            ("SLUICE_FIXTURES", fx.to_str().unwrap()),
            ("SLUICE_KEYED_URL", &keyed.url()),
        ],
    );
    assert!(out.contains("OK"), "{out}");
}
