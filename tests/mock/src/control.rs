//! The mock's own endpoints under `/_mock/`: stats, reset, last body, scenario switching.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};

use crate::api::MOCK_NAME;
use crate::body::PacedBody;
use crate::flavor::{route, ControlEndpoint, Route};
use crate::scenario::Scenario;
use crate::state::MockState;

/// Response header of `/_mock/last` naming the path and query the request was sent to.
pub const MOCK_TARGET: HeaderName = HeaderName::from_static("x-mock-target");

/// Answers a control request (never counted in the stats).
pub fn answer(
    state: &MockState,
    endpoint: ControlEndpoint,
    query: Option<&str>,
    body: Bytes,
) -> Response<PacedBody> {
    match endpoint {
        ControlEndpoint::Stats => json(StatusCode::OK, state.stats.to_json(&state.name), state),
        ControlEndpoint::Reset => {
            state.reset();
            json(StatusCode::OK, serde_json::json!({"ok": true}), state)
        }
        ControlEndpoint::LastBody => with_type(
            StatusCode::OK,
            "application/octet-stream",
            Bytes::clone(&state.last_body.load()),
            state,
        ),
        ControlEndpoint::Last => last(state, query),
        ControlEndpoint::GetScenario => with_type(
            StatusCode::OK,
            "application/json",
            state.scenario.load().source.clone(),
            state,
        ),
        ControlEndpoint::SetScenario => {
            match Scenario::compile(body, &state.defaults, &state.fixtures_dir) {
                Ok(scenario) => {
                    let rules = scenario.rules.len();
                    state.scenario.store(Arc::new(scenario));
                    json(
                        StatusCode::OK,
                        serde_json::json!({"ok": true, "rules": rules}),
                        state,
                    )
                }
                Err(err) => json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": {"message": format!("{err:#}")}}),
                    state,
                ),
            }
        }
    }
}

/// `GET /_mock/last?path=P`: the body of the last request to the endpoint that path `P`
/// routes to (any model, for Gemini paths), with its path and query in `x-mock-target`;
/// 404 when that endpoint got no request yet, 400 when `P` is no API endpoint.
fn last(state: &MockState, query: Option<&str>) -> Response<PacedBody> {
    let path = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("path="))
        .map(percent_decode)
        .unwrap_or_default();
    let path = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
    let endpoint = match route(&Method::POST, path) {
        Route::Api { endpoint, .. } => endpoint,
        _ => {
            match route(&Method::GET, path) {
                Route::Api { endpoint, .. } => endpoint,
                _ => {
                    let msg = format!("sluice-mock: {path:?} is not an API endpoint (/_mock/last?path=/v1/messages)");
                    return json(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"error": {"message": msg}}),
                        state,
                    );
                }
            }
        }
    };
    let Some(last) = state
        .last
        .get(endpoint.index())
        .and_then(|slot| slot.load_full())
    else {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": {"message": format!("sluice-mock: no request to {} yet", endpoint.label())}}),
            state,
        );
    };
    let mut response = with_type(
        StatusCode::OK,
        "application/octet-stream",
        last.body.clone(),
        state,
    );
    if let Ok(target) = HeaderValue::from_str(&last.target) {
        response.headers_mut().insert(MOCK_TARGET, target);
    }
    response
}

/// Decodes `%XX` escapes and `+` (as a query value is written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json(status: StatusCode, value: serde_json::Value, state: &MockState) -> Response<PacedBody> {
    with_type(
        status,
        "application/json",
        Bytes::from(value.to_string()),
        state,
    )
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    state: &MockState,
) -> Response<PacedBody> {
    let mut response = Response::new(PacedBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(MOCK_NAME, state.name_header.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_query_values() {
        assert_eq!(
            percent_decode("%2Fv1beta%2Fmodels%2Fm%3AstreamGenerateContent"),
            "/v1beta/models/m:streamGenerateContent"
        );
        assert_eq!(percent_decode("a+b%zz%4"), "a b%zz%4");
    }
}
