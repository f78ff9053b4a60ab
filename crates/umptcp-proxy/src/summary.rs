//! A proxy's running totals, for the periodic summary line: connections
//! open now, finished, how they ended, and the bytes each way. The fronts
//! and the converter count; the application reads a [`Summary`] when it
//! likes (the CLI prints one every few seconds).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by a front's connection threads.
#[derive(Debug, Default)]
pub struct Tally {
    started: AtomicU64,
    relayed: AtomicU64,
    failed: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
}

impl Tally {
    /// A connection began (its SYN or its SOCKS5 client was taken).
    pub fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended: relayed to its end (`ok`) or not, with the
    /// bytes it moved each way.
    pub fn finish(&self, ok: bool, up: u64, down: u64) {
        let outcome = if ok { &self.relayed } else { &self.failed };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.up.fetch_add(up, Ordering::Relaxed);
        self.down.fetch_add(down, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn summary(&self) -> Summary {
        // Finished first: a connection counted as finished was counted as
        // started before, so `active` never goes below zero.
        let relayed = self.relayed.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let started = self.started.load(Ordering::Relaxed);
        Summary {
            active: started.saturating_sub(relayed + failed),
            finished: relayed + failed,
            relayed,
            failed,
            up: self.up.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
        }
    }
}

/// The totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections open now (begun, not finished).
    pub active: u64,
    /// Connections finished, however they ended.
    pub finished: u64,
    /// Of those, relayed to their end.
    pub relayed: u64,
    /// Of those, failed or answered with an error.
    pub failed: u64,
    /// Bytes client to server, over the finished connections.
    pub up: u64,
    /// Bytes server to client, over the finished connections.
    pub down: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "summary: active={} finished={} relayed={} failed={} up={} down={}",
            self.active, self.finished, self.relayed, self.failed, self.up, self.down
        )
    }
}

impl Summary {
    /// The same as one JSON object: `{"summary":{"active":N,...}}`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"summary\":{{\"active\":{},\"finished\":{},\"relayed\":{},\"failed\":{},\"up\":{},\"down\":{}}}}}",
            self.active, self.finished, self.relayed, self.failed, self.up, self.down
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_follow_starts_and_ends() {
        let t = Tally::default();
        t.start();
        t.start();
        t.start();
        t.finish(true, 10, 2000);
        t.finish(false, 0, 0);
        let s = t.summary();
        assert_eq!(
            s,
            Summary {
                active: 1,
                finished: 2,
                relayed: 1,
                failed: 1,
                up: 10,
                down: 2000
            }
        );
        assert_eq!(
            s.to_string(),
            "summary: active=1 finished=2 relayed=1 failed=1 up=10 down=2000"
        );
        assert_eq!(
            s.to_json(),
            r#"{"summary":{"active":1,"finished":2,"relayed":1,"failed":1,"up":10,"down":2000}}"#
        );
    }
}
