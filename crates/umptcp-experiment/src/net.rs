//! [`Net`]: the simulated network of an experiment, built from our nodes,
//! routers and links, with the helpers every experiment needs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use umptcp_sim::{HostId, IfaceId, LinkConfig, LinkId, Rate, Router, SimConfig, Simulator};
use umptcp_tcp::FourTuple;

use crate::error::ExperimentError;
use crate::machine::Machine;
use crate::node::Node;

/// A link of `mbit` Mbit/s with `delay` one way and a drop-tail queue of
/// `queue` bytes, the same both ways.
pub(crate) fn link(mbit: u64, delay: Duration, queue: usize) -> LinkConfig {
    LinkConfig::new(Rate::mbit(mbit), delay).with_queue_limit(queue)
}

/// A fast access link: 1 Gbit/s, 1 ms, a queue that never fills.
pub(crate) fn access() -> LinkConfig {
    link(1_000, Duration::from_millis(1), 4 << 20)
}

/// The bandwidth-delay product of `mbit` over `rtt`, in bytes.
pub(crate) fn bdp(mbit: u64, rtt: Duration) -> usize {
    (mbit as f64 * 1e6 / 8.0 * rtt.as_secs_f64()) as usize
}

/// Parse a constant address of an experiment.
pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("a constant address")
}

/// The four-tuple from `local` (port `port`) to `remote:80`.
pub(crate) fn tuple(local: &str, port: u16, remote: &str) -> FourTuple {
    FourTuple {
        local: SocketAddr::new(ip(local), port),
        remote: SocketAddr::new(ip(remote), 80),
    }
}

/// The network of one experiment run.
pub(crate) struct Net {
    pub(crate) sim: Simulator<Machine>,
    seed: u64,
}

impl Net {
    /// An empty network whose randomness comes from `seed`.
    pub(crate) fn new(seed: u64) -> Result<Self, ExperimentError> {
        Ok(Self {
            sim: Simulator::new(SimConfig::with_seed(seed))?,
            seed,
        })
    }

    /// Add one of our nodes with one interface per address.
    pub(crate) fn node(
        &mut self,
        addrs: &[&str],
        buffer: usize,
    ) -> Result<(HostId, Vec<IfaceId>), ExperimentError> {
        let ips: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
        let n = self.sim.host_count() as u64;
        let node = Node::for_experiment(&ips, buffer, self.seed.wrapping_mul(1000).wrapping_add(n));
        let host = self.sim.add_host(Machine::Node(Box::new(node)))?;
        let ifaces = ips
            .iter()
            .map(|a| self.sim.add_iface(host, &[*a]))
            .collect::<Result<_, _>>()?;
        Ok((host, ifaces))
    }

    /// Add a router with `ifaces` interfaces and `routes`: (prefix,
    /// length, interface index).
    pub(crate) fn router(
        &mut self,
        ifaces: usize,
        routes: &[(&str, u8, u32)],
    ) -> Result<(HostId, Vec<IfaceId>), ExperimentError> {
        let mut router = Router::new();
        for &(prefix, len, iface) in routes {
            router.route(ip(prefix), len, IfaceId(iface))?;
        }
        let host = self.sim.add_host(Machine::Router(router))?;
        let ifaces = (0..ifaces)
            .map(|_| self.sim.add_iface(host, &[]))
            .collect::<Result<_, _>>()?;
        Ok((host, ifaces))
    }

    /// Join two interfaces with `config` both ways.
    pub(crate) fn connect(
        &mut self,
        a: (HostId, IfaceId),
        b: (HostId, IfaceId),
        config: LinkConfig,
    ) -> Result<LinkId, ExperimentError> {
        Ok(self.sim.connect(a, b, config.clone(), config)?)
    }

    /// The node `host`.
    pub(crate) fn node_mut(&mut self, host: HostId) -> &mut Node {
        self.sim
            .host_mut(host)
            .and_then(Machine::node_mut)
            .expect("an experiment asks only for its own nodes")
    }

    /// The node `host`.
    pub(crate) fn node_ref(&self, host: HostId) -> &Node {
        self.sim
            .host(host)
            .and_then(Machine::node)
            .expect("an experiment asks only for its own nodes")
    }

    /// The first failure of any node, as an error.
    pub(crate) fn check(&self, nodes: &[HostId]) -> Result<(), ExperimentError> {
        for &n in nodes {
            if let Some(failure) = self.node_ref(n).failure() {
                return Err(ExperimentError::Failed(failure.to_owned()));
            }
        }
        Ok(())
    }
}

/// The addresses of [`Net::two_paths`]: the sender's on path A, its
/// address on path B, the sink's.
pub(crate) const TWO_PATHS: [&str; 3] = ["10.1.0.1", "10.2.0.1", "10.9.0.1"];

/// What [`Net::two_paths`] built.
pub(crate) struct TwoPaths {
    /// The node with an address on each path.
    pub(crate) sender: HostId,
    /// The node listening on port 80 of its one address.
    pub(crate) sink: HostId,
    /// The bottleneck links of path A and path B; their `AToB` direction
    /// carries the data (sender to router).
    pub(crate) links: [LinkId; 2],
}

impl Net {
    /// Two disjoint paths from a sender to a sink listening on port 80,
    /// each path's bottleneck its first link (`a`, `b`, both ways), whose
    /// queue only that path's subflow fills; both nodes buffer `buffer`
    /// bytes per connection each way:
    ///
    /// ```text
    ///  sender 10.1.0.1 ══ a ══┐
    ///                          R ── sink 10.9.0.1    (1 Gbit/s, 1 ms)
    ///  sender 10.2.0.1 ══ b ══┘
    /// ```
    pub(crate) fn two_paths(
        &mut self,
        a: LinkConfig,
        b: LinkConfig,
        buffer: usize,
    ) -> Result<TwoPaths, ExperimentError> {
        let [on_a, on_b, at_sink] = TWO_PATHS;
        let (sender, m_if) = self.node(&[on_a, on_b], buffer)?;
        let (sink, s_if) = self.node(&[at_sink], buffer)?;
        let (r, r_if) = self.router(
            3,
            &[
                ("10.9.0.0", 16, 2),
                ("10.1.0.0", 16, 0),
                ("10.2.0.0", 16, 1),
            ],
        )?;
        let link_a = self.connect((sender, m_if[0]), (r, r_if[0]), a)?;
        let link_b = self.connect((sender, m_if[1]), (r, r_if[1]), b)?;
        self.connect((r, r_if[2]), (sink, s_if[0]), access())?;
        self.node_mut(sink).listen(SocketAddr::new(ip(at_sink), 80));
        Ok(TwoPaths {
            sender,
            sink,
            links: [link_a, link_b],
        })
    }
}
