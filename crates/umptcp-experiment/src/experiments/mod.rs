//! The experiments, one per file, and the sampling loop they share.

pub(crate) mod balance;
pub(crate) mod disjoint;
pub(crate) mod responsiveness;
pub(crate) mod rtt_mismatch;
pub(crate) mod shared_bottleneck;

use std::net::IpAddr;
use std::time::Duration;

use umptcp_sim::HostId;
use umptcp_time::Instant;

use crate::error::ExperimentError;
use crate::net::Net;
use crate::report::Series;

/// How often the series are sampled.
pub(crate) const SAMPLE: Duration = Duration::from_millis(200);

/// A flow whose goodput the sink measures.
pub(crate) struct Measured {
    /// The series name.
    pub(crate) name: String,
    /// The sink node.
    pub(crate) sink: HostId,
    /// The flow's first address, as the sink sees it.
    pub(crate) peer: std::net::IpAddr,
}

/// A flow whose subflows' windows are recorded.
pub(crate) struct Windows {
    /// The series name prefix.
    pub(crate) name: String,
    /// The sending node and the flow's index there.
    pub(crate) node: HostId,
    pub(crate) flow: usize,
}

/// What [`sample`] recorded.
pub(crate) struct Sampled {
    /// Goodput of each measured flow, Mbit/s.
    pub(crate) goodput: Vec<Series>,
    /// Congestion window of each subflow, KB.
    pub(crate) cwnd: Vec<Series>,
    /// Bytes each measured flow delivered in total.
    pub(crate) bytes: Vec<u64>,
    /// `bytes`, at `from` (for figures that skip the start).
    pub(crate) bytes_at: Vec<u64>,
}

/// Run `net` until `end`, sampling every [`SAMPLE`]: the goodput of the
/// `measured` flows and the windows of the `windows` flows' subflows;
/// `bytes_at` is taken at `from`. `at` is called at every sample, for
/// experiments that change the network as they go.
pub(crate) fn sample(
    net: &mut Net,
    nodes: &[HostId],
    measured: &[Measured],
    windows: &[Windows],
    from: Duration,
    end: Duration,
    mut at: impl FnMut(&mut Net, Duration),
) -> Result<Sampled, ExperimentError> {
    let mut out = Sampled {
        goodput: measured
            .iter()
            .map(|m| Series::new(m.name.clone(), "Mbit/s"))
            .collect(),
        cwnd: Vec::new(),
        bytes: vec![0; measured.len()],
        bytes_at: vec![0; measured.len()],
    };
    let mut t = Duration::ZERO;
    while t < end {
        t += SAMPLE;
        net.sim.run_until(Instant::ZERO + t);
        net.check(nodes)?;
        at(net, t);
        let secs = t.as_secs_f64();
        for (i, m) in measured.iter().enumerate() {
            let total = net.node_ref(m.sink).received_from(m.peer);
            let delta = total - out.bytes[i];
            out.bytes[i] = total;
            if t <= from {
                out.bytes_at[i] = total;
            }
            let mbps = delta as f64 * 8.0 / SAMPLE.as_secs_f64() / 1e6;
            out.goodput[i].points.push((secs, mbps));
        }
        for w in windows {
            let subflows = net.node_mut(w.node).subflows(w.flow);
            for (k, s) in subflows.iter().enumerate() {
                let name = format!("{} subflow {}", w.name, k + 1);
                let series = match out.cwnd.iter_mut().position(|x| x.name == name) {
                    Some(i) => &mut out.cwnd[i],
                    None => {
                        out.cwnd.push(Series::new(name, "KB"));
                        out.cwnd.last_mut().expect("just pushed")
                    }
                };
                series.points.push((secs, s.cwnd as f64 / 1000.0));
            }
        }
    }
    Ok(out)
}

/// The goodput of one path of a measured connection: what its subflow
/// from `local` delivered in order, as the sink counts it. Recorded from
/// [`sample`]'s `at` hook, at the same instants as the flows' goodput.
pub(crate) struct PathGoodput {
    /// The sink node.
    sink: HostId,
    /// The connection's first address, as the sink sees it.
    peer: IpAddr,
    /// The sending address of the subflow on this path.
    local: IpAddr,
    /// Goodput, Mbit/s.
    pub(crate) series: Series,
    /// Bytes the path delivered in total, and up to `from` of
    /// [`PathGoodput::record`].
    pub(crate) bytes: u64,
    pub(crate) bytes_at: u64,
}

impl PathGoodput {
    /// The path of the connection from `peer` whose subflow comes from
    /// `local`, named `name` in the plots.
    pub(crate) fn new(name: impl Into<String>, sink: HostId, peer: IpAddr, local: IpAddr) -> Self {
        Self {
            sink,
            peer,
            local,
            series: Series::new(name, "Mbit/s"),
            bytes: 0,
            bytes_at: 0,
        }
    }

    /// Record the goodput since the last sample, at `t`; bytes delivered
    /// by `from` are kept apart, for figures that skip the start.
    pub(crate) fn record(&mut self, net: &mut Net, t: Duration, from: Duration) {
        let total: u64 = net
            .node_mut(self.sink)
            .received_subflows(self.peer)
            .iter()
            .filter(|s| s.tuple.remote.ip() == self.local)
            .map(|s| s.bytes_received)
            .sum();
        // A subflow that closed takes its count with it: never negative.
        let delta = total.saturating_sub(self.bytes);
        self.bytes = total;
        if t <= from {
            self.bytes_at = total;
        }
        let mbps = delta as f64 * 8.0 / SAMPLE.as_secs_f64() / 1e6;
        self.series.points.push((t.as_secs_f64(), mbps));
    }
}

/// A delay of 0 to `range` (exclusive, whole milliseconds) that `seed`
/// picks: where nothing in a network is random (no random loss), starting
/// a flow this much later makes seeds sample different phases of its
/// sawtooth against the experiment's fixed events.
pub(crate) fn seeded_offset(seed: u64, range: Duration) -> Duration {
    // A multiplicative hash spreads consecutive seeds over the range.
    let spread = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let millis = u64::try_from(range.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(spread % millis)
}
