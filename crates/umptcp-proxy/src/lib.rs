//! The MPTCP proxies over the userspace stack: the RFC 8803 0-RTT TCP
//! Convert protocol (the 5G ATSSS MPTCP proxy) and, on it, a converter,
//! its client, a SOCKS5 front and transparent capture.
//!
//! Built so far: [`convert`], the sans-I/O codec of Convert messages
//! (fixed header and every TLV of §6, the framing checks of §9 as typed
//! errors, each naming the Error TLV the RFC answers it with), and
//! [`converter`], the Transport Converter on our stack (kernel sockets
//! upstream), [`client`], the Convert client (0-RTT: the Convert
//! message and the first bytes in the SYN), and [`socks5`], a SOCKS5 front
//! whose connections go through the converter or straight over MPTCP.

pub mod capture;
pub mod client;
pub mod convert;
pub mod converter;
pub mod relay;
pub mod socks5;
pub mod summary;

/// `s` as a JSON string, quoted and escaped.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Entry points of the fuzz targets (`fuzz/fuzz_targets/convert.rs`),
/// also replayed on stable over the committed corpus.
pub mod fuzzing {
    /// Parse `data` as a Convert message; what parses must emit and
    /// parse again to the same message, and every error must name its
    /// Error TLV (or a reset).
    pub fn convert(data: &[u8]) {
        match crate::convert::Message::parse(data) {
            Ok((message, used)) => {
                assert!(used <= data.len() && used % 4 == 0 && used >= 4);
                let mut out = [0u8; crate::convert::MAX_LEN];
                let n = message.emit(&mut out).expect("a parsed message emits");
                let (again, used_again) =
                    crate::convert::Message::parse(&out[..n]).expect("an emitted message parses");
                assert_eq!(again, message);
                assert_eq!(used_again, n);
            }
            Err(e) => {
                let _ = e.reaction();
            }
        }
    }
}
