//! The Convert client (RFC 8803 §4.1): each connection to a destination
//! is an MPTCP connection to the converter whose SYN carries the Convert
//! message and the application's first bytes (0-RTT: no round trip is
//! added to a direct connection's). The reply is read before the
//! application sees a byte; an Error TLV resets the connection and
//! becomes an `io::Error` of the matching kind; a reply showing that the
//! server speaks MPTCP (kind 30 in the Extended TCP Header) is remembered,
//! and later connections to that server go direct (§5.1).

use std::collections::HashSet;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use umptcp_tun::{ConnectOptions, Stack, Stream};

use crate::convert::{Connect, HEADER_LEN, MAX_LEN, Message, ParseError, TcpOptions};

/// The MPTCP option kind (RFC 8684).
const MPTCP_KIND: u8 = 30;

/// How a connection was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Through the converter.
    Converted,
    /// Straight to the server, known to speak MPTCP.
    Direct,
}

/// What a converter's clients learn and share: the servers its replies
/// showed to speak MPTCP (§5.1), at most [`KnownServers::LIMIT`] of them
/// (beyond it no more are added: a reply is the converter's word, but the
/// set must not grow without bound).
///
/// It keeps the converter's cookie too (§6.2.7): the one its last Missing
/// Cookie answer handed out, sent in every Connect after.
#[derive(Debug, Default)]
pub struct KnownServers {
    direct: Mutex<HashSet<SocketAddr>>,
    cookie: Mutex<Option<Vec<u8>>>,
}

impl KnownServers {
    /// Most servers remembered.
    pub const LIMIT: usize = 4096;

    /// Whether `server` is known to speak MPTCP.
    pub fn speaks_mptcp(&self, server: SocketAddr) -> bool {
        self.lock().contains(&server)
    }

    /// Servers remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remember(&self, server: SocketAddr) {
        let mut direct = self.lock();
        if direct.len() < Self::LIMIT {
            direct.insert(server);
        }
    }

    /// The cookie the converter handed out, if it did.
    pub fn cookie(&self) -> Option<Vec<u8>> {
        self.cookie
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_cookie(&self, cookie: &[u8]) {
        *self.cookie.lock().unwrap_or_else(PoisonError::into_inner) = Some(cookie.to_vec());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<SocketAddr>> {
        self.direct.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A client of one converter, over one stack.
#[derive(Debug)]
pub struct ConvertClient<'a> {
    stack: &'a Stack,
    converter: SocketAddr,
    timeout: Duration,
    known: Arc<KnownServers>,
}

impl<'a> ConvertClient<'a> {
    /// A client of the converter at `converter`, whose connects give up
    /// after `timeout`, with a memory of its own.
    pub fn new(stack: &'a Stack, converter: SocketAddr, timeout: Duration) -> Self {
        Self::sharing(stack, converter, timeout, Arc::default())
    }

    /// The same, sharing what it learns with every client given `known`
    /// (a proxy's many connections, each with a client of its own).
    pub fn sharing(
        stack: &'a Stack,
        converter: SocketAddr,
        timeout: Duration,
        known: Arc<KnownServers>,
    ) -> Self {
        ConvertClient {
            stack,
            converter,
            timeout,
            known,
        }
    }

    /// What this client and those sharing with it learned.
    pub fn known_servers(&self) -> &Arc<KnownServers> {
        &self.known
    }

    /// A connection to `destination` whose first bytes are `first` (sent
    /// with the SYN as far as it holds them; may be empty): through the
    /// converter, or direct to a server known to speak MPTCP. The stream
    /// returned carries the server's bytes from its first one.
    ///
    /// # Errors
    ///
    /// The connect's error; an Error TLV's kind
    /// ([`crate::convert::ErrorCode::io_kind`]: `ConnectionRefused` for a
    /// server that refused, `HostUnreachable`, `TimedOut` for a network
    /// failure, `PermissionDenied`, ...) with the code in the message;
    /// `InvalidData` for a reply that is not a Convert message.
    ///
    /// A Missing Cookie answer (§6.2.7) is not an error: its cookie is kept
    /// and the connection opened again with it, once (that costs the round
    /// trip of the first attempt); later connections send it at once. A
    /// second Missing Cookie in a row is an error (`PermissionDenied`).
    pub fn connect(&self, destination: SocketAddr, first: &[u8]) -> io::Result<(Stream, Route)> {
        match self.attempt(destination, first)? {
            Attempt::Done(stream, route) => Ok((stream, route)),
            Attempt::NeedsCookie(cookie) => {
                self.known.set_cookie(&cookie);
                match self.attempt(destination, first)? {
                    Attempt::Done(stream, route) => Ok((stream, route)),
                    Attempt::NeedsCookie(_) => Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "the converter answered Missing Cookie (3) to its own cookie",
                    )),
                }
            }
        }
    }

    fn attempt(&self, destination: SocketAddr, first: &[u8]) -> io::Result<Attempt> {
        if self.known.speaks_mptcp(destination) {
            let options = ConnectOptions::new().timeout(self.timeout);
            let mut stream = Stream::connect_with(self.stack, destination, options)?;
            io::Write::write_all(&mut stream, first)?;
            return Ok(Attempt::Done(stream, Route::Direct));
        }
        let cookie = self.known.cookie();
        let message = Message {
            connect: Some(Connect {
                addr: destination,
                options: TcpOptions::EMPTY,
            }),
            cookie: cookie.as_deref(),
            ..Message::default()
        };
        let mut syn = vec![0u8; MAX_LEN];
        let n = message.emit(&mut syn).map_err(io::Error::other)?;
        syn.truncate(n);
        syn.extend_from_slice(first);
        let options = ConnectOptions::new()
            .timeout(self.timeout)
            .syn_data_without_cookie();
        let mut stream = Stream::connect_fast_open_with(self.stack, self.converter, options, &syn)?;
        stream.set_read_timeout(Some(self.timeout));
        let reply = read_reply(&mut stream);
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                // §6.2.8: a client receiving an Error TLV resets.
                let _ = stream.abort();
                return Err(e);
            }
        };
        if let Some(cookie) = reply.missing_cookie {
            let _ = stream.abort();
            return Ok(Attempt::NeedsCookie(cookie));
        }
        stream.set_read_timeout(None);
        if reply.server_mptcp {
            self.known.remember(destination);
        }
        Ok(Attempt::Done(stream, Route::Converted))
    }
}

/// How one attempt to connect went.
enum Attempt {
    Done(Stream, Route),
    /// Missing Cookie, with the cookie to send.
    NeedsCookie(Vec<u8>),
}

/// What a reply said.
struct Reply {
    server_mptcp: bool,
    /// A Missing Cookie answer's cookie.
    missing_cookie: Option<Vec<u8>>,
}

/// Read the converter's reply, exactly its bytes (what follows is the
/// server's).
fn read_reply(stream: &mut Stream) -> io::Result<Reply> {
    let mut buf = [0u8; MAX_LEN];
    stream.read_exact(&mut buf[..HEADER_LEN])?;
    let mut have = HEADER_LEN;
    loop {
        match Message::parse(&buf[..have]) {
            Ok((message, _)) => {
                if let Some(error) = message.error
                    && error.code == crate::convert::ErrorCode::MissingCookie
                    && !error.extra.is_empty()
                {
                    return Ok(Reply {
                        server_mptcp: false,
                        missing_cookie: Some(error.extra.to_vec()),
                    });
                }
                if let Some(error) = message.error {
                    return Err(io::Error::new(
                        error.code.io_kind(),
                        format!("the converter answered {}", error.code),
                    ));
                }
                let server_mptcp = message
                    .extended_tcp_header
                    .is_some_and(|o| o.contains(MPTCP_KIND));
                return Ok(Reply {
                    server_mptcp,
                    missing_cookie: None,
                });
            }
            Err(ParseError::Incomplete { need }) if need <= MAX_LEN && need > have => {
                stream.read_exact(&mut buf[have..need])?;
                have = need;
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the converter's reply: {e}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_servers_are_shared_and_bounded() {
        let known = Arc::new(KnownServers::default());
        let other = Arc::clone(&known);
        let a: SocketAddr = "192.0.2.1:80".parse().unwrap();
        known.remember(a);
        assert!(
            other.speaks_mptcp(a),
            "a second client sees what the first learned"
        );
        for i in 0..KnownServers::LIMIT as u32 + 10 {
            known.remember(SocketAddr::from((i.to_be_bytes(), 443)));
        }
        assert_eq!(known.len(), KnownServers::LIMIT, "no more than the limit");
        assert!(known.speaks_mptcp(a), "the first stays");
    }
}
