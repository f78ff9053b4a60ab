//! Property tests of the MPTCP option codecs: every value round-trips, and
//! no byte string makes the parser panic.

mod strategies;

use proptest::prelude::*;
use strategies::mptcp_owned;
use umptcp_wire::mptcp::{MptcpOption, OPTION_KIND, RemoveAddr};

/// Emit `opt`, check the length, parse it back and compare.
fn check_round_trip(opt: &MptcpOption<'_>) -> Result<(), TestCaseError> {
    let mut buf = [0u8; 256];
    let n = opt
        .emit(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("emit failed: {e}")))?;
    prop_assert_eq!(n, opt.buffer_len());
    prop_assert_eq!(usize::from(buf[1]), n);
    prop_assert_eq!(buf[0], OPTION_KIND);
    // A buffer one byte short is refused, not overrun.
    prop_assert!(opt.emit(&mut buf[..n - 1]).is_err());
    let parsed = MptcpOption::parse(&buf[..n])
        .map_err(|e| TestCaseError::fail(format!("parse failed: {e}")))?;
    prop_assert_eq!(&parsed, opt);
    prop_assert_eq!(parsed.subtype(), opt.subtype());
    Ok(())
}

/// Parse `bytes`; if that succeeds, the value must re-emit and parse equal.
fn check_parse_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(opt) = MptcpOption::parse(bytes) {
        let mut buf = [0u8; 256];
        let n = opt
            .emit(&mut buf)
            .map_err(|e| TestCaseError::fail(format!("re-emit failed: {e}")))?;
        prop_assert_eq!(n, opt.buffer_len());
        prop_assert_eq!(n, bytes.len());
        let again = MptcpOption::parse(&buf[..n])
            .map_err(|e| TestCaseError::fail(format!("re-parse: {e}")))?;
        prop_assert_eq!(again, opt);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_owned_value_round_trips(opt in mptcp_owned()) {
        check_round_trip(&opt)?;
    }

    #[test]
    fn remove_addr_round_trips(ids in proptest::collection::vec(any::<u8>(), 1..=37)) {
        check_round_trip(&MptcpOption::RemoveAddr(RemoveAddr { ids: &ids }))?;
        let r = RemoveAddr { ids: &ids };
        prop_assert!(r.iter().map(|a| a.0).eq(ids.iter().copied()));
    }

    #[test]
    fn unknown_round_trips(subtype in 9u8..16, low in 0u8..16, rest in proptest::collection::vec(any::<u8>(), 0..38)) {
        let mut data = vec![(subtype << 4) | low];
        data.extend_from_slice(&rest);
        check_round_trip(&MptcpOption::Unknown { subtype, data: &data })?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_parse_is_canonical(&bytes)?;
        // Again with the MPTCP kind, so the length check is what rejects most.
        if let Some(kind) = bytes.first_mut() {
            *kind = OPTION_KIND;
        }
        check_parse_is_canonical(&bytes)?;
    }

    #[test]
    fn consistent_headers_never_panic(
        subtype in 0u8..16,
        low in 0u8..16,
        body in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![OPTION_KIND, 0, (subtype << 4) | low];
        bytes.extend_from_slice(&body);
        bytes[1] = bytes.len() as u8;
        check_parse_is_canonical(&bytes)?;
    }

    #[test]
    fn every_dss_flag_combination_parses_at_its_length(flags in 0u8..32, reserved in 0u8..8, csum in any::<bool>()) {
        let has_ack = flags & 0x01 != 0;
        let has_map = flags & 0x04 != 0;
        let ack = if has_ack { if flags & 0x02 != 0 { 8 } else { 4 } } else { 0 };
        let map = if has_map { if flags & 0x08 != 0 { 14 } else { 10 } } else { 0 };
        let len = 4 + ack + map + if has_map && csum { 2 } else { 0 };
        let mut bytes = vec![0xa5u8; len];
        bytes[..4].copy_from_slice(&[OPTION_KIND, len as u8, 0x20, (reserved << 5) | flags]);
        let parsed = MptcpOption::parse(&bytes);
        let Ok(MptcpOption::Dss(d)) = parsed else {
            return Err(TestCaseError::fail(format!("{bytes:02x?} gave {parsed:?}")));
        };
        prop_assert_eq!(d.data_ack.is_some(), has_ack);
        prop_assert_eq!(d.mapping.is_some(), has_map);
        prop_assert_eq!(d.data_fin, flags & 0x10 != 0);
        prop_assert_eq!(d.mapping.is_some_and(|m| m.checksum.is_some()), has_map && csum);
        check_round_trip(&MptcpOption::Dss(d))?;
    }
}
