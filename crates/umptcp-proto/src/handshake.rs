//! MP_CAPABLE version 1 (RFC 8684 §3.1) in both roles: what each step of
//! the handshake carries, and what the peer's option means for the
//! connection (MPTCP with or without checksums, or plain TCP).
//!
//! ```text
//!   client                                   server
//!   SYN      MP_CAPABLE (flags only)      ->
//!                                         <- SYN/ACK  MP_CAPABLE (server key)
//!   ACK      MP_CAPABLE (both keys)       ->
//!   data     MP_CAPABLE (keys, length)    ->   until a DATA_ACK arrives
//! ```

use umptcp_wire::Key;
use umptcp_wire::mptcp::{CapableKeys, MpCapable, MpCapableFlags};

/// The version this stack speaks.
pub const VERSION: u8 = 1;

/// Why a connection is, or became, plain TCP (RFC 8684 §3.7). Reported in
/// the fallback event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FallbackReason {
    /// The SYN/ACK (client) or SYN (server) carried no MP_CAPABLE.
    NoMpCapable,
    /// The application asked for plain TCP: a connection opened, or a SYN
    /// accepted, with [`crate::Protocol::Tcp`]. It never offered MPTCP.
    NotRequested,
    /// The peer offered only another version (RFC 8684 §3.1: version 0 is
    /// declined and the connection continues as TCP).
    Version(u8),
    /// The peer set flag B, an extension this stack does not know: "the
    /// MP_CAPABLE option in this SYN MUST be silently ignored".
    Extensibility,
    /// The peer offered no crypto algorithm this stack supports (flag H).
    NoCryptoAlgorithm,
    /// The third ACK or first data segment carried no MP_CAPABLE (a
    /// middlebox stripped it).
    OptionStripped,
    /// MPTCP options vanished, or a mapping failed, on the only subflow;
    /// the infinite mapping took over.
    InfiniteMapping,
    /// SYNs with MP_CAPABLE went unanswered; this one went without.
    SynBlackhole,
    /// A DSS checksum failed on the only subflow (we sent MP_FAIL), or the
    /// peer's MP_FAIL said one failed there (we sent the infinite
    /// mapping): RFC 8684 §3.7.
    ChecksumFailed,
}

/// The flags this side sends: H (HMAC-SHA256, the only algorithm of
/// RFC 8684) and A when it wants checksums.
pub fn local_flags(checksum: bool) -> MpCapableFlags {
    let mut flags = MpCapableFlags::H_HMAC_SHA256;
    if checksum {
        flags |= MpCapableFlags::A_CHECKSUM;
    }
    MpCapableFlags(flags)
}

/// What the peer's MP_CAPABLE in a SYN or SYN/ACK allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's key, when this step carries it (the SYN/ACK does; the
    /// version 1 SYN does not).
    pub peer_key: Option<Key>,
    /// "If the checksum is required by either host, it MUST be used": our
    /// wish or the peer's flag A.
    pub checksum: bool,
    /// Flag C: the peer accepts no new subflow to the address it used.
    pub no_join_to_source: bool,
}

/// Judge the MP_CAPABLE a server found in a SYN, or a client found in a
/// SYN/ACK. `None` (no option at all) and every unacceptable option mean
/// plain TCP for this connection, with the reason.
pub fn negotiate(
    option: Option<&MpCapable>,
    want_checksum: bool,
    syn_ack: bool,
) -> Result<Negotiated, FallbackReason> {
    let Some(option) = option else {
        return Err(FallbackReason::NoMpCapable);
    };
    if option.version != VERSION {
        return Err(FallbackReason::Version(option.version));
    }
    if option.flags.extensibility() {
        return Err(FallbackReason::Extensibility);
    }
    if !option.flags.hmac_sha256() {
        return Err(FallbackReason::NoCryptoAlgorithm);
    }
    let peer_key = match (option.keys, syn_ack) {
        // RFC 8684 §3.1: the version 1 SYN carries no key; the SYN/ACK
        // carries the server's. Any other shape is malformed for the step.
        (CapableKeys::None, false) => None,
        (CapableKeys::Sender(key), true) => Some(key),
        _ => return Err(FallbackReason::NoMpCapable),
    };
    Ok(Negotiated {
        peer_key,
        checksum: want_checksum || option.flags.checksum_required(),
        no_join_to_source: option.flags.no_source_addr(),
    })
}

/// The option of the client's SYN.
pub fn syn_option(checksum: bool) -> MpCapable {
    MpCapable {
        version: VERSION,
        flags: local_flags(checksum),
        keys: CapableKeys::None,
    }
}

/// The option of the server's SYN/ACK: its key, and A if checksums are on
/// (whoever asked for them).
pub fn syn_ack_option(local_key: Key, checksum: bool) -> MpCapable {
    MpCapable {
        version: VERSION,
        flags: local_flags(checksum),
        keys: CapableKeys::Sender(local_key),
    }
}

/// The option of the client's third ACK and of every segment that repeats
/// the keys until a DATA_ACK arrives: both keys, and with data, the
/// Data-Level Length (and checksum) of the mapping it implies (RFC 8684
/// §3.1: the first data's sequence number is the IDSN plus one).
pub fn keys_option(
    local_key: Key,
    peer_key: Key,
    checksum: bool,
    data: Option<(u16, Option<u16>)>,
) -> MpCapable {
    let keys = match data {
        None => CapableKeys::Both {
            sender: local_key,
            receiver: peer_key,
        },
        Some((data_len, csum)) => CapableKeys::WithData {
            sender: local_key,
            receiver: peer_key,
            data_len,
            checksum: csum,
        },
    };
    MpCapable {
        version: VERSION,
        flags: local_flags(checksum),
        keys,
    }
}

/// What a server learns from the MP_CAPABLE of the client's third ACK or
/// first data segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientKeys {
    /// The client's key.
    pub client_key: Key,
    /// For a first data segment: its Data-Level Length and checksum.
    pub data: Option<(u16, Option<u16>)>,
}

/// Why a server rejects the keys echoed by a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysError {
    /// The option carries no pair of keys (it is a SYN-shaped option).
    NoKeys,
    /// The echoed receiver key is not the one this server sent: the ACK
    /// belongs to another connection or is forged.
    WrongServerKey,
}

/// Read the keys of a client's third ACK or first data segment and check
/// that the server's own key is the one echoed.
pub fn client_keys(option: &MpCapable, server_key: Key) -> Result<ClientKeys, KeysError> {
    let (sender, receiver, data) = match option.keys {
        CapableKeys::Both { sender, receiver } => (sender, receiver, None),
        CapableKeys::WithData {
            sender,
            receiver,
            data_len,
            checksum,
        } => (sender, receiver, Some((data_len, checksum))),
        CapableKeys::None | CapableKeys::Sender(_) => return Err(KeysError::NoKeys),
    };
    if receiver != server_key {
        return Err(KeysError::WrongServerKey);
    }
    Ok(ClientKeys {
        client_key: sender,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capable(version: u8, flags: u8, keys: CapableKeys) -> MpCapable {
        MpCapable {
            version,
            flags: MpCapableFlags(flags),
            keys,
        }
    }

    const H: u8 = MpCapableFlags::H_HMAC_SHA256;
    const A: u8 = MpCapableFlags::A_CHECKSUM;

    #[test]
    fn checksums_are_on_if_either_side_asks() {
        let syn = capable(1, H, CapableKeys::None);
        let with_a = capable(1, H | A, CapableKeys::None);
        assert!(!negotiate(Some(&syn), false, false).unwrap().checksum);
        assert!(negotiate(Some(&syn), true, false).unwrap().checksum);
        assert!(negotiate(Some(&with_a), false, false).unwrap().checksum);
    }

    #[test]
    fn unacceptable_offers_fall_back_with_their_reason() {
        let key = CapableKeys::Sender(Key(7));
        assert_eq!(
            negotiate(None, false, true),
            Err(FallbackReason::NoMpCapable)
        );
        assert_eq!(
            negotiate(Some(&capable(0, H, key)), false, true),
            Err(FallbackReason::Version(0))
        );
        assert_eq!(
            negotiate(
                Some(&capable(1, H | MpCapableFlags::B_EXTENSIBILITY, key)),
                false,
                true
            ),
            Err(FallbackReason::Extensibility)
        );
        assert_eq!(
            negotiate(Some(&capable(1, 0, key)), false, true),
            Err(FallbackReason::NoCryptoAlgorithm)
        );
        // A key in a SYN, or none in a SYN/ACK, is the wrong shape.
        assert_eq!(
            negotiate(Some(&capable(1, H, key)), false, false),
            Err(FallbackReason::NoMpCapable)
        );
        assert_eq!(
            negotiate(Some(&capable(1, H, CapableKeys::None)), false, true),
            Err(FallbackReason::NoMpCapable)
        );
    }

    #[test]
    fn syn_ack_gives_the_server_key_and_flag_c() {
        let option = capable(
            1,
            H | MpCapableFlags::C_NO_SOURCE_ADDR,
            CapableKeys::Sender(Key(42)),
        );
        let n = negotiate(Some(&option), false, true).unwrap();
        assert_eq!(n.peer_key, Some(Key(42)));
        assert!(n.no_join_to_source);
    }

    #[test]
    fn options_have_the_rfc_lengths() {
        assert_eq!(syn_option(false).buffer_len(), 4);
        assert_eq!(syn_ack_option(Key(1), false).buffer_len(), 12);
        assert_eq!(keys_option(Key(1), Key(2), false, None).buffer_len(), 20);
        assert_eq!(
            keys_option(Key(1), Key(2), false, Some((100, None))).buffer_len(),
            22
        );
        assert_eq!(
            keys_option(Key(1), Key(2), true, Some((100, Some(9)))).buffer_len(),
            24
        );
        assert!(syn_option(true).flags.checksum_required());
        assert!(syn_option(false).flags.hmac_sha256());
    }

    #[test]
    fn the_server_checks_its_echoed_key() {
        let third = keys_option(Key(1), Key(2), false, None);
        assert_eq!(
            client_keys(&third, Key(2)),
            Ok(ClientKeys {
                client_key: Key(1),
                data: None
            })
        );
        assert_eq!(client_keys(&third, Key(3)), Err(KeysError::WrongServerKey));
        let data = keys_option(Key(1), Key(2), true, Some((10, Some(5))));
        assert_eq!(
            client_keys(&data, Key(2)).unwrap().data,
            Some((10, Some(5)))
        );
        assert_eq!(
            client_keys(&syn_option(false), Key(2)),
            Err(KeysError::NoKeys)
        );
    }
}
