//! [`Node`]: one of our endpoints in the simulator, with the application of
//! an experiment: bulk senders that never run out of data, and a sink that
//! reads everything and counts it per connection.

use std::net::{IpAddr, SocketAddr};

use umptcp_cc::{CcConfig, Registry};
use umptcp_proto::{
    ConnectionId, ConnectionPolicy, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent,
    PolicyRegistry, SubflowStats,
};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::AddrId;
use umptcp_wire::segment::Segment;

use crate::error::ExperimentError;
use crate::sim_host::{Application, SimHost};

mod reorder;

pub(crate) use reorder::ReorderMeter;

/// Bytes handed to a connection per write: all zeros, the content does not
/// matter to congestion control.
const CHUNK: usize = 64 * 1024;

/// A bulk flow this node sends on.
#[derive(Debug)]
struct Flow {
    id: ConnectionId,
    /// Subflows to open once MPTCP is up, with the address ID of their
    /// local address.
    joins: Vec<(FourTuple, AddrId)>,
    joined: bool,
}

/// What the sink read from one connection.
#[derive(Clone, Copy, Debug)]
struct Received {
    id: ConnectionId,
    /// The peer's address on the connection's first subflow: the name of
    /// the flow in the experiment.
    peer: IpAddr,
    bytes: u64,
}

/// The application of an experiment's node: bulk flows out, a sink in.
pub(crate) struct Workload {
    flows: Vec<Flow>,
    sink: Vec<Received>,
    zeros: Vec<u8>,
    buf: Vec<u8>,
    /// The first failure any connection reported.
    failure: Option<String>,
    /// Opt-in: the reordering delay of the data received
    /// ([`Node::meter_reorder`]).
    reorder: Option<ReorderMeter>,
}

/// One of our endpoints in an experiment, with its [`Workload`].
pub(crate) type Node = SimHost<Workload>;

impl SimHost<Workload> {
    /// A node with interfaces holding `ifaces` (one address each), whose
    /// connections buffer `buffer` bytes each way.
    pub(crate) fn for_experiment(ifaces: &[IpAddr], buffer: usize, seed: u64) -> Self {
        let mut config = MptcpConfig::default();
        config.send_buffer = buffer;
        config.recv_buffer = buffer;
        config.tcp.recv_buffer = buffer;
        config.tcp.send_buffer = buffer;
        let rng = Box::new(ChaCha20Rng::seed_from_u64(seed));
        // Connections get their controller from their policy; this one
        // serves the sink's side, which sends nothing but ACKs.
        let cc = Box::new(|| {
            Registry::with_builtins()
                .build("reno", &CcConfig::default())
                .expect("reno is built in")
        });
        let workload = Workload {
            flows: Vec::new(),
            sink: Vec::new(),
            zeros: vec![0; CHUNK],
            buf: vec![0; CHUNK],
            failure: None,
            reorder: None,
        };
        SimHost::new(
            Endpoint::new(config, EndpointConfig::default(), rng, cc),
            ifaces,
            workload,
        )
    }

    /// Accept connections on `addr` and read them to the end.
    pub(crate) fn listen(&mut self, addr: SocketAddr) {
        self.endpoint_mut().listen(addr);
    }

    /// Open a bulk flow over `first` with congestion control `cc` (a
    /// controller built for this connection) and, once MPTCP is up, one
    /// more subflow over each of `joins`. Returns the flow's index.
    pub(crate) fn bulk(
        &mut self,
        now: Instant,
        first: FourTuple,
        joins: &[FourTuple],
        cc: &str,
        registry: &PolicyRegistry,
    ) -> Result<usize, ExperimentError> {
        let controller = registry
            .congestion(cc, &CcConfig::default())
            .map_err(|e| ExperimentError::UnknownAlgorithm(e.name))?;
        let policy = ConnectionPolicy::new().with_congestion_control(controller);
        let id = self
            .endpoint_mut()
            .connect_with(now, first, policy)
            .map_err(|e| ExperimentError::Setup(format!("connect: {e}")))?;
        let joins = joins
            .iter()
            .zip(1u8..)
            .map(|(tuple, n)| (*tuple, AddrId(n)))
            .collect();
        let flows = &mut self.app_mut().flows;
        flows.push(Flow {
            id,
            joins,
            joined: false,
        });
        Ok(flows.len() - 1)
    }

    /// The subflows of flow `index`, with their figures now.
    pub(crate) fn subflows(&mut self, index: usize) -> Vec<SubflowStats> {
        let Some(id) = self.app().flows.get(index).map(|f| f.id) else {
            return Vec::new();
        };
        self.endpoint_mut()
            .connection(id)
            .map(|c| c.subflows().collect())
            .unwrap_or_default()
    }

    /// Bytes the sink read from the connection whose first subflow came
    /// from `peer`.
    pub(crate) fn received_from(&self, peer: IpAddr) -> u64 {
        self.app()
            .sink
            .iter()
            .filter(|r| r.peer == peer)
            .map(|r| r.bytes)
            .sum()
    }

    /// The subflows of the connection the sink accepted from `peer` (the
    /// address of its first subflow), as the receiving side sees them:
    /// `bytes_received` is what each path delivered in order, so per-path
    /// goodput needs no help from the sender.
    pub(crate) fn received_subflows(&mut self, peer: IpAddr) -> Vec<SubflowStats> {
        let Some(id) = self
            .app()
            .sink
            .iter()
            .find(|r| r.peer == peer)
            .map(|r| r.id)
        else {
            return Vec::new();
        };
        self.endpoint_mut()
            .connection(id)
            .map(|c| c.subflows().collect())
            .unwrap_or_default()
    }

    /// The first failure a connection of this node reported.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.app().failure.as_deref()
    }

    /// Like [`Node::bulk`], with the scheduler registered as `scheduler`
    /// in place of the default.
    pub(crate) fn bulk_with_scheduler(
        &mut self,
        now: Instant,
        first: FourTuple,
        joins: &[FourTuple],
        cc: &str,
        registry: &PolicyRegistry,
        scheduler: &str,
    ) -> Result<usize, ExperimentError> {
        let chosen = registry
            .scheduler(scheduler)
            .map_err(|e| ExperimentError::Setup(e.to_string()))?;
        let index = self.bulk(now, first, joins, cc, registry)?;
        // Nothing is written before the next `service`: the scheduler is
        // in place before the first byte.
        let id = self.app().flows[index].id;
        self.endpoint_mut()
            .connection(id)
            .ok_or_else(|| ExperimentError::Setup("the connection just opened is gone".into()))?
            .set_scheduler(chosen);
        Ok(index)
    }

    /// Measure the reordering delay of the data this node receives, from
    /// now on, holding up to `capacity` out-of-order ranges (see
    /// [`ReorderMeter`]; the node must receive one MPTCP connection).
    pub(crate) fn meter_reorder(&mut self, capacity: usize) {
        self.app_mut().reorder = Some(ReorderMeter::new(capacity));
    }

    /// The reordering meter, if [`Node::meter_reorder`] started one.
    pub(crate) fn reorder(&self) -> Option<&ReorderMeter> {
        self.app().reorder.as_ref()
    }

    /// The reordering meter, mutably (to reset its figures).
    pub(crate) fn reorder_mut(&mut self) -> Option<&mut ReorderMeter> {
        self.app_mut().reorder.as_mut()
    }
}

impl Application for Workload {
    fn service(&mut self, now: Instant, ep: &mut Endpoint) {
        while let Some(id) = ep.accept() {
            let peer = ep
                .connection(id)
                .and_then(|c| c.subflows().next())
                .map(|s| s.tuple.remote.ip());
            if let Some(peer) = peer {
                self.sink.push(Received { id, peer, bytes: 0 });
            }
        }
        while let Some((id, event)) = ep.poll_event() {
            match event {
                MptcpEvent::Connected { mptcp: true } => {
                    let Some(flow) = self.flows.iter_mut().find(|f| f.id == id) else {
                        continue;
                    };
                    if !flow.joined {
                        flow.joined = true;
                        for &(tuple, addr_id) in &flow.joins {
                            // A refused join leaves the flow with fewer
                            // subflows; the experiment's table shows it.
                            let _ = ep.open_subflow(now, id, tuple, addr_id, false);
                        }
                    }
                }
                MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError(_)
                    if self.failure.is_none() =>
                {
                    self.failure = Some(format!("connection {}: {event:?}", id.0));
                }
                _ => {}
            }
        }
        for flow in &self.flows {
            let Some(conn) = ep.connection(flow.id) else {
                continue;
            };
            loop {
                let n = conn.writable().min(self.zeros.len());
                if n == 0 || conn.write(&self.zeros[..n]) == 0 {
                    break;
                }
            }
        }
        for received in &mut self.sink {
            let Some(conn) = ep.connection(received.id) else {
                continue;
            };
            loop {
                let n = conn.read(&mut self.buf);
                if n == 0 {
                    break;
                }
                received.bytes += n as u64;
            }
        }
    }

    fn observe(&mut self, now: Instant, segment: &Segment<'_>) {
        if let Some(meter) = &mut self.reorder {
            meter.on_segment(now, segment);
        }
    }
}
