//! `mptcp recv`: listen on our stack, receive connections one after
//! another, print a result line for each.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use umptcp_proto::PolicyRegistry;

use umptcp_tun::Stack;

use crate::LINGER;
use crate::args::RecvArgs;
use crate::error::CliError;
use crate::report::{Direction, Stopwatch, Tally};
use umptcp_tun::Listener;

use crate::transport;

/// Bytes asked for per read (the stream's own largest chunk).
const CHUNK: usize = 256 * 1024;

/// Buffer of the output file: the stream may return small reads.
const FILE_BUFFER: usize = 1024 * 1024;

/// The file connection `index` (1-based) is written to: `base` for the
/// first, `base.2`, `base.3`, ... for the next.
pub(crate) fn output_path(base: &Path, index: u64) -> PathBuf {
    if index <= 1 {
        return base.to_path_buf();
    }
    let mut name = OsString::from(base.as_os_str());
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

/// Create (or truncate) an output file.
fn create(path: &Path) -> Result<BufWriter<File>, CliError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(FILE_BUFFER, f))
        .map_err(|e| CliError::io(format_args!("cannot write {}", path.display()), &e))
}

/// Run `mptcp recv`.
///
/// # Errors
///
/// Any failure, phrased for the user: the output file, the devices, the
/// transfer or the stack's shutdown.
pub(crate) fn run(args: &RecvArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    // Create the first output file before the devices, so that a path that
    // cannot be written fails at once rather than after a transfer.
    let mut first_output = match &args.output {
        Some(base) => {
            let path = output_path(base, 1);
            Some((create(&path)?, path))
        }
        None => None,
    };
    if let Some(device) = args.stack.duplicate_device() {
        return Err(CliError::new(format!(
            "device {device} is named by two --path options"
        )));
    }
    let stack = Stack::start(args.stack.stack_config(registry))?;
    let listener = Listener::bind(&stack, args.port)
        .map_err(|e| CliError::io(format_args!("listening on port {}", args.port), &e))?;

    let mut buf = vec![0u8; CHUNK];
    for index in 1..=args.count {
        let (mut conn, peer) = listener
            .accept()
            .map_err(|e| CliError::io(format_args!("accepting on port {}", args.port), &e))?;
        let clock = Stopwatch::start();
        let mut output = match (first_output.take(), &args.output) {
            (Some(first), _) => Some(first),
            (None, Some(base)) => {
                let path = output_path(base, index);
                Some((create(&path)?, path))
            }
            (None, None) => None,
        };
        let mut tally = Tally::default();
        let stream = &mut conn;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(CliError::io(format_args!("receiving from {peer}"), &e));
                }
            };
            tally.update(&buf[..n]);
            if let Some((file, path)) = &mut output {
                file.write_all(&buf[..n])
                    .map_err(|e| CliError::io(format_args!("writing {}", path.display()), &e))?;
            }
        }
        let elapsed = clock.elapsed();
        let info = transport::mptcp_info(&conn);
        // End of stream: close our side too.
        drop(conn);
        if let Some((mut file, path)) = output {
            file.flush()
                .map_err(|e| CliError::io(format_args!("writing {}", path.display()), &e))?;
        }
        let report = tally.finish(Direction::Received, elapsed);
        transport::print(&report, info.as_ref(), args.stack.json, args.stack.ss)?;
    }

    drop(listener);
    stack.shutdown(LINGER)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_files_are_numbered_from_the_second() {
        let base = Path::new("/tmp/out.bin");
        assert_eq!(output_path(base, 1), PathBuf::from("/tmp/out.bin"));
        assert_eq!(output_path(base, 2), PathBuf::from("/tmp/out.bin.2"));
        assert_eq!(output_path(base, 10), PathBuf::from("/tmp/out.bin.10"));
    }
}
