//! Lab: the async handles (feature `tokio`) against the kernel's MPTCP
//! (LAB.md), on a tokio runtime of two worker threads.
//!
//! - 2,000 kernel MPTCP connections at once through one `AsyncListener`,
//!   each echoed 64 KiB by a task of its own: every byte comes back, every
//!   connection is MPTCP at both ends, and the stack thread is the only
//!   thread the stack adds.
//! - `AsyncStream::connect` to a kernel MPTCP echo server: split halves in
//!   two tasks, the half-close carried across, and a connect timeout kept
//!   by tokio's timer against an address that never answers.
//!
//! Topology (one namespace per test): a TUN device made by the stack, the
//! kernel's address `.1` and ours `.2`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umptcp_lab::{Netns, kernel_mptcp_listener, nstat, require_lab, run_in};
use umptcp_proto::MptcpEvent;
use umptcp_tun::{
    AsyncListener, AsyncStream, ConnectOptions, MptcpSettings, PathConfig, Stack, StackConfig,
};

const CONNECTIONS: usize = 2000;
const ECHO: usize = 64 * 1024;
const IPPROTO_MPTCP: i32 = 262;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// An MPTCP stack on `dev` at `ours`, sized for `connections` at once:
/// buffers small enough that thousands fit in memory.
fn stack(ns: &Netns, dev: &str, ours: &str, connections: usize) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new(dev, ours.parse().unwrap())]);
    config.seed = Some(21);
    config.max_connections = connections + 64;
    config.accept_backlog = connections;
    let mut settings = MptcpSettings::default();
    settings.config.send_buffer = 128 * 1024;
    settings.config.recv_buffer = 128 * 1024;
    settings.config.tcp.send_buffer = 64 * 1024;
    settings.config.tcp.recv_buffer = 64 * 1024;
    // A connection's close (and the end of its event stream) waits for
    // TIME-WAIT: keep it short.
    settings.config.tcp.time_wait = Duration::from_secs(1);
    config.mptcp = Some(settings);
    run_in(ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts")
}

/// Connection `k`'s bytes.
fn pattern(k: usize) -> Vec<u8> {
    (0..ECHO)
        .map(|j| (j as u8).wrapping_mul(7) ^ (k as u8) ^ (k >> 8) as u8)
        .collect()
}

/// Room for the client's sockets: one descriptor per connection.
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.max(limit.rlim_cur);
            limit.rlim_max = limit.rlim_max.max(want);
            assert_eq!(
                libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit),
                0,
                "raising RLIMIT_NOFILE to {want}"
            );
        }
    }
}

fn counter(ns: &Netns, name: &str) -> u64 {
    nstat(ns).expect("nstat").get(name).copied().unwrap_or(0)
}

#[test]
fn lab_async_two_thousand_kernel_mptcp_connections_echoed_through_one_listener() {
    let test = "lab_async_two_thousand_kernel_mptcp_connections_echoed_through_one_listener";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    raise_fd_limit(CONNECTIONS as u64 * 2 + 256);
    let ns = Netns::new("async").expect("namespace");
    let stack = stack(&ns, "ma0", "10.79.0.2", CONNECTIONS);
    let server: SocketAddr = "10.79.0.2:7000".parse().unwrap();
    // The client's sockets are made in the namespace (a socket belongs to
    // the namespace it was made in) and handed to tokio unconnected.
    let sockets: Vec<std::net::TcpStream> = run_in(&ns, || {
        (0..CONNECTIONS)
            .map(|_| {
                let s = Socket::new(
                    Domain::IPV4,
                    Type::STREAM,
                    Some(Protocol::from(IPPROTO_MPTCP)),
                )
                .expect("kernel MPTCP socket");
                s.set_nonblocking(true).expect("nonblocking");
                s.into()
            })
            .collect()
    })
    .expect("enter namespace");
    let threads_before = thread_count();

    let rt = runtime();
    let outcome = rt.block_on(async {
        let listener = AsyncListener::bind(&stack, server.port()).expect("listen");
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let all_mptcp = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let serving = {
            let accepted = Arc::clone(&accepted);
            let all_mptcp = Arc::clone(&all_mptcp);
            tokio::spawn(async move {
                let mut echoes = Vec::with_capacity(CONNECTIONS);
                for _ in 0..CONNECTIONS {
                    let (stream, _peer) = listener.accept().await.expect("accept");
                    accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    echoes.push(tokio::spawn(async move {
                        let (mut rd, mut wr) = stream.into_split().expect("split");
                        let copied = tokio::io::copy(&mut rd, &mut wr).await.expect("echo");
                        wr.shutdown().await.expect("shutdown");
                        let mptcp = wr.stream().is_mptcp().unwrap_or(false);
                        (copied, mptcp)
                    }));
                }
                let mut total = 0;
                for echo in echoes {
                    let (copied, mptcp) = echo.await.expect("echo task");
                    total += copied;
                    if !mptcp {
                        all_mptcp.store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                total
            })
        };
        // Every connection opens before any sends: 2,000 at once. The
        // handshakes go 200 at a time: a burst of 2,000 SYNs overflows the
        // TUN device's queue, and a kernel client whose MP_CAPABLE SYN is
        // lost twice retries without it (plain TCP, as RFC 8684 §3.7
        // allows), which is not what this test is about.
        let opened = Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
        let handshakes = Arc::new(tokio::sync::Semaphore::new(200));
        let clients: Vec<_> = sockets
            .into_iter()
            .enumerate()
            .map(|(k, socket)| {
                let opened = Arc::clone(&opened);
                let handshakes = Arc::clone(&handshakes);
                tokio::spawn(async move {
                    let socket = tokio::net::TcpSocket::from_std_stream(socket);
                    let permit = handshakes.acquire().await.expect("semaphore");
                    let mut conn =
                        tokio::time::timeout(Duration::from_secs(120), socket.connect(server))
                            .await
                            .unwrap_or_else(|_| panic!("connection {k}: connect timed out"))
                            .unwrap_or_else(|e| panic!("connection {k}: {e}"));
                    drop(permit);
                    opened.wait().await;
                    let sent = pattern(k);
                    let (mut rd, mut wr) = conn.split();
                    let write = async {
                        wr.write_all(&sent).await?;
                        wr.shutdown().await
                    };
                    let mut back = Vec::with_capacity(ECHO);
                    let read = rd.read_to_end(&mut back);
                    let (w, r) = tokio::join!(write, read);
                    w.unwrap_or_else(|e| panic!("connection {k}: write: {e}"));
                    r.unwrap_or_else(|e| panic!("connection {k}: read: {e}"));
                    drop(conn);
                    back == sent
                })
            })
            .collect();
        let mut exact = 0;
        for client in clients {
            if tokio::time::timeout(Duration::from_secs(300), client)
                .await
                .expect("a client finishes")
                .expect("client task")
            {
                exact += 1;
            }
        }
        let echoed = tokio::time::timeout(Duration::from_secs(60), serving)
            .await
            .expect("the server finishes")
            .expect("server task");
        (
            exact,
            echoed,
            accepted.load(std::sync::atomic::Ordering::Relaxed),
            all_mptcp.load(std::sync::atomic::Ordering::Relaxed),
        )
    });
    let threads_during = thread_count();
    drop(rt);
    let (exact, echoed, accepted, all_mptcp) = outcome;
    assert_eq!(accepted, CONNECTIONS, "every connection accepted");
    assert_eq!(exact, CONNECTIONS, "every connection got its bytes back");
    assert_eq!(echoed, (CONNECTIONS * ECHO) as u64, "bytes echoed");
    assert!(all_mptcp, "every connection is MPTCP at our end");
    assert!(
        counter(&ns, "MPTcpExtMPCapableSYNACKRX") >= CONNECTIONS as u64,
        "the kernel saw MP_CAPABLE on every SYN/ACK"
    );
    // The runtime's two workers (and its blocking pool, if any) aside,
    // 2,000 connections add no thread.
    assert!(
        threads_during <= threads_before + 2 + 8,
        "threads {threads_before} before, {threads_during} with 2,000 connections"
    );
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

/// Threads of this process now.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn lab_async_connect_to_a_kernel_mptcp_echo_server_with_split_halves() {
    let test = "lab_async_connect_to_a_kernel_mptcp_echo_server_with_split_halves";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("asyncc").expect("namespace");
    let stack = stack(&ns, "mb0", "10.79.1.2", 16);
    let kernel: SocketAddr = "10.79.1.1:7001".parse().unwrap();
    let listener = run_in(&ns, || kernel_mptcp_listener(kernel))
        .expect("enter namespace")
        .expect("kernel listens");
    let echo = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("kernel accepts");
        let mut copy = conn.try_clone().expect("clone");
        let n = std::io::copy(&mut conn, &mut copy).expect("kernel echoes");
        copy.shutdown(std::net::Shutdown::Write).expect("shutdown");
        n
    });
    // Every connection's events, stack-wide, as a proxy would log them.
    let all_events = stack.subscribe().expect("subscribe");
    const SIZE: usize = 4 << 20;
    let sent: Vec<u8> = (0..SIZE)
        .map(|j| (j as u8).wrapping_mul(13) ^ 0x5a)
        .collect();
    let rt = runtime();
    let (back, mptcp, local, mut events) = rt.block_on(async {
        let stream = AsyncStream::connect(&stack, kernel)
            .await
            .expect("our async client connects");
        let local = stream.local_addr();
        let events = stream.events();
        let (mut rd, mut wr) = stream.into_split().expect("split");
        let data = sent.clone();
        let writer = tokio::spawn(async move {
            wr.write_all(&data).await.expect("write");
            // The half-close: the kernel reads the end, echoes the rest,
            // and closes its side, which ends our read.
            wr.shutdown().await.expect("shutdown");
            wr.stream().is_mptcp().expect("is_mptcp")
        });
        let mut back = Vec::with_capacity(SIZE);
        rd.read_to_end(&mut back).await.expect("read to the end");
        (back, writer.await.expect("writer task"), local, events)
    });
    // Both halves are gone: the connection closes, and its event stream
    // ends once the stack has forgotten it.
    let (seen, ended) = rt.block_on(async {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), events.next()).await {
                Ok(Some(event)) => seen.push(event),
                Ok(None) => return (seen, true),
                Err(_) => return (seen, false),
            }
        }
    });
    assert!(ended, "the event stream ends with the connection: {seen:?}");
    assert!(
        seen.first() == Some(&MptcpEvent::Connected { mptcp: true }),
        "the first event: {seen:?}"
    );
    assert!(seen.contains(&MptcpEvent::Closed), "the close: {seen:?}");
    let mut logged = Vec::new();
    while let Some(e) = all_events.try_recv().expect("the stack runs") {
        logged.push(e);
    }
    assert!(
        logged
            .iter()
            .all(|e| e.local == local && e.peer == kernel && e.connection == logged[0].connection),
        "one connection's events, with its addresses: {logged:?}"
    );
    let logged: Vec<MptcpEvent> = logged.iter().map(|e| e.event).collect();
    assert_eq!(
        logged, seen,
        "the subscriber saw what the connection's stream saw"
    );
    assert_eq!(all_events.dropped(), 0);
    assert_eq!(local.ip(), "10.79.1.2".parse::<IpAddr>().unwrap());
    assert!(mptcp, "the connection is MPTCP");
    assert!(
        back.len() == SIZE && back == sent,
        "{} of {SIZE} bytes echoed exactly",
        back.len()
    );
    assert_eq!(echo.join().expect("echo thread"), SIZE as u64);

    // Nothing answers at .9 of a routed subnet (the kernel side drops
    // it): tokio's timer ends the connect, as the option asks.
    let silent: SocketAddr = "10.79.1.9:7002".parse().unwrap();
    #[allow(clippy::disallowed_methods)] // a lab test waits in real time
    let started = std::time::Instant::now();
    let err = rt
        .block_on(AsyncStream::connect_with(
            &stack,
            silent,
            ConnectOptions::new().timeout(Duration::from_millis(700)),
        ))
        .expect_err("nothing answers");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("10.79.1.9:7002"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout, not the SYN retransmissions, ended it"
    );
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}
