//! Fuzz the TCP option iterator, and through it every MPTCP option parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    umptcp_wire::fuzzing::tcp_options(data);
});
