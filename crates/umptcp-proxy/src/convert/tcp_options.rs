//! TCP options carried inside Convert TLVs: the extended Connect's
//! (§6.2.2) and the Extended TCP Header's (§6.2.3). Each is `kind,
//! length (>= 2, covering both), value`; the list ends at the TLV's end
//! or at a zero byte, the padding (nothing but zeros may follow).

use super::ParseError;

/// A checked list of TCP options, without its padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions<'a> {
    bytes: &'a [u8],
}

/// Whether a list may hold NOPs (kind 1): the server's SYN+ACK options
/// the Extended TCP Header copies may; a Connect's may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nops {
    Allowed,
    Refused,
}

impl<'a> TcpOptions<'a> {
    /// No option.
    pub const EMPTY: TcpOptions<'static> = TcpOptions { bytes: &[] };

    /// Check `bytes` as a Connect's option list (no padding, no NOP).
    ///
    /// # Errors
    ///
    /// [`ParseError::BadTcpOption`] for a NOP, an EOL, a length below 2 or
    /// an option running past the end.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let list = Self::parse(bytes, Nops::Refused)?;
        if list.bytes.len() != bytes.len() {
            return Err(ParseError::BadTcpOption);
        }
        Ok(list)
    }

    /// The list at the start of `field` (a TLV's value past its fixed
    /// part), up to the padding.
    pub(crate) fn parse(field: &'a [u8], nops: Nops) -> Result<Self, ParseError> {
        let mut at = 0;
        while at < field.len() {
            match field[at] {
                0 => {
                    if field[at..].iter().any(|&b| b != 0) {
                        return Err(ParseError::BadTcpOption);
                    }
                    break;
                }
                1 if nops == Nops::Allowed => at += 1,
                1 => return Err(ParseError::BadTcpOption),
                _ => {
                    let len = usize::from(*field.get(at + 1).ok_or(ParseError::BadTcpOption)?);
                    if len < 2 || at + len > field.len() {
                        return Err(ParseError::BadTcpOption);
                    }
                    at += len;
                }
            }
        }
        Ok(TcpOptions {
            bytes: &field[..at],
        })
    }

    /// The options' bytes, as on the wire (without padding).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Each option as `(kind, value)` (NOPs skipped).
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let bytes = self.bytes;
        let mut at = 0;
        std::iter::from_fn(move || {
            while at < bytes.len() && bytes[at] == 1 {
                at += 1;
            }
            if at >= bytes.len() {
                return None;
            }
            let kind = bytes[at];
            let len = usize::from(bytes[at + 1]);
            let value = &bytes[at + 2..at + len];
            at += len;
            Some((kind, value))
        })
    }

    /// Whether an option of `kind` is in the list.
    pub fn contains(&self, kind: u8) -> bool {
        self.iter().any(|(k, _)| k == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_to_the_padding() {
        // SACK-permitted, timestamps, then padding.
        let field = [4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0];
        let list = TcpOptions::parse(&field, Nops::Refused).unwrap();
        assert_eq!(list.as_bytes().len(), 12);
        let kinds: Vec<u8> = list.iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, [4, 8]);
        assert!(list.contains(8) && !list.contains(30));
        assert_eq!(list.iter().nth(1).unwrap().1, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn malformed_lists_are_refused() {
        for field in [
            &[1, 4, 2][..],     // NOP in a Connect
            &[8, 1][..],        // length below 2
            &[8, 10, 0, 0][..], // runs past the end
            &[4][..],           // no length
            &[4, 2, 0, 5][..],  // something after the padding
        ] {
            assert_eq!(
                TcpOptions::parse(field, Nops::Refused),
                Err(ParseError::BadTcpOption),
                "{field:?}"
            );
        }
        // The server's SYN+ACK options may carry NOPs.
        let list = TcpOptions::parse(&[1, 1, 4, 2], Nops::Allowed).unwrap();
        assert_eq!(list.iter().collect::<Vec<_>>(), [(4, &[][..])]);
        assert_eq!(
            TcpOptions::new(&[4, 2, 0, 0]),
            Err(ParseError::BadTcpOption)
        );
    }
}
