//! Per-connection knobs, each with a documented default.

use core::time::Duration;

use crate::Error;

/// The configuration of one TCP connection (subflow).
///
/// `#[non_exhaustive]`: build it with [`TcpConfig::default`] and set fields.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// The MSS we announce and the largest segment payload we send, in bytes,
    /// before TCP options are subtracted. Default 1460 (Ethernet over IPv4).
    pub mss: u16,
    /// Capacity of the send buffer in bytes, allocated once. Default 256 KiB.
    pub send_buffer: usize,
    /// Capacity of the receive buffer in bytes, allocated once; it bounds the
    /// advertised window, and out-of-order data is kept inside it.
    /// Default 256 KiB.
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2); the shift is the smallest that
    /// lets the receive buffer be advertised. Default on.
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3): RTT measurement and PAWS. Default on.
    pub timestamps: bool,
    /// Offer SACK-permitted (RFC 2018) and, when the peer agrees, send
    /// SACK blocks while out-of-order data is held, and use the peer's
    /// blocks to retransmit only the holes (RFC 6675 loss detection and
    /// hole selection). Default on (Linux offers SACK too).
    pub sack: bool,
    /// Lower bound on the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).
    /// Default 200 ms.
    pub min_rto: Duration,
    /// Upper bound on the RTO, backoff included (RFC 6298 §2.5 allows 60 s).
    /// Default 60 s.
    pub max_rto: Duration,
    /// The RTO before any RTT sample (RFC 6298 §2.1). Default 1 s.
    pub initial_rto: Duration,
    /// Consecutive retransmission timeouts after which the connection is
    /// abandoned with [`crate::Event::TimedOut`] (RFC 9293 §3.8.3 R2).
    /// Default 15 (Linux `tcp_retries2`).
    pub max_retransmissions: u32,
    /// Retransmissions of a SYN or SYN/ACK after which the half-open
    /// connection is abandoned with [`crate::Event::TimedOut`]. RFC 9293
    /// §3.8.3: "R2 for a SYN segment MUST be set large enough to provide
    /// retransmission of the segment for at least 3 minutes"; with the 1 s
    /// initial RTO doubling up to its 60 s cap, 7 retries go out until
    /// 123 s and the attempt ends at 183 s. Default 7 (Linux's
    /// `tcp_syn_retries` is 6, ending at 127 s).
    pub syn_retries: u32,
    /// Longest an ACK for in-order data is held back (RFC 9293 §3.8.6.3:
    /// "MUST be less than 0.5 seconds"). Default 40 ms.
    pub delayed_ack: Duration,
    /// The TIME-WAIT duration, 2 MSL (RFC 9293 §3.4.2). Default 60 s.
    pub time_wait: Duration,
    /// Nagle's algorithm (RFC 9293 §3.7.4): hold a small segment while data
    /// is unacknowledged. Default on.
    pub nagle: bool,
    /// Most out-of-order byte ranges kept for reassembly; a segment that
    /// would need another range is dropped (and re-sent by the peer).
    /// Default 16.
    pub max_ooo_ranges: usize,
    /// Most challenge ACKs (RFC 5961 §7) sent per second. Default 100.
    pub challenge_ack_limit: u32,
    /// Least time between two ACKs that answer unacceptable segments
    /// (outside the window, stale by PAWS, acknowledging what was never
    /// sent). RFC 5961 §7 asks for such a limit, or one forged segment can
    /// start an ACK ping-pong between two desynchronised ends. Default
    /// 500 ms, Linux's `tcp_invalid_ratelimit`.
    pub invalid_ack_interval: Duration,
    /// The congestion window used until `set_congestion_window` is called,
    /// in segments (RFC 6928 initial window). Default 10.
    pub initial_window_segments: u32,
    /// TCP Fast Open (RFC 7413) as a server: answer cookie requests with a
    /// cookie, and accept the data of a SYN that carries a valid one. (A
    /// client uses Fast Open by opening with
    /// [`crate::Connection::connect_fast_open`].) Default off.
    pub fast_open: bool,
    /// With `fast_open`: take a SYN's data whatever its cookie, or with
    /// none at all (RFC 8803 §4.2: a Transport Converter accepts the
    /// Convert message in the SYN without a cookie). A cookie request
    /// still gets one. Default off: only a valid cookie lets data in.
    pub syn_data_without_cookie: bool,
    /// Keepalive probes on an idle established connection, as Linux's
    /// `SO_KEEPALIVE` (RFC 9293 §3.8.4: off unless asked for). Default
    /// `None` (off).
    pub keepalive: Option<Keepalive>,
    /// How long a connection after [`crate::Connection::close`] waits in
    /// FIN-WAIT-2 for the peer's FIN (Linux's `tcp_fin_timeout`, applied,
    /// as there, only once the application has closed). Default 60 s.
    pub fin_wait2_timeout: Duration,
}

/// When to probe an idle connection and when to give up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time (nothing received) before the first probe. Linux's
    /// `tcp_keepalive_time` default: 7200 s.
    pub idle: Duration,
    /// Time between unanswered probes. Linux's `tcp_keepalive_intvl`: 75 s.
    pub interval: Duration,
    /// Unanswered probes after which the connection ends with
    /// [`crate::Event::TimedOut`]. Linux's `tcp_keepalive_probes`: 9.
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            initial_rto: Duration::from_secs(1),
            max_retransmissions: 15,
            syn_retries: 7,
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            nagle: true,
            max_ooo_ranges: 16,
            challenge_ack_limit: 100,
            invalid_ack_interval: Duration::from_millis(500),
            initial_window_segments: 10,
            fast_open: false,
            syn_data_without_cookie: false,
            keepalive: None,
            fin_wait2_timeout: Duration::from_secs(60),
        }
    }
}

/// Largest receive buffer: a scaled window cannot describe more than
/// 2^30 bytes (RFC 7323 §2.3, shift 14).
const MAX_BUFFER: usize = 1 << 30;

impl TcpConfig {
    /// Check that every field is in range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.mss < 64 {
            return Err(Error::InvalidConfig("mss must be at least 64"));
        }
        if self.send_buffer == 0 || self.send_buffer > MAX_BUFFER {
            return Err(Error::InvalidConfig("send_buffer must be in 1..=2^30"));
        }
        if self.recv_buffer == 0 || self.recv_buffer > MAX_BUFFER {
            return Err(Error::InvalidConfig("recv_buffer must be in 1..=2^30"));
        }
        if self.min_rto.is_zero() || self.min_rto > self.max_rto {
            return Err(Error::InvalidConfig("min_rto must be in (0, max_rto]"));
        }
        if self.initial_rto.is_zero() {
            return Err(Error::InvalidConfig("initial_rto must be positive"));
        }
        if self.delayed_ack >= Duration::from_millis(500) {
            return Err(Error::InvalidConfig("delayed_ack must be below 500 ms"));
        }
        if self.initial_window_segments == 0 {
            return Err(Error::InvalidConfig(
                "initial_window_segments must be positive",
            ));
        }
        if let Some(k) = &self.keepalive {
            if k.idle.is_zero() || k.interval.is_zero() || k.probes == 0 {
                return Err(Error::InvalidConfig(
                    "keepalive idle and interval must be positive and probes at least 1",
                ));
            }
        }
        Ok(())
    }

    /// The window-scale shift we offer: the smallest that lets the whole
    /// receive buffer be advertised, at most 14 (RFC 7323 §2.3).
    pub(crate) fn window_shift(&self) -> u8 {
        let mut shift = 0u8;
        while shift < 14 && (self.recv_buffer >> shift) > usize::from(u16::MAX) {
            shift += 1;
        }
        shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(TcpConfig::default().validate(), Ok(()));
        assert_eq!(TcpConfig::default().window_shift(), 3);
    }

    #[test]
    fn bad_values_are_named() {
        let config = TcpConfig {
            mss: 10,
            ..TcpConfig::default()
        };
        assert!(matches!(config.validate(), Err(Error::InvalidConfig(_))));
        let config = TcpConfig {
            min_rto: Duration::ZERO,
            ..TcpConfig::default()
        };
        assert!(config.validate().is_err());
        let config = TcpConfig {
            keepalive: Some(Keepalive {
                probes: 0,
                ..Keepalive::default()
            }),
            ..TcpConfig::default()
        };
        assert!(matches!(config.validate(), Err(Error::InvalidConfig(_))));
    }
}
