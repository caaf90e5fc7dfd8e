//! Anthropic Messages stream → OpenAI chunks, plus the OpenAI passthrough scanner, on
//! arbitrary bytes split where the first byte says.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sluice_translate::anthropic::AnthropicStreamTranslator;
use sluice_translate::openai::PassthroughScanner;
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
    let mut t = AnthropicStreamTranslator::new(ctx);
    let mut out = BytesMut::new();
    for chunk in input.chunks(usize::from(split).max(1)) {
        if t.feed(Bytes::copy_from_slice(chunk), &mut out).is_err() {
            break;
        }
    }
    let _ = t.finish(&mut out);
    assert!(out.len() <= 64 * input.len() + 64 * 1024);

    for strip in [false, true] {
        let mut s = PassthroughScanner::new(strip);
        let mut forwarded = 0;
        for chunk in input.chunks(usize::from(split).max(1)) {
            forwarded += s
                .scan(&Bytes::copy_from_slice(chunk))
                .map_or(0, |b| b.len());
        }
        forwarded += s.finish().map_or(0, |b| b.len());
        assert!(forwarded <= input.len());
    }
});
