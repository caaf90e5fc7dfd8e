//! The mock's own endpoints under `/_mock/`: stats, reset, last body, scenario switching.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::api::MOCK_NAME;
use crate::body::PacedBody;
use crate::flavor::ControlEndpoint;
use crate::scenario::Scenario;
use crate::state::MockState;

/// Answers a control request (never counted in the stats).
pub fn answer(state: &MockState, endpoint: ControlEndpoint, body: Bytes) -> Response<PacedBody> {
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
