//! Relaying two stack connections that live on different stacks (the
//! capture front's stack and the multipath stack): a thread per direction.
//! Connections of one stack go through [`umptcp_tun::Stack::splice`]
//! instead, and a stack connection with a kernel socket through
//! [`umptcp_tun::Stack::splice_socket`]; neither crosses stacks.
//!
//! Teardown is carried across as a proxy must: the end of one stream
//! (FIN or DATA_FIN) shuts down the sending side of the other, and a
//! reset on either side aborts the other (RST, or MP_FASTCLOSE on an
//! MPTCP connection; RFC 8803 §4.2 and §5.1 map them this way).

use std::io::{self, Read, Write};
use std::net::Shutdown;

use umptcp_tun::Stream;

/// Bytes read per call: a few segments' worth, one buffer per direction.
const CHUNK: usize = 64 << 10;

/// Relay `a` and `b` both ways until both directions have ended; the
/// bytes moved from `a` to `b` and from `b` to `a`.
///
/// # Errors
///
/// A direction failed (a reset, the stack stopped); the other side was
/// aborted. The error is the first direction's to fail.
pub fn streams(a: Stream, b: Stream) -> io::Result<(u64, u64)> {
    let (a_read, a_write) = (a.try_clone()?, a);
    let (b_read, b_write) = (b.try_clone()?, b);
    std::thread::scope(|scope| {
        let back = std::thread::Builder::new()
            .name("umptcp-relay".to_owned())
            .spawn_scoped(scope, || one_way(b_read, &a_write))?;
        let forth = one_way(a_read, &b_write);
        let back = back
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the relay thread panicked")));
        Ok((forth?, back?))
    })
}

/// Copy `from` into `to` until `from` ends, then shut down `to`'s sending
/// side. On a failure on either side, abort both, so that neither end
/// waits on a connection that is half gone.
fn one_way(mut from: Stream, to: &Stream) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut moved = 0u64;
    let result = loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break to.shutdown(Shutdown::Write),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if let Err(e) = (&*to).write_all(&buf[..n]) {
            break Err(e);
        }
        moved += n as u64;
    };
    match result {
        Ok(()) => Ok(moved),
        Err(e) => {
            let _ = to.abort();
            let _ = from.abort();
            Err(e)
        }
    }
}
