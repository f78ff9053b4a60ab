//! `mptcp proxy`: the SOCKS5 front (`umptcp_proxy::socks5`) on a stack
//! built from the command line; one line per proxied connection.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use umptcp_proto::PolicyRegistry;
use umptcp_proxy::socks5::{self, Credentials, Proxied, Upstream};
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
    let mut options = socks5::Options::new(upstream);
    options.connect_timeout = Duration::from_secs(args.connect_timeout);
    options.max_connections = max_connections;
    if let Some(file) = &args.socks5_auth {
        options.auth = Some(Arc::new(read_credentials(file)?));
    }
    let capture = match &args.capture {
        Some(spec) => {
            let thread =
                crate::capture::start(spec, args.stack.mtu, &stack, &options, Arc::new(report))?;
            eprintln!("mptcp: capturing on {}", spec.device);
            Some(thread)
        }
        None => None,
    };
    let Some(socks5_addr) = socks5_addr else {
        // Capture alone: run until it stops.
        crate::summary::every(args.summary_every, Arc::clone(&options.tally), json);
        return match capture.map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(CliError::new("the capture front stopped")),
        };
    };
    crate::summary::every(args.summary_every, Arc::clone(&options.tally), json);
    let listener = TcpListener::bind(socks5_addr)
        .map_err(|e| CliError::io(format_args!("listening on {socks5_addr}"), &e))?;
    eprintln!("mptcp: SOCKS5 on {socks5_addr}");
    socks5::serve(&stack, listener, options, report)
        .map_err(|e| CliError::io(format_args!("serving SOCKS5 on {socks5_addr}"), &e))
}

/// The users of `--socks5-auth FILE`: one `user:password` per line, blank
/// lines and lines starting with `#` ignored.
///
/// # Errors
///
/// The file cannot be read, a line is not `user:password` (named by its
/// number), or it names no user.
fn read_credentials(file: &std::path::Path) -> Result<Credentials, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::io(format_args!("reading {}", file.display()), &e))?;
    parse_credentials(&text).map_err(|e| CliError::new(format!("{}: {e}", file.display())))
}

fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let mut users = Credentials::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((user, password)) = line.split_once(':') else {
            return Err(format!("line {}: expected user:password", n + 1));
        };
        users
            .add(user, password)
            .map_err(|e| format!("line {}: {e}", n + 1))?;
    }
    if users.is_empty() {
        return Err("no user:password line".to_owned());
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_take_comments_and_name_bad_lines() {
        let users = parse_credentials("# proxy users\n\nalice:s3cret\nbob:pa:ss\n").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(
            parse_credentials("alice:x\nnocolon\n").unwrap_err(),
            "line 2: expected user:password"
        );
        assert!(
            parse_credentials(":x")
                .unwrap_err()
                .starts_with("line 1: a user name")
        );
        assert_eq!(
            parse_credentials("# none\n").unwrap_err(),
            "no user:password line"
        );
    }
}
