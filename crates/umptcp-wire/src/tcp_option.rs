//! The TCP options a subflow uses, as plain values, and an allocation-free
//! iterator over the option bytes of a TCP header.
//!
//! ```text
//!   option bytes ──TcpOptions::new──▶ Iterator<Item = Result<TcpOption<'a>>>
//!   TcpOption<'a> ──emit(buf)──▶ kind | length | value   (buffer_len() bytes)
//! ```
//!
//! [`TcpOption`] covers the single-byte options (End of Option List, No-Operation),
//! MSS, window scale, SACK-permitted and SACK blocks, timestamps, TCP Fast
//! Open (kind 34, RFC 7413) and MPTCP (kind 30, delegated to
//! [`MptcpOption`]). Any other kind survives as
//! [`TcpOption::Unknown`] with its value bytes borrowed from the packet.
//!
//! A length byte the option's format does not allow is a typed error
//! ([`Error::BadLength`]), as is an option that runs past the end of the
//! buffer ([`Error::Truncated`]). [`TcpOptions`] stops after an
//! End of Option List and after the first error, so a caller that wants to
//! be lenient may keep the options seen before it.
//!
//! ```
//! use umptcp_wire::tcp_option::{TcpOption, TcpOptions};
//!
//! // MSS 1460, NOP, window scale 7, SACK-permitted, End of Option List.
//! let bytes = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0];
//! let mut options = TcpOptions::new(&bytes);
//! assert_eq!(options.next(), Some(Ok(TcpOption::MaxSegmentSize(1460))));
//! assert_eq!(options.next(), Some(Ok(TcpOption::NoOperation)));
//! assert_eq!(options.next(), Some(Ok(TcpOption::WindowScale(7))));
//! assert_eq!(options.next(), Some(Ok(TcpOption::SackPermitted)));
//! assert_eq!(options.next(), Some(Ok(TcpOption::EndOfList)));
//! assert_eq!(options.next(), None);
//! ```

use core::fmt;
use core::iter::FusedIterator;

use crate::error::{Error, Result};
use crate::mptcp::{self, MptcpOption};

/// Option kinds (IANA "TCP Option Kind Numbers") this module decodes.
pub mod kind {
    /// End of Option List (RFC 9293 §3.2).
    pub const END_OF_LIST: u8 = 0;
    /// No-Operation (RFC 9293 §3.2).
    pub const NO_OPERATION: u8 = 1;
    /// Maximum Segment Size (RFC 9293 §3.2).
    pub const MAX_SEGMENT_SIZE: u8 = 2;
    /// Window Scale (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK-Permitted (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
    /// Multipath TCP (RFC 8684 §3).
    pub const MPTCP: u8 = 30;
    /// TCP Fast Open cookie (RFC 7413 §4.1.1).
    pub const FAST_OPEN: u8 = 34;
}

/// The largest number of SACK blocks one SACK option can carry.
pub const MAX_SACK_BLOCKS: usize = 4;

/// Up to [`MAX_SACK_BLOCKS`] SACK blocks, stored inline.
///
/// Each block is `(left edge, right edge)` as sent on the wire (RFC 2018
/// §3): the left edge is the first sequence number of the block, the right
/// edge the sequence number just after it. The edges are not interpreted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlocks {
    // Invariant: `blocks[len..]` are all `(0, 0)`, so the derived
    // `PartialEq` and `Hash` compare the blocks in use and nothing else.
    blocks: [(u32, u32); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// Collect `blocks`, which must hold 1 to 4 of them.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] when `blocks` is empty or longer than four.
    pub fn new(blocks: &[(u32, u32)]) -> Result<Self> {
        if blocks.is_empty() || blocks.len() > MAX_SACK_BLOCKS {
            return Err(Error::BadLength {
                what: "SACK block count",
                len: blocks.len(),
            });
        }
        let mut out = Self::default();
        out.blocks[..blocks.len()].copy_from_slice(blocks);
        out.len = blocks.len() as u8;
        Ok(out)
    }

    /// Return the blocks, in wire order.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Return how many blocks there are (1 to 4 once constructed).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Return whether there are no blocks (only for [`SackBlocks::default`]).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One TCP option, borrowed from (or to be written into) a TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0, one byte).
    EndOfList,
    /// No-Operation (kind 1, one byte), used for padding.
    NoOperation,
    /// Maximum Segment Size (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Window Scale shift count (kind 3, length 3).
    ///
    /// Kept as sent; RFC 7323 §2.3 says a receiver uses 14 for anything larger.
    WindowScale(u8),
    /// SACK-Permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n, n in 1..=4).
    SackBlocks(SackBlocks),
    /// Timestamps (kind 8, length 10).
    Timestamps {
        /// The sender's timestamp clock (TSval).
        tsval: u32,
        /// The echoed timestamp (TSecr).
        tsecr: u32,
    },
    /// TCP Fast Open cookie (kind 34): empty is a cookie request, else an
    /// even number of bytes from 4 to 16.
    FastOpen(&'a [u8]),
    /// A Multipath TCP option (kind 30).
    Mptcp(MptcpOption<'a>),
    /// Any other kind; `data` is the bytes after the kind and length.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The value bytes, without kind and length.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parse one option from the front of `buffer`, returning it and the
    /// bytes after it.
    ///
    /// # Errors
    ///
    /// * [`Error::Truncated`] if `buffer` is empty, has no room for the length
    ///   byte, or ends before the option does;
    /// * [`Error::BadLength`] if the length byte is below 2 or not one the
    ///   option's kind allows;
    /// * whatever [`MptcpOption::parse`] returns for a kind-30 option.
    pub fn parse(buffer: &'a [u8]) -> Result<(TcpOption<'a>, &'a [u8])> {
        let (&kind, after_kind) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            kind::END_OF_LIST => return Ok((TcpOption::EndOfList, after_kind)),
            kind::NO_OPERATION => return Ok((TcpOption::NoOperation, after_kind)),
            _ => {}
        }
        let &length = after_kind.first().ok_or(Error::Truncated)?;
        let len = usize::from(length);
        // RFC 9293 §3.2: the option-length counts the kind and length octets.
        if len < 2 {
            return Err(Error::BadLength {
                what: "TCP option",
                len,
            });
        }
        if len > buffer.len() {
            return Err(Error::Truncated);
        }
        let (option, rest) = buffer.split_at(len);
        let data = &option[2..];
        let bad = |what| Err(Error::BadLength { what, len });
        let parsed = match kind {
            kind::MAX_SEGMENT_SIZE => match *data {
                [a, b] => TcpOption::MaxSegmentSize(u16::from_be_bytes([a, b])),
                _ => return bad("MSS option"),
            },
            kind::WINDOW_SCALE => match *data {
                [shift] => TcpOption::WindowScale(shift),
                _ => return bad("window scale option"),
            },
            kind::SACK_PERMITTED => match *data {
                [] => TcpOption::SackPermitted,
                _ => return bad("SACK-permitted option"),
            },
            kind::SACK => {
                // RFC 2018 §3: "A SACK option that specifies n blocks will
                // have a length of 8*n+2 bytes", and at most 4 fit.
                if data.is_empty() || data.len() % 8 != 0 || data.len() / 8 > MAX_SACK_BLOCKS {
                    return bad("SACK option");
                }
                let mut blocks = SackBlocks::default();
                for (slot, chunk) in blocks.blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = (read_u32(&chunk[..4]), read_u32(&chunk[4..]));
                }
                blocks.len = (data.len() / 8) as u8;
                TcpOption::SackBlocks(blocks)
            }
            kind::TIMESTAMPS => match data.len() {
                8 => TcpOption::Timestamps {
                    tsval: read_u32(&data[..4]),
                    tsecr: read_u32(&data[4..]),
                },
                _ => return bad("timestamps option"),
            },
            kind::FAST_OPEN => {
                if !fast_open_cookie_len_ok(data.len()) {
                    return bad("Fast Open option");
                }
                TcpOption::FastOpen(data)
            }
            kind::MPTCP => TcpOption::Mptcp(MptcpOption::parse(option)?),
            kind => TcpOption::Unknown { kind, data },
        };
        Ok((parsed, rest))
    }

    /// Return the number of bytes [`TcpOption::emit`] writes, kind and
    /// length included.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackBlocks(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::FastOpen(cookie) => 2 + cookie.len(),
            TcpOption::Mptcp(option) => option.buffer_len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Write the option at the front of `buffer`, returning the number of
    /// bytes written (always [`TcpOption::buffer_len`]).
    ///
    /// # Errors
    ///
    /// * [`Error::BufferTooSmall`] if `buffer` is shorter than `buffer_len()`;
    /// * [`Error::BadLength`] for an empty [`SackBlocks`], a Fast Open
    ///   cookie of a length RFC 7413 does not allow, or a value too long for
    ///   the one-byte length field;
    /// * [`Error::Malformed`] for an `Unknown` whose kind this module
    ///   decodes itself (it would not parse back as `Unknown`);
    /// * whatever [`MptcpOption::emit`] returns for an MPTCP option.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        // Validate the value before touching the buffer.
        match self {
            TcpOption::SackBlocks(blocks) if blocks.is_empty() => {
                return Err(Error::BadLength {
                    what: "SACK block count",
                    len: 0,
                });
            }
            TcpOption::FastOpen(cookie) if !fast_open_cookie_len_ok(cookie.len()) => {
                return Err(Error::BadLength {
                    what: "Fast Open cookie",
                    len: cookie.len(),
                });
            }
            TcpOption::Unknown { kind, data } => {
                if is_decoded_kind(*kind) {
                    return Err(Error::Malformed("unknown TCP option with a known kind"));
                }
                if data.len() > usize::from(u8::MAX) - 2 {
                    return Err(Error::BadLength {
                        what: "TCP option",
                        len: 2 + data.len(),
                    });
                }
            }
            TcpOption::Mptcp(option) => return option.emit(buffer),
            _ => {}
        }
        let out = buffer.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let (head, value) = match self {
            TcpOption::EndOfList => {
                out[0] = kind::END_OF_LIST;
                return Ok(1);
            }
            TcpOption::NoOperation => {
                out[0] = kind::NO_OPERATION;
                return Ok(1);
            }
            _ => out.split_at_mut(2),
        };
        head[1] = len as u8;
        head[0] = match *self {
            TcpOption::MaxSegmentSize(mss) => {
                value.copy_from_slice(&mss.to_be_bytes());
                kind::MAX_SEGMENT_SIZE
            }
            TcpOption::WindowScale(shift) => {
                value[0] = shift;
                kind::WINDOW_SCALE
            }
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::SackBlocks(blocks) => {
                for (chunk, (left, right)) in value.chunks_exact_mut(8).zip(blocks.as_slice()) {
                    chunk[..4].copy_from_slice(&left.to_be_bytes());
                    chunk[4..].copy_from_slice(&right.to_be_bytes());
                }
                kind::SACK
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                value[..4].copy_from_slice(&tsval.to_be_bytes());
                value[4..].copy_from_slice(&tsecr.to_be_bytes());
                kind::TIMESTAMPS
            }
            TcpOption::FastOpen(cookie) => {
                value.copy_from_slice(cookie);
                kind::FAST_OPEN
            }
            TcpOption::Unknown { kind, data } => {
                value.copy_from_slice(data);
                kind
            }
            // Handled above.
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Mptcp(_) => {
                return Err(Error::Malformed("unreachable TCP option arm"));
            }
        };
        Ok(len)
    }
}

/// An iterator over the options in the option bytes of a TCP header.
///
/// It allocates nothing and yields options borrowed from the bytes. It ends
/// after yielding [`TcpOption::EndOfList`] (what follows is padding), when
/// the bytes run out, or after yielding the first error.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> TcpOptions<'a> {
    /// Iterate over `bytes`, the option area of a TCP header (between the
    /// urgent pointer and the data offset).
    pub fn new(bytes: &'a [u8]) -> Self {
        TcpOptions {
            rest: bytes,
            done: false,
        }
    }

    /// Return the bytes not yet parsed.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            self.done = true;
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((option, rest)) => {
                self.rest = rest;
                if option == TcpOption::EndOfList {
                    self.done = true;
                }
                Some(Ok(option))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

impl FusedIterator for TcpOptions<'_> {}

/// RFC 7413 §4.1.1: "Length ... range 6 to 18 (bytes) ... The number MUST be
/// even"; a cookie request has an empty cookie (length 2).
fn fast_open_cookie_len_ok(len: usize) -> bool {
    len == 0 || ((4..=16).contains(&len) && len % 2 == 0)
}

/// Whether `parse` decodes `kind` itself rather than as `Unknown`.
fn is_decoded_kind(kind: u8) -> bool {
    matches!(
        kind,
        kind::END_OF_LIST
            | kind::NO_OPERATION
            | kind::MAX_SEGMENT_SIZE
            | kind::WINDOW_SCALE
            | kind::SACK_PERMITTED
            | kind::SACK
            | kind::TIMESTAMPS
            | kind::FAST_OPEN
    ) || kind == mptcp::OPTION_KIND
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(bytes);
    u32::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_linux_syn_options() {
        // MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
        let bytes = [
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00,
            0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
        ];
        let options: Vec<_> = TcpOptions::new(&bytes).collect::<Result<_>>().unwrap();
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x0001_0203,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn parse_sack_blocks() {
        let bytes = [5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0xaa];
        let (option, rest) = TcpOption::parse(&bytes).unwrap();
        let TcpOption::SackBlocks(blocks) = option else {
            panic!("not SACK: {option:?}");
        };
        assert_eq!(blocks.as_slice(), [(1, 2), (3, 4)]);
        assert_eq!(rest, [0xaa]);
    }

    #[test]
    fn wrong_lengths_are_typed_errors() {
        let bad = |bytes: &[u8], what| {
            assert_eq!(
                TcpOption::parse(bytes),
                Err(Error::BadLength {
                    what,
                    len: usize::from(bytes[1])
                }),
                "{bytes:?}"
            );
        };
        bad(&[2, 3, 0], "MSS option");
        bad(&[2, 5, 0, 0, 0], "MSS option");
        bad(&[3, 4, 0, 0], "window scale option");
        bad(&[4, 3, 0], "SACK-permitted option");
        bad(&[5, 2], "SACK option");
        bad(&[5, 9, 0, 0, 0, 0, 0, 0, 0], "SACK option");
        let mut five_blocks = [0; 42];
        five_blocks[..2].copy_from_slice(&[5, 42]);
        bad(&five_blocks, "SACK option");
        bad(&[8, 8, 0, 0, 0, 0, 0, 0], "timestamps option");
        bad(&[34, 4, 0, 0], "Fast Open option");
        bad(&[34, 7, 0, 0, 0, 0, 0], "Fast Open option");
        bad(&[99, 1], "TCP option");
        bad(&[99, 0], "TCP option");
    }

    #[test]
    fn truncated_options() {
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[2]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[2, 4, 5]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[8, 10, 0, 0]), Err(Error::Truncated));
    }

    #[test]
    fn iterator_stops_after_end_of_list_and_after_error() {
        let bytes = [1, 0, 2, 4];
        let mut options = TcpOptions::new(&bytes);
        assert_eq!(options.next(), Some(Ok(TcpOption::NoOperation)));
        assert_eq!(options.next(), Some(Ok(TcpOption::EndOfList)));
        assert_eq!(options.next(), None);
        assert_eq!(options.remaining(), [2, 4]);

        let bytes = [1, 2, 4, 0];
        let mut options = TcpOptions::new(&bytes);
        assert_eq!(options.next(), Some(Ok(TcpOption::NoOperation)));
        assert_eq!(options.next(), Some(Err(Error::Truncated)));
        assert_eq!(options.next(), None);
    }

    #[test]
    fn fast_open_request_and_cookie() {
        assert_eq!(
            TcpOption::parse(&[34, 2]),
            Ok((TcpOption::FastOpen(&[]), &[][..]))
        );
        let bytes = [34, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            TcpOption::parse(&bytes),
            Ok((TcpOption::FastOpen(&bytes[2..]), &[][..]))
        );
        let mut buf = [0; 16];
        assert_eq!(
            TcpOption::FastOpen(&[1, 2, 3]).emit(&mut buf),
            Err(Error::BadLength {
                what: "Fast Open cookie",
                len: 3
            })
        );
    }

    #[test]
    fn emit_known_bytes() {
        let mut buf = [0xff; 12];
        let ts = TcpOption::Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0x0506_0708,
        };
        assert_eq!(ts.emit(&mut buf), Ok(10));
        assert_eq!(buf[..10], [8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(buf[10..], [0xff, 0xff]);
        assert_eq!(ts.emit(&mut buf[..9]), Err(Error::BufferTooSmall));
        assert_eq!(TcpOption::WindowScale(14).emit(&mut buf), Ok(3));
        assert_eq!(buf[..3], [3, 3, 14]);
    }

    #[test]
    fn unknown_with_known_kind_is_refused() {
        let mut buf = [0; 8];
        let option = TcpOption::Unknown {
            kind: kind::MAX_SEGMENT_SIZE,
            data: &[5, 0xb4],
        };
        assert!(matches!(option.emit(&mut buf), Err(Error::Malformed(_))));
        let option = TcpOption::Unknown {
            kind: 254,
            data: &[0xf9, 0x89],
        };
        assert_eq!(option.emit(&mut buf), Ok(4));
        assert_eq!(TcpOption::parse(&buf[..4]), Ok((option, &[][..])));
    }

    #[test]
    fn sack_blocks_count() {
        assert!(SackBlocks::new(&[]).is_err());
        assert!(SackBlocks::new(&[(0, 0); 5]).is_err());
        let blocks = SackBlocks::new(&[(1, 2); 4]).unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(TcpOption::SackBlocks(blocks).buffer_len(), 34);
    }
}
