//! A SOCKS5 front (RFC 1928) on a kernel listener: programs that speak
//! SOCKS5 (curl, browsers, ssh's ProxyCommand) get each of their
//! connections over our stack, through the converter or straight to a
//! server that speaks MPTCP ([`Upstream`]). CONNECT only; no
//! authentication, or RFC 1929 user/password ([`Credentials`]); names are
//! resolved here, as RFC 8803 carries addresses only. The bytes move on the stack's relay thread
//! ([`umptcp_tun::Stack::splice_socket`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use umptcp_tun::{ConnectOptions, Stack, Stream};

use crate::client::{ConvertClient, KnownServers};

/// Where the front's connections go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Through the Transport Converter at this address.
    Converter(SocketAddr),
    /// Straight to the destination over MPTCP (plain TCP if it does not
    /// speak it).
    Direct,
}

/// How the front runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Where its connections go.
    pub upstream: Upstream,
    /// How long a connection through the stack may take to open.
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Clients at once; one beyond is closed before its greeting is read
    /// (each holds a thread and a stack connection). Default 1024.
    pub max_connections: usize,
    /// What the converter's replies taught (servers that speak MPTCP),
    /// shared by every connection of the front (and of any other front
    /// given the same).
    pub known: Arc<KnownServers>,
    /// RFC 1929 username/password pairs; `None` asks for no
    /// authentication.
    pub auth: Option<Arc<Credentials>>,
    /// The running totals the front keeps (for a summary line).
    pub tally: Arc<crate::summary::Tally>,
}

impl Options {
    /// The defaults, going to `upstream`.
    pub fn new(upstream: Upstream) -> Self {
        Options {
            upstream,
            connect_timeout: Duration::from_secs(10),
            max_connections: 1024,
            known: Arc::default(),
            auth: None,
            tally: Arc::default(),
        }
    }
}

/// The users the front accepts (RFC 1929).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    users: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Credentials {
    /// Accept `user` with `password` (each 1 to 255 bytes, as RFC 1929's
    /// one-byte lengths allow).
    ///
    /// # Errors
    ///
    /// An empty or over-long name or password.
    pub fn add(&mut self, user: &str, password: &str) -> Result<(), String> {
        for (what, v) in [("user name", user), ("password", password)] {
            if v.is_empty() || v.len() > 255 {
                return Err(format!("a {what} of 1 to 255 bytes, not {}", v.len()));
            }
        }
        self.users
            .push((user.as_bytes().to_vec(), password.as_bytes().to_vec()));
        Ok(())
    }

    /// Users accepted.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `user` and `password` are a pair given to [`Self::add`];
    /// every pair is compared, each byte of it, whatever matched, so the
    /// time taken does not tell how much of a guess was right.
    fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut found = false;
        for (u, p) in &self.users {
            found |= same(u, user) & same(p, password);
        }
        found
    }
}

/// `a == b` without an early exit (the lengths are not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
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
    /// Take a finished relay's figures: whether our connection (`watch`,
    /// a handle on it) spoke MPTCP and over how many subflows, and the
    /// bytes `moved` up and down, or why it failed.
    pub(crate) fn record(
        &mut self,
        watch: Option<Stream>,
        moved: io::Result<(u64, u64)>,
    ) -> Result<(), String> {
        if let Some(info) = watch.and_then(|w| w.mptcp_info().ok().flatten()) {
            self.mptcp = info.mptcp;
            self.subflows = info.subflows.len();
        }
        (self.up, self.down) = moved.map_err(|e| e.to_string())?;
        Ok(())
    }

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

/// Serve SOCKS5 clients on `listener` until it fails, as `options` say;
/// `report` is called once per finished connection, from its thread.
///
/// # Errors
///
/// The listener failed.
pub fn serve(
    stack: &Arc<Stack>,
    listener: TcpListener,
    options: Options,
    report: impl Fn(&Proxied) + Send + Sync + 'static,
) -> io::Result<()> {
    let report = Arc::new(report);
    let active = Arc::new(AtomicUsize::new(0));
    let options = Arc::new(options);
    loop {
        let (socket, client) = listener.accept()?;
        if active.load(Ordering::Acquire) >= options.max_connections {
            // Each connection holds a thread and a stack connection: a
            // client opening more than the limit gets a close.
            drop(socket);
            continue;
        }
        active.fetch_add(1, Ordering::AcqRel);
        options.tally.start();
        let (stack, report, active, options) = (
            Arc::clone(stack),
            Arc::clone(&report),
            Arc::clone(&active),
            Arc::clone(&options),
        );
        let spawned = std::thread::Builder::new()
            .name("umptcp-socks5".to_owned())
            .spawn(move || {
                let proxied = session(&stack, socket, client, &options);
                active.fetch_sub(1, Ordering::AcqRel);
                let ok = proxied.outcome.is_ok();
                options.tally.finish(ok, proxied.up, proxied.down);
                report(&proxied);
            });
        spawned?;
    }
}

#[allow(clippy::disallowed_methods)] // the proxy application reads the clock
fn session(stack: &Stack, mut socket: TcpStream, client: SocketAddr, options: &Options) -> Proxied {
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
    proxied.outcome = relay(stack, &mut socket, options, &mut proxied);
    proxied.duration = started.elapsed();
    proxied
}

fn relay(
    stack: &Stack,
    socket: &mut TcpStream,
    options: &Options,
    proxied: &mut Proxied,
) -> Result<(), String> {
    let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
    let destination =
        handshake(socket, options.auth.as_deref()).map_err(|e| format!("SOCKS5: {e}"))?;
    proxied.destination = Some(destination);
    let connected = connect(
        stack,
        options.upstream,
        options.connect_timeout,
        &options.known,
        destination,
    );
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
    // The splice counts stream to socket (down) first.
    let moved = splice.wait().map(|(down, up)| (up, down));
    proxied.record(watch, moved)
}

/// A connection to `destination` through `upstream`: the one both fronts
/// (SOCKS5 and capture) open for each of theirs.
///
/// # Errors
///
/// The connect's, or the converter's Error TLV as an `io::Error`.
pub fn connect(
    stack: &Stack,
    upstream: Upstream,
    timeout: Duration,
    known: &Arc<KnownServers>,
    destination: SocketAddr,
) -> io::Result<Stream> {
    match upstream {
        Upstream::Converter(converter) => {
            ConvertClient::sharing(stack, converter, timeout, Arc::clone(known))
                .connect(destination, &[])
                .map(|(s, _)| s)
        }
        Upstream::Direct => {
            Stream::connect_with(stack, destination, ConnectOptions::new().timeout(timeout))
        }
    }
}

/// RFC 1928 §3 methods.
const NO_AUTHENTICATION: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;

/// The SOCKS5 greeting, the RFC 1929 sub-negotiation when `auth` asks
/// for one, and the request (RFC 1928 §3, §4): the destination.
fn handshake(socket: &mut TcpStream, auth: Option<&Credentials>) -> io::Result<SocketAddr> {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not SOCKS version 5",
        ));
    }
    let mut methods = [0u8; 255];
    let methods = &mut methods[..usize::from(head[1])];
    socket.read_exact(methods)?;
    let wanted = if auth.is_some() {
        USER_PASSWORD
    } else {
        NO_AUTHENTICATION
    };
    if !methods.contains(&wanted) {
        socket.write_all(&[5, NO_ACCEPTABLE_METHOD])?;
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            if auth.is_some() {
                "the client offers no user/password authentication"
            } else {
                "the client offers no method without authentication"
            },
        ));
    }
    socket.write_all(&[5, wanted])?;
    if let Some(users) = auth {
        authenticate(socket, users)?;
    }
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

/// RFC 1929: version 1, the user name and the password, each after its
/// one-byte length; the answer's status 0 lets the client on, any other
/// ends the connection.
fn authenticate(socket: &mut TcpStream, users: &Credentials) -> io::Result<()> {
    let mut version_len = [0u8; 2];
    socket.read_exact(&mut version_len)?;
    if version_len[0] != 1 {
        socket.write_all(&[1, 0xff])?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not RFC 1929 version 1",
        ));
    }
    let mut user = [0u8; 255];
    let user = &mut user[..usize::from(version_len[1])];
    socket.read_exact(user)?;
    let mut len = [0u8; 1];
    socket.read_exact(&mut len)?;
    let mut password = [0u8; 255];
    let password = &mut password[..usize::from(len[0])];
    socket.read_exact(password)?;
    if users.check(user, password) {
        socket.write_all(&[1, 0])
    } else {
        socket.write_all(&[1, 1])?;
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "user {:?}: wrong user name or password",
                String::from_utf8_lossy(user)
            ),
        ))
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

    /// A client on a loopback connection sending `greeting` and reading
    /// the answers, beside `handshake` on the accepted side.
    fn exchange(
        auth: Option<&Credentials>,
        send: &[u8],
        answer_len: usize,
    ) -> (io::Result<SocketAddr>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let send = send.to_vec();
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(&send).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = vec![0u8; answer_len];
            let mut have = 0;
            while have < answer_len {
                match c.read(&mut got[have..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => have += n,
                }
            }
            got.truncate(have);
            got
        });
        let (mut server, _) = listener.accept().unwrap();
        let result = handshake(&mut server, auth);
        // Read what the client sent beyond (closing with unread bytes
        // would reset the connection under its answers).
        let _ = io::copy(&mut server, &mut io::sink());
        drop(server);
        (result, client.join().unwrap())
    }

    fn users() -> Credentials {
        let mut c = Credentials::default();
        c.add("alice", "s3cret").unwrap();
        c.add("bob", "hunter2").unwrap();
        c
    }

    /// A CONNECT to 10.0.0.1:80.
    const CONNECT: [u8; 10] = [5, 1, 0, 1, 10, 0, 0, 1, 0, 80];

    #[test]
    fn rfc_1929_user_and_password_let_the_client_on() {
        let mut send = vec![5, 2, 0, 2, 1, 3];
        send.extend(b"bob");
        send.push(7);
        send.extend(b"hunter2");
        send.extend(CONNECT);
        let (result, answers) = exchange(Some(&users()), &send, 4);
        assert_eq!(result.unwrap(), "10.0.0.1:80".parse().unwrap());
        // Method 2 chosen, then status 0.
        assert_eq!(answers, [5, 2, 1, 0]);
    }

    #[test]
    fn a_wrong_password_ends_the_session_with_a_failure_status() {
        let mut send = vec![5, 1, 2, 1, 5];
        send.extend(b"alice");
        send.push(6);
        send.extend(b"s3creT");
        send.extend(CONNECT);
        let (result, answers) = exchange(Some(&users()), &send, 4);
        let err = result.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert_eq!(answers.len(), 4, "{answers:?}");
        assert_eq!(&answers[..3], [5, 2, 1]);
        assert_ne!(answers[3], 0, "a failure status");
    }

    #[test]
    fn a_client_without_user_password_is_refused_when_it_is_required() {
        let mut send = vec![5, 1, 0];
        send.extend(CONNECT);
        let (result, answers) = exchange(Some(&users()), &send, 2);
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(answers, [5, 0xff], "no acceptable method");
        // Without credentials configured, method 0 is taken as before.
        let (result, answers) = exchange(None, &send, 2);
        assert_eq!(result.unwrap(), "10.0.0.1:80".parse().unwrap());
        assert_eq!(answers, [5, 0]);
    }

    #[test]
    fn credentials_compare_whole_pairs() {
        let c = users();
        assert!(c.check(b"alice", b"s3cret"));
        assert!(c.check(b"bob", b"hunter2"));
        assert!(!c.check(b"alice", b"hunter2"), "another user's password");
        assert!(!c.check(b"alice", b"s3cre"), "a prefix");
        assert!(!c.check(b"alic", b"s3cret"));
        assert!(!c.check(b"", b""));
        let mut bad = Credentials::default();
        assert!(bad.add("", "x").is_err());
        assert!(bad.add("x", &"p".repeat(256)).is_err());
        assert!(bad.is_empty());
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
