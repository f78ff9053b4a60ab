//! Fuzz the RFC 8803 Convert message parser and its emitter.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    umptcp_proxy::fuzzing::convert(data);
});
