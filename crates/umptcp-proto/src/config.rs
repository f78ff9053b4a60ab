//! What an MPTCP connection is configured with: its subflows' TCP settings
//! and the data-level limits, each with a documented default.

use std::time::Duration;

use umptcp_tcp::TcpConfig;

/// Configuration of one MPTCP connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MptcpConfig {
    /// The TCP settings of every subflow. Its buffers are per subflow; the
    /// data-level ones are below. The default receive buffer is as large
    /// as the data-level one (1 MiB): the window a subflow advertises is,
    /// for the peer, the window of the whole connection (RFC 8684 §3.3.5),
    /// so a smaller one would cap the sum of all subflows.
    pub tcp: TcpConfig,
    /// Whether to ask for DSS checksums (flag A, RFC 8684 §3.1). They are
    /// on if either side asks. Default: off, like the Linux kernel's
    /// `net.mptcp.checksum_enabled`.
    pub checksum: bool,
    /// Data-level send buffer: bytes written and not yet DATA_ACKed.
    /// Default 1 MiB.
    pub send_buffer: usize,
    /// Data-level receive buffer: in-order bytes not yet read plus
    /// out-of-order bytes held for reassembly across subflows. Default
    /// 1 MiB.
    pub recv_buffer: usize,
    /// Most bytes one DSS mapping covers (at most 65 535, the Data-Level
    /// Length field). Default 65 000.
    pub max_mapping: u16,
    /// Most mappings one subflow keeps declared and unacknowledged (each
    /// is one entry of a preallocated table). Default 256.
    pub max_tx_mappings: usize,
    /// Most mappings one subflow keeps received and not yet consumed (the
    /// table grows on demand up to it). A segment whose new mapping does
    /// not fit is dropped, so the peer sends it again later. Linux maps
    /// each segment separately when it cannot use TSO, so a subflow window
    /// of out-of-order data holds hundreds. Default 1024.
    pub max_rx_mappings: usize,
    /// Most out-of-order ranges the data-level reassembly holds across
    /// subflows (16 bytes each, preallocated). Bytes that would need one
    /// more stay in their subflow until a hole fills. Default 1024: a
    /// 1 MiB receive buffer filled with chunks of one segment from
    /// alternating subflows needs about 700.
    pub max_rx_ranges: usize,
    /// Most subflows alive at once in one connection, the initial one
    /// included; a join beyond it is refused (the peer's SYN gets a reset
    /// with MP_TCPRST "lack of resources"). Default 8 (the kernel's
    /// `ip mptcp limits` allow at most 8 as well).
    pub max_subflows: usize,
    /// Most addresses announced by each side that one connection keeps
    /// (ours until echoed, the peer's for the path manager). Default 8.
    pub max_addresses: usize,
    /// SYNs with MP_CAPABLE a client sends before it retries without (a
    /// middlebox may drop SYNs with unknown options, RFC 8684 §3.7); the
    /// connection is then plain TCP. Default 3: the first SYN and two
    /// retransmissions, like the kernel's
    /// `net.mptcp.syn_retrans_before_tcp_fallback` = 2.
    pub mptcp_syns: u32,
    /// When the peer's window is full and held up by bytes a slower
    /// subflow carries, send them again on a faster one and cut the slow
    /// one's window (Raiciu et al., NSDI 2012). Default on, as in the
    /// kernel's default scheduler.
    pub opportunistic_retransmission: bool,
    /// How long a connection outlives its last subflow while its data is
    /// not through (break-before-make, RFC 8684 §3.3.3): it keeps its
    /// buffers and token, takes joins, and its path manager may open new
    /// subflows. Without one by then it ends with the last subflow's
    /// failure (`Reset`, or `TimedOut`). Default 60 s, the kernel's
    /// `net.mptcp.close_timeout`; zero ends the connection with its last
    /// subflow.
    pub close_timeout: Duration,
}

impl Default for MptcpConfig {
    fn default() -> Self {
        let mut tcp = TcpConfig::default();
        tcp.recv_buffer = 1 << 20;
        MptcpConfig {
            tcp,
            checksum: false,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            max_mapping: 65_000,
            max_tx_mappings: 256,
            max_rx_mappings: 1024,
            max_rx_ranges: 1024,
            max_subflows: 8,
            max_addresses: 8,
            mptcp_syns: 3,
            opportunistic_retransmission: true,
            close_timeout: Duration::from_secs(60),
        }
    }
}

/// A configuration value out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid MPTCP configuration: {0}")]
pub struct InvalidConfig(pub &'static str);

impl MptcpConfig {
    /// Check every field, the subflows' TCP settings included.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.tcp
            .validate()
            .map_err(|_| InvalidConfig("tcp: invalid subflow configuration"))?;
        if self.send_buffer == 0 {
            return Err(InvalidConfig("send_buffer must be at least 1 byte"));
        }
        // With checksums a mapping is only delivered whole, so both the
        // subflow's receive buffer and the data-level one must hold the
        // largest a peer may send.
        if self.recv_buffer < usize::from(u16::MAX) {
            return Err(InvalidConfig(
                "recv_buffer must be at least 64 KiB (a whole mapping)",
            ));
        }
        if self.tcp.recv_buffer < usize::from(u16::MAX) {
            return Err(InvalidConfig(
                "tcp.recv_buffer must be at least 64 KiB (a whole mapping)",
            ));
        }
        if self.max_mapping == 0 {
            return Err(InvalidConfig("max_mapping must be at least 1"));
        }
        if self.max_tx_mappings == 0 || self.max_rx_mappings == 0 {
            return Err(InvalidConfig(
                "max_tx_mappings and max_rx_mappings must be at least 1",
            ));
        }
        if self.max_rx_ranges == 0 {
            return Err(InvalidConfig("max_rx_ranges must be at least 1"));
        }
        if self.mptcp_syns == 0 {
            return Err(InvalidConfig("mptcp_syns must be at least 1"));
        }
        if self.max_subflows == 0 {
            return Err(InvalidConfig("max_subflows must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_checked() {
        assert_eq!(MptcpConfig::default().validate(), Ok(()));
        let c = MptcpConfig {
            send_buffer: 0,
            ..MptcpConfig::default()
        };
        assert!(c.validate().is_err());
        let mut c = MptcpConfig::default();
        c.tcp.recv_buffer = 4096;
        assert!(c.validate().is_err());
        let c = MptcpConfig {
            max_mapping: 0,
            ..MptcpConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
