//! Lab, coupled congestion control against the real kernel: our MPTCP
//! client's two subflows and one kernel TCP flow share one `tbf`
//! bottleneck; our share of it with LIA (RFC 6356) beside our share with
//! uncoupled CUBIC.
//!
//! ```text
//!  namespace host                                          namespace peer
//!  our stack 10.120.0.2 ─tun cpa0─ 10.120.0.1 ┐
//!  our stack 10.121.0.2 ─tun cpb0─ 10.121.0.1 ┼ hv 10.122.0.1 ══tbf══▶ pv 10.122.0.2
//!  (mptcp send: one subflow per path)         │   20 Mbit/s, 50 kB       :5000 kernel MPTCP server
//!                             hc 10.124.0.1 ──┘                          :5001 kernel TCP server
//!                                  ║
//!  namespace comp                  ║
//!  kernel TCP client (CUBIC) cv 10.124.0.2
//! ```
//!
//! The host forwards both TUN paths and the competitor's veth into one
//! veth pair towards the peer, shaped with `tbf` in the host → peer
//! direction only (the data's; ACKs come back unshaped): 20 Mbit/s with a
//! 50 kB drop-tail queue, 20 ms at that rate, the bandwidth-delay product
//! of a 20 ms path. The lab has no netem (LAB.md), and veth and TUN add
//! well under a millisecond, so the round-trip time every flow sees is
//! mostly that shared queue. The peer routes our TUN subnets and the
//! competitor's back via the host.
//!
//! The competitor has a namespace of its own so that, like our packets,
//! its packets are forwarded into the bottleneck. A sender in the host
//! itself would meet the `tbf` queue as its own qdisc: TCP Small Queues
//! hold it back and a full queue makes it reduce its window at once
//! (local congestion), no loss needed. Measured that way, the shares stayed
//! on plateaus for seconds and swung from run to run. The competitor runs
//! CUBIC through its route (`congctl lock cubic`), whatever the machine's
//! default.
//!
//! Our client (the `mptcp` binary, fullmesh) connects from 10.120.0.2 and
//! joins from 10.121.0.2; both subflows go to 10.122.0.2, so both cross
//! the same bottleneck, the case coupled congestion control is for. Each
//! run starts our client and the kernel competitor together, both sending
//! without end; after a warm-up the peer counts the bytes each connection
//! delivers in a fixed window, and our share is ours / (ours + the
//! competitor's). Then our client is killed and the competitor stopped.
//! Two runs: `--cc lia`, then `--cc cubic` (each subflow on its own).
//!
//! RFC 6356's second goal, "do no harm": a multipath flow takes no more
//! from a resource its paths share than a single flow on one of those
//! paths would. So LIA should take about half of the bottleneck beside one
//! kernel flow, and two uncoupled CUBIC subflows about two thirds. The
//! test asserts only the functional part: both connections delivered data in the window while both were running,
//! our connection had one subflow per path at the peer and each carried
//! data, the competitor ran CUBIC, and the kernel saw no fallback. The
//! shares are printed, recorded in docs/congestion-control.md; they are
//! measurements, not assertions, and they vary from run to run.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use umptcp_lab::{Netns, kernel_mptcp_listener, require_lab, run_in};

/// The rate of the shared bottleneck, in Mbit/s.
const RATE_MBIT: u32 = 20;
/// The bottleneck's queue, in bytes (20 ms at 20 Mbit/s).
const QUEUE: &str = "50kb";
/// The peer's address, behind the bottleneck.
const PEER: &str = "10.122.0.2";
/// From both connections' first bytes to the start of the window: slow
/// start and the first losses are over.
const WARM_UP: Duration = Duration::from_secs(3);
/// The measurement window, during which both connections send.
const WINDOW: Duration = Duration::from_secs(14);
/// How long connecting and the first bytes may take.
const START_BOUND: Duration = Duration::from_secs(15);
/// More than our client can send in a run: it is killed after the window.
const OURS_BYTES: &str = "4G";

/// The namespaces of the lab, deleted when dropped.
struct Topology {
    /// Our stack and the bottleneck's sending side.
    host: Netns,
    /// The kernel servers, behind the bottleneck.
    peer: Netns,
    /// The kernel TCP competitor.
    comp: Netns,
}

/// A veth pair from `a` (device `a_dev`, address `a_addr`) to `b`, up.
fn veth(a: &Netns, a_dev: &str, a_addr: &str, b: &Netns, b_dev: &str, b_addr: &str) {
    a.ip(&[
        "link",
        "add",
        a_dev,
        "type",
        "veth",
        "peer",
        "name",
        b_dev,
        "netns",
        b.name(),
    ])
    .unwrap();
    a.ip(&["addr", "add", a_addr, "dev", a_dev]).unwrap();
    b.ip(&["addr", "add", b_addr, "dev", b_dev]).unwrap();
    a.ip(&["link", "set", a_dev, "up"]).unwrap();
    b.ip(&["link", "set", b_dev, "up"]).unwrap();
}

/// The three namespaces, the links and the routes.
fn topology() -> Topology {
    let topo = Topology {
        host: Netns::new("cplhost").expect("namespace"),
        peer: Netns::new("cplpeer").expect("namespace"),
        comp: Netns::new("cplcomp").expect("namespace"),
    };
    let Topology { host, peer, comp } = &topo;
    veth(
        host,
        "hv",
        "10.122.0.1/24",
        peer,
        "pv",
        &format!("{PEER}/24"),
    );
    veth(host, "hc", "10.124.0.1/24", comp, "cv", "10.124.0.2/24");
    // The bottleneck: host → peer, the direction of the data.
    host.run(&[
        "tc",
        "qdisc",
        "add",
        "dev",
        "hv",
        "root",
        "tbf",
        "rate",
        &format!("{RATE_MBIT}mbit"),
        "burst",
        "16kb",
        "limit",
        QUEUE,
    ])
    .unwrap();
    host.sysctl("net.ipv4.ip_forward", "1").unwrap();
    // The competitor runs CUBIC, the kernel's usual default, whatever this
    // machine's default is (one here had BBR, with CUBIC outside the
    // allowed list, so that neither the namespace's sysctl nor
    // TCP_CONGESTION may choose it; a route's congctl may).
    comp.ip(&[
        "route",
        "add",
        "10.122.0.0/24",
        "via",
        "10.124.0.1",
        "congctl",
        "lock",
        "cubic",
    ])
    .unwrap();
    // Replies to both TUN subnets and to the competitor go back via the host.
    for subnet in ["10.120.0.0/15", "10.124.0.0/24"] {
        peer.ip(&["route", "add", subnet, "via", "10.122.0.1"])
            .unwrap();
    }
    // The kernel server accepts our MP_JOIN.
    peer.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    topo
}

/// One connection's receiving end at the peer: its bytes, counted as they
/// arrive, and a handle to end it.
struct Sink {
    delivered: Arc<AtomicU64>,
    conn: TcpStream,
    reader: JoinHandle<()>,
    /// Kept open: the kernel takes an MP_JOIN through the listener, and
    /// answers it with a reset once the listener is closed.
    _listener: TcpListener,
}

impl Sink {
    /// End the connection and wait for the reader.
    fn close(self) {
        let _ = self.conn.shutdown(Shutdown::Both);
        self.reader.join().unwrap();
    }
}

/// Accept one connection on `listener` (on a thread) and count what it
/// delivers; the sink arrives on the returned channel.
fn accept_counting(listener: TcpListener) -> mpsc::Receiver<std::io::Result<Sink>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let delivered = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&delivered);
        let handle = match conn.try_clone() {
            Ok(h) => h,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 << 10];
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        let _ = tx.send(Ok(Sink {
            delivered,
            conn: handle,
            reader,
            _listener: listener,
        }));
    });
    rx
}

/// Our client, killed when dropped (also when the test fails).
struct Client(Child);

impl Client {
    /// Stop the client and return what it said on standard error, for a
    /// failure message.
    fn stderr(&mut self) -> String {
        let _ = self.0.kill();
        let status = self.0.wait().map(|s| s.to_string()).unwrap_or_default();
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        format!("mptcp send ({status}): {err}")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The kernel TCP competitor: a thread writing without end until stopped
/// (also when the test fails).
struct Competitor {
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
}

impl Competitor {
    /// Connect from namespace `ns` to `to` and start writing.
    fn start(ns: &Netns, to: SocketAddr) -> Self {
        let mut conn = run_in(ns, || TcpStream::connect_timeout(&to, START_BOUND))
            .unwrap()
            .expect("kernel TCP competitor connects");
        conn.set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let buf = vec![0x5au8; 64 << 10];
            while !flag.load(Ordering::Relaxed) {
                match conn.write(&buf) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
            let _ = conn.shutdown(Shutdown::Both);
        });
        Self {
            stop,
            writer: Some(writer),
        }
    }

    /// Whether the writer stopped by itself (its connection failed).
    fn finished(&self) -> bool {
        self.writer.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Competitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// What one run measured.
struct Run {
    /// Bytes our connection delivered during the window.
    ours: u64,
    /// Bytes the kernel competitor delivered during the window.
    theirs: u64,
    /// The window's length, as measured.
    secs: f64,
    /// `bytes_received` of each of our subflows at the peer, by our address.
    subflows: Vec<(String, u64)>,
    /// Our share in each second of the window.
    per_second: Vec<f64>,
    /// Our segments whose data the peer already had (MPTcpExtDuplicateData,
    /// the whole run).
    duplicates: u64,
}

/// Our share of what both delivered (0 when neither delivered anything).
fn share(ours: u64, theirs: u64) -> f64 {
    if ours + theirs == 0 {
        0.0
    } else {
        ours as f64 / (ours + theirs) as f64
    }
}

impl Run {
    fn share(&self) -> f64 {
        share(self.ours, self.theirs)
    }

    fn mbps(bytes: u64, secs: f64) -> f64 {
        bytes as f64 * 8.0 / secs / 1e6
    }
}

/// The TCP sockets (our subflows) at the peer whose local port is `port`,
/// as (remote address, `bytes_received`), from `ss -tni`.
fn peer_subflows(peer: &Netns, port: u16) -> (Vec<(String, u64)>, String) {
    let out = peer
        .run(&["ss", "-tniH", "state", "established"])
        .expect("ss");
    let local = format!("{PEER}:{port}");
    let mut found = Vec::new();
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // Recv-Q Send-Q Local Peer, then the info on the next line(s).
        let Some(at) = words.iter().position(|w| *w == local) else {
            continue;
        };
        let Some(remote) = words.get(at + 1) else {
            continue;
        };
        let mut info = String::new();
        while let Some(next) = lines.peek() {
            if next.starts_with(char::is_whitespace) {
                info.push_str(next);
                lines.next();
            } else {
                break;
            }
        }
        let received = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("bytes_received:"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let addr = remote.rsplit_once(':').map_or(*remote, |(a, _)| a);
        found.push((addr.to_owned(), received));
    }
    found.sort();
    (found, out)
}

/// A counter of `nstat` in the peer (0 if absent).
fn counter(peer: &Netns, name: &str) -> u64 {
    umptcp_lab::nstat(peer)
        .expect("nstat")
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// One run: our client with `cc` and the kernel competitor, together.
// A lab test is a driver: it reads the clock to time the window.
#[allow(clippy::disallowed_methods)]
fn run(topo: &Topology, cc: &str, ports: (u16, u16), seed: u32) -> Run {
    let Topology { host, peer, comp } = topo;
    let (ours_port, theirs_port) = ports;
    let joins_before = counter(peer, "MPTcpExtMPJoinAckRx");
    let duplicates_before = counter(peer, "MPTcpExtDuplicateData");
    let mptcp_listener = run_in(peer, || {
        kernel_mptcp_listener(SocketAddr::from(([0, 0, 0, 0], ours_port)))
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    let tcp_listener = run_in(peer, || {
        TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], theirs_port)))
    })
    .unwrap()
    .expect("kernel TCP listener");
    let ours_rx = accept_counting(mptcp_listener);
    let theirs_rx = accept_counting(tcp_listener);

    // Both start together: our client, then at once the competitor.
    // --path cpa0 is a /14 so that it holds the peer's address (--to must
    // lie in a path's subnet); the host's /24 on hv is more specific, so
    // the kernel forwards to the peer over the bottleneck.
    let mut client = Client(
        Command::new("ip")
            .args(["netns", "exec", host.name(), env!("CARGO_BIN_EXE_mptcp")])
            .args(["send", "--path", "cpa0=10.120.0.2/14"])
            .args(["--path", "cpb0=10.121.0.2/24"])
            .args(["--to", &format!("{PEER}:{ours_port}")])
            .args(["--bytes", OURS_BYTES, "--cc", cc])
            .args(["--seed", &seed.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mptcp"),
    );
    let to_theirs = format!("{PEER}:{theirs_port}").parse().unwrap();
    let competitor = Competitor::start(comp, to_theirs);
    let ours = match ours_rx.recv_timeout(START_BOUND) {
        Ok(sink) => sink.unwrap(),
        Err(_) => panic!(
            "our client reaches the kernel MPTCP server ({cc}): {}",
            client.stderr()
        ),
    };
    let theirs = theirs_rx
        .recv_timeout(START_BOUND)
        .expect("the competitor reaches the kernel TCP server")
        .unwrap();

    // Wait (bounded) for both to deliver, then warm up and measure.
    let deadline = Instant::now() + START_BOUND;
    while ours.delivered.load(Ordering::Relaxed) == 0
        || theirs.delivered.load(Ordering::Relaxed) == 0
    {
        if Instant::now() > deadline {
            panic!(
                "both connections deliver within {START_BOUND:?} ({cc}): {}",
                client.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(WARM_UP);
    // The window, read once a second: the share second by second shows
    // whether it is still moving.
    let read = || {
        (
            ours.delivered.load(Ordering::Relaxed),
            theirs.delivered.load(Ordering::Relaxed),
        )
    };
    let start = Instant::now();
    let (ours0, theirs0) = read();
    let mut last = (ours0, theirs0);
    let mut per_second = Vec::new();
    for k in 1..=WINDOW.as_secs() {
        let tick = start + Duration::from_secs(k);
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        let now = read();
        per_second.push(share(now.0 - last.0, now.1 - last.1));
        last = now;
    }
    let (ours1, theirs1) = last;
    let secs = start.elapsed().as_secs_f64();
    let (subflows, ss) = peer_subflows(peer, ours_port);
    let ss_mptcp = umptcp_lab::ss_mptcp(peer).expect("ss -M");
    let competitor_ss = comp
        .run(&["ss", "-tniH", "dst", &format!("{PEER}:{theirs_port}")])
        .expect("ss");

    // Both were still running at the end of the window.
    assert!(
        !competitor.finished(),
        "the competitor was still sending at the end of the window ({cc})"
    );
    if client.0.try_wait().unwrap().is_some() {
        panic!(
            "our client ended during the window ({cc}): {}",
            client.stderr()
        );
    }
    let joins = counter(peer, "MPTcpExtMPJoinAckRx") - joins_before;
    if joins == 0 {
        let counters: Vec<(String, u64)> = umptcp_lab::nstat(peer)
            .expect("nstat")
            .into_iter()
            .filter(|(name, value)| name.starts_with("MPTcp") && *value != 0)
            .collect();
        panic!(
            "the kernel server accepted our MP_JOIN ({cc}): {ss_mptcp}\n{counters:?}\n{ss}\n{}",
            client.stderr()
        );
    }
    let duplicates = counter(peer, "MPTcpExtDuplicateData") - duplicates_before;
    drop(client);
    drop(competitor);
    ours.close();
    theirs.close();

    assert!(
        competitor_ss.contains(" cubic "),
        "the competitor runs CUBIC: {competitor_ss}"
    );
    assert_eq!(
        subflows.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["10.120.0.2", "10.121.0.2"],
        "one subflow per path at the peer ({cc}): {ss}"
    );
    for (addr, received) in &subflows {
        assert!(
            *received > 0,
            "the subflow from {addr} carried data ({cc}): {ss}"
        );
    }
    assert!(
        !ss_mptcp.contains("fallback"),
        "no fallback ({cc}): {ss_mptcp}"
    );
    Run {
        ours: ours1 - ours0,
        theirs: theirs1 - theirs0,
        secs,
        subflows,
        per_second,
        duplicates,
    }
}

#[test]
fn lab_coupled_lia_share_of_a_shared_bottleneck_beside_uncoupled_cubic() {
    let test = "lab_coupled_lia_share_of_a_shared_bottleneck_beside_uncoupled_cubic";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let topo = topology();
    let lia = run(&topo, "lia", (5000, 5001), 11);
    let cubic = run(&topo, "cubic", (5002, 5003), 12);

    // MPTcpExtMPCapableFallbackACK, ...DssFallback, ...InfiniteMapRx and
    // the like: any way the kernel fell back to plain TCP.
    let fallbacks: Vec<(String, u64)> = umptcp_lab::nstat(&topo.peer)
        .expect("nstat")
        .into_iter()
        .filter(|(name, value)| {
            name.starts_with("MPTcpExt")
                && (name.contains("Fallback") || name.contains("InfiniteMap"))
                && *value != 0
        })
        .collect();
    assert!(
        fallbacks.is_empty(),
        "the kernel counted fallbacks: {fallbacks:?}"
    );
    for (cc, r) in [("lia", &lia), ("cubic", &cubic)] {
        assert!(
            r.ours > 0 && r.theirs > 0,
            "both connections delivered data during the window ({cc}): ours {} B, competitor {} B",
            r.ours,
            r.theirs
        );
        println!(
            "coupled lab, {cc}: ours {:.1} Mbit/s, kernel CUBIC {:.1} Mbit/s over {:.1} s; \
             at the peer, whole run: subflows (bytes received) {:?}, {} duplicate data segments",
            Run::mbps(r.ours, r.secs),
            Run::mbps(r.theirs, r.secs),
            r.secs,
            r.subflows,
            r.duplicates
        );
        let series: Vec<String> = r.per_second.iter().map(|s| format!("{s:.2}")).collect();
        println!("coupled lab, {cc}: share per second {}", series.join(" "));
    }
    println!(
        "coupled lab: lia share {:.2}, cubic share {:.2} (bottleneck {RATE_MBIT} Mbit/s, \
         queue {QUEUE}, 2 subflows + 1 kernel TCP flow)",
        lia.share(),
        cubic.share()
    );
}
