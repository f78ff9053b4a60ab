//! `mptcp send`: connect from our stack, send the data, close our side,
//! wait for the peer to close, print the result line.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;
use umptcp_proto::PolicyRegistry;

use umptcp_tun::{RouteTable, Stack};

use crate::LINGER;
use crate::args::{Peer, SendArgs};
use crate::error::{CliError, describe_io};
use crate::payload::Payload;
use crate::report::{Direction, Stopwatch, Tally};
use umptcp_tun::Stream;

use crate::transport;

/// Bytes handed to the stream per write (the stream's own largest chunk).
const CHUNK: usize = 256 * 1024;

/// Where the bytes come from.
#[derive(Debug)]
enum Source {
    /// `--bytes`: `remaining` more bytes of the seeded stream.
    Generated {
        /// The stream.
        payload: Payload,
        /// Bytes still to produce.
        remaining: u64,
    },
    /// `--file`: the file, read as it goes.
    File {
        /// The open file.
        file: File,
        /// Its name, for messages.
        name: String,
    },
}

impl Source {
    /// Open what `args` asks to send.
    fn open(args: &SendArgs) -> Result<Source, CliError> {
        match (&args.source.bytes, &args.source.file) {
            (Some(n), _) => Ok(Source::Generated {
                payload: Payload::new(args.stack.seed),
                remaining: *n,
            }),
            (None, Some(path)) => open_file(path),
            // clap's argument group requires exactly one of the two.
            (None, None) => Err(CliError::new("give --bytes N or --file FILE")),
        }
    }

    /// Fill the front of `buf` with the next bytes; 0 means the end.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, CliError> {
        match self {
            Source::Generated { payload, remaining } => {
                let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                payload.fill(&mut buf[..n]);
                *remaining -= n as u64;
                Ok(n)
            }
            Source::File { file, name } => loop {
                match file.read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(CliError::io(format_args!("reading {name}"), &e)),
                }
            },
        }
    }
}

/// Open `path` for reading, refusing a directory up front (it would only
/// fail at the first read, after the connection is open).
fn open_file(path: &Path) -> Result<Source, CliError> {
    let name = path.display().to_string();
    let file =
        File::open(path).map_err(|e| CliError::io(format_args!("cannot read {name}"), &e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io(format_args!("cannot read {name}"), &e))?;
    if meta.is_dir() {
        return Err(CliError::new(format!(
            "cannot read {name}: it is a directory"
        )));
    }
    Ok(Source::File { file, name })
}

/// The peer's address, before any device is opened: `--to` resolved (a
/// host name by the system's resolver) and checked against the stack's
/// routes. Of a name's addresses the first that a path's family reaches
/// is taken.
fn resolve_peer(args: &SendArgs) -> Result<SocketAddr, CliError> {
    let paths = args.stack.path_configs();
    let routes = RouteTable::new(&paths, &args.stack.routes).map_err(CliError::new)?;
    let candidates: Vec<SocketAddr> = match &args.to {
        Peer::Addr(addr) => vec![*addr],
        Peer::Name { host, port } => (host.as_str(), *port)
            .to_socket_addrs()
            .map_err(|e| CliError::io(format_args!("cannot resolve {host}"), &e))?
            .collect(),
    };
    if let Some(addr) = candidates.iter().find(|a| routes.lookup(a.ip()).is_some()) {
        return Ok(*addr);
    }
    let Some(first) = candidates.first() else {
        return Err(CliError::new(format!(
            "cannot resolve {}: no address",
            args.to
        )));
    };
    let what = match &args.to {
        Peer::Addr(_) => RouteTable::unreachable(first.ip()),
        Peer::Name { host, .. } => {
            let all: Vec<String> = candidates.iter().map(|a| a.ip().to_string()).collect();
            format!(
                "no route to {host} ({}): no path has an address of its family",
                all.join(", ")
            )
        }
    };
    let paths: Vec<String> = paths
        .iter()
        .map(|p| format!("{}={}/{}", p.device, p.addr, p.prefix))
        .collect();
    Err(CliError::new(format!(
        "{what} (paths: {})",
        paths.join(", ")
    )))
}

/// Phrase a failed connect for the user.
fn connect_error(to: SocketAddr, timeout: Duration, error: &io::Error) -> CliError {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => CliError::new(format!(
            "connecting to {to}: connection refused (the peer answered with a reset: \
             is a server listening on port {}?)",
            to.port()
        )),
        io::ErrorKind::TimedOut => CliError::new(format!(
            "connecting to {to}: no answer within {} s (connection timed out: is the peer \
             reachable through the --path device?)",
            timeout.as_secs_f64()
        )),
        _ => CliError::new(format!("connecting to {to}: {}", describe_io(error))),
    }
}

/// Run `mptcp send`.
///
/// # Errors
///
/// Any failure, phrased for the user: the file, the devices, the connect,
/// the transfer or the stack's shutdown.
pub(crate) fn run(args: &SendArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    let mut source = Source::open(args)?;
    let to = resolve_peer(args)?;
    if let Some(device) = args.stack.duplicate_device() {
        return Err(CliError::new(format!(
            "device {device} is named by two --path options"
        )));
    }
    let stack = Stack::start(args.stack.stack_config(registry))?;

    let clock = Stopwatch::start();
    let mut conn = Stream::connect_timeout(&stack, to, args.connect_timeout)
        .map_err(|e| connect_error(to, args.connect_timeout, &e))?;
    let stream = &mut conn;
    let mut tally = Tally::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = source.fill(&mut buf)?;
        if n == 0 {
            break;
        }
        tally.update(&buf[..n]);
        stream
            .write_all(&buf[..n])
            .map_err(|e| CliError::io(format_args!("sending to {to}"), &e))?;
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| CliError::io(format_args!("closing the connection to {to}"), &e))?;
    // The time must cover delivery: wait for the peer to close its side,
    // which it does once it has read everything. What it sends is dropped.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CliError::io(
                    format_args!("waiting for {to} to close the connection"),
                    &e,
                ));
            }
        }
    }
    let report = tally.finish(Direction::Sent, clock.elapsed());
    transport::print(
        &report,
        transport::mptcp_info(&conn).as_ref(),
        args.stack.json,
        args.stack.ss,
    )?;

    drop(conn);
    stack.shutdown(LINGER)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn send_args(extra: &[&str]) -> SendArgs {
        let mut argv = vec!["mptcp", "send"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Send(args) => args,
            _ => panic!("not send"),
        }
    }

    #[test]
    fn generated_source_stops_after_n_bytes() {
        let args = send_args(&[
            "--path",
            "t=10.0.0.2",
            "--to",
            "10.0.0.1:1",
            "--bytes",
            "1000",
        ]);
        let mut source = Source::open(&args).unwrap();
        let mut buf = [0u8; 300];
        let mut total = 0;
        let mut all = Vec::new();
        loop {
            let n = source.fill(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(total, 1000);
        let mut expected = vec![0u8; 1000];
        Payload::new(1).fill(&mut expected);
        assert_eq!(all, expected);
    }

    #[test]
    fn unreadable_files_are_reported_before_anything_starts() {
        let args = send_args(&[
            "--path",
            "t=10.0.0.2",
            "--to",
            "10.0.0.1:1",
            "--file",
            "/nonexistent/umptcp-cli-test",
        ]);
        let err = Source::open(&args).unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot read /nonexistent/umptcp-cli-test: no such file or directory"
        );
        let args = send_args(&["--path", "t=10.0.0.2", "--to", "10.0.0.1:1", "--file", "/"]);
        assert!(
            Source::open(&args)
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
    }

    #[test]
    fn any_peer_of_a_path_family_is_routed() {
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--path",
            "u=10.1.0.2/24",
            "--to",
            "192.0.2.7:1",
            "--bytes",
            "1",
        ]);
        assert_eq!(resolve_peer(&args).unwrap(), "192.0.2.7:1".parse().unwrap());
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--path",
            "u=fd00::2",
            "--to",
            "[2001:db8::1]:1",
            "--bytes",
            "1",
        ]);
        assert!(resolve_peer(&args).is_ok());
    }

    #[test]
    fn a_peer_no_path_reaches_is_one_clear_line() {
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--to",
            "[2001:db8::1]:1",
            "--bytes",
            "1",
        ]);
        let err = resolve_peer(&args).unwrap_err().to_string();
        assert_eq!(
            err,
            "no route to 2001:db8::1: no path has an IPv6 address (paths: t=10.0.0.2/24)"
        );
    }

    #[test]
    fn routes_naming_no_path_are_refused_before_anything_starts() {
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--route",
            "192.0.2.0/24=v",
            "--to",
            "192.0.2.7:1",
            "--bytes",
            "1",
        ]);
        let err = resolve_peer(&args).unwrap_err().to_string();
        assert!(err.contains("v is not one of the paths"), "{err}");
    }

    #[test]
    fn host_names_are_resolved() {
        // "localhost" is in every /etc/hosts; only its family matters here.
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--to",
            "localhost:7",
            "--bytes",
            "1",
        ]);
        let addr = resolve_peer(&args).unwrap();
        assert!(
            addr.is_ipv4() && addr.ip().is_loopback() && addr.port() == 7,
            "{addr}"
        );
        let args = send_args(&[
            "--path",
            "t=10.0.0.2/24",
            "--to",
            "no-such-host.invalid:7",
            "--bytes",
            "1",
        ]);
        let err = resolve_peer(&args).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot resolve no-such-host.invalid"),
            "{err}"
        );
    }

    #[test]
    fn connect_errors_say_what_happened() {
        let to: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let t = Duration::from_secs(10);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(
            connect_error(to, t, &refused)
                .to_string()
                .contains("connection refused")
        );
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "no answer");
        assert!(
            connect_error(to, t, &timed_out)
                .to_string()
                .contains("no answer within 10 s")
        );
    }
}
