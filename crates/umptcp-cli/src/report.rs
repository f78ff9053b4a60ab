//! The result line both commands end with, and what goes into it: a byte
//! count, the SHA-256 of those bytes and the wall-clock time they took.
//!
//! ```text
//! sent 67108864 bytes sha256 3b1f…e0 in 0.412 s (1303.08 Mbit/s)
//! ```
//!
//! Scripts read this line: its format is part of the command's contract.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::CliError;

/// Which way the bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `mptcp send`.
    Sent,
    /// `mptcp recv`.
    Received,
}

/// Counts and hashes the bytes of one transfer as they pass.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    bytes: u64,
    hasher: Sha256,
}

impl Tally {
    /// Account for `data`, the next bytes of the transfer.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.hasher.update(data);
    }

    /// The report of the transfer, which took `elapsed`.
    pub(crate) fn finish(self, direction: Direction, elapsed: Duration) -> Report {
        Report {
            direction,
            bytes: self.bytes,
            sha256: self.hasher.finalize().into(),
            elapsed,
        }
    }
}

/// The outcome of one transfer; its `Display` is the result line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// Which way the bytes went.
    pub(crate) direction: Direction,
    /// How many bytes.
    pub(crate) bytes: u64,
    /// The SHA-256 of exactly those bytes.
    pub(crate) sha256: [u8; 32],
    /// How long it took.
    pub(crate) elapsed: Duration,
}

impl Report {
    /// The throughput in Mbit/s (10^6 bits per second), 0 for a transfer
    /// that took no measurable time.
    pub(crate) fn mbit_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 * 8.0 / secs / 1e6
        } else {
            0.0
        }
    }
}

impl Report {
    /// Print the result line on stdout.
    ///
    /// # Errors
    ///
    /// If stdout is closed (say, piped into a program that has exited).
    pub(crate) fn print(&self) -> Result<(), CliError> {
        let mut out = io::stdout().lock();
        writeln!(out, "{self}")
            .and_then(|()| out.flush())
            .map_err(|e| CliError::io("printing the result", &e))
    }
}

impl fmt::Display for Report {
    /// `sent N bytes sha256 HEX in S s (G Mbit/s)`, or `received ...`: HEX
    /// is 64 lowercase hex digits, S seconds with 3 decimals, G with 2.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.direction {
            Direction::Sent => "sent",
            Direction::Received => "received",
        };
        write!(f, "{verb} {} bytes sha256 ", self.bytes)?;
        for b in self.sha256 {
            write!(f, "{b:02x}")?;
        }
        write!(
            f,
            " in {:.3} s ({:.2} Mbit/s)",
            self.elapsed.as_secs_f64(),
            self.mbit_per_s()
        )
    }
}

/// A wall clock started at a point of interest (the start of a connect, an
/// accept).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Start timing now.
    // The CLI is a driver: reading the clock is its job (clippy.toml keeps
    // it out of the sans-I/O libraries).
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub(crate) fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_of_a_known_transfer() {
        let mut tally = Tally::default();
        tally.update(b"hello ");
        tally.update(b"world");
        let report = tally.finish(Direction::Sent, Duration::from_millis(1500));
        assert_eq!(
            report.to_string(),
            "sent 11 bytes sha256 b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9 \
             in 1.500 s (0.00 Mbit/s)"
        );
    }

    #[test]
    fn throughput_and_rounding() {
        let report = Report {
            direction: Direction::Received,
            bytes: 64 << 20,
            sha256: [0xab; 32],
            elapsed: Duration::from_micros(412_345),
        };
        // 67108864 * 8 / 0.412345 / 1e6 = 1301.994...
        assert_eq!(
            report.to_string(),
            format!(
                "received 67108864 bytes sha256 {} in 0.412 s (1301.99 Mbit/s)",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn empty_transfer_in_no_time() {
        let report = Tally::default().finish(Direction::Received, Duration::ZERO);
        assert_eq!(
            report.to_string(),
            "received 0 bytes sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
             in 0.000 s (0.00 Mbit/s)"
        );
    }
}
