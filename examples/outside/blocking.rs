//! Blocking: send 1 MiB over two TUN paths, print the server's answer.
//! Usage: blocking DEV=ADDR DEV=ADDR SERVER:PORT
use std::io::{Read, Write};
use std::net::Shutdown;

use umptcp::{MptcpSettings, PathConfig, Stack, StackConfig, Stream};

type Error = Box<dyn std::error::Error>;

fn path(arg: &str) -> Result<PathConfig, Error> {
    let (device, addr) = arg.split_once('=').ok_or("a path is DEV=ADDR")?;
    Ok(PathConfig::new(device, addr.parse()?))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, server] = args.as_slice() else {
        return Err("usage: blocking DEV=ADDR DEV=ADDR SERVER:PORT".into());
    };
    let mut config = StackConfig::new(vec![path(a)?, path(b)?]);
    config.mptcp = Some(MptcpSettings::default());
    let stack = Stack::start(config)?;
    let mut stream = Stream::connect(&stack, server.parse()?)?;
    stream.write_all(&vec![b'x'; 1 << 20])?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let subflows = stream.mptcp_info()?.map_or(0, |info| info.subflows.len());
    println!("mptcp={} subflows={subflows} answer={answer}", stream.is_mptcp()?);
    Ok(())
}
