//! A SOCKS5 front (RFC 1928) on a kernel listener: programs that speak
//! SOCKS5 (curl, browsers, ssh's ProxyCommand) get each of their
//! connections over our stack, through the converter or straight to a
//! server that speaks MPTCP ([`Upstream`]). CONNECT only, no
//! authentication; names are resolved here, as RFC 8803 carries
//! addresses only. The bytes move on the stack's relay thread
//! ([`umptcp_tun::Stack::splice_socket`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use umptcp_tun::{ConnectOptions, Stack, Stream};

use crate::client::ConvertClient;

/// Where the front's connections go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Through the Transport Converter at this address.
    Converter(SocketAddr),
    /// Straight to the destination over MPTCP (plain TCP if it does not
    /// speak it).
    Direct,
}

/// One finished proxied connection, for the log line.
#[derive(Clone, Debug)]
pub struct Proxied {
    /// The SOCKS5 client.
    pub client: SocketAddr,
    /// Where it asked to go, once known.
    pub destination: Option<SocketAddr>,
    /// Whether our connection spoke MPTCP, and over how many subflows.
    pub mptcp: bool,
    /// Subflows the connection had.
    pub subflows: usize,
    /// Bytes client to destination, and back.
    pub up: u64,
    /// See `up`.
    pub down: u64,
    /// From the SOCKS5 greeting to the end.
    pub duration: Duration,
    /// `Ok` for a relay to its end, else what went wrong.
    pub outcome: Result<(), String>,
}

impl std::fmt::Display for Proxied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dst = self
            .destination
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        write!(
            f,
            "proxied {} -> {dst} mptcp={} subflows={} up={} down={} in {:.3} s: ",
            self.client,
            self.mptcp,
            self.subflows,
            self.up,
            self.down,
            self.duration.as_secs_f64()
        )?;
        match &self.outcome {
            Ok(()) => f.write_str("relayed"),
            Err(why) => write!(f, "failed ({why})"),
        }
    }
}

impl Proxied {
    /// The same as one JSON object (`mptcp proxy --json`): client,
    /// destination (or null), mptcp, subflows, up, down, seconds, outcome
    /// (relayed or failed) and, when it failed, detail.
    pub fn to_json(&self) -> String {
        let dst = self
            .destination
            .map_or_else(|| "null".to_owned(), |d| format!("\"{d}\""));
        let mut out = format!(
            "{{\"client\":\"{}\",\"destination\":{dst},\"mptcp\":{},\"subflows\":{},\"up\":{},\"down\":{},\"seconds\":{:.6},\"outcome\":\"{}\"",
            self.client,
            self.mptcp,
            self.subflows,
            self.up,
            self.down,
            self.duration.as_secs_f64(),
            if self.outcome.is_ok() {
                "relayed"
            } else {
                "failed"
            },
        );
        if let Err(why) = &self.outcome {
            out.push_str(&format!(",\"detail\":{}", crate::json_string(why)));
        }
        out.push('}');
        out
    }
}

/// SOCKS5 reply codes (RFC 1928 §6).
mod reply {
    pub(super) const SUCCEEDED: u8 = 0x00;
    pub(super) const GENERAL_FAILURE: u8 = 0x01;
    pub(super) const NOT_ALLOWED: u8 = 0x02;
    pub(super) const NETWORK_UNREACHABLE: u8 = 0x03;
    pub(super) const HOST_UNREACHABLE: u8 = 0x04;
    pub(super) const CONNECTION_REFUSED: u8 = 0x05;
    pub(super) const TTL_EXPIRED: u8 = 0x06;
    pub(super) const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub(super) const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
}

/// The SOCKS5 reply for a failed connect (the converter's Error TLVs
/// arrive as these kinds, see `ErrorCode::io_kind`).
fn reply_code(e: &io::Error) -> u8 {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => reply::CONNECTION_REFUSED,
        io::ErrorKind::HostUnreachable => reply::HOST_UNREACHABLE,
        io::ErrorKind::NetworkUnreachable => reply::NETWORK_UNREACHABLE,
        io::ErrorKind::PermissionDenied => reply::NOT_ALLOWED,
        io::ErrorKind::TimedOut => reply::TTL_EXPIRED,
        _ => reply::GENERAL_FAILURE,
    }
}

/// Serve SOCKS5 clients on `listener` until it fails, at most
/// `max_connections` at once (one beyond is closed at once, before its
/// greeting is read); `report` is called once per finished connection,
/// from its thread.
///
/// # Errors
///
/// The listener failed.
pub fn serve(
    stack: &Arc<Stack>,
    listener: TcpListener,
    upstream: Upstream,
    connect_timeout: Duration,
    max_connections: usize,
    report: impl Fn(&Proxied) + Send + Sync + 'static,
) -> io::Result<()> {
    let report = Arc::new(report);
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (socket, client) = listener.accept()?;
        if active.load(Ordering::Acquire) >= max_connections {
            // Each connection holds a thread and a stack connection: a
            // client opening more than the limit gets a close.
            drop(socket);
            continue;
        }
        active.fetch_add(1, Ordering::AcqRel);
        let (stack, report, active) = (Arc::clone(stack), Arc::clone(&report), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("umptcp-socks5".to_owned())
            .spawn(move || {
                let proxied = session(&stack, socket, client, upstream, connect_timeout);
                active.fetch_sub(1, Ordering::AcqRel);
                report(&proxied);
            });
        spawned?;
    }
}

#[allow(clippy::disallowed_methods)] // the proxy application reads the clock
fn session(
    stack: &Stack,
    mut socket: TcpStream,
    client: SocketAddr,
    upstream: Upstream,
    timeout: Duration,
) -> Proxied {
    let started = Instant::now();
    let mut proxied = Proxied {
        client,
        destination: None,
        mptcp: false,
        subflows: 0,
        up: 0,
        down: 0,
        duration: Duration::ZERO,
        outcome: Ok(()),
    };
    proxied.outcome = relay(stack, &mut socket, upstream, timeout, &mut proxied);
    proxied.duration = started.elapsed();
    proxied
}

fn relay(
    stack: &Stack,
    socket: &mut TcpStream,
    upstream: Upstream,
    timeout: Duration,
    proxied: &mut Proxied,
) -> Result<(), String> {
    let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
    let destination = handshake(socket).map_err(|e| format!("SOCKS5: {e}"))?;
    proxied.destination = Some(destination);
    let connected = match upstream {
        Upstream::Converter(converter) => ConvertClient::new(stack, converter, timeout)
            .connect(destination, &[])
            .map(|(s, _)| s),
        Upstream::Direct => {
            Stream::connect_with(stack, destination, ConnectOptions::new().timeout(timeout))
        }
    };
    let stream = match connected {
        Ok(s) => s,
        Err(e) => {
            let _ = send_reply(socket, reply_code(&e), None);
            return Err(e.to_string());
        }
    };
    let bound = stream.local_addr();
    send_reply(socket, reply::SUCCEEDED, Some(bound)).map_err(|e| e.to_string())?;
    let _ = socket.set_read_timeout(None);
    let watch = stream.try_clone().ok();
    let kernel = socket.try_clone().map_err(|e| e.to_string())?;
    let splice = stack
        .splice_socket(stream, kernel)
        .map_err(|e| e.to_string())?;
    let moved = splice.wait();
    if let Some(info) = watch.and_then(|w| w.mptcp_info().ok().flatten()) {
        proxied.mptcp = info.mptcp;
        proxied.subflows = info.subflows.len();
    }
    let (down, up) = moved.map_err(|e| e.to_string())?;
    (proxied.up, proxied.down) = (up, down);
    Ok(())
}

/// The SOCKS5 greeting and request (RFC 1928 §3, §4): the destination.
fn handshake(socket: &mut TcpStream) -> io::Result<SocketAddr> {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not SOCKS version 5",
        ));
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    socket.read_exact(&mut methods)?;
    if !methods.contains(&0) {
        // No acceptable method (no authentication is the one offered).
        socket.write_all(&[5, 0xff])?;
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the client offers no method without authentication",
        ));
    }
    socket.write_all(&[5, 0])?;
    let mut request = [0u8; 4];
    socket.read_exact(&mut request)?;
    let [version, command, _, address_type] = request;
    if version != 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not SOCKS version 5",
        ));
    }
    let ip = match address_type {
        1 => {
            let mut a = [0u8; 4];
            socket.read_exact(&mut a)?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        4 => {
            let mut a = [0u8; 16];
            socket.read_exact(&mut a)?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        3 => None,
        _ => {
            send_reply(socket, reply::ADDRESS_TYPE_NOT_SUPPORTED, None)?;
            return Err(io::Error::new(io::ErrorKind::InvalidData, "address type"));
        }
    };
    let name = if ip.is_none() {
        let mut len = [0u8; 1];
        socket.read_exact(&mut len)?;
        let mut name = vec![0u8; usize::from(len[0])];
        socket.read_exact(&mut name)?;
        Some(String::from_utf8_lossy(&name).into_owned())
    } else {
        None
    };
    let mut port = [0u8; 2];
    socket.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    if command != 1 {
        send_reply(socket, reply::COMMAND_NOT_SUPPORTED, None)?;
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("command {command} (only CONNECT is)"),
        ));
    }
    match (ip, name) {
        (Some(ip), _) => Ok(SocketAddr::new(ip, port)),
        (None, Some(name)) => {
            // RFC 8803 carries addresses only: the name is resolved here.
            match (name.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next())
            {
                Ok(Some(addr)) => Ok(addr),
                _ => {
                    send_reply(socket, reply::HOST_UNREACHABLE, None)?;
                    Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("cannot resolve {name}"),
                    ))
                }
            }
        }
        (None, None) => unreachable!("a name when there is no address"),
    }
}

fn send_reply(socket: &mut TcpStream, code: u8, bound: Option<SocketAddr>) -> io::Result<()> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut out = vec![5, code, 0];
    match bound.ip() {
        IpAddr::V4(a) => {
            out.push(1);
            out.extend(a.octets());
        }
        IpAddr::V6(a) => {
            out.push(4);
            out.extend(a.octets());
        }
    }
    out.extend(bound.port().to_be_bytes());
    socket.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxied_connection_as_json() {
        let p = Proxied {
            client: "127.0.0.1:5000".parse().unwrap(),
            destination: Some("10.0.0.1:80".parse().unwrap()),
            mptcp: true,
            subflows: 2,
            up: 10,
            down: 20,
            duration: Duration::from_millis(250),
            outcome: Err("refused".to_owned()),
        };
        assert_eq!(
            p.to_json(),
            r#"{"client":"127.0.0.1:5000","destination":"10.0.0.1:80","mptcp":true,"subflows":2,"up":10,"down":20,"seconds":0.250000,"outcome":"failed","detail":"refused"}"#
        );
    }

    #[test]
    fn connect_errors_map_to_socks5_replies() {
        let code = |kind| reply_code(&io::Error::from(kind));
        assert_eq!(code(io::ErrorKind::ConnectionRefused), 5);
        assert_eq!(code(io::ErrorKind::HostUnreachable), 4);
        assert_eq!(code(io::ErrorKind::NetworkUnreachable), 3);
        assert_eq!(code(io::ErrorKind::PermissionDenied), 2);
        assert_eq!(code(io::ErrorKind::Other), 1);
    }
}
