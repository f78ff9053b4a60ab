//! A sans-I/O TCP connection engine: one instance per MPTCP subflow, or a
//! plain TCP connection on its own.
//!
//! ```text
//!   segments in ──handle_segment(now, &Segment)──▶ ┌────────────┐ ──poll_transmit(now, &mut buf)──▶ IP packets out
//!   timers      ──handle_timeout(now)────────────▶ │ Connection │ ──poll_timeout()───────────────▶ next wake-up
//!   app         ──write / read / shutdown / close─▶ │            │ ──poll_event()─────────────────▶ Connected, Readable, ...
//!   controller  ──set_congestion_window(bytes)───▶ └────────────┘ ──poll_congestion_event()──────▶ umptcp_cc::CongestionEvent
//! ```
//!
//! The engine reads no clock, does no I/O and draws no randomness: time comes
//! in as `now`, ISNs from an [`IsnKey`] the caller drew from its own RNG.
//! Buffers are fixed-capacity rings allocated when the connection is made.
//! It implements RFC 9293 (every state, simultaneous open and close,
//! TIME-WAIT), RFC 7323 (window scaling, timestamps, PAWS), RFC 6298 (RTO
//! with Karn's rule and backoff), RFC 5961 (challenge ACKs), RFC 6582
//! (NewReno fast retransmit and recovery), delayed ACKs, Nagle and
//! zero-window probing. It does not own a congestion controller: it reports
//! events and obeys the window it is given.
//!
//! One concept per file: [`State`] (`state.rs`), [`SubflowSeq`] (`seq.rs`),
//! [`TcpConfig`] (`config.rs`), [`RttEstimator`] (`rtt.rs`), ISNs
//! (`isn.rs`), the send ring (`send_buffer.rs`), the receive ring with
//! bounded out-of-order reassembly (`recv_buffer.rs`), and the state
//! machine itself (`connection/`, one file per concern).
//!
//! TCP Fast Open (RFC 7413) works in both roles (`fast_open.rs`:
//! [`Connection::connect_fast_open`], [`TcpConfig::fast_open`]). The MPTCP
//! layer plugs in through `hooks.rs`: an [`OptionSource`] adds options to
//! outgoing segments ([`Connection::poll_transmit_with`]), and
//! [`Connection::handle_segment`] returns a [`Received`] (accepted or not,
//! where the payload sits, what it acknowledged).
//!
//! Keepalive (RFC 9293 §3.8.4, [`TcpConfig::keepalive`], off by default)
//! probes an idle connection and ends it with [`Event::TimedOut`] when
//! unanswered. [`Connection::close`] is `shutdown` plus "the application
//! reads no more": new data is then answered with a RST, and FIN-WAIT-2
//! lasts at most [`TcpConfig::fin_wait2_timeout`]; after `shutdown` alone it
//! lasts as long as the peer likes.
//!
//! SACK (RFC 2018) is offered and SACK blocks are sent while out-of-order
//! data is held (most recent first). The peer's blocks go into a bounded
//! scoreboard (`scoreboard.rs`): loss is declared as RFC 6675 does (more
//! than two segments SACKed above SND.UNA, or three duplicate ACKs) and
//! recovery retransmits the holes, one per ACK, while the window is still
//! accounted the NewReno way (RFC 6582 inflation), not with RFC 6675's
//! `pipe`. Without SACK, recovery is NewReno.
//!
//! Not yet: RFC 6675's `pipe` accounting, RACK-TLP, ECN.
//!
//! ```
//! use umptcp_tcp::{Connection, FourTuple, IsnKey, State, TcpConfig};
//! use umptcp_time::Instant;
//! use umptcp_wire::segment::{ChecksumCheck, Segment};
//!
//! let key = IsnKey::from_bytes([1; 32]);
//! let tuple = FourTuple {
//!     local: "10.0.0.1:40000".parse().unwrap(),
//!     remote: "10.0.0.2:80".parse().unwrap(),
//! };
//! let now = Instant::ZERO;
//! let mut client = Connection::connect(TcpConfig::default(), tuple, key.clone(), now).unwrap();
//! let mut buf = [0u8; 1600];
//! let n = client.poll_transmit(now, &mut buf).unwrap();
//! let syn = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
//! let mut server = Connection::accept(TcpConfig::default(), &syn, key, now).unwrap();
//! let n = server.poll_transmit(now, &mut buf).unwrap();
//! client.handle_segment(now, &Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap());
//! assert_eq!(client.state(), State::Established);
//! let n = client.poll_transmit(now, &mut buf).unwrap();
//! server.handle_segment(now, &Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap());
//! assert_eq!(server.state(), State::Established);
//! ```

mod config;
mod connection;
mod error;
mod fast_open;
mod hooks;
mod isn;
mod lazy_storage;
mod recv_buffer;
mod rtt;
mod rtx_log;
mod scoreboard;
mod send_buffer;
mod seq;
mod state;

pub use config::{Keepalive, TcpConfig};
pub use connection::{Connection, Event};
pub use error::Error;
pub use fast_open::{FastOpenCookie, MIN_SERVER_COOKIE_LEN, SERVER_COOKIE_LEN};
pub use hooks::{ExtraOptions, NoOptions, OptionSource, OutgoingSegment, Received};
pub use isn::{FourTuple, IsnKey};
pub use lazy_storage::LazyStorage;
pub use rtt::RttEstimator;
pub use send_buffer::SendBuffer;
pub use seq::SubflowSeq;
pub use state::State;
