//! The codes of the Error TLV (RFC 8803 §6.2.8, Table 2; the IANA
//! "Convert Errors" registry), and what a client makes of each.

use std::io;

/// An Error TLV's code. Ranges (IANA): message validation and processing
/// errors 0-31, client-side errors 32-63, converter-side errors 64-95,
/// errors caused by the destination server 96-127.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the version is not supported; the value lists those that are.
    UnsupportedVersion,
    /// 1: the message is malformed; the value echoes it.
    MalformedMessage,
    /// 2: a TLV is not supported; the value echoes the message.
    UnsupportedMessage,
    /// 3: a cookie is required: the value is a zero byte, then the
    /// cookie to cache and send next time.
    MissingCookie,
    /// 32: the client may not use this converter (value zero).
    NotAuthorized,
    /// 33: a TCP option of the Connect is not supported; the value lists
    /// their kinds.
    UnsupportedTcpOption,
    /// 64: the converter is out of a resource; the value suggests a delay
    /// in seconds before trying again (0: at least 30 s).
    ResourceExceeded,
    /// 65: the converter's network failed (an upstream timeout, say); the
    /// value suggests a delay as for `ResourceExceeded`.
    NetworkFailure,
    /// 96: the server answered the upstream SYN with a reset (value zero).
    ConnectionReset,
    /// 97: the server is unreachable; the value is the ICMP code received.
    DestinationUnreachable,
    /// Any other code (unassigned, or private use 192-255).
    Other(u8),
}

impl ErrorCode {
    /// The code on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            ErrorCode::UnsupportedVersion => 0,
            ErrorCode::MalformedMessage => 1,
            ErrorCode::UnsupportedMessage => 2,
            ErrorCode::MissingCookie => 3,
            ErrorCode::NotAuthorized => 32,
            ErrorCode::UnsupportedTcpOption => 33,
            ErrorCode::ResourceExceeded => 64,
            ErrorCode::NetworkFailure => 65,
            ErrorCode::ConnectionReset => 96,
            ErrorCode::DestinationUnreachable => 97,
            ErrorCode::Other(code) => code,
        }
    }

    /// The code read off the wire.
    pub fn from_u8(code: u8) -> ErrorCode {
        match code {
            0 => ErrorCode::UnsupportedVersion,
            1 => ErrorCode::MalformedMessage,
            2 => ErrorCode::UnsupportedMessage,
            3 => ErrorCode::MissingCookie,
            32 => ErrorCode::NotAuthorized,
            33 => ErrorCode::UnsupportedTcpOption,
            64 => ErrorCode::ResourceExceeded,
            65 => ErrorCode::NetworkFailure,
            96 => ErrorCode::ConnectionReset,
            97 => ErrorCode::DestinationUnreachable,
            other => ErrorCode::Other(other),
        }
    }

    /// The `io::ErrorKind` a client reports for a connection the converter
    /// answered with this code.
    pub fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorCode::ConnectionReset => io::ErrorKind::ConnectionRefused,
            ErrorCode::DestinationUnreachable => io::ErrorKind::HostUnreachable,
            ErrorCode::NetworkFailure => io::ErrorKind::TimedOut,
            ErrorCode::NotAuthorized => io::ErrorKind::PermissionDenied,
            ErrorCode::ResourceExceeded => io::ErrorKind::QuotaExceeded,
            ErrorCode::UnsupportedTcpOption => io::ErrorKind::Unsupported,
            ErrorCode::UnsupportedVersion
            | ErrorCode::MalformedMessage
            | ErrorCode::UnsupportedMessage => io::ErrorKind::InvalidData,
            ErrorCode::MissingCookie => io::ErrorKind::PermissionDenied,
            ErrorCode::Other(_) => io::ErrorKind::Other,
        }
    }

    /// Its name in Table 2.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::UnsupportedVersion => "Unsupported Version",
            ErrorCode::MalformedMessage => "Malformed Message",
            ErrorCode::UnsupportedMessage => "Unsupported Message",
            ErrorCode::MissingCookie => "Missing Cookie",
            ErrorCode::NotAuthorized => "Not Authorized",
            ErrorCode::UnsupportedTcpOption => "Unsupported TCP Option",
            ErrorCode::ResourceExceeded => "Resource Exceeded",
            ErrorCode::NetworkFailure => "Network Failure",
            ErrorCode::ConnectionReset => "Connection Reset",
            ErrorCode::DestinationUnreachable => "Destination Unreachable",
            ErrorCode::Other(_) => "unknown error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_table_2_round_trips_and_others_are_kept() {
        let table = [
            (0, ErrorCode::UnsupportedVersion),
            (1, ErrorCode::MalformedMessage),
            (2, ErrorCode::UnsupportedMessage),
            (3, ErrorCode::MissingCookie),
            (32, ErrorCode::NotAuthorized),
            (33, ErrorCode::UnsupportedTcpOption),
            (64, ErrorCode::ResourceExceeded),
            (65, ErrorCode::NetworkFailure),
            (96, ErrorCode::ConnectionReset),
            (97, ErrorCode::DestinationUnreachable),
        ];
        for (byte, code) in table {
            assert_eq!(code.to_u8(), byte);
            assert_eq!(ErrorCode::from_u8(byte), code);
        }
        for byte in 0..=255u8 {
            assert_eq!(ErrorCode::from_u8(byte).to_u8(), byte);
        }
        assert_eq!(ErrorCode::from_u8(200), ErrorCode::Other(200));
        assert_eq!(
            ErrorCode::DestinationUnreachable.io_kind(),
            io::ErrorKind::HostUnreachable
        );
    }
}
