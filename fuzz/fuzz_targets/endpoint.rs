//! Fuzz two `umptcp_proto::Endpoint`s joined back to back: the first byte
//! picks the campaign's mode, the next 32 the case (addresses, subflows,
//! checksums, sizes, keys), the rest drive the forged or mutated segments.
//! A panic, or a finding that is a defect in the mode, is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    umptcp_campaign::fuzzing::endpoint(data);
});
