//! The upstream HTTP/1.1 response reader (head parser + body decoder) on arbitrary bytes.
//! The first input byte picks the read size and whether the request was HEAD; see
//! `sluice_dataplane::fuzz_decode_response`. A panic or a broken invariant (more
//! body than was fed, unbounded buffering) is a finding; a decode error is not.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = sluice_dataplane::fuzz_decode_response(data) {
        panic!("{broken}");
    }
});
