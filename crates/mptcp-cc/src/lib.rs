//! Congestion control for (multipath) TCP.
//!
//! One object-safe trait, [`CongestionControl`], with one controller per
//! connection that sees every path (subflow) of it, so that coupled
//! multipath algorithms plug in beside the classic single-path ones. This
//! crate knows nothing of MPTCP's wire format or state machines: a
//! researcher can depend on it alone.

pub mod controller;

pub use controller::{
    CcConfig, CongestionControl, CongestionControlFactory, CongestionEvent, PathId, PathInfo,
};
