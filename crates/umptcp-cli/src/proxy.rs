//! `mptcp proxy`: the SOCKS5 front (`umptcp_proxy::socks5`) on a stack
//! built from the command line; one line per proxied connection.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use umptcp_proto::PolicyRegistry;
use umptcp_proxy::socks5::{self, Upstream};
use umptcp_tun::Stack;

use crate::args::ProxyArgs;
use crate::error::CliError;

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
    let listener = TcpListener::bind(args.socks5)
        .map_err(|e| CliError::io(format_args!("listening on {}", args.socks5), &e))?;
    let config = args.stack.stack_config(registry);
    // As many SOCKS5 clients at once as the stack takes connections.
    let max_connections = config.max_connections;
    let stack = Arc::new(Stack::start(config)?);
    let upstream = match args.converter {
        Some(converter) => Upstream::Converter(converter),
        None => Upstream::Direct,
    };
    let json = args.stack.json;
    eprintln!("mptcp: SOCKS5 on {}", args.socks5);
    socks5::serve(
        &stack,
        listener,
        upstream,
        Duration::from_secs(args.connect_timeout),
        max_connections,
        move |proxied| {
            let mut out = std::io::stdout().lock();
            let line = if json {
                proxied.to_json()
            } else {
                proxied.to_string()
            };
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        },
    )
    .map_err(|e| CliError::io(format_args!("serving SOCKS5 on {}", args.socks5), &e))
}
