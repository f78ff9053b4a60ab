//! The experiments, one per file, and the sampling loop they share.

pub(crate) mod shared_bottleneck;

use std::time::Duration;

use mptcp_sim::HostId;
use mptcp_time::Instant;

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
