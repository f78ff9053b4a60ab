//! Fuzz whole-segment parsing (IPv4 and IPv6 carrying TCP).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    umptcp_wire::fuzzing::segment(data);
});
