//! The Linux kernel's MPTCP: opening its sockets and reading its view of
//! connections (`ss -Mni`, `nstat`).

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use umptcp_wire::Token;

use crate::netns::Netns;

/// `IPPROTO_MPTCP`: the protocol number of a kernel MPTCP socket.
pub const IPPROTO_MPTCP: i32 = 262;

/// `ip mptcp limits` for two-path tests: the kernel's path manager accepts
/// 2 extra subflows and 2 announced addresses (`ns.ip(&TWO_PATH_LIMITS)`).
pub const TWO_PATH_LIMITS: [&str; 7] = [
    "mptcp",
    "limits",
    "set",
    "subflows",
    "2",
    "add_addr_accepted",
    "2",
];

/// Open a kernel MPTCP listener on `addr`, in the calling thread's namespace
/// (call it inside [`run_in`](crate::run_in)).
///
/// # Errors
///
/// The socket cannot be created (MPTCP disabled), bound or put to listen.
pub fn kernel_mptcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = mptcp_socket(addr)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(16)?;
    Ok(socket.into())
}

/// Connect a kernel MPTCP socket to `addr` (bounded by 10 s), in the calling
/// thread's namespace (call it inside [`run_in`](crate::run_in)).
///
/// # Errors
///
/// The socket cannot be created, or the connection fails or times out.
pub fn kernel_mptcp_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = mptcp_socket(addr)?;
    socket.connect_timeout(&SockAddr::from(addr), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// A fresh stream socket with protocol `IPPROTO_MPTCP` for `addr`'s family.
fn mptcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(Protocol::from(IPPROTO_MPTCP)),
    )
}

/// The kernel's list of MPTCP sockets in `ns` (`ss -Mni`, all states).
///
/// # Errors
///
/// `ss` cannot be run in the namespace.
pub fn ss_mptcp(ns: &Netns) -> io::Result<String> {
    ns.run(&["ss", "-Mnia"])
}

/// The `token:` values in `ss -Mni` output, in order of appearance.
///
/// Zero tokens (listeners) are skipped.
pub fn parse_ss_tokens(ss_output: &str) -> Vec<Token> {
    ss_output
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("token:"))
        .filter_map(|hex| u32::from_str_radix(hex, 16).ok())
        .filter(|&t| t != 0)
        .map(Token)
        .collect()
}

/// All of `ns`'s SNMP and extended counters (`nstat -asz`), by name
/// (e.g. `MPTcpExtMPJoinAckRx`).
///
/// # Errors
///
/// `nstat` cannot be run in the namespace.
pub fn nstat(ns: &Netns) -> io::Result<BTreeMap<String, u64>> {
    Ok(parse_nstat(&ns.run(&["nstat", "-asz"])?))
}

/// Parse `nstat -az` output into counters by name.
pub fn parse_nstat(output: &str) -> BTreeMap<String, u64> {
    output
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let value = words.next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_ss_output() {
        let out = "State Recv-Q Send-Q Local Address:Port Peer Address:Port\n\
                   LISTEN 0 16 10.9.1.2:8080 0.0.0.0:*\n\
                   \t subflows_max:2 add_addr_accepted_max:2 token:0\n\
                   ESTAB 0 0 10.9.1.2:8080 10.9.1.1:40000\n\
                   \t subflows:1 add_addr_signal:1 remote_key token:3e2f0a1b write_seq:1\n";
        assert_eq!(parse_ss_tokens(out), vec![Token(0x3e2f_0a1b)]);
    }

    #[test]
    fn counters_from_nstat_output() {
        let out = "#kernel\nIpInReceives                    12                 0.0\n\
                   MPTcpExtMPJoinAckRx             1                  0.0\n";
        let map = parse_nstat(out);
        assert_eq!(map["IpInReceives"], 12);
        assert_eq!(map["MPTcpExtMPJoinAckRx"], 1);
        assert_eq!(map.len(), 2);
    }
}
