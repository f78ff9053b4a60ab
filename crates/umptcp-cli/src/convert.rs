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
