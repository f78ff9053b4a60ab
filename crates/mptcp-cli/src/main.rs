//! The `mptcp` command: send and receive over our userspace stack on Linux
//! TUN devices, and report what went through.
//!
//! ```text
//! mptcp send --path DEV=ADDR [--path ...] --to HOST:PORT (--bytes N | --file F)
//! mptcp recv --path DEV=ADDR [--path ...] --port P [--count K] [--output F]
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
//! two commands), `demo`, `error` (messages).

mod args;
mod demo;
mod error;
mod payload;
mod recv;
mod report;
mod send;
mod size;
mod transport;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;

use crate::args::{Cli, Command};

/// How long the stack may take, at exit, to finish closing connections
/// (our last FIN and ACKs) before it resets what is left.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// Exit status of a command-line mistake (as clap uses).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return argument_error(&error),
    };
    let result = match &cli.command {
        Command::Send(args) => send::run(args),
        Command::Recv(args) => recv::run(args),
        Command::Demo(args) => demo::run(args),
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
                "mptcp: error: no subcommand given: use 'mptcp demo', 'mptcp send' or 'mptcp recv' (see --help)"
            );
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            eprintln!("mptcp: error: {}", args::clap_error_line(error));
            ExitCode::from(EXIT_USAGE)
        }
    }
}
