//! Non-streamed answers: the answer body (in the client's protocol; OpenAI Chat answers
//! gain the orchestrator API's `provider` and `latency_ms`) is written with its length in
//! one go.

use bytes::{Bytes, BytesMut};
use sluice_translate::Usage;

use super::downstream::Downstream as Session;
use super::{respond, RequestCtx};
use crate::chat_request::write_json_str;
use crate::config::Provider;

/// Upper bound on a non-streamed upstream answer.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Writes a 2xx answer `body` (already in the client's protocol) to the client; `extras`
/// adds the orchestrator API's fields (OpenAI Chat answers).
pub async fn send(
    session: &mut Session,
    rctx: &mut RequestCtx,
    provider: &Provider,
    body: Bytes,
    usage: Option<Usage>,
    extras: bool,
) {
    rctx.usage = usage;
    let latency_ms = rctx.start.elapsed().as_millis() as u64;
    let body = if extras {
        add_response_extras(body, &provider.name, latency_ms)
    } else {
        body
    };
    rctx.status = 200;
    if let Err(e) = respond::send_body(
        session,
        200,
        "application/json",
        body,
        &rctx.request_id,
        Some(&provider.name),
        &[],
    )
    .await
    {
        tracing::debug!(error = %e, "client went away");
    }
}

/// Adds the orchestrator API's `provider` and `latency_ms` to a JSON object body without
/// re-serialising it.
pub fn add_response_extras(body: Bytes, provider: &str, latency_ms: u64) -> Bytes {
    let Some(end) = body.iter().rposition(|&b| b == b'}') else {
        return body;
    };
    let (head, tail) = body.split_at(end);
    let inner_empty = head.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return body;
    }
    let mut out = BytesMut::with_capacity(body.len() + provider.len() + 40);
    out.extend_from_slice(head);
    if !inner_empty {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(b"\"provider\":");
    write_json_str(&mut out, provider);
    out.extend_from_slice(b",\"latency_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(latency_ms).as_bytes());
    out.extend_from_slice(tail);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_are_appended_without_reserialising() {
        let b = add_response_extras(Bytes::from_static(b"{\"a\": [1, 2]}\n"), "p\"1", 12);
        assert_eq!(
            &b[..],
            b"{\"a\": [1, 2],\"provider\":\"p\\\"1\",\"latency_ms\":12}\n"
        );
        let b = add_response_extras(Bytes::from_static(b" { } "), "p", 1);
        assert_eq!(&b[..], b" { \"provider\":\"p\",\"latency_ms\":1} ");
        let b = add_response_extras(Bytes::from_static(b"[1]"), "p", 1);
        assert_eq!(&b[..], b"[1]");
    }
}
