//! The 0-RTT TCP Convert protocol's messages (RFC 8803 §6), sans-I/O:
//! parse what a SYN's data (or the start of a bytestream) carries, and
//! emit what to send. No allocation: a parsed [`Message`] borrows the
//! bytes it was read from, and each TLV is at most one field of it (§6.2:
//! each TLV at most once per connection).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Version = 1  | Total Length  |        Magic = 0x2263         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |            Value ...          |
//! ```
//!
//! Total Length and each TLV's Length count 32-bit words (header and
//! type/length bytes included); values are zero-padded to a word.

mod error_code;
mod parse_error;
mod tcp_options;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub use error_code::ErrorCode;
pub use parse_error::{ParseError, Reaction};
use tcp_options::Nops;
pub use tcp_options::TcpOptions;

/// The version this implementation speaks (§6.1).
pub const VERSION: u8 = 1;
/// The fixed header's magic number.
pub const MAGIC: u16 = 0x2263;
/// The longest message: Total Length is 8 bits of 32-bit words.
pub const MAX_LEN: usize = 255 * 4;
/// The fixed header's length.
pub const HEADER_LEN: usize = 4;

/// TLV types (§6.2; the IANA "Convert TLVs" registry).
pub mod tlv_type {
    /// Info (§6.2.1).
    pub const INFO: u8 = 0x01;
    /// Connect (§6.2.2).
    pub const CONNECT: u8 = 0x0A;
    /// Extended TCP Header (§6.2.3).
    pub const EXTENDED_TCP_HEADER: u8 = 0x14;
    /// Supported TCP Extensions (§6.2.4).
    pub const SUPPORTED_TCP_EXTENSIONS: u8 = 0x15;
    /// Cookie (§6.2.7).
    pub const COOKIE: u8 = 0x16;
    /// Error (§6.2.8).
    pub const ERROR: u8 = 0x1E;
}

/// The Connect TLV (§6.2.2): the destination, and the TCP options the
/// client asks the converter to use upstream (the extended form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Where to connect (an IPv4 address travels IPv4-mapped).
    pub addr: SocketAddr,
    /// The extended form's options; empty for the base form.
    pub options: TcpOptions<'a>,
}

/// The Error TLV (§6.2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorTlv<'a> {
    /// What went wrong.
    pub code: ErrorCode,
    /// Its value byte (Table 2 says what it means for each code).
    pub value: u8,
    /// Further value bytes (an echo of the message, a cookie, option
    /// kinds), padding included.
    pub extra: &'a [u8],
}

impl<'a> ErrorTlv<'a> {
    /// An error with a value byte and nothing more.
    pub fn new(code: ErrorCode, value: u8) -> Self {
        ErrorTlv {
            code,
            value,
            extra: &[],
        }
    }
}

/// One Convert message: the fixed header and its TLVs, each present at
/// most once. Emitted in the order of the fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// Info (§6.2.1): the client asks what the converter supports.
    pub info: bool,
    /// Connect (§6.2.2).
    pub connect: Option<Connect<'a>>,
    /// Extended TCP Header (§6.2.3): the options of the server's SYN+ACK.
    pub extended_tcp_header: Option<TcpOptions<'a>>,
    /// Supported TCP Extensions (§6.2.4): one option kind per byte.
    pub supported_tcp_extensions: Option<&'a [u8]>,
    /// Cookie (§6.2.7), opaque.
    pub cookie: Option<&'a [u8]>,
    /// Error (§6.2.8).
    pub error: Option<ErrorTlv<'a>>,
}

/// A message that cannot be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// Longer than [`MAX_LEN`].
    #[error("a Convert message of {0} bytes is longer than 1020")]
    TooLong(usize),
    /// The buffer is shorter than the message.
    #[error("the buffer holds {have} of the message's {need} bytes")]
    BufferTooSmall {
        /// Its length.
        need: usize,
        /// The buffer's.
        have: usize,
    },
}

/// `n` rounded up to a whole word.
fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl<'a> Message<'a> {
    /// Read the message at the start of `bytes`: the message and its
    /// length (Total Length); what follows it is application data.
    ///
    /// # Errors
    ///
    /// [`ParseError`]; [`ParseError::reaction`] tells the answer.
    pub fn parse(bytes: &'a [u8]) -> Result<(Message<'a>, usize), ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::Incomplete { need: HEADER_LEN });
        }
        if bytes[0] != VERSION {
            return Err(ParseError::UnsupportedVersion(bytes[0]));
        }
        let magic = u16::from_be_bytes([bytes[2], bytes[3]]);
        if magic != MAGIC {
            return Err(ParseError::BadMagic(magic));
        }
        let total = usize::from(bytes[1]) * 4;
        if total == 0 {
            return Err(ParseError::ZeroLength);
        }
        if bytes.len() < total {
            return Err(ParseError::Incomplete { need: total });
        }
        let mut message = Message::default();
        let mut seen = [false; 256];
        let mut at = HEADER_LEN;
        while at < total {
            if at + 2 > total {
                return Err(ParseError::OutsideLength);
            }
            let kind = bytes[at];
            let len = usize::from(bytes[at + 1]) * 4;
            if kind == 0 {
                return Err(ParseError::ReservedType);
            }
            if len == 0 {
                return Err(ParseError::ShortTlv(kind));
            }
            if at + len > total {
                return Err(ParseError::OutsideLength);
            }
            if std::mem::replace(&mut seen[usize::from(kind)], true) {
                return Err(ParseError::Duplicate(kind));
            }
            message.read_tlv(kind, &bytes[at..at + len])?;
            at += len;
        }
        Ok((message, total))
    }

    /// One TLV, `tlv` from its type byte to its end.
    fn read_tlv(&mut self, kind: u8, tlv: &'a [u8]) -> Result<(), ParseError> {
        // Every TLV has at least a 16-bit field after type and length.
        let fixed = match kind {
            tlv_type::CONNECT => 20,
            _ => 4,
        };
        let known = matches!(
            kind,
            tlv_type::INFO
                | tlv_type::CONNECT
                | tlv_type::EXTENDED_TCP_HEADER
                | tlv_type::SUPPORTED_TCP_EXTENSIONS
                | tlv_type::COOKIE
                | tlv_type::ERROR
        );
        if !known {
            return Err(ParseError::UnknownType(kind));
        }
        if tlv.len() < fixed {
            return Err(ParseError::ShortTlv(kind));
        }
        let rest = &tlv[fixed..];
        match kind {
            tlv_type::INFO => self.info = true,
            tlv_type::CONNECT => {
                let port = u16::from_be_bytes([tlv[2], tlv[3]]);
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&tlv[4..20]);
                let v6 = Ipv6Addr::from(octets);
                let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
                if !is_unicast_destination(ip) {
                    return Err(ParseError::BadAddress);
                }
                self.connect = Some(Connect {
                    addr: SocketAddr::new(ip, port),
                    options: TcpOptions::parse(rest, Nops::Refused)?,
                });
            }
            tlv_type::EXTENDED_TCP_HEADER => {
                self.extended_tcp_header = Some(TcpOptions::parse(rest, Nops::Allowed)?);
            }
            tlv_type::SUPPORTED_TCP_EXTENSIONS => {
                let end = rest.iter().position(|&k| k == 0).unwrap_or(rest.len());
                if rest[end..].iter().any(|&b| b != 0) {
                    return Err(ParseError::BadTcpOption);
                }
                self.supported_tcp_extensions = Some(&rest[..end]);
            }
            tlv_type::COOKIE => self.cookie = Some(rest),
            _ => {
                self.error = Some(ErrorTlv {
                    code: ErrorCode::from_u8(tlv[2]),
                    value: tlv[3],
                    extra: rest,
                });
            }
        }
        Ok(())
    }

    /// The message's length on the wire.
    pub fn len(&self) -> usize {
        let mut n = HEADER_LEN;
        if self.info {
            n += 4;
        }
        if let Some(c) = &self.connect {
            n += 20 + padded(c.options.as_bytes().len());
        }
        if let Some(o) = &self.extended_tcp_header {
            n += 4 + padded(o.as_bytes().len());
        }
        if let Some(k) = self.supported_tcp_extensions {
            n += 4 + padded(k.len());
        }
        if let Some(c) = self.cookie {
            n += 4 + padded(c.len());
        }
        if let Some(e) = &self.error {
            n += 4 + padded(e.extra.len());
        }
        n
    }

    /// Whether it is the bare header (the reply of a converter with
    /// nothing to say).
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }

    /// Write the message at the start of `out`; its length.
    ///
    /// # Errors
    ///
    /// [`EmitError`] if it is longer than 1020 bytes or than `out`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let total = self.len();
        if total > MAX_LEN {
            return Err(EmitError::TooLong(total));
        }
        if out.len() < total {
            return Err(EmitError::BufferTooSmall {
                need: total,
                have: out.len(),
            });
        }
        let out = &mut out[..total];
        out.fill(0);
        out[0] = VERSION;
        out[1] = (total / 4) as u8;
        out[2..4].copy_from_slice(&MAGIC.to_be_bytes());
        let mut at = HEADER_LEN;
        let mut put = |kind: u8, fixed: &[u8], value: &[u8]| {
            let len = 2 + fixed.len() + value.len();
            let words = len.div_ceil(4);
            out[at] = kind;
            out[at + 1] = words as u8;
            out[at + 2..at + 2 + fixed.len()].copy_from_slice(fixed);
            let v = at + 2 + fixed.len();
            out[v..v + value.len()].copy_from_slice(value);
            at += words * 4;
        };
        if self.info {
            put(tlv_type::INFO, &[0, 0], &[]);
        }
        if let Some(c) = &self.connect {
            let mut fixed = [0u8; 18];
            fixed[..2].copy_from_slice(&c.addr.port().to_be_bytes());
            let v6 = match c.addr.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            fixed[2..].copy_from_slice(&v6.octets());
            put(tlv_type::CONNECT, &fixed, c.options.as_bytes());
        }
        if let Some(o) = &self.extended_tcp_header {
            put(tlv_type::EXTENDED_TCP_HEADER, &[0, 0], o.as_bytes());
        }
        if let Some(k) = self.supported_tcp_extensions {
            put(tlv_type::SUPPORTED_TCP_EXTENSIONS, &[0, 0], k);
        }
        if let Some(c) = self.cookie {
            put(tlv_type::COOKIE, &[0, 0], c);
        }
        if let Some(e) = &self.error {
            put(tlv_type::ERROR, &[e.code.to_u8(), e.value], e.extra);
        }
        Ok(total)
    }
}

/// §9: a Connect must not name a multicast, broadcast or loopback
/// address (nor the unspecified one, which names no host).
fn is_unicast_destination(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_multicast() || v4.is_broadcast() || v4.is_loopback() || v4.is_unspecified())
        }
        IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_loopback() || v6.is_unspecified()),
    }
}
