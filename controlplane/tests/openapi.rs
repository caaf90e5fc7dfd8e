//! The OpenAPI document against the router that serves it: every documented path and
//! method is served, and every other method on those paths is refused with 405.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)] // test code: a failure here is a failing test

mod common;

use common::Server;
use serde_json::{json, Value};
use sluice_model::MasterKey;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `/v1/admin/providers/{id}` → `/v1/admin/providers/0` (no such resource: a 404 of the
/// surface, not of the router).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "0" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_exactly_the_documented_operations() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), MasterKey::generate()).await;
    let r = s.http.get(s.url("/openapi.json")).send().await.unwrap();
    let served: Value = r.json().await.unwrap();
    let generated: Value =
        serde_json::from_str(&sluice_controlplane::api::openapi::document_json().unwrap()).unwrap();
    assert_eq!(
        served, generated,
        "/openapi.json is not the generated document"
    );
    let paths = served["paths"].as_object().unwrap();
    let canonical: Vec<&String> = paths
        .keys()
        .filter(|p| p.starts_with("/v1/admin"))
        .collect();
    assert!(canonical.len() >= 8, "{canonical:?}");
    for (path, item) in paths {
        let url = concrete(path);
        for method in METHODS {
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            // The restore endpoint's empty body would restore the data directory's backup:
            // harmless here, but send an invalid document to keep the store untouched.
            let (code, body) = s.call(method, &url, Some(json!({"unknown": true}))).await;
            let routed = code != 405 && !body.to_string().contains("no such endpoint");
            assert_eq!(
                routed, documented,
                "{method} {path}: answered {code} {body}, documented: {documented}"
            );
        }
    }
    s.stop().await;
}
