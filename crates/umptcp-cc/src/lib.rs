//! Congestion control for (multipath) TCP.
//!
//! One object-safe trait, [`CongestionControl`], with one controller per
//! connection that sees every path (subflow) of it, so that coupled
//! multipath algorithms plug in beside the classic single-path ones. This
//! crate knows nothing of MPTCP's wire format or state machines: a
//! researcher can depend on it alone.
//!
//! Built in, uncoupled (each path on its own): [`NewReno`] (`"reno"`) and
//! [`Cubic`] (`"cubic"`); coupled: [`Lia`] (`"lia"`, RFC 6356), [`Olia`]
//! (`"olia"`), [`Balia`] (`"balia"`), and the delay-based [`WVegas`]
//! (`"wvegas"`). A [`Registry`] finds a factory by name; a new algorithm
//! implements [`CongestionControl`] and [`CongestionControlFactory`], keeps
//! its per-path state in a [`PathTable`], and registers itself. A coupled
//! Reno-family algorithm only needs [`CoupledAlgorithm`] (its increase and
//! decrease): [`Coupled`] does the rest.
//!
//! ```
//! use core::time::Duration;
//! use umptcp_cc::{CcConfig, CongestionEvent, PathId, PathInfo, Registry};
//! use umptcp_time::Instant;
//!
//! // Pick the algorithm by name, as a configuration file would.
//! let registry = Registry::with_builtins();
//! let mut cc = registry.build("cubic", &CcConfig::default())?;
//!
//! // Two paths; the transport keeps their PathInfo current.
//! let mut paths = [PathInfo::new(PathId(0), 1400), PathInfo::new(PathId(1), 1400)];
//! paths[0].smoothed_rtt = Some(Duration::from_millis(20));
//! for p in &paths {
//!     cc.add_path(p, Instant::ZERO);
//! }
//! assert_eq!(cc.window(PathId(0)), 14_000); // initial window: 10 segments
//!
//! // An ACK of two segments in slow start grows the window by two segments.
//! let now = Instant::from_millis(20);
//! let ack = CongestionEvent::Ack {
//!     now,
//!     bytes_acked: 2800,
//!     rtt: Some(Duration::from_millis(20)),
//!     app_limited: false,
//!     in_recovery: false,
//! };
//! cc.on_event(PathId(0), &ack, &paths);
//! assert_eq!(cc.window(PathId(0)), 16_800);
//!
//! // A loss on path 0 cuts its window by β = 0.7; path 1 is untouched.
//! let loss = CongestionEvent::FastRetransmit { now, bytes_in_flight: 16_800 };
//! cc.on_event(PathId(0), &loss, &paths);
//! assert_eq!(cc.window(PathId(0)), 11_760);
//! assert_eq!(cc.ssthresh(PathId(0)), Some(11_760));
//! assert_eq!(cc.window(PathId(1)), 14_000);
//! # Ok::<(), umptcp_cc::UnknownAlgorithm>(())
//! ```

pub mod balia;
pub mod controller;
pub mod coupled;
pub mod cubic;
pub mod lia;
mod limits;
pub mod olia;
pub mod path_table;
pub mod registry;
pub mod reno;
pub mod wvegas;

pub use balia::{Balia, BaliaFactory};
pub use controller::{
    CcConfig, CongestionControl, CongestionControlFactory, CongestionEvent, PathId, PathInfo,
};
pub use coupled::{Coupled, CoupledAlgorithm, PathWindow};
pub use cubic::Cubic;
pub use lia::{Lia, LiaFactory};
pub use olia::{Olia, OliaFactory};
pub use path_table::PathTable;
pub use registry::{CubicFactory, NewRenoFactory, Registry, UnknownAlgorithm};
pub use reno::NewReno;
pub use wvegas::{WVegas, WVegasFactory};
