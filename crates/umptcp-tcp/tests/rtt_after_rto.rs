//! After a retransmission timeout, an ACK whose TSecr echoes a timestamp
//! from before the timeout gives no RTT sample (it measures the outage,
//! not the path); an echo of a timestamp stamped after it does.

use std::net::SocketAddr;
use std::time::Duration;

use umptcp_tcp::{Connection, FourTuple, IsnKey, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};

fn tsval(segment: &Segment<'_>) -> u32 {
    segment
        .options()
        .find_map(|o| match o {
            Ok(TcpOption::Timestamps { tsval, .. }) => Some(tsval),
            _ => None,
        })
        .expect("timestamps are on")
}

#[test]
fn stale_echo_after_rto_is_not_an_rtt_sample() {
    let tuple = FourTuple {
        local: SocketAddr::from(([10, 0, 0, 1], 40000)),
        remote: SocketAddr::from(([10, 0, 0, 2], 80)),
    };
    let mut c = Connection::connect(
        TcpConfig::default(),
        tuple,
        IsnKey::from_bytes([1; 32]),
        Instant::ZERO,
    )
    .unwrap();
    let mut buf = [0u8; 2048];
    let n = c.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let syn = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
    let (iss, syn_ts) = (syn.seq(), tsval(&syn));
    // The peer's SYN-ACK 10 ms later: SRTT 10 ms.
    let peer_ts = 5000;
    let answer = |seq: u32, ack: u32, flags: TcpFlags, tsval: u32, tsecr: u32, buf: &mut [u8]| {
        let mut b = SegmentBuilder::new(tuple.remote, tuple.local);
        b.seq = seq;
        b.ack = ack;
        b.flags = flags;
        b.window = 65535;
        b.timestamps = Some((tsval, tsecr));
        if flags.contains(TcpFlags::SYN) {
            b.mss = Some(1460);
        }
        b.emit(buf).unwrap().len
    };
    let mut pbuf = [0u8; 256];
    let n = answer(
        900,
        iss.wrapping_add(1),
        TcpFlags::SYN | TcpFlags::ACK,
        peer_ts,
        syn_ts,
        &mut pbuf,
    );
    c.handle_segment(
        Instant::from_millis(10),
        &Segment::parse(&pbuf[..n], ChecksumCheck::Verify).unwrap(),
    );
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    while c
        .poll_transmit(Instant::from_millis(10), &mut buf)
        .is_some()
    {}

    // Data at 20 ms, stamped then; its ACKs are lost; the RTO fires.
    c.write(&[1; 1000]);
    let n = c.poll_transmit(Instant::from_millis(20), &mut buf).unwrap();
    let first = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
    let old_ts = tsval(&first);
    let rto = c.poll_timeout().unwrap();
    c.handle_timeout(rto);
    let n = c.poll_transmit(rto, &mut buf).unwrap();
    let again = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
    let new_ts = tsval(&again);
    assert!(new_ts > old_ts);

    // An ACK echoing the pre-timeout stamp, 5 s later: no sample.
    let late = rto + Duration::from_secs(5);
    let n = answer(
        901,
        iss.wrapping_add(1001),
        TcpFlags::ACK,
        peer_ts + 1,
        old_ts,
        &mut pbuf,
    );
    c.handle_segment(
        late,
        &Segment::parse(&pbuf[..n], ChecksumCheck::Verify).unwrap(),
    );
    assert_eq!(c.bytes_in_flight(), 0, "the ACK itself is taken");
    assert_eq!(
        c.srtt(),
        Some(Duration::from_millis(10)),
        "SRTT untouched by the stale echo"
    );

    // New data; an echo of a stamp from after the timeout is a sample.
    c.write(&[2; 1000]);
    let n = c.poll_transmit(late, &mut buf).unwrap();
    let fresh = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
    let n = answer(
        901,
        iss.wrapping_add(2001),
        TcpFlags::ACK,
        peer_ts + 2,
        tsval(&fresh),
        &mut pbuf,
    );
    c.handle_segment(
        late + Duration::from_millis(30),
        &Segment::parse(&pbuf[..n], ChecksumCheck::Verify).unwrap(),
    );
    assert_ne!(
        c.srtt(),
        Some(Duration::from_millis(10)),
        "a fresh echo is sampled"
    );
    assert!(c.srtt().unwrap() < Duration::from_millis(40));
}
