//! What a case is checked against, and what a failed check reports.

use std::fmt;

use crate::mode::Mode;

/// One property every case (or every case of some modes) must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oracle {
    /// The stack panicked (overflow checks and debug assertions on).
    Panic,
    /// One `poll_transmit` drain at one instant gave more than
    /// [`TRANSMIT_LOOP`] segments: a driver that drains would never return.
    TransmitLoop,
    /// After `handle_timeout(now)` (and the transmissions it caused),
    /// `poll_timeout()` still said `now` or earlier: an event loop spins.
    TimerInPast,
    /// Connections that finished, or that the application aborted, were
    /// still held (`Endpoint::len() > 0`) long after every timer could run out.
    ClosedHeld,
    /// A configured limit was exceeded (connections, half-open connections,
    /// subflows, addresses, buffered bytes), or a half-open connection
    /// holds buffers.
    Limits,
    /// The application read bytes other than those the peer wrote.
    ByteStream,
    /// The honest transfer did not finish (all bytes read and both
    /// DATA_FINs seen, then `Closed`) within bounded virtual time, and no
    /// [`Oracle::Harm`] finding explains why.
    Incomplete,
    /// The honest connection saw a fallback, reset, time-out or protocol
    /// error where the network only impairs or the attacker is off-path.
    Harm,
    /// A case exchanged far more segments than its transfer needs (an ACK
    /// storm between two desynchronised endpoints, or a retransmission loop).
    Storm,
}

/// Segments one `poll_transmit` drain at one instant may give at most.
pub const TRANSMIT_LOOP: usize = 10_000;

impl Oracle {
    /// The name in finding lines.
    pub fn name(self) -> &'static str {
        match self {
            Oracle::Panic => "panic",
            Oracle::TransmitLoop => "transmit-loop",
            Oracle::TimerInPast => "timer-in-past",
            Oracle::ClosedHeld => "closed-held",
            Oracle::Limits => "limits",
            Oracle::ByteStream => "byte-stream",
            Oracle::Incomplete => "incomplete",
            Oracle::Harm => "harm",
            Oracle::Storm => "storm",
        }
    }

    /// Whether this property holds whatever the network does, an on-path
    /// attacker included: the stack's own integrity, not the transfer's.
    pub fn structural(self) -> bool {
        matches!(
            self,
            Oracle::Panic
                | Oracle::TransmitLoop
                | Oracle::TimerInPast
                | Oracle::ClosedHeld
                | Oracle::Limits
        )
    }

    /// Whether a finding of this oracle in `mode` is a defect (in on-path
    /// mode only structural ones are).
    pub fn applies(self, mode: Mode) -> bool {
        mode.honest() || self.structural()
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed check: enough to replay it (`--seed N --mode M`) and a line on
/// what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The case's mode.
    pub mode: Mode,
    /// The case's seed (for a fuzzer's input, a hash of its bytes).
    pub seed: u64,
    /// What failed.
    pub oracle: Oracle,
    /// One line on what happened.
    pub detail: String,
}

impl fmt::Display for Finding {
    /// `finding mode=off-path seed=123 oracle=byte-stream: first wrong byte at 21360`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "finding mode={} seed={} oracle={}: {}",
            self.mode, self.seed, self.oracle, self.detail
        )
    }
}
