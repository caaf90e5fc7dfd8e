//! Writing complete responses (JSON bodies and error envelopes) to the client.

use super::downstream::Downstream as Session;
use bytes::Bytes;
use pingora::Result;
use pingora_http::ResponseHeader;

use crate::config::Protocol;
use crate::error::GatewayError;

/// Builds a response header with the gateway's standard headers.
pub fn header(
    status: u16,
    content_type: &str,
    request_id: &str,
    provider: Option<&str>,
) -> Box<ResponseHeader> {
    // Status codes here are all valid; fall back to 500 rather than panic. No header-case
    // map: every name is written lowercase, which saves an allocation per header.
    let mut h = ResponseHeader::build_no_case(status, Some(8)).unwrap_or_else(|_| {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
        ResponseHeader::from(parts)
    });
    let _ = h.insert_header("content-type", content_type);
    let _ = h.insert_header("x-request-id", request_id);
    if let Some(p) = provider {
        let _ = h.insert_header("x-sluice-provider", p);
    }
    Box::new(h)
}

/// Writes a complete body with `content-length` and the gateway's standard headers.
pub async fn send_body(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Bytes,
    request_id: &str,
    provider: Option<&str>,
    extra: &[(&'static str, String)],
) -> Result<()> {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(3 + extra.len());
    headers.push(("content-type", content_type));
    headers.push(("x-request-id", request_id));
    if let Some(p) = provider {
        headers.push(("x-sluice-provider", p));
    }
    headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    session.send_response(status, &headers, body).await
}

/// Writes a JSON body.
pub async fn send_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
    request_id: &str,
) -> Result<()> {
    send_body(
        session,
        status,
        "application/json",
        body,
        request_id,
        None,
        &[],
    )
    .await
}

/// Writes `err` in the client surface's error format (the unified envelope for OpenAI).
pub async fn send_error(
    session: &mut Session,
    err: &GatewayError,
    request_id: &str,
    provider: Option<&str>,
    surface: Protocol,
) -> Result<()> {
    let extra = err.headers();
    send_body(
        session,
        err.status(),
        "application/json",
        err.body_for(surface, request_id),
        request_id,
        provider,
        &extra,
    )
    .await
}
