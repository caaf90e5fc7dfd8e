//! Gemini stream (SSE or JSON-array framing) → OpenAI chunks, and the non-streamed and
//! error translators, on arbitrary bytes split where the first byte says.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_translate::gemini::{self, GeminiStreamTranslator};
use sluice_translate::{ResponseContext, StreamTranslator};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let ctx = ResponseContext {
        model: "m".into(),
        include_usage: true,
        created: 1,
        id: "chatcmpl-fuzz".into(),
        json_array: false,
    };
    let mut t = GeminiStreamTranslator::new(ctx.clone());
    let mut out = BytesMut::new();
    for chunk in input.chunks(usize::from(split).max(1)) {
        if t.feed(Bytes::copy_from_slice(chunk), &mut out).is_err() {
            break;
        }
    }
    let _ = t.finish(&mut out);
    assert!(out.len() <= 64 * input.len() + 64 * 1024);

    let _ = gemini::translate_response(input, &ctx);
    let _ = gemini::translate_error(u16::from(split) + 300, input);
});
