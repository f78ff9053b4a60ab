//! One conversion, from the held SYN to the end of the relay.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use umptcp_tun::{IncomingSyn, Stack, Stream};

use super::cookie::{self, COOKIE_LEN, Verdict};
use super::policy::Gate;
use super::{Finished, Outcome};
use crate::convert::{ErrorCode, ErrorTlv, MAX_LEN, Message, ParseError, Reaction, TcpOptions};

/// TCP-AO (RFC 5925): never converted (§7), answered Unsupported TCP
/// Option.
const TCP_AO: u8 = 29;
/// The option kinds an Info is answered with (§6.2.4, §7): SACK
/// permitted, timestamps, MPTCP (a converter offering MPTCP conversion
/// MUST list 30).
const SUPPORTED: &[u8] = &[4, 8, 30];
/// How long the converter waits for the rest of a message that did not
/// fit the SYN, and for the client's close after an error.
const CLIENT_WAIT: Duration = Duration::from_secs(5);

/// Run one conversion; what happened.
#[allow(clippy::disallowed_methods)] // the proxy application reads the clock
pub(super) fn convert(stack: &Stack, gate: &Gate, syn: IncomingSyn) -> Finished {
    let started = Instant::now();
    let mut finished = Finished {
        client: syn.peer_addr(),
        destination: None,
        mptcp: syn.offers_mptcp(),
        up: 0,
        down: 0,
        duration: Duration::ZERO,
        outcome: Outcome::Dropped,
    };
    finished.outcome = run(stack, gate, syn, &mut finished);
    finished.duration = started.elapsed();
    finished
}

fn run(stack: &Stack, gate: &Gate, syn: IncomingSyn, finished: &mut Finished) -> Outcome {
    let mut ticket = match gate.enter(syn.peer_addr().ip()) {
        Ok(ticket) => ticket,
        Err(code) => return answer(gate, syn, ErrorTlv::new(code, 0)),
    };
    let payload = syn.payload().to_vec();
    let parsed = Message::parse(&payload);
    let (message, used) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => match e.reaction() {
            Reaction::Reset => {
                let _ = syn.refuse();
                return Outcome::Reset;
            }
            // The message did not fit the SYN (or the client sent it
            // after the handshake, §6): answer, then read the rest.
            Reaction::ReadMore => return read_then_convert(stack, gate, syn, finished),
            Reaction::Answer(code) => return answer(gate, syn, echo(code, &payload)),
        },
    };
    let Some(connect) = message.connect else {
        if message.info {
            let reply = Message {
                supported_tcp_extensions: Some(SUPPORTED),
                ..Message::default()
            };
            return reply_and_close(syn, &reply, used);
        }
        return answer(gate, syn, echo(ErrorCode::UnsupportedMessage, &payload));
    };
    finished.destination = Some(connect.addr);
    match cookie_verdict(gate, syn.peer_addr(), message.cookie) {
        Verdict::Valid => {}
        Verdict::Missing(cookie) => return answer(gate, syn, missing_cookie(&cookie)),
        Verdict::Invalid => return answer(gate, syn, ErrorTlv::new(ErrorCode::NotAuthorized, 0)),
    }
    if let Some(refused) = refused(gate, connect.addr, &connect.options) {
        return answer(gate, syn, refused);
    }
    // §4.2: the server first; the client's SYN waits (held by the stack,
    // its retransmissions dropped).
    let upstream = match connect_upstream(stack, gate, connect.addr) {
        Ok(s) => s,
        Err(e) => return answer(gate, syn, upstream_error(&e)),
    };
    ticket.connected();
    let stream = match syn.accept() {
        Ok(s) => s,
        Err(e) => return Outcome::Broken(format!("accepting the client: {e}")),
    };
    relay(stack, stream, upstream, used, &connect.options, finished)
}

/// Answer the client with the converter's reply, drop the Convert message
/// from the stream (its data follows), and relay.
fn relay(
    stack: &Stack,
    mut stream: Stream,
    upstream: Upstream,
    used: usize,
    requested: &TcpOptions<'_>,
    finished: &mut Finished,
) -> Outcome {
    if let Err(e) = discard(&mut stream, used) {
        return Outcome::Broken(format!("reading the Convert message: {e}"));
    }
    // §6.2.3: an extended Connect is answered with the Extended TCP
    // Header. The kernel's socket does not show the server's SYN+ACK
    // options, so it carries none; a base Connect gets the bare header.
    let reply = Message {
        extended_tcp_header: (!requested.is_empty()).then_some(TcpOptions::EMPTY),
        ..Message::default()
    };
    let mut out = [0u8; MAX_LEN];
    let n = reply.emit(&mut out).expect("a reply fits");
    if let Err(e) = stream.write_all(&out[..n]) {
        return Outcome::Broken(format!("replying to the client: {e}"));
    }
    // A second handle, to read the connection's figures once the relay
    // is over (whether it spoke MPTCP is known only after the handshake).
    let watch = stream.try_clone().ok();
    let spliced = match upstream {
        Upstream::Kernel(socket) => stack.splice_socket(stream, socket),
        // Two connections of one stack: the stack thread relays them.
        Upstream::Stack(upstream) => stack.splice(stream, upstream),
    };
    let splice = match spliced {
        Ok(s) => s,
        Err(e) => return Outcome::Broken(format!("relaying: {e}")),
    };
    let outcome = splice.wait();
    finished.mptcp = watch
        .and_then(|w| w.mptcp_info().ok().flatten())
        .is_some_and(|info| info.mptcp);
    match outcome {
        Ok((up, down)) => {
            (finished.up, finished.down) = (up, down);
            Outcome::Relayed
        }
        Err(e) => Outcome::Broken(e.to_string()),
    }
}

/// The server's side of a conversion.
enum Upstream {
    /// A kernel socket (the default).
    Kernel(TcpStream),
    /// A connection of our own stack ([`super::Limits::upstream_stack`]):
    /// MPTCP when the server speaks it (RFC 8803 §5.1, Fig. 11).
    Stack(Stream),
}

/// Reach `to` the way the limits say, within the upstream timeout.
fn connect_upstream(stack: &Stack, gate: &Gate, to: SocketAddr) -> io::Result<Upstream> {
    let timeout = gate.limits().upstream_timeout;
    if gate.limits().upstream_stack {
        let options = umptcp_tun::ConnectOptions::new().timeout(timeout);
        Stream::connect_with(stack, to, options).map(Upstream::Stack)
    } else {
        TcpStream::connect_timeout(&to, timeout).map(Upstream::Kernel)
    }
}

/// A message that did not fit the SYN: the SYN is accepted (the server
/// cannot be reached before the destination is known), the rest is read
/// from the stream, and the conversion goes on without the 0-RTT.
fn read_then_convert(
    stack: &Stack,
    gate: &Gate,
    syn: IncomingSyn,
    finished: &mut Finished,
) -> Outcome {
    let Ok(mut stream) = syn.accept() else {
        return Outcome::Broken("accepting the client".to_owned());
    };
    stream.set_read_timeout(Some(CLIENT_WAIT));
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; MAX_LEN];
    let client = stream.peer_addr();
    let connect = loop {
        match Message::parse(&buf) {
            Ok((m, _)) => match m.connect {
                Some(c) => {
                    match cookie_verdict(gate, client, m.cookie) {
                        Verdict::Valid => {}
                        Verdict::Missing(cookie) => {
                            return error_on_stream(stream, missing_cookie(&cookie));
                        }
                        Verdict::Invalid => {
                            return error_on_stream(
                                stream,
                                ErrorTlv::new(ErrorCode::NotAuthorized, 0),
                            );
                        }
                    }
                    break (c.addr, c.options.as_bytes().to_vec());
                }
                None => {
                    return error_on_stream(
                        stream,
                        ErrorTlv::new(ErrorCode::UnsupportedMessage, 0),
                    );
                }
            },
            Err(ParseError::Incomplete { need }) => {
                let want = need.saturating_sub(buf.len()).min(chunk.len());
                match stream.read(&mut chunk[..want]) {
                    Ok(0) | Err(_) => return Outcome::Broken("no Convert message".to_owned()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            Err(e) => match e.reaction() {
                Reaction::Answer(code) => return error_on_stream(stream, echo(code, &buf)),
                _ => {
                    let _ = stream.abort();
                    return Outcome::Reset;
                }
            },
        }
    };
    let (addr, options) = connect;
    finished.destination = Some(addr);
    let options = TcpOptions::new(&options).unwrap_or_default();
    if let Some(refused) = refused(gate, addr, &options) {
        return error_on_stream(stream, refused);
    }
    match connect_upstream(stack, gate, addr) {
        Ok(upstream) => {
            stream.set_read_timeout(None);
            // The message was read already.
            relay(stack, stream, upstream, 0, &options, finished)
        }
        Err(e) => error_on_stream(stream, upstream_error(&e)),
    }
}

/// The cookie check (§6.2.7) when the converter asks for cookies.
fn cookie_verdict(gate: &Gate, client: SocketAddr, sent: Option<&[u8]>) -> Verdict {
    match &gate.limits().cookie_key {
        Some(key) => cookie::check(key, client.ip(), sent),
        None => Verdict::Valid,
    }
}

/// Missing Cookie (§6.2.8): the value's first byte zero, then the cookie
/// the client is to cache.
fn missing_cookie(cookie: &[u8; COOKIE_LEN]) -> ErrorTlv<'_> {
    ErrorTlv {
        code: ErrorCode::MissingCookie,
        value: 0,
        extra: cookie,
    }
}

/// Why a Connect is refused, if it is: Unsupported TCP Option for
/// TCP-AO (§7), Not Authorized for a denied destination (§9).
fn refused(gate: &Gate, to: SocketAddr, options: &TcpOptions<'_>) -> Option<ErrorTlv<'static>> {
    if options.contains(TCP_AO) {
        return Some(ErrorTlv {
            code: ErrorCode::UnsupportedTcpOption,
            value: TCP_AO,
            extra: &[],
        });
    }
    (!gate.destination_allowed(to.ip())).then(|| ErrorTlv::new(ErrorCode::NotAuthorized, 0))
}

/// The Error TLV an upstream connect failure gets (§6.2.8).
fn upstream_error(e: &io::Error) -> ErrorTlv<'static> {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorTlv::new(ErrorCode::ConnectionReset, 0),
        // The ICMP codes behind the errnos: net (0) and host (1)
        // unreachable.
        io::ErrorKind::NetworkUnreachable => ErrorTlv::new(ErrorCode::DestinationUnreachable, 0),
        io::ErrorKind::HostUnreachable => ErrorTlv::new(ErrorCode::DestinationUnreachable, 1),
        // Timed out, or anything else of the network: try again later
        // (0: at least 30 s).
        _ => ErrorTlv::new(ErrorCode::NetworkFailure, 0),
    }
}

/// An error whose value echoes the received message (Malformed and
/// Unsupported Message, §6.2.8), as much of it as fits.
fn echo(code: ErrorCode, message: &[u8]) -> ErrorTlv<'_> {
    let echoes = matches!(
        code,
        ErrorCode::MalformedMessage | ErrorCode::UnsupportedMessage
    );
    match (echoes, message.split_first()) {
        (true, Some((&first, rest))) => {
            // Header, the TLV's 4 bytes, and whole words of the rest.
            let room = (MAX_LEN - 8) / 4 * 4;
            let rest = &rest[..rest.len().min(room) / 4 * 4];
            ErrorTlv {
                code,
                value: first,
                extra: rest,
            }
        }
        _ => ErrorTlv::new(
            code,
            if code == ErrorCode::UnsupportedVersion {
                crate::convert::VERSION
            } else {
                0
            },
        ),
    }
}

/// Answer `syn` with an Error TLV: accept it (the error travels in the
/// bytestream), send the error, close, and wait for the client to go
/// (never an RST first). Over the error rate, the SYN is dropped.
fn answer(gate: &Gate, syn: IncomingSyn, error: ErrorTlv<'_>) -> Outcome {
    if !gate.may_answer_error() {
        drop(syn);
        return Outcome::Dropped;
    }
    let used = syn.payload().len();
    match syn.accept() {
        Ok(mut stream) => {
            let _ = discard(&mut stream, used);
            error_on_stream(stream, error)
        }
        Err(e) => Outcome::Broken(format!("accepting the client: {e}")),
    }
}

/// Send `error` on an accepted stream, close it, and wait for the client.
fn error_on_stream(stream: Stream, error: ErrorTlv<'_>) -> Outcome {
    let code = error.code;
    let reply = Message {
        error: Some(error),
        ..Message::default()
    };
    let _ = close_with(stream, &reply);
    Outcome::Answered(code)
}

/// Reply to an Info and close.
fn reply_and_close(syn: IncomingSyn, reply: &Message<'_>, used: usize) -> Outcome {
    match syn.accept() {
        Ok(mut stream) => {
            let _ = discard(&mut stream, used);
            let _ = close_with(stream, reply);
            Outcome::Relayed
        }
        Err(e) => Outcome::Broken(format!("accepting the client: {e}")),
    }
}

fn close_with(mut stream: Stream, reply: &Message<'_>) -> io::Result<()> {
    let mut out = [0u8; MAX_LEN];
    let n = reply.emit(&mut out).map_err(io::Error::other)?;
    stream.write_all(&out[..n])?;
    stream.shutdown(Shutdown::Write)?;
    // The client resets or closes; until then, what it sends is dropped.
    stream.set_read_timeout(Some(CLIENT_WAIT));
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                // No close within CLIENT_WAIT (a spoofed SYN's handshake
                // never completes): the error and our FIN went first, so
                // a reset now frees the connection at once rather than
                // after a minute of SYN/ACK and FIN retransmissions.
                let _ = stream.abort();
                return Ok(());
            }
            Err(_) => return Ok(()),
        }
    }
}

/// Read and drop the first `n` bytes of the stream (the Convert message
/// at the start of the SYN's data).
fn discard(stream: &mut Stream, n: usize) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_WAIT));
    let mut left = n;
    let mut buf = [0u8; MAX_LEN];
    while left > 0 {
        let want = left.min(buf.len());
        match stream.read(&mut buf[..want])? {
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            k => left -= k,
        }
    }
    stream.set_read_timeout(None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_map_to_their_error_tlvs() {
        let tlv = |kind| upstream_error(&io::Error::from(kind));
        assert_eq!(
            tlv(io::ErrorKind::ConnectionRefused).code,
            ErrorCode::ConnectionReset
        );
        let unreachable = tlv(io::ErrorKind::HostUnreachable);
        assert_eq!(
            (unreachable.code, unreachable.value),
            (ErrorCode::DestinationUnreachable, 1)
        );
        assert_eq!(tlv(io::ErrorKind::NetworkUnreachable).value, 0);
        assert_eq!(tlv(io::ErrorKind::TimedOut).code, ErrorCode::NetworkFailure);
    }

    #[test]
    fn malformed_messages_are_echoed_in_whole_words() {
        let message = [1u8, 9, 0x22, 0x64, 5, 6, 7, 8, 9];
        let e = echo(ErrorCode::MalformedMessage, &message);
        assert_eq!((e.value, e.extra), (1, &message[1..9]));
        let e = echo(ErrorCode::UnsupportedVersion, &message);
        assert_eq!((e.value, e.extra.len()), (1, 0));
        let e = echo(ErrorCode::NotAuthorized, &message);
        assert_eq!((e.value, e.extra.len()), (0, 0));
        let big = vec![7u8; 4000];
        let e = echo(ErrorCode::MalformedMessage, &big);
        let reply = Message {
            error: Some(e),
            ..Message::default()
        };
        assert!(reply.len() <= MAX_LEN);
    }
}
