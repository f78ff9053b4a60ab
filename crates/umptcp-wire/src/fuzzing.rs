//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the
//! corpus replay test (`tests/fuzz_corpus.rs`), so that stable CI runs every
//! committed seed through exactly the code the fuzzer exercises.
//!
//! Each function accepts any bytes. It panics only when this crate breaks its
//! own contract: a parser that panics, or a value that parses but does not
//! re-emit to an equal value. That is what the fuzzer hunts for.

use crate::segment::{ChecksumCheck, Segment};
use crate::tcp_option::{TcpOption, TcpOptions};

/// Iterate `data` as TCP option bytes; re-emit and re-parse every option.
///
/// # Panics
///
/// When a parsed option fails to re-emit, or re-parses to another value.
pub fn tcp_options(data: &[u8]) {
    // 255 bytes is the largest a single TCP option can be (one length byte).
    let mut buf = [0u8; 255];
    for option in TcpOptions::new(data) {
        let Ok(option) = option else { break };
        let written = option.emit(&mut buf).expect("a parsed option must re-emit");
        assert_eq!(written, option.buffer_len(), "emit wrote buffer_len bytes");
        let (again, rest) =
            TcpOption::parse(&buf[..written]).expect("a re-emitted option must parse");
        assert_eq!(again, option, "parse(emit(x)) == x");
        assert!(rest.is_empty(), "one option re-parses from its own bytes");
    }
}

/// Parse `data` as an IP packet carrying TCP, with and without checksum
/// verification, touch every accessor and run the options through
/// [`tcp_options`].
///
/// # Panics
///
/// When an accessor panics after a successful parse, or as [`tcp_options`].
pub fn segment(data: &[u8]) {
    for check in [ChecksumCheck::Verify, ChecksumCheck::Skip] {
        let Ok(segment) = Segment::parse(data, check) else {
            continue;
        };
        let _ = (segment.src(), segment.dst(), segment.hop_limit());
        let _ = (segment.src_port(), segment.dst_port());
        let _ = (segment.seq(), segment.ack(), segment.flags());
        let _ = (segment.window(), segment.urgent(), segment.seq_len());
        let headers = segment.ip_header_len() + segment.tcp_header_len();
        assert!(headers + segment.payload().len() <= data.len());
        tcp_options(segment.option_bytes());
    }
}
