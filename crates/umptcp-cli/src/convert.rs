//! `mptcp convert`: the RFC 8803 Transport Converter (`umptcp_proxy::converter`)
//! on a stack built from the command line; one line per conversion.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use umptcp_proto::PolicyRegistry;
use umptcp_proxy::converter::{Converter, Limits};
use umptcp_tun::Stack;

use crate::args::ConvertArgs;
use crate::error::CliError;

/// Run the converter until the stack fails (or the process is stopped).
///
/// # Errors
///
/// The stack or the listener could not start.
pub(crate) fn run(args: &ConvertArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    if let Some(device) = args.stack.duplicate_device() {
        return Err(CliError::new(format!(
            "device {device} is named by two --path options"
        )));
    }
    let stack = Arc::new(Stack::start(args.stack.stack_config(registry))?);
    let mut limits = Limits::default();
    limits.allow = args.allow.clone();
    limits.deny = args.deny.clone();
    limits.max_connections = args.max_connections;
    limits.max_pending_per_client = args.max_pending_per_client;
    limits.upstream_timeout = Duration::from_secs(args.upstream_timeout);
    limits.errors_per_second = args.errors_per_second;
    limits.upstream_stack = args.upstream == "stack";
    if args.require_cookie {
        limits.cookie_key = Some(secret_key()?);
    }
    let converter = Converter::bind(&stack, args.port, limits)
        .map_err(|e| CliError::io(format_args!("listening on port {}", args.port), &e))?;
    let json = args.stack.json;
    eprintln!("mptcp: converting on port {}", args.port);
    crate::summary::every(args.summary_every, converter.tally(), json);
    converter
        .run(move |finished| {
            let mut out = std::io::stdout().lock();
            let line = if json {
                finished.to_json()
            } else {
                finished.to_string()
            };
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        })
        .map_err(|e| CliError::io(format_args!("converting on port {}", args.port), &e))
}

/// 32 bytes of the system's randomness: the cookie key, new at each start
/// (cookies handed out before a restart are then Not Authorized, and the
/// client fetches a new one).
fn secret_key() -> Result<[u8; 32], CliError> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| CliError::io("reading /dev/urandom for the cookie key", &e))?;
    Ok(key)
}
