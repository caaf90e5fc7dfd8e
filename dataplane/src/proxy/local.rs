//! Answers from a provider that answers inside the gateway (the built-in echo provider):
//! no upstream, a whole body or an event stream paced by the provider's `pace`. The echo
//! answers in OpenAI Chat; clients of another surface get it through the hub's OpenAI
//! decoder and their own encoder.

use bytes::{Bytes, BytesMut};
use sluice_translate::hub::{self, Protocol, Translator};
use sluice_translate::openai::RequestLimits;
use sluice_translate::{StreamTranslator, Usage};

use super::attempt::answer_ctx;
use super::downstream::Downstream as Session;
use super::relay::{sse_header, OUT_BUF_START};
use super::whole::add_response_extras;
use super::{respond, RequestCtx};
use crate::chat_request::{ChatRequest, ClientRequest};
use crate::config::Provider;
use crate::error::GatewayError;
use crate::metrics;
use crate::provider::echo;
use crate::resolve::Candidate;

/// Limits for re-reading a request another surface already validated, as OpenAI Chat.
const UNBOUNDED: RequestLimits = RequestLimits {
    max_model_name_bytes: usize::MAX,
    max_messages: usize::MAX,
    max_tools: usize::MAX,
    max_object_keys: usize::MAX,
    max_json_depth: usize::MAX,
};

/// Answers `req` locally, whole or streamed as the client asked.
pub async fn answer(
    session: &mut Session,
    rctx: &mut RequestCtx,
    provider: &Provider,
    candidate: &Candidate,
    req: &ClientRequest,
) {
    let converted;
    let chat = match req.chat() {
        Some(c) => c,
        None => match req
            .upstream_body(Protocol::OpenAi, &candidate.model)
            .and_then(|b| ChatRequest::parse(b, UNBOUNDED))
        {
            Ok(c) => {
                converted = c;
                &converted
            }
            Err(e) => {
                let err = GatewayError::from(e);
                rctx.status = err.status();
                let _ = respond::send_error(
                    session,
                    &err,
                    &rctx.request_id,
                    Some(&provider.name),
                    rctx.surface,
                )
                .await;
                return;
            }
        },
    };
    let answer = echo::answer(chat);
    let id = format!("chatcmpl-{}", rctx.request_id);
    rctx.usage = Some(Usage {
        prompt_tokens: answer.prompt_tokens,
        completion_tokens: answer.completion_tokens,
        total_tokens: answer
            .prompt_tokens
            .saturating_add(answer.completion_tokens),
        ..Usage::default()
    });
    rctx.status = 200;
    let openai_chat = answer_ctx(rctx, &candidate.model, req).openai_chat();
    if !req.stream {
        let body = echo::completion(&answer, &id, &candidate.model);
        let body = if openai_chat {
            add_response_extras(
                body,
                &provider.name,
                rctx.start.elapsed().as_millis() as u64,
            )
        } else {
            let ctx = answer_ctx(rctx, &candidate.model, req).translation();
            match hub::translator(Protocol::OpenAi, rctx.surface, false, ctx).whole(&body) {
                Ok((b, _)) => Bytes::from(b),
                Err(e) => {
                    let err = GatewayError::from(e);
                    rctx.status = err.status();
                    let _ = respond::send_error(
                        session,
                        &err,
                        &rctx.request_id,
                        Some(&provider.name),
                        rctx.surface,
                    )
                    .await;
                    return;
                }
            }
        };
        let _ = respond::send_body(
            session,
            200,
            "application/json",
            body,
            &rctx.request_id,
            Some(&provider.name),
            &[],
        )
        .await;
        return;
    }
    metrics::first_token(
        rctx.route_label(),
        &provider.name,
        rctx.start.elapsed().as_secs_f64(),
    );
    // Another surface's encoder needs the usage chunk to report usage.
    let include_usage = req.include_usage || !openai_chat;
    let mut translator: Option<Translator> = (!openai_chat).then(|| {
        let ctx = answer_ctx(rctx, &candidate.model, req).translation();
        hub::translator(Protocol::OpenAi, rctx.surface, true, ctx)
    });
    // One event at a time: memory does not grow with the answer.
    let mut events = echo::EchoStream::new(&answer, &id, &candidate.model, include_usage);
    let mut out = BytesMut::with_capacity(OUT_BUF_START);
    let mut translated = BytesMut::new();
    let mut first = true;
    let mut more = true;
    while more {
        more = events.next_event(&mut out);
        let ev = match &mut translator {
            None => out.split().freeze(),
            Some(t) => {
                let chunk = out.split().freeze();
                let fed = if more {
                    t.feed(chunk, &mut translated)
                } else {
                    t.feed(chunk, &mut translated)
                        .and_then(|()| StreamTranslator::finish(t, &mut translated))
                };
                if let Err(e) = fed {
                    t.write_error(&e, &mut translated);
                    more = false;
                }
                translated.split().freeze()
            }
        };
        if ev.is_empty() {
            continue;
        }
        let written = if std::mem::take(&mut first) {
            session
                .start_event_stream(sse_header(rctx, &provider.name), ev)
                .await
        } else {
            if !provider.pace.is_zero() {
                tokio::time::sleep(provider.pace).await;
            }
            session.write_response_body(ev, false).await
        };
        if written.is_err() {
            return;
        }
    }
    let _ = session.finish_body().await;
}
