//! An async echo server on our MPTCP stack: every connection a task of
//! its own on tokio, thousands at once on one stack thread. A line per
//! finished connection: its peer, whether it speaks MPTCP, its subflows
//! and the bytes echoed.
//!
//! `cargo run --features tokio --example tokio_echo -- --help`
//! (runs as root: it makes or opens the TUN devices).

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;
use umptcp::{AsyncListener, MptcpSettings, PathConfig, Stack, StackConfig};

/// Echo every byte back, over MPTCP (falling back to TCP for clients
/// that do not speak it).
#[derive(Parser)]
struct Args {
    /// A path: a TUN device and our address on it (`tun0=10.61.0.2`);
    /// repeat for more paths. A device that does not exist is made, the
    /// kernel's side taking host 1 of the /24 (host 2 if ours is host 1).
    #[arg(long = "path", value_name = "DEV=ADDR", required = true, value_parser = parse_path)]
    paths: Vec<(String, IpAddr)>,
    /// The port to listen on, at every path address.
    #[arg(long, default_value_t = 7)]
    port: u16,
    /// Stop after this many connections have finished (0: never).
    #[arg(long, default_value_t = 0)]
    connections: usize,
}

fn parse_path(arg: &str) -> Result<(String, IpAddr), String> {
    let (device, addr) = arg.split_once('=').ok_or("a path is DEV=ADDR")?;
    let addr = addr.parse().map_err(|e| format!("{addr:?}: {e}"))?;
    Ok((device.to_owned(), addr))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let paths = args
        .paths
        .iter()
        .map(|(dev, addr)| PathConfig::new(dev, *addr))
        .collect();
    let mut config = StackConfig::new(paths);
    config.max_connections = 8192;
    config.accept_backlog = 4096;
    config.mptcp = Some(MptcpSettings::default());
    let stack = Stack::start(config)?;
    let listener = AsyncListener::bind(&stack, args.port)?;
    eprintln!("echoing on port {}", args.port);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut finished = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let (mut rd, mut wr) = match stream.into_split() {
                        Ok(halves) => halves,
                        Err(e) => return drop(done.send(format!("{peer} failed: {e}"))),
                    };
                    let echoed = tokio::io::copy(&mut rd, &mut wr).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut wr).await;
                    let info = wr.stream().mptcp_info().ok().flatten();
                    let mptcp = info.as_ref().is_some_and(|i| i.mptcp);
                    let subflows = info.map_or(1, |i| i.subflows.len());
                    let line = match echoed {
                        Ok(n) => format!("{peer} mptcp={mptcp} subflows={subflows} echoed={n}"),
                        Err(e) => format!("{peer} mptcp={mptcp} failed: {e}"),
                    };
                    let _ = done.send(line);
                });
            }
            Some(line) = done_rx.recv() => {
                println!("{line}");
                finished += 1;
                if finished == args.connections {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Echoed bytes may still wait for the peers' acknowledgements: let
    // the connections close (at most 10 s) before the process ends.
    drop(listener);
    tokio::task::spawn_blocking(move || stack.shutdown(Duration::from_secs(10))).await??;
    Ok(())
}
