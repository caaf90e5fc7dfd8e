//! SSE framing: arbitrary bytes, split where the first byte says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_translate::sse::{SseError, SseParser};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let limit = 256;
    let mut p = SseParser::with_limit(limit);
    let mut data_bytes = 0usize;
    for chunk in input.chunks(usize::from(split).max(1)) {
        let _ = p.feed::<SseError, _>(chunk, |ev| {
            data_bytes += ev.data.len();
            Ok(())
        });
        assert!(p.buffered() <= limit);
    }
    let _ = p.finish::<SseError, _>(|ev| {
        data_bytes += ev.data.len();
        Ok(())
    });
    assert!(data_bytes <= input.len());
});
