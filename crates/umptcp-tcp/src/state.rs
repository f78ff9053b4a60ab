//! The connection states of RFC 9293 §3.3.2.

use core::fmt;

/// A TCP connection state (RFC 9293 §3.3.2, Figure 5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum State {
    /// No connection: the initial state of nothing and the final state of
    /// everything.
    Closed,
    /// Waiting for a SYN from any remote endpoint (passive open).
    Listen,
    /// A SYN was sent; waiting for the matching SYN (active open).
    SynSent,
    /// A SYN was received and a SYN-ACK sent; waiting for its ACK.
    SynReceived,
    /// The connection is open; data flows both ways.
    Established,
    /// We sent a FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent a FIN; waiting for our application to close.
    CloseWait,
    /// Both sides sent a FIN at once; waiting for the ACK of ours.
    Closing,
    /// The peer closed first and we sent our FIN; waiting for its ACK.
    LastAck,
    /// Both FINs are acknowledged; waiting 2 MSL so that old duplicates die.
    TimeWait,
}

impl State {
    /// Return true in the synchronized states (RFC 9293 §3.5.2): from
    /// ESTABLISHED through TIME-WAIT.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// Return true if the application may still queue data to send.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }

    /// Return true if data from the peer can still arrive in this state.
    pub fn can_receive(self) -> bool {
        matches!(
            self,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        };
        f.write_str(name)
    }
}
