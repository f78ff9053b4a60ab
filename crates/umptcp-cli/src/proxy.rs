//! `mptcp proxy`: the SOCKS5 front (`umptcp_proxy::socks5`) on a stack
//! built from the command line; one line per proxied connection.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use umptcp_proto::PolicyRegistry;
use umptcp_proxy::socks5::{self, Proxied, Upstream};
use umptcp_tun::Stack;

use crate::args::ProxyArgs;
use crate::error::CliError;

/// Where the SOCKS5 front listens when --socks5 is not given.
const DEFAULT_SOCKS5: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1080);

/// Run the front until its listener fails (or the process is stopped).
///
/// # Errors
///
/// The stack or the SOCKS5 listener could not start.
pub(crate) fn run(args: &ProxyArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    if let Some(device) = args.stack.duplicate_device() {
        return Err(CliError::new(format!(
            "device {device} is named by two --path options"
        )));
    }
    let config = args.stack.stack_config(registry);
    // As many SOCKS5 clients at once as the stack takes connections.
    let max_connections = config.max_connections;
    let stack = Arc::new(Stack::start(config)?);
    let upstream = match args.converter {
        Some(converter) => Upstream::Converter(converter),
        None => Upstream::Direct,
    };
    let json = args.stack.json;
    let report = move |proxied: &Proxied| {
        let mut out = std::io::stdout().lock();
        let line = if json {
            proxied.to_json()
        } else {
            proxied.to_string()
        };
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    // The SOCKS5 front is on unless --capture is the only front asked for.
    let socks5_addr = args
        .socks5
        .or_else(|| args.capture.is_none().then_some(DEFAULT_SOCKS5));
    let capture = match &args.capture {
        Some(spec) => {
            let thread = crate::capture::start(
                spec,
                args.stack.mtu,
                &stack,
                upstream,
                Duration::from_secs(args.connect_timeout),
                max_connections,
                Arc::new(report),
            )?;
            eprintln!("mptcp: capturing on {}", spec.device);
            Some(thread)
        }
        None => None,
    };
    let Some(socks5_addr) = socks5_addr else {
        // Capture alone: run until it stops.
        return match capture.map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(CliError::new("the capture front stopped")),
        };
    };
    let listener = TcpListener::bind(socks5_addr)
        .map_err(|e| CliError::io(format_args!("listening on {socks5_addr}"), &e))?;
    eprintln!("mptcp: SOCKS5 on {socks5_addr}");
    socks5::serve(
        &stack,
        listener,
        upstream,
        Duration::from_secs(args.connect_timeout),
        max_connections,
        report,
    )
    .map_err(|e| CliError::io(format_args!("serving SOCKS5 on {socks5_addr}"), &e))
}
