//! The `mptcp` command as a library: send and receive over our userspace
//! stack on Linux TUN devices, run the demo and the congestion-control
//! experiments. The `mptcp` binary is [`main_with`] and the built-in
//! policies; a program that registers its own congestion controllers,
//! schedulers or path managers calls [`main_with`] with its registry and
//! gets the whole command line, `--cc`, `--scheduler` and `--pm <its
//! name>` included (`crates/umptcp-cli/examples/custom_cc.rs`,
//! `examples/custom_scheduler.rs`).
//!
//! ```text
//! mptcp send --path DEV=ADDR [--path ...] --to HOST:PORT (--bytes N | --file F)
//! mptcp recv --path DEV=ADDR [--path ...] --port P [--count K] [--output F]
//! mptcp demo [--cc NAME] [--json]
//! mptcp experiment NAME [--cc NAME] [--json] [--out DIR]
//! mptcp convert --path DEV=ADDR [--path ...] --port P [--allow PREFIX] [--deny PREFIX]
//! mptcp proxy --path DEV=ADDR [--path ...] (--converter ADDR:PORT | --direct) [--socks5 ADDR:PORT]
//! ```
//!
//! Each transfer ends with one result line on stdout,
//! `sent|received N bytes sha256 HEX in S s (G Mbit/s)` (see `report.rs`).
//! Every failure is one line on stderr, `mptcp: error: ...`, with exit
//! status 2 for bad arguments and 1 for anything else; `--help` and
//! `--version` print to stdout and exit 0.
//!
//! Modules: `args` (the command line), `size` (sizes and percentages),
//! `payload` (the seeded data), `report` (the result line), `transport`
//! (plain TCP or MPTCP, and the subflow report), `send` and `recv` (the
//! two commands), `demo`, `experiment`, `convert` and `proxy` (the RFC
//! 8803 converter and the SOCKS5 front, on `umptcp-proxy`; their command
//! lines in `args/proxies.rs`), `error` (messages).

mod args;
mod capture;
mod convert;
mod demo;
mod error;
mod experiment;
mod payload;
mod proxy;
mod recv;
mod report;
mod send;
mod size;
mod summary;
mod transport;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use umptcp_proto::PolicyRegistry;

use crate::args::{Cli, Command, PolicyKind};

/// How long the stack may take, at exit, to finish closing connections
/// (our last FIN and ACKs) before it resets what is left.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// Exit status of a command-line mistake (as clap uses).
const EXIT_USAGE: u8 = 2;

/// Run the `mptcp` command line from the process's arguments, looking
/// policy names (`--cc`, `--pm`, `--scheduler`) up in `registry`, and
/// return the exit status. A `umptcp_cc::Registry` is taken as the
/// congestion controllers beside the built-in path managers and
/// schedulers.
pub fn main_with(registry: impl Into<PolicyRegistry>) -> ExitCode {
    main_from(std::env::args_os(), registry)
}

/// [`main_with`] on the given arguments (the first is the program name).
pub fn main_from<I, T>(args: I, registry: impl Into<PolicyRegistry>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let registry = registry.into();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => return argument_error(&error),
    };
    // Names are checked here, not by clap: the registry is known only now.
    for (option, kind, name) in cli.command.policy_names() {
        let checked = match kind {
            PolicyKind::PathManager => registry.check(Some(name), None, None),
            PolicyKind::Scheduler => registry.check(None, Some(name), None),
            PolicyKind::CongestionControl => registry.check(None, None, Some(name)),
        };
        if let Err(unknown) = checked {
            eprintln!(
                "mptcp: error: invalid value '{name}' for '{option} <NAME>' (known: {})",
                unknown.known.join(", ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if let Some(level) = cli.command.log_level().0 {
        // A second `main_from` in one process keeps the first subscriber.
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let result = match &cli.command {
        Command::Send(args) => send::run(args, &registry),
        Command::Recv(args) => recv::run(args, &registry),
        Command::Demo(args) => demo::run(args, &registry),
        Command::Experiment(args) => experiment::run(args, &registry),
        Command::Convert(args) => convert::run(args, &registry),
        Command::Proxy(args) => proxy::run(args, &registry),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mptcp: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Handle what clap did not parse: help and version as clap prints them,
/// anything else as one line.
fn argument_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing to a closed stdout is not worth an error of its own.
            let _ = error.print();
            ExitCode::SUCCESS
        }
        // `mptcp` alone: clap would print the whole help as an error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!(
                "mptcp: error: no subcommand given: use 'mptcp demo', 'mptcp send', 'mptcp recv', 'mptcp experiment', 'mptcp convert' or 'mptcp proxy' (see --help)"
            );
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            eprintln!("mptcp: error: {}", args::clap_error_line(error));
            ExitCode::from(EXIT_USAGE)
        }
    }
}
