//! Properties of `TcpOption` and `TcpOptions`: every value round-trips,
//! emitted lengths match `buffer_len`, and no byte string makes the
//! iterator panic.

mod strategies;

use proptest::collection::vec;
use proptest::prelude::*;
use strategies::{fast_open_cookie, mptcp_any};
use umptcp_wire::Error;
use umptcp_wire::tcp_option::{SackBlocks, TcpOption, TcpOptions};

/// Every `TcpOption` `emit` accepts.
fn tcp_option() -> impl Strategy<Value = TcpOption<'static>> {
    let known_kinds = [0u8, 1, 2, 3, 4, 5, 8, 30, 34];
    prop_oneof![
        Just(TcpOption::EndOfList),
        Just(TcpOption::NoOperation),
        any::<u16>().prop_map(TcpOption::MaxSegmentSize),
        any::<u8>().prop_map(TcpOption::WindowScale),
        Just(TcpOption::SackPermitted),
        vec(any::<(u32, u32)>(), 1..=4)
            .prop_map(|blocks| TcpOption::SackBlocks(SackBlocks::new(&blocks).unwrap())),
        any::<(u32, u32)>().prop_map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr }),
        fast_open_cookie().prop_map(TcpOption::FastOpen),
        mptcp_any().prop_map(TcpOption::Mptcp),
        (
            any::<u8>().prop_filter("kind decoded elsewhere", move |k| !known_kinds.contains(k)),
            vec(any::<u8>(), 0..38)
        )
            .prop_map(|(kind, data)| TcpOption::Unknown {
                kind,
                data: data.leak()
            }),
    ]
}

proptest! {
    #[test]
    fn every_option_round_trips(option in tcp_option(), trailing in vec(any::<u8>(), 0..4)) {
        let mut buf = [0u8; 300];
        let len = option.emit(&mut buf).unwrap();
        prop_assert_eq!(len, option.buffer_len());
        let mut bytes = buf[..len].to_vec();
        bytes.extend_from_slice(&trailing);
        let (parsed, rest) = TcpOption::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, option);
        prop_assert_eq!(rest, &trailing[..]);
    }

    #[test]
    fn emit_never_writes_past_a_short_buffer(option in tcp_option(), cut in 1usize..=40) {
        let len = option.buffer_len();
        let short = len.saturating_sub(cut);
        let mut buf = [0xeeu8; 300];
        prop_assert_eq!(option.emit(&mut buf[..short]), Err(Error::BufferTooSmall));
        prop_assert!(buf[short..].iter().all(|&b| b == 0xee));
    }

    #[test]
    fn a_list_of_options_iterates_back(options in vec(tcp_option(), 0..8)) {
        let mut buf = [0u8; 2400];
        let mut len = 0;
        let mut expected = Vec::new();
        for option in options {
            len += option.emit(&mut buf[len..]).unwrap();
            expected.push(option);
            if option == TcpOption::EndOfList {
                break;
            }
        }
        let parsed: Vec<_> = TcpOptions::new(&buf[..len]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn any_bytes_never_panic(bytes in vec(any::<u8>(), 0..80)) {
        let mut options = TcpOptions::new(&bytes);
        let mut consumed = 0;
        let mut ended = false;
        for item in options.by_ref() {
            prop_assert!(!ended, "an item after an error or End of Option List");
            match item {
                Ok(option) => {
                    consumed += option.buffer_len();
                    ended = option == TcpOption::EndOfList;
                }
                Err(_) => ended = true,
            }
        }
        // Each option parsed took exactly `buffer_len()` bytes.
        prop_assert_eq!(consumed + options.remaining().len(), bytes.len());
        prop_assert_eq!(options.next(), None);
    }

    #[test]
    fn options_with_arbitrary_values_never_panic(kind in any::<u8>(), body in vec(any::<u8>(), 0..40)) {
        let mut bytes = vec![kind, body.len() as u8 + 2];
        bytes.extend_from_slice(&body);
        if let Ok((option, rest)) = TcpOption::parse(&bytes) {
            prop_assert!(rest.is_empty() || matches!(option, TcpOption::EndOfList | TcpOption::NoOperation));
        }
    }
}
