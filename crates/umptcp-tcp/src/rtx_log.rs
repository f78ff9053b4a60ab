//! What SACK recovery has retransmitted and not yet seen arrive, bounded.
//!
//! RFC 6675 remembers only HighRxt, so a lost retransmission waits for the
//! RTO. Here each retransmission is logged with the highest sequence number
//! sent when it left (HighData then); once the peer SACKs a byte above
//! that, data sent after the retransmission has arrived and the
//! retransmission is deemed lost, as in RACK (RFC 8985 §6.2: "a segment is
//! lost if a segment sent after it was delivered"), measured by sequence
//! rather than by time, like Linux's former `tcp_mark_lost_retrans`. The
//! hole is then eligible again. Logged bytes not yet SACKed are the
//! "retransmitted" octets of RFC 6675's SetPipe.

use crate::SubflowSeq;
use crate::scoreboard::Scoreboard;

/// Most retransmission runs remembered. Consecutive retransmissions sent
/// with the same HighData merge into one run, so this bounds bursts, not
/// segments; when full, no more retransmissions go until some resolve.
pub(crate) const RTX_LOG_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: SubflowSeq,
    end: SubflowSeq,
    /// SND.MAX when this run was sent.
    high_data: SubflowSeq,
}

#[derive(Clone, Debug)]
pub(crate) struct RtxLog {
    runs: [Run; RTX_LOG_LEN],
    len: usize,
}

impl RtxLog {
    pub(crate) fn new() -> Self {
        let zero = SubflowSeq(0);
        RtxLog {
            runs: [Run {
                start: zero,
                end: zero,
                high_data: zero,
            }; RTX_LOG_LEN],
            len: 0,
        }
    }

    fn runs(&self) -> &[Run] {
        &self.runs[..self.len]
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == RTX_LOG_LEN
    }

    /// Log the retransmission of [start, end) sent while SND.MAX was
    /// `high_data`. Returns `false` (logging nothing) when full.
    pub(crate) fn record(
        &mut self,
        start: SubflowSeq,
        end: SubflowSeq,
        high_data: SubflowSeq,
    ) -> bool {
        if self.len > 0 {
            let last = &mut self.runs[self.len - 1];
            if last.end == start && last.high_data == high_data {
                last.end = end;
                return true;
            }
        }
        if self.is_full() {
            return false;
        }
        self.runs[self.len] = Run {
            start,
            end,
            high_data,
        };
        self.len += 1;
        true
    }

    /// If `seq` lies in a logged run, the end of that run (the bytes from
    /// `seq` to it are in flight again).
    pub(crate) fn covering(&self, seq: SubflowSeq) -> Option<SubflowSeq> {
        self.runs()
            .iter()
            .find(|r| r.start <= seq && seq < r.end)
            .map(|r| r.end)
    }

    /// The start of the first logged run that begins after `seq`.
    pub(crate) fn next_start_after(&self, seq: SubflowSeq) -> Option<SubflowSeq> {
        self.runs()
            .iter()
            .filter(|r| r.start > seq)
            .map(|r| r.start)
            .min_by(|a, b| a.diff(*b).cmp(&0))
    }

    /// Drop what the cumulative ACK passed or the peer SACKed whole; then
    /// drop, and report, the runs a later-sent SACKed byte proves lost.
    pub(crate) fn update(&mut self, una: SubflowSeq, scoreboard: &Scoreboard) -> bool {
        let highest = scoreboard.highest_sacked();
        let mut lost = false;
        let mut n = 0;
        for i in 0..self.len {
            let mut run = self.runs[i];
            if run.end <= una {
                continue;
            }
            run.start = run.start.max_seq(una);
            if scoreboard.sacked_within(run.start, run.end)
                == u64::from(run.end.distance_from(run.start))
            {
                continue;
            }
            if highest.is_some_and(|h| h > run.high_data) {
                lost = true;
                continue;
            }
            self.runs[n] = run;
            n += 1;
        }
        self.len = n;
        lost
    }

    /// Logged bytes the peer has not SACKed (RFC 6675 SetPipe's
    /// retransmitted octets).
    pub(crate) fn in_flight(&self, scoreboard: &Scoreboard) -> u64 {
        self.runs()
            .iter()
            .map(|r| {
                u64::from(r.end.distance_from(r.start)) - scoreboard.sacked_within(r.start, r.end)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SubflowSeq {
        SubflowSeq(n)
    }

    #[test]
    fn consecutive_retransmissions_merge() {
        let mut log = RtxLog::new();
        assert!(log.record(s(100), s(200), s(1000)));
        assert!(log.record(s(200), s(300), s(1000)));
        assert_eq!(log.runs().len(), 1);
        assert!(log.record(s(300), s(400), s(1100)), "new data went between");
        assert_eq!(log.runs().len(), 2);
        assert_eq!(log.covering(s(250)), Some(s(300)));
        assert_eq!(log.covering(s(400)), None);
        assert_eq!(log.next_start_after(s(150)), Some(s(300)));
    }

    #[test]
    fn a_sack_above_high_data_means_lost() {
        let mut log = RtxLog::new();
        log.record(s(100), s(200), s(1000));
        log.record(s(500), s(600), s(1200));
        let mut board = Scoreboard::new();
        board.add(s(300), s(400), s(100), s(1300));
        assert!(!log.update(s(100), &board), "nothing sent after is SACKed");
        assert_eq!(log.in_flight(&board), 200);
        // A byte sent after the first run (above 1000) arrives: the first
        // run is lost; the second was sent later still and stays.
        board.add(s(1000), s(1100), s(100), s(1300));
        assert!(log.update(s(100), &board));
        assert_eq!(log.covering(s(150)), None);
        assert_eq!(log.covering(s(550)), Some(s(600)));
    }

    #[test]
    fn acked_or_sacked_runs_resolve() {
        let mut log = RtxLog::new();
        log.record(s(100), s(200), s(1000));
        log.record(s(300), s(400), s(1100));
        let mut board = Scoreboard::new();
        board.add(s(300), s(400), s(150), s(1300));
        assert!(!log.update(s(150), &board));
        assert_eq!(
            log.runs(),
            &[Run {
                start: s(150),
                end: s(200),
                high_data: s(1000)
            }]
        );
        assert_eq!(log.in_flight(&board), 50);
    }

    #[test]
    fn bounded() {
        let mut log = RtxLog::new();
        for i in 0..RTX_LOG_LEN as u32 {
            assert!(log.record(s(i * 10), s(i * 10 + 5), s(10_000 + i)));
        }
        assert!(log.is_full());
        assert!(!log.record(s(5000), s(5005), s(20_000)));
    }
}
