//! The four-tuple that names a TCP connection or MPTCP subflow, seen from
//! our side, and how a segment shows it.

use std::net::SocketAddr;

use crate::segment::Segment;

/// The local and remote endpoints of one connection (or subflow).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl Segment<'_> {
    /// The connection this segment belongs to, as its receiver names it:
    /// the destination is the local end, the source the remote one.
    pub fn four_tuple(&self) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(self.dst(), self.dst_port()),
            remote: SocketAddr::new(self.src(), self.src_port()),
        }
    }
}

impl FourTuple {
    /// The same connection seen from the other end.
    #[must_use]
    pub fn reversed(self) -> Self {
        FourTuple {
            local: self.remote,
            remote: self.local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{ChecksumCheck, SegmentBuilder, TcpFlags};

    #[test]
    fn a_received_segment_names_our_end_first() {
        let (peer, us): (SocketAddr, SocketAddr) = (
            "10.0.0.1:4000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let mut b = SegmentBuilder::new(peer, us);
        b.flags = TcpFlags::SYN;
        let mut buf = [0; 128];
        let n = b.emit(&mut buf).unwrap().len;
        let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
        let tuple = seg.four_tuple();
        assert_eq!((tuple.local, tuple.remote), (us, peer));
        assert_eq!(tuple.reversed().local, peer);
    }
}
