//! The RTT estimator and retransmission timeout of RFC 6298.
//!
//! Karn's rule (RFC 6298 §3) is the caller's part: it feeds no sample taken
//! from a retransmitted segment, unless timestamps make the sample
//! unambiguous (RFC 7323 §4).

use core::time::Duration;

/// Clock granularity G of RFC 6298 §2 (1 ms: the timestamp clock's tick).
const GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT, RTTVAR and the RTO with its exponential backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    latest: Option<Duration>,
    min: Option<Duration>,
    base_rto: Duration,
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    /// Start with no sample and `initial_rto` (RFC 6298 §2.1).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            latest: None,
            min: None,
            base_rto: initial_rto.clamp(min_rto, max_rto),
            backoff: 0,
            min_rto,
            max_rto,
        }
    }

    /// Take a new RTT measurement (RFC 6298 §2.2 and §2.3) and clear the
    /// backoff (§5.7: the next RTO is computed afresh).
    pub fn on_sample(&mut self, rtt: Duration) {
        self.latest = Some(rtt);
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        match self.srtt {
            None => {
                // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // RFC 6298 §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|,
                // SRTT <- 7/8 SRTT + 1/8 R' (RTTVAR first, with the old SRTT).
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        // RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4 and §2.5 bound it.
        self.base_rto = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// Double the RTO after the timer expired (RFC 6298 §5.5), up to the
    /// maximum.
    pub fn on_timeout(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff = self.backoff.saturating_add(1);
        }
    }

    /// Clear the backoff without a sample (new data acknowledged after a
    /// timeout, RFC 6298 §5.7).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Return the current RTO, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoff.min(31)).unwrap_or(u32::MAX);
        self.base_rto.saturating_mul(factor).min(self.max_rto)
    }

    /// Return how many times the RTO has been doubled since the last sample.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// Return SRTT, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Return RTTVAR (zero before the first sample).
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Return the most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// Return the smallest sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_and_update() {
        let mut rtt = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(rtt.rto(), ms(1000));
        rtt.on_sample(ms(100));
        assert_eq!(rtt.srtt(), Some(ms(100)));
        assert_eq!(rtt.rttvar(), ms(50));
        // 100 + 4 * 50 = 300
        assert_eq!(rtt.rto(), ms(300));
        rtt.on_sample(ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * 100 = 62.5; SRTT = 7/8 * 100 + 25 = 112.5
        assert_eq!(rtt.rttvar(), Duration::from_micros(62_500));
        assert_eq!(rtt.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(rtt.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn min_rto_applies() {
        let mut rtt = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        rtt.on_sample(ms(1));
        assert_eq!(rtt.rto(), ms(200));
    }

    #[test]
    fn backoff_doubles_to_max_and_sample_resets() {
        let mut rtt = RttEstimator::new(ms(1000), ms(200), ms(5000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(2000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(4000));
        rtt.on_timeout();
        assert_eq!(rtt.rto(), ms(5000));
        for _ in 0..100 {
            rtt.on_timeout();
        }
        assert_eq!(rtt.rto(), ms(5000));
        rtt.on_sample(ms(100));
        assert_eq!(rtt.backoff(), 0);
        assert_eq!(rtt.rto(), ms(300));
    }
}
