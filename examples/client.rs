//! A client on our MPTCP stack: connect over every `--path` (the path
//! manager joins the others once MPTCP is up), send a file, half-close,
//! and print what the server answered and what each subflow carried.
//!
//! `cargo run --example client -- --help` (runs as root: it makes or
//! opens the TUN devices).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use umptcp::{MptcpSettings, PathConfig, Stack, StackConfig, Stream};

/// Send a file over MPTCP (subflows over every path) and print the answer.
#[derive(Parser)]
struct Args {
    /// A path: a TUN device and our address on it (`tun0=10.61.0.2`);
    /// repeat for more paths. A device that does not exist is made, the
    /// kernel's side taking host 1 of the /24 (host 2 if ours is host 1).
    #[arg(long = "path", value_name = "DEV=ADDR", required = true, value_parser = parse_path)]
    paths: Vec<(String, IpAddr)>,
    /// The server.
    #[arg(long, value_name = "ADDR:PORT")]
    to: SocketAddr,
    /// The file to send ("-": standard input).
    #[arg(long, default_value = "-")]
    file: PathBuf,
}

fn parse_path(arg: &str) -> Result<(String, IpAddr), String> {
    let (device, addr) = arg.split_once('=').ok_or("a path is DEV=ADDR")?;
    let addr = addr.parse().map_err(|e| format!("{addr:?}: {e}"))?;
    Ok((device.to_owned(), addr))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let paths = args
        .paths
        .iter()
        .map(|(dev, addr)| PathConfig::new(dev, *addr))
        .collect();
    let mut config = StackConfig::new(paths);
    config.mptcp = Some(MptcpSettings::default());
    let stack = Stack::start(config)?;
    let mut stream = Stream::connect_timeout(&stack, args.to, Duration::from_secs(10))?;
    let mut input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&args.file)?)
    };
    let sent = io::copy(&mut input, &mut stream)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    io::stdout().write_all(&answer)?;
    if let Some(info) = stream.mptcp_info()? {
        for sub in &info.subflows {
            eprintln!(
                "subflow {} {} -> {}: {} bytes sent",
                sub.id.0, sub.tuple.local, sub.tuple.remote, sub.bytes_sent
            );
        }
    }
    eprintln!("sent {sent} bytes, MPTCP {}", stream.is_mptcp()?);
    drop(stream);
    stack.shutdown(Duration::from_secs(5))?;
    Ok(())
}
