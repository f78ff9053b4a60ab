//! Async: send 1 MiB over two TUN paths, print the server's answer.
//! Usage: tokio DEV=ADDR DEV=ADDR SERVER:PORT
use umptcp::{AsyncStream, MptcpSettings, PathConfig, Stack, StackConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error>;

fn path(arg: &str) -> Result<PathConfig, Error> {
    let (device, addr) = arg.split_once('=').ok_or("a path is DEV=ADDR")?;
    Ok(PathConfig::new(device, addr.parse()?))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, server] = args.as_slice() else {
        return Err("usage: tokio DEV=ADDR DEV=ADDR SERVER:PORT".into());
    };
    let mut config = StackConfig::new(vec![path(a)?, path(b)?]);
    config.mptcp = Some(MptcpSettings::default());
    let stack = Stack::start(config)?;
    let mut stream = AsyncStream::connect(&stack, server.parse()?).await?;
    stream.write_all(&vec![b'x'; 1 << 20]).await?;
    stream.shutdown().await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let info = stream.get_ref().mptcp_info()?;
    let mptcp = info.as_ref().is_some_and(|info| info.mptcp);
    let subflows = info.map_or(0, |info| info.subflows.len());
    println!("mptcp={mptcp} subflows={subflows} answer={answer}");
    Ok(())
}
