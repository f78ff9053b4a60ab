//! The congestion-control trait: one controller per connection, seeing every
//! path (subflow) of it.
//!
//! A plain TCP connection is a connection with one path. A coupled
//! multipath algorithm (LIA, OLIA, BALIA) needs the windows and RTTs of all
//! paths to grow one; that is why the controller is per connection and every
//! call receives the current [`PathInfo`] of all paths, not per subflow.
//!
//! The transport owns the controller and drives it:
//!
//! ```text
//!   subflow engine ──poll_congestion_event()──▶ connection
//!                                                 │ on_event(path, &event, &paths)
//!                                                 ▼
//!                                           CongestionControl
//!                                                 │ window(path)
//!   subflow engine ◀──set_congestion_window()─────┘
//! ```
//!
//! Congestion signals are explicit variants (STYLE.md, habit 6): a fast
//! retransmit, an RTO, an ECN echo and a spurious-retransmission undo are
//! different events, because treating an RTO like a duplicate-ACK loss (or
//! the reverse) is a classic source of Reno and CUBIC bugs.

use core::fmt;
use core::time::Duration;

use umptcp_time::Instant;

/// Names one path (subflow) within one connection's controller.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct PathId(pub u32);

/// What the transport knows of one path, handed to the controller on every
/// call so that coupled algorithms can see all paths at once.
///
/// `#[non_exhaustive]`: fields may be added; build one with [`PathInfo::new`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// Which path.
    pub id: PathId,
    /// Maximum segment size: payload bytes of a full-sized segment. It may
    /// change during a connection (PMTU); controllers read it on each call.
    pub mss: u32,
    /// Smoothed RTT (RFC 6298 SRTT), once there is a sample.
    pub smoothed_rtt: Option<Duration>,
    /// The lowest RTT seen on the path.
    pub min_rtt: Option<Duration>,
    /// The most recent RTT sample.
    pub latest_rtt: Option<Duration>,
    /// Bytes sent and neither acknowledged nor declared lost.
    pub bytes_in_flight: u64,
}

impl PathInfo {
    /// Describe a path with no RTT sample and nothing in flight.
    pub fn new(id: PathId, mss: u32) -> Self {
        Self {
            id,
            mss,
            smoothed_rtt: None,
            min_rtt: None,
            latest_rtt: None,
            bytes_in_flight: 0,
        }
    }
}

/// A congestion signal, or progress, on one path.
///
/// `#[non_exhaustive]`: controllers must ignore variants they do not know.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionEvent {
    /// New data was acknowledged (cumulatively or by SACK).
    ///
    /// A transport whose owner polls rarely may coalesce several ACKs into
    /// one event: `bytes_acked` is then their sum and `rtt` the latest sample.
    Ack {
        /// When the acknowledgement arrived.
        now: Instant,
        /// Bytes newly acknowledged by this ACK.
        bytes_acked: u64,
        /// The RTT sample this ACK gave, if any (Karn's rule applied).
        rtt: Option<Duration>,
        /// The sender had less data than the window allowed: a controller
        /// should not grow the window on such ACKs (RFC 7661).
        app_limited: bool,
        /// The path is in loss recovery (between `FastRetransmit` and
        /// `RecoveryExit`); Reno-style controllers do not grow then.
        in_recovery: bool,
    },
    /// Loss inferred from duplicate ACKs, SACK or RACK: fast retransmit and
    /// the start of a recovery episode. Sent at most once per episode.
    ///
    /// The transport does the RFC 6582 window inflation and deflation
    /// during recovery itself (the controller never sees duplicate ACKs):
    /// the controller sets its window to the new ssthresh and does not
    /// inflate it.
    FastRetransmit {
        /// When the loss was detected.
        now: Instant,
        /// Bytes in flight when the loss was detected (RFC 5681 FlightSize).
        bytes_in_flight: u64,
    },
    /// The recovery episode started by `FastRetransmit` ended: everything
    /// outstanding at its start is acknowledged (RFC 6582 "full ACK").
    RecoveryExit {
        /// When recovery ended.
        now: Instant,
    },
    /// The retransmission timer expired (RFC 6298 §5.5): collapse to the
    /// loss window. Repeated timeouts of the same data arrive as repeated
    /// events with no `Ack` between them (RFC 5681 §3.1 lowers ssthresh
    /// only on the first); a lost zero-window probe counts as one too.
    RetransmissionTimeout {
        /// When the timer fired.
        now: Instant,
        /// Bytes in flight when it fired.
        bytes_in_flight: u64,
    },
    /// An ECN-Echo: the network marked congestion (RFC 3168); at most once
    /// per window of data. It does not open a recovery episode: no
    /// `RecoveryExit` follows it.
    Ecn {
        /// When the echo arrived.
        now: Instant,
        /// Bytes in flight at that time.
        bytes_in_flight: u64,
    },
    /// The last window reduction was spurious (DSACK, Eifel or F-RTO showed
    /// the "lost" data had arrived): restore the window and ssthresh saved
    /// before it, keeping any growth since (the larger of the two windows).
    SpuriousUndo {
        /// When the transport found out.
        now: Instant,
    },
}

/// A congestion controller for one connection and all of its paths.
///
/// Object-safe: the stack holds a `Box<dyn CongestionControl>` built by a
/// [`CongestionControlFactory`] chosen by name or by value.
///
/// # Order of calls
///
/// `add_path` before any event on that path; `on_event` for every event of
/// every path in the order they happened; `window` whenever the transport
/// needs the path's congestion window (after each event, at least);
/// `remove_path` when a subflow closes. `paths` always lists every path the
/// transport has open, including the one the event is for.
pub trait CongestionControl: Send + fmt::Debug {
    /// The name this algorithm is registered under (`"reno"`, `"cubic"`, ...).
    fn name(&self) -> &str;

    /// Start tracking a new path.
    fn add_path(&mut self, path: &PathInfo, now: Instant);

    /// Stop tracking a path; events for it no longer arrive.
    fn remove_path(&mut self, path: PathId);

    /// React to `event` on `path`, seeing every path of the connection.
    fn on_event(&mut self, path: PathId, event: &CongestionEvent, paths: &[PathInfo]);

    /// Return the congestion window of `path` in bytes (0 for an unknown path).
    fn window(&self, path: PathId) -> u64;

    /// Return the slow-start threshold of `path` in bytes, or `None` while it
    /// is unset (infinite).
    fn ssthresh(&self, path: PathId) -> Option<u64>;
}

/// Knobs every controller honours; built with [`CcConfig::default`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcConfig {
    /// Initial window in segments (RFC 6928: 10).
    pub initial_window_segments: u32,
    /// Floor, in segments, of ssthresh and of the window after a loss
    /// (RFC 5681: 2). An RTO still collapses the window to one segment (the
    /// loss window, RFC 5681 §3.1), and so may an ECN echo in CUBIC
    /// (RFC 9438 §4.6).
    pub minimum_window_segments: u32,
    /// Ceiling of the window in bytes, so a long-lived connection cannot
    /// grow it without bound.
    pub maximum_window: u64,
}

impl Default for CcConfig {
    fn default() -> Self {
        Self {
            initial_window_segments: 10,
            minimum_window_segments: 2,
            maximum_window: 1 << 30,
        }
    }
}

/// Builds controllers; registered by name so a connection can pick one at
/// run time (`"cubic"`, or a researcher's own).
pub trait CongestionControlFactory: Send + Sync + fmt::Debug {
    /// The name the algorithm is selected by.
    fn name(&self) -> &str;

    /// Build a controller for one new connection.
    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl>;
}
