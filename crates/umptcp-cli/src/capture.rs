//! `mptcp proxy --capture`: the transparent-capture front
//! (`umptcp_proxy::capture`) on a stack of its own, whose connections go
//! out over the multipath stack.

use std::sync::Arc;

use umptcp_proxy::capture::{Capture, Connector};
use umptcp_proxy::socks5::{self, Proxied};
use umptcp_tun::{PathConfig, Stack, StackConfig};

use crate::args::PathSpec;
use crate::error::CliError;

/// Start the capture front on `spec`'s device (a plain-TCP stack with that
/// one path) on a thread of its own; connections go out over `stack`.
///
/// # Errors
///
/// The capture device or its listener could not be opened.
pub(crate) fn start(
    spec: &PathSpec,
    mtu: Option<u16>,
    stack: &Arc<Stack>,
    options: &socks5::Options,
    report: Arc<dyn Fn(&Proxied) + Send + Sync>,
) -> Result<std::thread::JoinHandle<Result<(), CliError>>, CliError> {
    let max_connections = options.max_connections;
    let mut path = PathConfig::new(spec.device.clone(), spec.addr);
    if let Some(prefix) = spec.prefix {
        path.prefix = prefix;
    }
    if let Some(mtu) = mtu {
        path.mtu = mtu;
    }
    // Plain TCP: the captured programs' kernels are one hop away, and
    // MPTCP on this device would only add subflows nobody needs.
    let mut config = StackConfig::new(vec![path]);
    config.mptcp = None;
    config.max_connections = max_connections;
    let capture_stack = Arc::new(Stack::start(config)?);
    let device = spec.device.clone();
    let front = Capture::bind(capture_stack, &device, max_connections)
        .map_err(|e| CliError::io(format_args!("capturing on {device}"), &e))?
        .with_tally(Arc::clone(&options.tally));
    let connect = connector(stack, options);
    std::thread::Builder::new()
        .name("umptcp-capture-front".to_owned())
        .spawn(move || {
            front
                .run(connect, move |p| report(p))
                .map_err(|e| CliError::io(format_args!("capturing on {device}"), &e))
        })
        .map_err(|e| CliError::io("starting the capture thread", &e))
}

/// How a captured connection reaches its destination: as the SOCKS5
/// front's do, sharing what the converter taught them.
fn connector(stack: &Arc<Stack>, options: &socks5::Options) -> Arc<Connector> {
    let stack = Arc::clone(stack);
    let (upstream, timeout, known) = (
        options.upstream,
        options.connect_timeout,
        Arc::clone(&options.known),
    );
    Arc::new(move |destination| socks5::connect(&stack, upstream, timeout, &known, destination))
}
