//! Addresses: ours announced with ADD_ADDR (§3.4.1) and withdrawn with
//! REMOVE_ADDR (§3.4.2), and the peer's.

use umptcp_wire::AddrId;
use umptcp_wire::mptcp::TcpRstReason;

use crate::event::MptcpEvent;
use crate::signal::{AnnounceError, RemoteAddress};

use super::{Mode, MptcpConnection};

impl MptcpConnection {
    /// Announce one of our addresses to the peer with ADD_ADDR (§3.4.1),
    /// sent on a pure ACK and again until the peer echoes it. `id` names
    /// the address for the connection's life (not 0: that is the initial
    /// subflow's); `port` is set when it differs from the connection's.
    ///
    /// # Errors
    ///
    /// [`AnnounceError`]; [`AnnounceError::Limit`] also when the
    /// connection does not speak MPTCP.
    pub fn announce(
        &mut self,
        id: AddrId,
        addr: std::net::IpAddr,
        port: Option<u16>,
    ) -> Result<(), AnnounceError> {
        if self.mode != Mode::Mptcp {
            return Err(AnnounceError::Limit);
        }
        let peer_key = self.peer_key.ok_or(AnnounceError::Limit)?;
        self.signals
            .announce(RemoteAddress { id, addr, port }, self.local_key, peer_key)?;
        if let Some(sub) = self.signal_subflow() {
            sub.tcp.request_ack();
        }
        Ok(())
    }

    /// Withdraw our address `id` (§3.4.2): REMOVE_ADDR goes to the peer
    /// and our subflows from that address are reset; their data moves to
    /// the others.
    pub fn remove_address(&mut self, id: AddrId) {
        if self.mode != Mode::Mptcp {
            return;
        }
        self.signals.withdraw(id);
        if !self.removals.contains(&id) && self.removals.len() < self.config.max_addresses {
            self.removals.push_back(id);
        }
        let doomed: Vec<usize> = (0..self.subflows.len())
            .filter(|&i| !self.subflows[i].gone && self.subflows[i].local_id == id)
            .collect();
        // The REMOVE_ADDR must leave on a subflow that stays.
        if let Some(sub) = self
            .subflows
            .iter_mut()
            .find(|s| s.can_send() && s.local_id != id)
        {
            sub.tcp.request_ack();
        }
        for i in doomed {
            self.reset_subflow_at(i, TcpRstReason::Unspecified);
        }
    }

    /// The peer withdrew its address `id`: the subflows to it go.
    pub(super) fn on_remove_addr(&mut self, id: AddrId) {
        let known = self.signals.forget_remote(id);
        let mut any = false;
        for i in 0..self.subflows.len() {
            if !self.subflows[i].gone && self.subflows[i].remote_id == Some(id) {
                self.reset_subflow_at(i, TcpRstReason::Unspecified);
                any = true;
            }
        }
        if any {
            self.reinject_outstanding();
        }
        // Only news is reported: a peer repeating REMOVE_ADDR cannot fill
        // the event queue.
        if known || any {
            self.push_event(MptcpEvent::AddressRemoved(id));
        }
    }

    /// The addresses the peer announced (ADD_ADDR with a valid HMAC).
    pub fn remote_addresses(&self) -> &[RemoteAddress] {
        self.signals.remote()
    }
}
