//! [`Machine`]: what a simulated host of an experiment is, an endpoint of
//! ours or a router.

use umptcp_sim::{Host, IfaceId, Router};
use umptcp_time::Instant;

use crate::node::Node;

/// A host of an experiment's network.
pub(crate) enum Machine {
    /// One of our endpoints with its application.
    Node(Box<Node>),
    /// A router forwarding by destination address.
    Router(Router),
}

impl Machine {
    /// The node, if this is one.
    pub(crate) fn node(&self) -> Option<&Node> {
        match self {
            Machine::Node(node) => Some(node),
            Machine::Router(_) => None,
        }
    }

    /// The node, if this is one, mutably.
    pub(crate) fn node_mut(&mut self) -> Option<&mut Node> {
        match self {
            Machine::Node(node) => Some(node),
            Machine::Router(_) => None,
        }
    }
}

impl Host for Machine {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        match self {
            Machine::Node(n) => n.handle_packet(now, iface, packet),
            Machine::Router(r) => r.handle_packet(now, iface, packet),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        match self {
            Machine::Node(n) => n.poll_transmit(now, buf),
            Machine::Router(r) => r.poll_transmit(now, buf),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Node(n) => n.poll_timeout(),
            Machine::Router(r) => r.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::Node(n) => n.handle_timeout(now),
            Machine::Router(r) => r.handle_timeout(now),
        }
    }
}
