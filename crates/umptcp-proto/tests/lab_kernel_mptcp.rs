//! Lab: one MPTCP connection of ours against the Linux kernel over a TUN
//! device, in both roles (LAB.md). Every transfer is 32 MiB one way and
//! 1 MiB back, with SHA-256 compared at both ends. The kernel's counters
//! (`nstat`) prove it spoke MPTCP and never fell back, `ss -Mni` shows the
//! connection under the token our side computed, and `tshark`'s MPTCP
//! analysis reads the pcaps of the IPv4 and IPv6 cases without a malformed
//! packet or mapping error.
//!
//! Cases: IPv4 and IPv6; DSS checksums asked for by the kernel
//! (`net.mptcp.checksum_enabled=1`) and by us; fallback against a plain
//! TCP kernel listener and a plain TCP kernel client; a second subflow
//! over a second device, joined by us and by the kernel (`subflow`
//! endpoint); a path cut for 1.5 s mid-transfer and back (loss in our
//! driver, or its device down); ADD_ADDR and
//! REMOVE_ADDR (mid-transfer) from each side; MP_FASTCLOSE from each side;
//! our only subflow reset mid-transfer and a join taking over; MP_TCPRST
//! alone from each side; MP_FAIL for a rewritten byte of ours (the kernel
//! detects) and of the kernel's (we detect, in both roles).
//!
//! The driver here is a minimal single-connection loop (the TUN driver's
//! MPTCP streams come later); it is enough to judge the protocol.
//! Topology (one namespace per test): a TUN device with the kernel's
//! address; our connection is the next address behind it.

// The test is the driver here: it reads the real clock and feeds `now` in.
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as StdInstant};

use sha2::{Digest, Sha256};
use tun_rs::SyncDevice;
use umptcp_cc::{CcConfig, Registry};
use umptcp_crypto::token;
use umptcp_lab::{
    Netns, TunConfig, kernel_mptcp_connect, kernel_mptcp_listener, nstat, parse_ss_tokens,
    require_lab, run_in, ss_mptcp, tun_in,
};
use umptcp_proto::{FallbackReason, MptcpConfig, MptcpConnection, MptcpEvent, SubflowId};
use umptcp_tcp::{FourTuple, IsnKey};
use umptcp_time::Instant;
use umptcp_wire::mptcp::TcpRstReason;
use umptcp_wire::pcap::PcapWriter;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};
use umptcp_wire::{AddrId, Key, Nonce};

/// Bytes from the client to the server.
const SIZE: usize = 32 << 20;
/// Bytes back from the server.
const REPLY: usize = 1 << 20;

/// When the kernel sends over two subflows, its scheduler decides the
/// split (it favours the one with the lower RTT; 10 % against 90 % has
/// been seen): each must carry at least this much to count as used.
const KERNEL_SPLIT_MIN: u64 = 1 << 20;

fn stream(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One lab scenario.
#[derive(Clone, Copy)]
struct Case {
    /// Namespace tag (unique per test).
    tag: &'static str,
    v6: bool,
    /// The kernel runs MPTCP (false: a plain TCP socket).
    kernel_mptcp: bool,
    /// `net.mptcp.checksum_enabled=1` in the kernel.
    kernel_checksum: bool,
    /// Our configuration asks for checksums.
    our_checksum: bool,
    /// Record a pcap and check it with tshark.
    pcap: bool,
    /// How long both sides keep a connection without subflows (ours:
    /// `MptcpConfig::close_timeout`; the kernel: `net.mptcp.close_timeout`,
    /// set when it is not the default 60 s).
    close_timeout: Duration,
}

impl Case {
    fn mptcp(tag: &'static str) -> Self {
        Case {
            tag,
            v6: false,
            kernel_mptcp: true,
            kernel_checksum: false,
            our_checksum: false,
            pcap: false,
            close_timeout: Duration::from_secs(60),
        }
    }

    fn expect_checksum(&self) -> bool {
        self.kernel_checksum || self.our_checksum
    }
}

/// The namespace with its TUN device, and the two ends' addresses.
struct Setup {
    ns: Netns,
    dev: SyncDevice,
    kernel: IpAddr,
    ours: IpAddr,
}

fn setup(test: &str, case: &Case, subnet: u8) -> Option<Setup> {
    require_lab(test)?;
    let ns = Netns::new(case.tag).expect("namespace");
    let (kernel, ours, prefix): (IpAddr, IpAddr, u8) = if case.v6 {
        // No duplicate address detection: the address is usable at once.
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0").unwrap();
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0").unwrap();
        (
            format!("fd79:{subnet}::1").parse().unwrap(),
            format!("fd79:{subnet}::2").parse().unwrap(),
            64,
        )
    } else {
        (
            format!("10.79.{subnet}.1").parse().unwrap(),
            format!("10.79.{subnet}.2").parse().unwrap(),
            24,
        )
    };
    if case.kernel_checksum {
        ns.sysctl("net.mptcp.checksum_enabled", "1").unwrap();
    }
    if case.close_timeout != Duration::from_secs(60) {
        let secs = case.close_timeout.as_secs().to_string();
        ns.sysctl("net.mptcp.close_timeout", &secs).unwrap();
    }
    let dev = tun_in(
        &ns,
        &TunConfig {
            name: "mp0".into(),
            addr: kernel,
            prefix,
            mtu: 1500,
        },
    )
    .expect("tun");
    dev.set_nonblocking(true).unwrap();
    Some(Setup {
        ns,
        dev,
        kernel,
        ours,
    })
}

/// Packets seen on the device, for a pcap.
type Recording = Vec<(Duration, Vec<u8>)>;

/// Drive `conn` over `dev` until it closes: packets in, packets out,
/// timers. Sends `data` then shuts down; returns what it received.
fn drive(
    dev: &SyncDevice,
    conn: &mut MptcpConnection,
    data: &[u8],
    epoch: StdInstant,
    record: Option<&mut Recording>,
) -> Vec<u8> {
    let paths = Paths {
        devs: &[dev],
        route: &|_, _| 0,
        cut: &|_, _| false,
        pace: &|_| None,
        watch: &|_, _| {},
        tamper: &|_, _| {},
    };
    drive_paths(&paths, conn, data, epoch, record, |_, _| {})
}

/// [`drive`] through a middlebox that may rewrite packets (see
/// [`Paths::tamper`]).
fn drive_tampered(
    dev: &SyncDevice,
    conn: &mut MptcpConnection,
    data: &[u8],
    epoch: StdInstant,
    tamper: &dyn Fn(bool, &mut [u8]),
) -> Vec<u8> {
    let paths = Paths {
        devs: &[dev],
        route: &|_, _| 0,
        cut: &|_, _| false,
        pace: &|_| None,
        watch: &|_, _| {},
        tamper,
    };
    drive_paths(&paths, conn, data, epoch, None, |_, _| {})
}

/// A middlebox that rewrites the last payload byte of the `nth` data
/// packet (over 200 bytes) going one way, fixing the TCP checksum: DSS
/// checksums must catch it. For our own packets (`ours`: our IDSN and
/// subflow ISS) it records the data-level offset of the byte it changed.
struct Rewriter {
    incoming: bool,
    nth: Cell<u32>,
    ours: Option<(u64, u32)>,
    hit: Cell<Option<u64>>,
}

impl Rewriter {
    fn new(incoming: bool, nth: u32, ours: Option<(u64, u32)>) -> Self {
        Rewriter {
            incoming,
            nth: Cell::new(nth),
            ours,
            hit: Cell::new(None),
        }
    }

    fn tamper(&self, incoming: bool, packet: &mut [u8]) {
        if incoming != self.incoming || packet.len() <= 200 || self.nth.get() == 0 {
            return;
        }
        self.nth.set(self.nth.get() - 1);
        if self.nth.get() > 0 {
            return;
        }
        if let (Some((idsn, iss)), Ok(seg)) =
            (self.ours, Segment::parse(packet, ChecksumCheck::Skip))
        {
            let mapping = seg.options().flatten().find_map(|o| match o {
                umptcp_wire::TcpOption::Mptcp(umptcp_wire::mptcp::MptcpOption::Dss(d)) => d.mapping,
                _ => None,
            });
            if let Some(m) = mapping {
                let offset = seg.seq().wrapping_sub(iss).wrapping_sub(m.subflow_seq);
                let last = m.dsn.as_u64() + u64::from(offset) + seg.payload().len() as u64 - 1;
                self.hit.set(Some(last.wrapping_sub(idsn.wrapping_add(1))));
            }
        }
        let last = packet.len() - 1;
        packet[last] ^= 0x5a;
        umptcp_lab::fix_tcp_checksum_v4(packet);
    }
}

/// The devices [`drive_paths`] runs over.
struct Paths<'a> {
    devs: &'a [&'a SyncDevice],
    /// The device a segment from the first address to the second leaves by.
    route: &'a dyn Fn(IpAddr, IpAddr) -> usize,
    /// Whether device `i` is cut at this time since the start: every packet
    /// it carries either way is lost (100 % loss in the driver).
    cut: &'a dyn Fn(usize, Duration) -> bool,
    /// At the time since the start, hand the connection at most this many
    /// bytes per second since the start (a transfer then lasts long enough
    /// for a test about time); `None`: as fast as it takes them.
    pace: &'a dyn Fn(Duration) -> Option<u64>,
    /// Shown the connection at every turn of the loop, with the time since
    /// the start (to watch or steer it in a test about time).
    watch: &'a dyn Fn(&mut MptcpConnection, Duration),
    /// A middlebox: may rewrite each packet, in (true) or out, in place
    /// (and must then fix its TCP checksum).
    tamper: &'a dyn Fn(bool, &mut [u8]),
}

/// [`drive`] over several devices. A SYN that no subflow owns is taken as
/// an MP_JOIN. `on_event` sees every event first (to open subflows, say).
fn drive_paths(
    paths: &Paths<'_>,
    conn: &mut MptcpConnection,
    data: &[u8],
    epoch: StdInstant,
    mut record: Option<&mut Recording>,
    mut on_event: impl FnMut(&mut MptcpConnection, MptcpEvent),
) -> Vec<u8> {
    let now = || Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
    let mut written = 0;
    let mut shut = false;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut packet = vec![0u8; 2048];
    let deadline = StdInstant::now() + Duration::from_secs(120);
    loop {
        assert!(StdInstant::now() < deadline, "no end in 120 s: {conn:?}");
        let mut busy = false;
        for (i, dev) in paths.devs.iter().enumerate() {
            loop {
                match dev.recv(&mut packet) {
                    Ok(_) if (paths.cut)(i, epoch.elapsed()) => busy = true,
                    Ok(n) => {
                        busy = true;
                        (paths.tamper)(true, &mut packet[..n]);
                        if let Some(r) = record.as_deref_mut() {
                            r.push((epoch.elapsed(), packet[..n].to_vec()));
                        }
                        // Anything that is not TCP for us (IPv6 router
                        // solicitations, say) fails to parse and is ignored.
                        if let Ok(seg) = Segment::parse(&packet[..n], ChecksumCheck::Verify)
                            && !conn.handle_segment(now(), &seg)
                            && seg.flags() == TcpFlags::SYN
                        {
                            let id = conn.accept_join(
                                now(),
                                &seg,
                                IsnKey::from_bytes([9; 32]),
                                Nonce(0x0f0f_0001),
                                AddrId(0),
                            );
                            id.expect("accept the kernel's MP_JOIN");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("tun read: {e}"),
                }
            }
        }
        if conn.poll_timeout().is_some_and(|t| t <= now()) {
            conn.handle_timeout(now());
        }
        if written < data.len() {
            let allowed = (paths.pace)(epoch.elapsed()).map_or(data.len(), |rate| {
                let due = epoch.elapsed().as_secs_f64() * rate as f64;
                (due as usize).min(data.len())
            });
            if allowed > written {
                written += conn.write(&data[written..allowed]);
            }
        } else if !shut {
            conn.shutdown();
            shut = true;
        }
        loop {
            let n = conn.read(&mut buf);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        while let Some(n) = conn.poll_transmit(now(), &mut packet).map(|t| t.len) {
            busy = true;
            (paths.tamper)(false, &mut packet[..n]);
            if let Some(r) = record.as_deref_mut() {
                r.push((epoch.elapsed(), packet[..n].to_vec()));
            }
            let seg = Segment::parse(&packet[..n], ChecksumCheck::Skip).expect("valid segment");
            let i = (paths.route)(seg.src(), seg.dst());
            if !(paths.cut)(i, epoch.elapsed()) {
                paths.devs[i].send(&packet[..n]).expect("tun write");
            }
        }
        (paths.watch)(conn, epoch.elapsed());
        let mut closed = false;
        while let Some(event) = conn.poll_event() {
            on_event(conn, event);
            match event {
                MptcpEvent::Closed => closed = true,
                MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError(_) => {
                    panic!("{event:?}: {conn:?}")
                }
                _ => {}
            }
        }
        if closed {
            return received;
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn cc() -> Box<dyn umptcp_cc::CongestionControl> {
    Registry::with_builtins()
        .build("cubic", &CcConfig::default())
        .unwrap()
}

fn config(case: &Case) -> MptcpConfig {
    let mut c = MptcpConfig::default();
    c.checksum = case.our_checksum;
    c.tcp.time_wait = Duration::from_millis(100);
    c.close_timeout = case.close_timeout;
    c
}

fn counter(counters: &BTreeMap<String, u64>, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0)
}

/// The kernel side's view once the transfer is over.
struct KernelSide {
    total: usize,
    digest: Vec<u8>,
    /// `ss -Mnia` while the connection was up.
    ss: String,
}

/// Longer than `drive`'s own deadline: when our side fails, the kernel's
/// thread still ends (and the namespace is deleted) instead of blocking
/// the test forever.
const KERNEL_IO_TIMEOUT: Duration = Duration::from_secs(150);

fn bounded(s: &TcpStream) {
    s.set_read_timeout(Some(KERNEL_IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(KERNEL_IO_TIMEOUT)).unwrap();
}

/// The kernel's next connection. The listener is blocking: a connection
/// that never arrives would hang the test, so poll it against a deadline.
fn accept_within_deadline(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = StdInstant::now() + KERNEL_IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(StdInstant::now() < deadline, "no connection");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Our client's connection from `local` to `remote`, with ISN secret
/// bytes `isn` and key `key`.
fn connect_ours(
    config: MptcpConfig,
    local: SocketAddr,
    remote: SocketAddr,
    isn: u8,
    key: Key,
) -> MptcpConnection {
    let tuple = FourTuple { local, remote };
    MptcpConnection::connect(
        config,
        tuple,
        IsnKey::from_bytes([isn; 32]),
        key,
        cc(),
        Instant::ZERO,
    )
    .expect("connect")
}

/// The kernel client's side: send `data`, end it, read the answer to
/// its end.
fn kernel_send(mut s: TcpStream, data: &[u8]) -> Vec<u8> {
    bounded(&s);
    s.write_all(data).expect("kernel write");
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("kernel read");
    back
}

/// Read everything, then answer with `reply` and close.
fn kernel_serve(s: &mut TcpStream, reply: &[u8], ns: &Netns) -> KernelSide {
    bounded(s);
    let ss = ss_mptcp(ns).expect("ss");
    let mut hash = Sha256::new();
    let mut total = 0;
    let mut buf = vec![0u8; 65536];
    loop {
        let n = s.read(&mut buf).expect("kernel read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n;
    }
    s.write_all(reply).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    KernelSide {
        total,
        digest: hash.finalize().to_vec(),
        ss,
    }
}

/// What both ends must agree on after any MPTCP case.
fn check_mptcp(case: &Case, ns: &Netns, conn: &MptcpConnection, ss: &str, server_side: bool) {
    assert!(conn.is_mptcp(), "fell back: {:?}", conn.fallback_reason());
    assert_eq!(
        conn.checksum(),
        case.expect_checksum(),
        "checksum negotiation"
    );
    let kernel_token = token(conn.peer_key().expect("peer key"));
    assert!(
        parse_ss_tokens(ss).contains(&kernel_token),
        "ss -Mni does not list token {kernel_token:?}:\n{ss}"
    );
    let counters = nstat(ns).expect("nstat");
    if server_side {
        assert!(
            counter(&counters, "MPTcpExtMPCapableSYNACKRX") >= 1,
            "{counters:?}"
        );
    } else {
        assert!(
            counter(&counters, "MPTcpExtMPCapableSYNRX") >= 1,
            "{counters:?}"
        );
        assert!(
            counter(&counters, "MPTcpExtMPCapableACKRX") >= 1,
            "{counters:?}"
        );
    }
    for (name, value) in &counters {
        if name.starts_with("MPTcpExt") && name.contains("Fallback") {
            assert_eq!(*value, 0, "{name}: the kernel fell back ({counters:?})");
        }
    }
    assert_eq!(counter(&counters, "MPTcpExtDSSNotMatching"), 0);
    assert_eq!(counter(&counters, "MPTcpExtInfiniteMapRx"), 0);
    assert_eq!(counter(&counters, "MPTcpExtDataCsumErr"), 0);
    assert_eq!(counter(&counters, "MPTcpExtMPFailRx"), 0);
}

/// Our client sends SIZE bytes to a kernel server, which answers REPLY.
fn our_client(test: &str, case: Case, subnet: u8) {
    let Some(Setup {
        ns,
        dev,
        kernel,
        ours,
    }) = setup(test, &case, subnet)
    else {
        return;
    };
    let server_addr = SocketAddr::new(kernel, 5001);
    let listener = run_in(&ns, || {
        if case.kernel_mptcp {
            kernel_mptcp_listener(server_addr)
        } else {
            TcpListener::bind(server_addr)
        }
    })
    .unwrap()
    .expect("listener");
    let data = stream(7, SIZE);
    let reply = stream(8, REPLY);
    let mut recording = Recording::new();
    let (conn, received, kernel_side) = std::thread::scope(|scope| {
        let ns = &ns;
        let reply = &reply;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            kernel_serve(&mut s, reply, ns)
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&case),
            SocketAddr::new(ours, 40001),
            server_addr,
            3,
            Key(0x0123_4567_89ab_cdef),
        );
        let record = case.pcap.then_some(&mut recording);
        let received = drive(&dev, &mut conn, &data, epoch, record);
        (conn, received, kernel_side.join().unwrap())
    });
    assert_eq!(kernel_side.total, SIZE);
    assert_eq!(
        kernel_side.digest,
        Sha256::digest(&data).to_vec(),
        "SHA-256 differs"
    );
    assert_eq!(received.len(), REPLY);
    assert!(received == reply, "reply differs");
    if case.kernel_mptcp {
        check_mptcp(&case, &ns, &conn, &kernel_side.ss, false);
    } else {
        assert_eq!(conn.fallback_reason(), Some(FallbackReason::NoMpCapable));
    }
    if case.pcap {
        check_pcap(test, &recording);
    }
}

/// What [`mp_fail_as_client`] leaves to check.
struct MpFailRun {
    ns: Netns,
    data: Vec<u8>,
    reply: Vec<u8>,
    received: Vec<u8>,
    kernel_side: KernelSide,
    /// For our own data rewritten: the data-level offset of that byte.
    hit: Option<u64>,
}

/// MP_FAIL on the only subflow (RFC 8684 §3.7), our client against a
/// kernel server, DSS checksums on: our client sends SIZE bytes, the
/// kernel answers REPLY, and a middlebox rewrites the last byte of the
/// 100th data packet going `incoming` (the kernel's data) or out (ours),
/// fixing the TCP checksum. Well into the transfer, as the kernel sends
/// MP_FAIL only once a checksum has been good on the subflow (earlier it
/// falls back silently). If the run stalls, its capture is kept.
fn mp_fail_as_client(
    test: &str,
    tag: &'static str,
    subnet: u8,
    incoming: bool,
) -> Option<MpFailRun> {
    let mut case = Case::mptcp(tag);
    case.our_checksum = true;
    let Setup {
        ns,
        dev,
        kernel,
        ours,
    } = setup(test, &case, subnet)?;
    let server_addr = SocketAddr::new(kernel, 5001);
    let listener = run_in(&ns, || kernel_mptcp_listener(server_addr))
        .unwrap()
        .expect("listener");
    let data = stream(u64::from(subnet), SIZE);
    let reply = stream(u64::from(subnet) + 100, REPLY);
    let mut recording = Recording::new();
    let (conn, received, kernel_side, hit) = std::thread::scope(|scope| {
        let ns = &ns;
        let reply = &reply;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            kernel_serve(&mut s, reply, ns)
        });
        let epoch = StdInstant::now();
        let key = Key(0x0123_4567_89ab_cdef ^ u64::from(subnet));
        let mut conn = connect_ours(
            config(&case),
            SocketAddr::new(ours, 40001),
            server_addr,
            3,
            key,
        );
        let iss = conn.initial_subflow().iss().get();
        let ours = (!incoming).then(|| (umptcp_crypto::idsn(key), iss));
        let rewriter = Rewriter::new(incoming, 100, ours);
        let paths = Paths {
            devs: &[&dev],
            route: &|_, _| 0,
            cut: &|_, _| false,
            pace: &|_| None,
            watch: &|_, _| {},
            tamper: &|incoming, p| rewriter.tamper(incoming, p),
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drive_paths(
                &paths,
                &mut conn,
                &data,
                epoch,
                Some(&mut recording),
                |_, _| {},
            )
        }));
        let received = run.unwrap_or_else(|e| {
            let path = std::env::temp_dir().join(format!("{test}.pcap"));
            if let Ok(file) = std::fs::File::create(&path)
                && let Ok(mut writer) = PcapWriter::new(file)
            {
                for (at, packet) in &recording {
                    let _ = writer.write_packet(*at, packet);
                }
                eprintln!("capture kept in {}", path.display());
            }
            std::panic::resume_unwind(e)
        });
        assert_eq!(rewriter.nth.get(), 0, "the middlebox rewrote a packet");
        let hit = rewriter.hit.get();
        (conn, received, kernel_side.join().unwrap(), hit)
    });
    assert_eq!(
        conn.fallback_reason(),
        Some(FallbackReason::ChecksumFailed),
        "{conn:?}"
    );
    assert_eq!(kernel_side.total, SIZE);
    Some(MpFailRun {
        ns,
        data,
        reply,
        received,
        kernel_side,
        hit,
    })
}

/// `got` is `sent` with exactly one byte changed, as the middlebox does.
fn assert_one_byte_rewritten(got: &[u8], sent: &[u8]) {
    assert_eq!(got.len(), sent.len());
    let differing: Vec<_> = (0..sent.len()).filter(|&i| got[i] != sent[i]).collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert_eq!(got[differing[0]], sent[differing[0]] ^ 0x5a);
}

/// MP_FAIL from the kernel: our data is rewritten, the kernel sends
/// MP_FAIL; we echo it, send the infinite mapping and fall back. The
/// kernel gets our data with that byte changed; its reply comes back
/// whole.
#[test]
fn lab_mp_fail_from_the_kernel_means_fallback() {
    let test = "lab_mp_fail_from_the_kernel_means_fallback";
    let Some(run) = mp_fail_as_client(test, "mpfailout", 41, false) else {
        return;
    };
    let at = usize::try_from(run.hit.expect("the rewritten byte's offset")).unwrap();
    let mut expected = run.data.clone();
    expected[at] ^= 0x5a;
    assert_eq!(run.kernel_side.digest, Sha256::digest(&expected).to_vec());
    assert!(run.received == run.reply, "reply differs");
    let counters = nstat(&run.ns).expect("nstat");
    assert!(
        counter(&counters, "MPTcpExtDataCsumErr") >= 1,
        "{counters:?}"
    );
    assert!(counter(&counters, "MPTcpExtMPFailTx") >= 1, "{counters:?}");
}

/// MP_FAIL the other way (issue 4, 3): the kernel's reply is rewritten.
/// Our DSS checksum catches it: we send MP_FAIL, the kernel answers with
/// the infinite mapping (which fits the MTU only thanks to the MSS we
/// offer, see `mss_for_infinite_mapping`), both fall back, and the reply
/// arrives with exactly that byte changed.
#[test]
fn lab_our_mp_fail_for_the_kernels_data_means_fallback() {
    let test = "lab_our_mp_fail_for_the_kernels_data_means_fallback";
    let Some(run) = mp_fail_as_client(test, "mpfailin", 42, true) else {
        return;
    };
    assert_eq!(run.kernel_side.digest, Sha256::digest(&run.data).to_vec());
    assert_one_byte_rewritten(&run.received, &run.reply);
    let counters = nstat(&run.ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtMPFailRx") >= 1, "{counters:?}");
    assert!(
        counter(&counters, "MPTcpExtInfiniteMapTx") >= 1,
        "{counters:?}"
    );
    assert_eq!(counter(&counters, "IpFragFails"), 0, "{counters:?}");
}

/// [`lab_our_mp_fail_for_the_kernels_data_means_fallback`] with our side
/// as the server: a kernel client's data is rewritten on its way to us;
/// we send MP_FAIL, both fall back, the kernel's data arrives with that
/// byte changed and our reply intact.
#[test]
fn lab_our_server_mp_fail_for_the_kernels_data_means_fallback() {
    let test = "lab_our_server_mp_fail_for_the_kernels_data_means_fallback";
    let mut case = Case::mptcp("mpfailsrv");
    case.our_checksum = true;
    let Some(Setup { ns, dev, ours, .. }) = setup(test, &case, 43) else {
        return;
    };
    let target = SocketAddr::new(ours, 5002);
    let data = stream(25, SIZE);
    let reply = stream(26, REPLY);
    let (conn, received, kernel_received) = std::thread::scope(|scope| {
        let ns = &ns;
        let data = &data;
        let kernel_side = scope.spawn(move || {
            let s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            kernel_send(s, data)
        });
        let epoch = StdInstant::now();
        let mut conn = accept_first_syn(&dev, 5002, &case, epoch, None);
        let rewriter = Rewriter::new(true, 100, None);
        let received = drive_tampered(&dev, &mut conn, &reply, epoch, &|incoming, p| {
            rewriter.tamper(incoming, p)
        });
        assert_eq!(rewriter.nth.get(), 0, "the middlebox rewrote a packet");
        (conn, received, kernel_side.join().unwrap())
    });
    assert_eq!(
        conn.fallback_reason(),
        Some(FallbackReason::ChecksumFailed),
        "{conn:?}"
    );
    assert!(kernel_received == reply, "reply differs");
    assert_one_byte_rewritten(&received, &data);
    let counters = nstat(&ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtMPFailRx") >= 1, "{counters:?}");
    assert_eq!(counter(&counters, "IpFragFails"), 0, "{counters:?}");
}

/// A kernel client sends SIZE bytes to our server, which answers REPLY.
fn our_server(test: &str, case: Case, subnet: u8) {
    let Some(Setup { ns, dev, ours, .. }) = setup(test, &case, subnet) else {
        return;
    };
    let target = SocketAddr::new(ours, 5002);
    let data = stream(9, SIZE);
    let reply = stream(10, REPLY);
    let mut recording = Recording::new();
    let (conn, received, kernel_received, ss) = std::thread::scope(|scope| {
        let ns = &ns;
        let data = &data;
        let kernel_side = scope.spawn(move || {
            let s = run_in(ns, || {
                if case.kernel_mptcp {
                    kernel_mptcp_connect(target)
                } else {
                    TcpStream::connect_timeout(&target, Duration::from_secs(10))
                }
            })
            .unwrap()
            .expect("kernel connect");
            let ss = ss_mptcp(ns).expect("ss");
            (kernel_send(s, data), ss)
        });
        let epoch = StdInstant::now();
        let record = case.pcap.then_some(&mut recording);
        let mut conn = accept_first_syn(&dev, 5002, &case, epoch, record);
        let record = case.pcap.then_some(&mut recording);
        let received = drive(&dev, &mut conn, &reply, epoch, record);
        let (kernel_received, ss) = kernel_side.join().unwrap();
        (conn, received, kernel_received, ss)
    });
    assert_eq!(received.len(), SIZE);
    assert_eq!(
        Sha256::digest(&received),
        Sha256::digest(&data),
        "SHA-256 differs"
    );
    assert_eq!(kernel_received.len(), REPLY);
    assert!(kernel_received == reply, "reply differs");
    if case.kernel_mptcp {
        check_mptcp(&case, &ns, &conn, &ss, true);
    } else {
        assert_eq!(conn.fallback_reason(), Some(FallbackReason::NoMpCapable));
    }
    if case.pcap {
        check_pcap(test, &recording);
    }
}

/// Wait for the kernel's SYN to `port` on `dev` and answer it.
fn accept_first_syn(
    dev: &SyncDevice,
    port: u16,
    case: &Case,
    epoch: StdInstant,
    record: Option<&mut Recording>,
) -> MptcpConnection {
    let mut packet = vec![0u8; 2048];
    let deadline = StdInstant::now() + Duration::from_secs(10);
    loop {
        assert!(StdInstant::now() < deadline, "no SYN from the kernel");
        match dev.recv(&mut packet) {
            Ok(n) => {
                let Ok(seg) = Segment::parse(&packet[..n], ChecksumCheck::Verify) else {
                    continue;
                };
                if seg.dst_port() != port {
                    continue;
                }
                if let Some(r) = record {
                    r.push((epoch.elapsed(), packet[..n].to_vec()));
                }
                return MptcpConnection::accept(
                    config(case),
                    &seg,
                    IsnKey::from_bytes([4; 32]),
                    Key(0x0fed_cba9_8765_4321),
                    cc(),
                    Instant::ZERO,
                )
                .expect("accept");
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("tun read: {e}"),
        }
    }
}

/// Write the recording as a pcap and have tshark's MPTCP analysis (with
/// mapping analysis on) read it: no malformed packet, no error-level
/// expert item, no data without a mapping, no key mismatch.
///
/// tshark also looks up a mapping for segments without payload, and flags
/// every pure ACK or FIN sent after a direction's last mapping; it does so
/// on the kernel's own kernel-to-kernel captures too
/// (`tests/fixtures/kernel`), so only segments with payload count.
///
/// tshark 4.0's interval tree of mappings also loses entries now and then
/// once a subflow retransmits a run of segments: it flags a segment as
/// unmapped while that very segment carries a DSS whose mapping covers it
/// (seen when the TUN queue dropped a burst of the kernel's data). A
/// flagged segment therefore counts as unmapped only when its own DSS does
/// not cover it; see `covered_by_own_dss`.
fn check_pcap(test: &str, recording: &Recording) {
    let dir = std::env::temp_dir().join(format!("umptcp-proto-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("capture.pcap");
    let mut writer = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for (at, packet) in recording {
        writer.write_packet(*at, packet).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let tshark = |filter: &str, fields: &[&str]| {
        let mut cmd = std::process::Command::new("tshark");
        cmd.arg("-r").arg(&path);
        cmd.args([
            "-o",
            "mptcp.analyze_mptcp:TRUE",
            "-o",
            "mptcp.analyze_mappings:TRUE",
            // Random payload is plain data (heuristic dissectors such as
            // Thrift's would otherwise claim some of it and report errors).
            "-d",
            "tcp.port==5001,data",
            "-d",
            "tcp.port==5002,data",
            "-Y",
            filter,
            "-T",
            "fields",
        ]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().expect("tshark runs (.ci/run installs it)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mptcp_frames = tshark("mptcp", &["frame.number"]).lines().count();
    assert!(
        mptcp_frames > SIZE / 1500,
        "{mptcp_frames} MPTCP frames: tshark did not see the connection"
    );
    let dss = tshark("mptcp.dss.dsn", &["frame.number"]).lines().count();
    assert!(dss > SIZE / 65536, "{dss} frames with a DSS mapping");
    let mut bad = tshark(
        "_ws.malformed || _ws.expert.severity == \"Error\" \
         || mptcp.connection.echoed_key_mismatch || mptcp.dss.infinite_mapping",
        &["frame.number", "_ws.expert.message"],
    );
    let flagged = tshark(
        "mptcp.dss.missing_mapping && tcp.len > 0",
        &[
            "frame.number",
            "tcp.seq",
            "tcp.len",
            "tcp.options.mptcp.subflowseqno",
            "tcp.options.mptcp.datalvllen",
        ],
    );
    for line in flagged.lines().filter(|l| !covered_by_own_dss(l)) {
        bad.push_str(line);
        bad.push_str("\tNo mapping available\n");
    }
    // The capture stays behind when tshark complains, for a look.
    assert!(
        bad.is_empty(),
        "tshark reports (capture kept in {}):\n{bad}",
        path.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether a line of tshark fields (frame, relative seq, payload length,
/// the DSS's relative subflow sequence number and its data-level length)
/// shows a segment whose own DSS maps all of its payload.
fn covered_by_own_dss(line: &str) -> bool {
    let fields: Vec<&str> = line.split('\t').collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (number(1), number(2), number(3), number(4)) {
        (Some(seq), Some(len), Some(ssn), Some(map_len)) => {
            ssn <= seq && seq + len <= ssn + map_len
        }
        _ => false,
    }
}

#[test]
fn a_segment_counts_as_mapped_only_under_its_own_dss() {
    // The false positive seen in a capture: the segment's own DSS starts
    // at its sequence number and maps 65320 bytes.
    assert!(covered_by_own_dss("3203\t4148161\t1420\t4148161\t65320"));
    assert!(covered_by_own_dss("7\t1000\t100\t900\t200"));
    // Payload running past the mapping, a mapping that starts later, a
    // segment with no DSS and an unparsable line stay unmapped.
    assert!(!covered_by_own_dss("7\t1000\t100\t900\t150"));
    assert!(!covered_by_own_dss("7\t1000\t100\t1001\t500"));
    assert!(!covered_by_own_dss("7\t1000\t100\t\t"));
    assert!(!covered_by_own_dss("garbage"));
}

#[test]
fn lab_our_client_to_kernel_mptcp_server() {
    let mut case = Case::mptcp("mpcli");
    case.pcap = true;
    our_client("lab_our_client_to_kernel_mptcp_server", case, 1);
}

#[test]
fn lab_kernel_mptcp_client_to_our_server() {
    let mut case = Case::mptcp("mpsrv");
    case.pcap = true;
    our_server("lab_kernel_mptcp_client_to_our_server", case, 2);
}

#[test]
fn lab_our_client_to_kernel_mptcp_server_ipv6() {
    let mut case = Case::mptcp("mpcli6");
    case.v6 = true;
    case.pcap = true;
    our_client("lab_our_client_to_kernel_mptcp_server_ipv6", case, 3);
}

#[test]
fn lab_kernel_mptcp_client_to_our_server_ipv6() {
    let mut case = Case::mptcp("mpsrv6");
    case.v6 = true;
    our_server("lab_kernel_mptcp_client_to_our_server_ipv6", case, 4);
}

/// We ask for checksums, the kernel is at its default (off).
#[test]
fn lab_checksums_asked_by_us() {
    let mut case = Case::mptcp("mpcso");
    case.our_checksum = true;
    our_client("lab_checksums_asked_by_us", case, 6);
}

/// A plain TCP kernel listener: our SYN/ACK has no MP_CAPABLE, the
/// connection falls back and the transfer completes.
#[test]
fn lab_fallback_to_a_plain_kernel_listener() {
    let mut case = Case::mptcp("mpfbl");
    case.kernel_mptcp = false;
    our_client("lab_fallback_to_a_plain_kernel_listener", case, 7);
}

/// The kernel asks for checksums (`net.mptcp.checksum_enabled=1`); we do
/// not, and follow.
#[test]
fn lab_checksums_asked_by_the_kernel() {
    let mut case = Case::mptcp("mpcsk");
    case.kernel_checksum = true;
    our_server("lab_checksums_asked_by_the_kernel", case, 5);
}

/// A plain TCP kernel client: its SYN has no MP_CAPABLE, our server
/// answers as plain TCP and the transfer completes.
#[test]
fn lab_fallback_for_a_plain_kernel_client() {
    let mut case = Case::mptcp("mpfbc");
    case.kernel_mptcp = false;
    our_server("lab_fallback_for_a_plain_kernel_client", case, 8);
}

/// Two paths (issue 4, b): the kernel listens on every address; our
/// client connects over path A and, once MPTCP is up, joins a second
/// subflow from its path-B address to the kernel's path-B address. The
/// kernel must check our MP_JOIN HMACs and take data on both subflows;
/// tshark reads the capture of both subflows without a mapping error (j).
#[test]
fn lab_our_client_joins_a_second_path() {
    our_client_two_paths("lab_our_client_joins_a_second_path", "mpjoin", 20, None);
}

/// Path failure in mid-transfer (issue 4, f): once path B carried 4 MiB,
/// the driver drops every packet on it for 1.5 s. What was in flight
/// there goes again over path A, the transfer completes byte-exact, and
/// once the path is back it carries data again.
#[test]
fn lab_a_path_fails_and_returns_mid_transfer() {
    let outage = Outage {
        length: Duration::from_millis(1500),
        device_down: false,
    };
    our_client_two_paths(
        "lab_a_path_fails_and_returns_mid_transfer",
        "mpcut",
        34,
        Some(outage),
    );
}

/// Path failure, the device variant (issue 4, f): once path B carried
/// 4 MiB, its device goes down for 1.5 s (`ip link set mp1 down`: the
/// kernel loses its route that way, and our side cannot send there).
/// The transfer completes byte-exact over path A, and once the device is
/// up again path B carries data again.
#[test]
fn lab_a_device_goes_down_and_up_mid_transfer() {
    let outage = Outage {
        length: Duration::from_millis(1500),
        device_down: true,
    };
    our_client_two_paths(
        "lab_a_device_goes_down_and_up_mid_transfer",
        "mpdown",
        36,
        Some(outage),
    );
}

/// A path failure in mid-transfer.
#[derive(Clone, Copy)]
struct Outage {
    length: Duration,
    /// Path B's device goes down (else the driver drops its packets).
    device_down: bool,
}

fn our_client_two_paths(test: &str, tag: &'static str, subnet: u8, outage: Option<Outage>) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let TwoPaths {
        ns,
        dev_a,
        dev_b,
        kernel: [kernel_a, kernel_b],
        ours: [ours_a, ours_b],
    } = two_paths(tag, subnet, &[&umptcp_lab::TWO_PATH_LIMITS], &[]);
    let listener = run_in(&ns, || {
        kernel_mptcp_listener(SocketAddr::new("0.0.0.0".parse().unwrap(), 5001))
    })
    .unwrap()
    .expect("listener");
    // Long enough, with an outage, for the path to come back in time and
    // then carry a share of what is left (see `pace` below).
    let size = if outage.is_some() { 8 * SIZE } else { SIZE };
    let data = stream(11, size);
    let reply = stream(12, REPLY);
    // When the cut starts (time since the start), and what path B had sent
    // once it was over.
    let cut_at: Cell<Option<Duration>> = Cell::new(None);
    let sent_when_back: Cell<Option<u64>> = Cell::new(None);
    // Path B's device is down now (the device variant).
    let down = Cell::new(false);
    let length = outage.map(|o| o.length);
    let mut recording = Recording::new();
    let (conn, received, kernel_side, events) = std::thread::scope(|scope| {
        let ns = &ns;
        let reply = &reply;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            kernel_serve(&mut s, reply, ns)
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&Case::mptcp(tag)),
            SocketAddr::new(ours_a, 40001),
            SocketAddr::new(kernel_a, 5001),
            5,
            Key(0x0bad_c0de_1234_5678),
        );
        let mut events = Vec::new();
        let cut = |dev: usize, t: Duration| {
            let in_window = cut_at
                .get()
                .zip(length)
                .is_some_and(|(at, d)| t >= at && t < at + d);
            // A device that is down takes no packet from us either.
            dev == 1 && (in_window || down.get())
        };
        let device_down = outage.is_some_and(|o| o.device_down);
        let set_link = |state: &str| {
            ns.ip(&["link", "set", "mp1", state]).expect("ip link set");
            down.set(state == "down");
            // The kernel's route over the device goes and comes with it.
            let routes = ns.ip(&["route", "show", "dev", "mp1"]).expect("ip route");
            assert_eq!(
                routes.trim().is_empty(),
                state == "down",
                "{state}: {routes}"
            );
        };
        let record = outage.is_none().then_some(&mut recording);
        let received = drive_paths(
            &Paths {
                devs: &[&dev_a, &dev_b],
                route: &|src, _| usize::from(src == ours_b),
                cut: &cut,
                // Paced to 20 MB/s only from the cut until 3 s after path B
                // returned, so the transfer outlasts the cut and B's
                // retransmission backoff after it, however fast the host.
                // Before and after, as fast as it goes: path A alone is too
                // slow for that demand, so a working path B carries a
                // share (when paced, path A may take it all).
                pace: &|t| {
                    let paced = cut_at
                        .get()
                        .zip(length)
                        .is_some_and(|(at, d)| t < at + d + Duration::from_secs(3));
                    paced.then_some(20_000_000)
                },
                watch: &|conn, t| {
                    let b_sent = conn.subflows().nth(1).map_or(0, |s| s.bytes_sent);
                    if outage.is_some() && cut_at.get().is_none() && b_sent > 4 << 20 {
                        cut_at.set(Some(t));
                        if device_down {
                            set_link("down");
                        }
                    }
                    if let (Some(at), Some(d)) = (cut_at.get(), length)
                        && t >= at + d
                        && sent_when_back.get().is_none()
                    {
                        if device_down {
                            set_link("up");
                        }
                        sent_when_back.set(Some(b_sent));
                    }
                },
                tamper: &|_, _| {},
            },
            &mut conn,
            &data,
            epoch,
            record,
            |conn, event| {
                let t = epoch.elapsed();
                if event == (MptcpEvent::Connected { mptcp: true }) {
                    let tuple = FourTuple {
                        local: SocketAddr::new(ours_b, 40002),
                        remote: SocketAddr::new(kernel_b, 5001),
                    };
                    let now = Instant::from_nanos(t.as_nanos() as u64);
                    conn.open_subflow(
                        now,
                        tuple,
                        IsnKey::from_bytes([6; 32]),
                        Nonce(0x5eed_0001),
                        AddrId(1),
                        false,
                    )
                    .expect("open subflow");
                }
                if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                    events.push(event);
                }
            },
        );
        (conn, received, kernel_side.join().unwrap(), events)
    });
    assert_eq!(kernel_side.total, size);
    assert_eq!(
        kernel_side.digest,
        Sha256::digest(&data).to_vec(),
        "SHA-256 differs"
    );
    assert!(received == reply, "reply differs");
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(SubflowId(1))),
        "{events:?}"
    );
    check_mptcp(&Case::mptcp(tag), &ns, &conn, &kernel_side.ss, false);
    let counters = nstat(&ns).expect("nstat");
    assert!(
        counter(&counters, "MPTcpExtMPJoinSynRx") >= 1,
        "{counters:?}"
    );
    assert!(
        counter(&counters, "MPTcpExtMPJoinAckRx") >= 1,
        "{counters:?}"
    );
    assert_eq!(counter(&counters, "MPTcpExtMPJoinAckHMacFailure"), 0);
    let sent: Vec<_> = conn.subflows().map(|s| (s.id, s.bytes_sent)).collect();
    eprintln!("per subflow: {sent:?}");
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|(_, bytes)| *bytes > (SIZE / 10) as u64),
        "both subflows carry data: {sent:?}"
    );
    match outage {
        None => check_pcap(test, &recording),
        Some(_) => {
            assert!(cut_at.get().is_some(), "the cut never started: {sent:?}");
            let back = sent_when_back.get().expect("the transfer outlived the cut");
            assert!(
                sent[1].1 > back + (4 << 20),
                "path B sent {back} bytes by its return and {} in all",
                sent[1].1
            );
        }
    }
}

/// Break-before-make against the kernel (issue 4, 5): once 4 MiB went
/// over path A, our client resets its only subflow (MP_TCPRST). For
/// 300 ms neither side has a subflow; both keep the connection (the
/// kernel for its `close_timeout`), then our client joins from path B,
/// the kernel takes the join by token, and the transfer completes
/// byte-exact there.
#[test]
fn lab_our_only_subflow_breaks_and_a_join_takes_over() {
    let test = "lab_our_only_subflow_breaks_and_a_join_takes_over";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let tag = "mpbreak";
    let TwoPaths {
        ns,
        dev_a,
        dev_b,
        kernel: [kernel_a, kernel_b],
        ours: [ours_a, ours_b],
    } = two_paths(tag, 22, &[&umptcp_lab::TWO_PATH_LIMITS], &[]);
    let listener = run_in(&ns, || {
        kernel_mptcp_listener(SocketAddr::new("0.0.0.0".parse().unwrap(), 5001))
    })
    .unwrap()
    .expect("listener");
    let data = stream(21, SIZE);
    let reply = stream(22, REPLY);
    let gap = Duration::from_millis(300);
    // When the break came, and whether the connection was still open
    // with no subflow when the join went out.
    let broke_at: Cell<Option<Duration>> = Cell::new(None);
    let orphan_seen: Cell<Option<bool>> = Cell::new(None);
    let (conn, received, kernel_side, events) = std::thread::scope(|scope| {
        let ns = &ns;
        let reply = &reply;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            kernel_serve(&mut s, reply, ns)
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&Case::mptcp(tag)),
            SocketAddr::new(ours_a, 40001),
            SocketAddr::new(kernel_a, 5001),
            5,
            Key(0x0bad_c0de_1234_9999),
        );
        let mut events = Vec::new();
        let received = drive_paths(
            &Paths {
                devs: &[&dev_a, &dev_b],
                route: &|src, _| usize::from(src == ours_b),
                cut: &|_, _| false,
                // 20 MB/s: the transfer goes on well past the gap.
                pace: &|_| Some(20_000_000),
                watch: &|conn, t| {
                    let a_sent = conn.subflows().next().map_or(0, |s| s.bytes_sent);
                    if broke_at.get().is_none() && a_sent > 4 << 20 {
                        conn.reset_subflow(SubflowId(0), TcpRstReason::Unspecified);
                        broke_at.set(Some(t));
                    }
                    if let Some(at) = broke_at.get()
                        && t >= at + gap
                        && orphan_seen.get().is_none()
                    {
                        orphan_seen
                            .set(Some(!conn.is_closed() && conn.subflows().all(|s| s.closed)));
                        let tuple = FourTuple {
                            local: SocketAddr::new(ours_b, 40002),
                            remote: SocketAddr::new(kernel_b, 5001),
                        };
                        let now = Instant::from_nanos(t.as_nanos() as u64);
                        conn.open_subflow(
                            now,
                            tuple,
                            IsnKey::from_bytes([6; 32]),
                            Nonce(0x5eed_0002),
                            AddrId(1),
                            false,
                        )
                        .expect("open a subflow after the break");
                    }
                },
                tamper: &|_, _| {},
            },
            &mut conn,
            &data,
            epoch,
            None,
            |_, event| {
                if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                    events.push(event);
                }
            },
        );
        (conn, received, kernel_side.join().unwrap(), events)
    });
    assert_eq!(kernel_side.total, SIZE);
    assert_eq!(
        kernel_side.digest,
        Sha256::digest(&data).to_vec(),
        "SHA-256 differs"
    );
    assert!(received == reply, "reply differs");
    assert_eq!(
        orphan_seen.get(),
        Some(true),
        "open with no subflow at the join: {events:?}"
    );
    let closed = events
        .iter()
        .position(|e| *e == MptcpEvent::SubflowClosed(SubflowId(0)));
    let joined = events
        .iter()
        .position(|e| *e == MptcpEvent::SubflowEstablished(SubflowId(1)));
    assert!(
        matches!((closed, joined), (Some(c), Some(j)) if c < j),
        "{events:?}"
    );
    check_mptcp(&Case::mptcp(tag), &ns, &conn, &kernel_side.ss, false);
    let counters = nstat(&ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtMPRstRx") >= 1, "{counters:?}");
    assert!(
        counter(&counters, "MPTcpExtMPJoinAckRx") >= 1,
        "{counters:?}"
    );
    assert_eq!(counter(&counters, "MPTcpExtMPJoinAckHMacFailure"), 0);
    let sent: Vec<_> = conn.subflows().map(|s| (s.id, s.bytes_sent)).collect();
    eprintln!("per subflow: {sent:?}");
    assert!(
        sent.iter()
            .any(|&(id, bytes)| id == SubflowId(1) && bytes > (SIZE / 2) as u64),
        "the join carried the rest: {sent:?}"
    );
}

/// Two paths, the other way (issue 4, c): a kernel client with a
/// `subflow` endpoint on its second address connects to our server and
/// joins from there; a policy route sends that subflow over the second
/// device. Our server checks its MP_JOIN and takes data on both.
#[test]
fn lab_kernel_client_joins_our_server_over_a_second_path() {
    let test = "lab_kernel_client_joins_our_server_over_a_second_path";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    // A policy route sends what leaves the second address over the
    // second device.
    let endpoint = [
        "mptcp",
        "endpoint",
        "add",
        "10.79.23.1",
        "dev",
        "mp1",
        "subflow",
    ];
    let rule = ["rule", "add", "from", "10.79.23.1", "table", "100"];
    let route = [
        "route",
        "add",
        "10.79.22.0/24",
        "dev",
        "mp1",
        "table",
        "100",
    ];
    let TwoPaths {
        ns,
        dev_a,
        dev_b,
        kernel: [_, kernel_b],
        ours: [ours_a, _],
    } = two_paths(
        "mpjsrv",
        22,
        &[&umptcp_lab::TWO_PATH_LIMITS],
        &[&endpoint, &rule, &route],
    );
    let target = SocketAddr::new(ours_a, 5002);
    let data = stream(13, SIZE);
    let reply = stream(14, REPLY);
    let case = Case::mptcp("mpjsrv");
    let (conn, received, kernel_received, events) = std::thread::scope(|scope| {
        let ns = &ns;
        let data = &data;
        let kernel_side = scope.spawn(move || {
            let s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            kernel_send(s, data)
        });
        let epoch = StdInstant::now();
        let mut conn = accept_first_syn(&dev_a, 5002, &case, epoch, None);
        let mut events = Vec::new();
        let received = drive_paths(
            &Paths {
                devs: &[&dev_a, &dev_b],
                route: &|_, dst| usize::from(dst == kernel_b),
                cut: &|_, _| false,
                pace: &|_| None,
                watch: &|_, _| {},
                tamper: &|_, _| {},
            },
            &mut conn,
            &reply,
            epoch,
            None,
            |_, event| {
                if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                    events.push(event);
                }
            },
        );
        (conn, received, kernel_side.join().unwrap(), events)
    });
    assert_eq!(received.len(), SIZE);
    assert!(
        Sha256::digest(&received) == Sha256::digest(&data),
        "SHA-256 differs"
    );
    assert!(kernel_received == reply, "reply differs");
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(SubflowId(1))),
        "{events:?}"
    );
    let counters = nstat(&ns).expect("nstat");
    assert!(
        counter(&counters, "MPTcpExtMPJoinSynAckRx") >= 1,
        "{counters:?}"
    );
    assert_eq!(counter(&counters, "MPTcpExtMPJoinSynAckHMacFailure"), 0);
    let got: Vec<_> = conn
        .subflows()
        .map(|s| (s.id, s.tuple, s.bytes_received))
        .collect();
    eprintln!("per subflow: {got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].1.remote.ip(), kernel_b);
    assert!(
        got.iter().all(|(_, _, bytes)| *bytes > KERNEL_SPLIT_MIN),
        "both subflows carry data: {got:?}"
    );
}

/// Run `conn` over `dev` until `until` says stop (it sees each event),
/// for at most 20 s. Written bytes come from `data`; read ones are
/// discarded.
fn drive_until(
    dev: &SyncDevice,
    conn: &mut MptcpConnection,
    data: &[u8],
    epoch: StdInstant,
    mut until: impl FnMut(&mut MptcpConnection, MptcpEvent) -> bool,
) {
    let now = || Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
    let deadline = StdInstant::now() + Duration::from_secs(20);
    let (mut written, mut packet, mut buf) = (0, vec![0u8; 2048], vec![0u8; 65536]);
    loop {
        assert!(StdInstant::now() < deadline, "no end in 20 s: {conn:?}");
        while let Ok(n) = dev.recv(&mut packet) {
            if let Ok(seg) = Segment::parse(&packet[..n], ChecksumCheck::Verify) {
                conn.handle_segment(now(), &seg);
            }
        }
        if conn.poll_timeout().is_some_and(|t| t <= now()) {
            conn.handle_timeout(now());
        }
        written += conn.write(&data[written..]);
        while conn.read(&mut buf) > 0 {}
        while let Some(n) = conn.poll_transmit(now(), &mut packet).map(|t| t.len) {
            dev.send(&packet[..n]).expect("tun write");
        }
        while let Some(event) = conn.poll_event() {
            if until(conn, event) {
                // Let the last packets out.
                while let Some(n) = conn.poll_transmit(now(), &mut packet).map(|t| t.len) {
                    dev.send(&packet[..n]).expect("tun write");
                }
                return;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// MP_FASTCLOSE from us (issue 4, g): our client aborts in mid-transfer;
/// the kernel's socket reports a reset, not a hang.
#[test]
fn lab_our_fastclose_resets_the_kernel_connection() {
    let test = "lab_our_fastclose_resets_the_kernel_connection";
    let case = Case::mptcp("mpfcl");
    let Some(Setup {
        ns,
        dev,
        kernel,
        ours,
    }) = setup(test, &case, 24)
    else {
        return;
    };
    let server_addr = SocketAddr::new(kernel, 5001);
    let listener = run_in(&ns, || kernel_mptcp_listener(server_addr))
        .unwrap()
        .expect("listener");
    let data = stream(15, 4 << 20);
    let kernel_result = std::thread::scope(|scope| {
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            bounded(&s);
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e.kind()),
                }
            }
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&case),
            SocketAddr::new(ours, 40001),
            server_addr,
            7,
            Key(0x1357_9bdf_0246_8ace),
        );
        let mut acked_data = false;
        drive_until(&dev, &mut conn, &data, epoch, |conn, event| {
            if event == MptcpEvent::Writable && !acked_data {
                // Some data went through: now close abruptly.
                acked_data = true;
                conn.abort();
            }
            event == MptcpEvent::Closed
        });
        kernel_side.join().unwrap()
    });
    assert_eq!(
        kernel_result,
        Err(std::io::ErrorKind::ConnectionReset),
        "the kernel saw a reset"
    );
    let counters = nstat(&ns).expect("nstat");
    assert!(
        counter(&counters, "MPTcpExtMPFastcloseRx") >= 1,
        "{counters:?}"
    );
}

/// MP_FASTCLOSE from the kernel (issue 4, g): a kernel client closes its
/// socket with data it never read, which makes the kernel send
/// MP_FASTCLOSE; our server reports a reset, not a hang.
#[test]
fn lab_kernel_fastclose_resets_our_connection() {
    let test = "lab_kernel_fastclose_resets_our_connection";
    let case = Case::mptcp("mpfck");
    let Some(Setup { ns, dev, ours, .. }) = setup(test, &case, 25) else {
        return;
    };
    let target = SocketAddr::new(ours, 5002);
    let reply = stream(16, 4 << 20);
    std::thread::scope(|scope| {
        let ns = &ns;
        let kernel_side = scope.spawn(move || {
            let mut s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            s.write_all(b"hello").unwrap();
            // Let our reply fill the socket's receive queue, unread.
            std::thread::sleep(Duration::from_millis(500));
            drop(s);
        });
        let epoch = StdInstant::now();
        let mut conn = accept_first_syn(&dev, 5002, &case, epoch, None);
        let mut reset = false;
        drive_until(&dev, &mut conn, &reply, epoch, |_, event| {
            reset |= event == MptcpEvent::Reset;
            matches!(
                event,
                MptcpEvent::Reset | MptcpEvent::Closed | MptcpEvent::TimedOut
            )
        });
        kernel_side.join().unwrap();
        assert!(reset, "our side reports the reset: {conn:?}");
    });
    let counters = nstat(&ns).expect("nstat");
    assert!(
        counter(&counters, "MPTcpExtMPFastcloseTx") >= 1,
        "{counters:?}"
    );
}

/// MP_TCPRST alone from us (issue 4, g): our client resets its only
/// subflow in mid-transfer and opens no other. Both sides keep the
/// connection for their close timeout (2 s here, `net.mptcp.close_timeout`
/// in the kernel), then the kernel's socket reports an error and ours
/// `TimedOut`: neither hangs.
#[test]
fn lab_our_mp_tcprst_alone_ends_both_sides_after_the_close_timeout() {
    let test = "lab_our_mp_tcprst_alone_ends_both_sides_after_the_close_timeout";
    let mut case = Case::mptcp("mprst");
    case.close_timeout = Duration::from_secs(2);
    let Some(Setup {
        ns,
        dev,
        kernel,
        ours,
    }) = setup(test, &case, 26)
    else {
        return;
    };
    let server_addr = SocketAddr::new(kernel, 5001);
    let listener = run_in(&ns, || kernel_mptcp_listener(server_addr))
        .unwrap()
        .expect("listener");
    let data = stream(17, 16 << 20);
    let broke_at: Cell<Option<StdInstant>> = Cell::new(None);
    // The kernel closes at once a connection still in its accept queue
    // that loses its subflow; the reset waits until it was accepted.
    let accepted = AtomicBool::new(false);
    let (kernel_result, kernel_ended, ours_ended, last) = std::thread::scope(|scope| {
        let accepted = &accepted;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            accepted.store(true, Ordering::SeqCst);
            bounded(&s);
            let mut buf = vec![0u8; 65536];
            let result = loop {
                match s.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e.kind()),
                }
            };
            (result, StdInstant::now())
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&case),
            SocketAddr::new(ours, 40001),
            server_addr,
            7,
            Key(0x1357_9bdf_0246_1111),
        );
        let mut last = None;
        drive_until(&dev, &mut conn, &data, epoch, |conn, event| {
            let sent = conn.subflows().next().map_or(0, |s| s.bytes_sent);
            if broke_at.get().is_none() && accepted.load(Ordering::SeqCst) && sent > 1 << 20 {
                // Some data went through: reset the only subflow.
                conn.reset_subflow(SubflowId(0), TcpRstReason::Unspecified);
                broke_at.set(Some(StdInstant::now()));
            }
            last = Some(event);
            matches!(
                event,
                MptcpEvent::Reset | MptcpEvent::Closed | MptcpEvent::TimedOut
            )
        });
        let ours_ended = StdInstant::now();
        let (result, kernel_ended) = kernel_side.join().unwrap();
        (result, kernel_ended, ours_ended, last)
    });
    let broke_at = broke_at.get().expect("the subflow was reset");
    assert_eq!(last, Some(MptcpEvent::TimedOut), "our side ends by timeout");
    let ours_after = ours_ended - broke_at;
    let kernel_after = kernel_ended - broke_at;
    eprintln!(
        "ours ended {ours_after:?} and the kernel {kernel_after:?} after the reset \
         ({kernel_result:?})"
    );
    assert!(
        ours_after >= case.close_timeout,
        "ours ended after {ours_after:?}"
    );
    assert!(
        kernel_after >= case.close_timeout && kernel_after < Duration::from_secs(15),
        "the kernel ended {kernel_after:?} after the reset"
    );
    assert!(
        kernel_result.is_err(),
        "the kernel saw an end without error"
    );
    let counters = nstat(&ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtMPRstRx") >= 1, "{counters:?}");
}

/// MP_TCPRST alone from the kernel (issue 4, g): `ss -K` kills the kernel
/// client's only subflow in mid-transfer, which resets it with
/// MP_TCPRST. Our server keeps the connection for its close timeout (2 s)
/// in case a join comes, then reports Reset: not a hang.
#[test]
fn lab_kernel_mp_tcprst_alone_resets_our_connection_after_the_close_timeout() {
    let test = "lab_kernel_mp_tcprst_alone_resets_our_connection_after_the_close_timeout";
    let mut case = Case::mptcp("mprsk");
    case.close_timeout = Duration::from_secs(2);
    let Some(Setup { ns, dev, ours, .. }) = setup(test, &case, 27) else {
        return;
    };
    let target = SocketAddr::new(ours, 5002);
    let data = stream(18, 64 << 20);
    let killed: Cell<Option<StdInstant>> = Cell::new(None);
    let (last, ended) = std::thread::scope(|scope| {
        let ns = &ns;
        let data = &data;
        let _kernel_side = scope.spawn(move || {
            let mut s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            // Writes stall once the subflow is gone (the kernel keeps the
            // connection, with nothing to send on); the test is about
            // our side, so the writer gives up after a while.
            s.set_write_timeout(Some(Duration::from_secs(8))).unwrap();
            let result = s.write_all(data).map_err(|e| e.kind());
            eprintln!("kernel writer: {result:?}");
        });
        let epoch = StdInstant::now();
        let mut conn = accept_first_syn(&dev, 5002, &case, epoch, None);
        let mut last = None;
        drive_until(&dev, &mut conn, &[], epoch, |conn, event| {
            let received = conn.subflows().next().map_or(0, |s| s.bytes_received);
            if killed.get().is_none() && received > 1 << 20 {
                let port = target.port().to_string();
                let out = ns
                    .run(&["ss", "-K", "dst", &ours.to_string(), "dport", "=", &port])
                    .expect("ss -K");
                assert!(out.contains("ESTAB"), "ss -K killed nothing:\n{out}");
                killed.set(Some(StdInstant::now()));
            }
            last = Some(event);
            matches!(
                event,
                MptcpEvent::Reset | MptcpEvent::Closed | MptcpEvent::TimedOut
            )
        });
        (last, StdInstant::now())
    });
    let killed = killed.get().expect("the kernel's subflow was killed");
    assert_eq!(last, Some(MptcpEvent::Reset), "our side reports the reset");
    let after = ended - killed;
    eprintln!("our side ended {after:?} after ss -K");
    assert!(
        after >= case.close_timeout && after < case.close_timeout + Duration::from_secs(3),
        "ended {after:?} after ss -K"
    );
    let counters = nstat(&ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtMPRstTx") >= 1, "{counters:?}");
}

/// A namespace with two TUN devices: the kernel's addresses `10.79.N.1`
/// and `10.79.N+1.1`, ours `.2` behind each.
struct TwoPaths {
    ns: Netns,
    dev_a: SyncDevice,
    dev_b: SyncDevice,
    kernel: [IpAddr; 2],
    ours: [IpAddr; 2],
}

/// `before` runs ahead of the devices (limits, say), `after` once they
/// exist (endpoints and routes naming them). Reverse-path filtering is
/// off: with policy routes, replies may come in on the other device.
fn two_paths(tag: &str, subnet: u8, before: &[&[&str]], after: &[&[&str]]) -> TwoPaths {
    let ns = Netns::new(tag).expect("namespace");
    ns.sysctl("net.ipv4.conf.all.rp_filter", "0").unwrap();
    ns.sysctl("net.ipv4.conf.default.rp_filter", "0").unwrap();
    for args in before {
        ns.ip(args).expect("ip");
    }
    let ip = |n: u8, host: u8| -> IpAddr { format!("10.79.{n}.{host}").parse().unwrap() };
    let kernel = [ip(subnet, 1), ip(subnet + 1, 1)];
    let ours = [ip(subnet, 2), ip(subnet + 1, 2)];
    let dev = |name: &str, addr| {
        let dev = tun_in(
            &ns,
            &TunConfig {
                name: name.into(),
                addr,
                prefix: 24,
                mtu: 1500,
            },
        )
        .expect("tun");
        dev.set_nonblocking(true).unwrap();
        dev
    };
    let (dev_a, dev_b) = (dev("mp0", kernel[0]), dev("mp1", kernel[1]));
    for args in after {
        ns.ip(args).expect("ip");
    }
    TwoPaths {
        ns,
        dev_a,
        dev_b,
        kernel,
        ours,
    }
}

/// ADD_ADDR from the kernel (issue 4, b): the kernel server has a
/// `signal` endpoint on its second address; our client checks the
/// announcement's HMAC, echoes it, and joins the announced address.
#[test]
fn lab_kernel_announces_and_our_client_joins() {
    kernel_announces(
        "lab_kernel_announces_and_our_client_joins",
        "mpsig",
        26,
        false,
    );
}

/// REMOVE_ADDR from the kernel (issue 4, h): as above, and in mid-transfer
/// `ip mptcp endpoint delete` withdraws the second address; our subflow
/// to it closes and the data goes on over the first.
#[test]
fn lab_kernel_removes_its_address_mid_transfer() {
    kernel_announces(
        "lab_kernel_removes_its_address_mid_transfer",
        "mprmk",
        30,
        true,
    );
}

fn kernel_announces(test: &str, tag: &str, subnet: u8, remove: bool) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let second = format!("10.79.{}.1", subnet + 1);
    let endpoint = ["mptcp", "endpoint", "add", &second, "id", "1", "signal"];
    let p = two_paths(tag, subnet, &[&umptcp_lab::TWO_PATH_LIMITS, &endpoint], &[]);
    let listener = run_in(&p.ns, || {
        kernel_mptcp_listener(SocketAddr::new("0.0.0.0".parse().unwrap(), 5001))
    })
    .unwrap()
    .expect("listener");
    let data = stream(17, SIZE);
    let reply = stream(18, REPLY);
    let (conn, kernel_side, events) = std::thread::scope(|scope| {
        let ns = &p.ns;
        let reply = &reply;
        let kernel_side = scope.spawn(move || {
            let mut s = accept_within_deadline(&listener);
            kernel_serve(&mut s, reply, ns)
        });
        let epoch = StdInstant::now();
        let mut conn = connect_ours(
            config(&Case::mptcp("mpsig")),
            SocketAddr::new(p.ours[0], 40001),
            SocketAddr::new(p.kernel[0], 5001),
            10,
            Key(0x2468_ace0_1357_9bdf),
        );
        let mut events = Vec::new();
        let ours_b = p.ours[1];
        let mut removed = false;
        let received = drive_paths(
            &Paths {
                devs: &[&p.dev_a, &p.dev_b],
                route: &|src, _| usize::from(src == ours_b),
                cut: &|_, _| false,
                pace: &|_| None,
                watch: &|_, _| {},
                tamper: &|_, _| {},
            },
            &mut conn,
            &data,
            epoch,
            None,
            |conn, event| {
                if remove
                    && !removed
                    && conn
                        .subflows()
                        .nth(1)
                        .is_some_and(|s| s.bytes_sent > 4 << 20)
                {
                    ns.ip(&["mptcp", "endpoint", "delete", "id", "1"])
                        .expect("delete endpoint");
                    removed = true;
                }
                if let MptcpEvent::AddressAnnounced(address) = event {
                    let now = Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
                    let tuple = FourTuple {
                        local: SocketAddr::new(ours_b, 40002),
                        remote: SocketAddr::new(address.addr, address.port.unwrap_or(5001)),
                    };
                    conn.open_subflow(
                        now,
                        tuple,
                        IsnKey::from_bytes([11; 32]),
                        Nonce(0x5eed_0002),
                        AddrId(1),
                        false,
                    )
                    .expect("open subflow");
                }
                if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                    events.push(event);
                }
            },
        );
        assert!(received == *reply, "reply differs");
        (conn, kernel_side.join().unwrap(), events)
    });
    assert_eq!(kernel_side.total, SIZE);
    assert_eq!(kernel_side.digest, Sha256::digest(&data).to_vec());
    let announced = events
        .iter()
        .find_map(|e| match e {
            MptcpEvent::AddressAnnounced(a) => Some(*a),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ADD_ADDR: {events:?}"));
    assert_eq!(announced.addr, p.kernel[1]);
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(SubflowId(1))),
        "{events:?}"
    );
    let counters = nstat(&p.ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtAddAddrTx") >= 1, "{counters:?}");
    assert!(
        counter(&counters, "MPTcpExtEchoAdd") >= 1,
        "our echo: {counters:?}"
    );
    assert!(
        counter(&counters, "MPTcpExtMPJoinAckRx") >= 1,
        "{counters:?}"
    );
    let sent: Vec<_> = conn.subflows().map(|s| s.bytes_sent).collect();
    // The same bar as the join test: a tenth of the transfer each (the
    // split follows the two paths' RTTs, which the host's load moves).
    assert!(
        sent.iter().all(|b| *b > (SIZE / 10) as u64),
        "both subflows carry data: {sent:?}"
    );
    if remove {
        assert!(counter(&counters, "MPTcpExtRmAddrTx") >= 1, "{counters:?}");
        assert!(
            events.contains(&MptcpEvent::AddressRemoved(AddrId(1)))
                && events.contains(&MptcpEvent::SubflowClosed(SubflowId(1))),
            "{events:?}"
        );
    }
}

/// ADD_ADDR from us (issue 4, c): our server announces its second
/// address; the kernel client accepts the HMAC, echoes, and joins it.
#[test]
fn lab_our_server_announces_and_the_kernel_joins() {
    our_server_announces(
        "lab_our_server_announces_and_the_kernel_joins",
        "mpsigs",
        28,
        false,
    );
}

/// REMOVE_ADDR from us (issue 4, h): as above, and in mid-transfer our
/// server withdraws the second address; the kernel closes its subflow
/// to it and the data goes on over the first.
#[test]
fn lab_our_server_removes_its_address_mid_transfer() {
    our_server_announces(
        "lab_our_server_removes_its_address_mid_transfer",
        "mprmo",
        32,
        true,
    );
}

fn our_server_announces(test: &str, tag: &'static str, subnet: u8, remove: bool) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let p = two_paths(tag, subnet, &[&umptcp_lab::TWO_PATH_LIMITS], &[]);
    let target = SocketAddr::new(p.ours[0], 5002);
    let data = stream(19, SIZE);
    let reply = stream(20, REPLY);
    let case = Case::mptcp(tag);
    let (conn, received, kernel_received, events, removed) = std::thread::scope(|scope| {
        let ns = &p.ns;
        let data = &data;
        let kernel_side = scope.spawn(move || {
            let s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            kernel_send(s, data)
        });
        let epoch = StdInstant::now();
        let mut conn = accept_first_syn(&p.dev_a, 5002, &case, epoch, None);
        let mut events = Vec::new();
        let mut removed = false;
        let ours_b = p.ours[1];
        let received = drive_paths(
            &Paths {
                devs: &[&p.dev_a, &p.dev_b],
                route: &|src, _| usize::from(src == ours_b),
                cut: &|_, _| false,
                pace: &|_| None,
                watch: &|_, _| {},
                tamper: &|_, _| {},
            },
            &mut conn,
            &reply,
            epoch,
            None,
            |conn, event| {
                if event == (MptcpEvent::Connected { mptcp: true }) {
                    conn.announce(AddrId(1), ours_b, None).expect("announce");
                }
                // The kernel's scheduler decides how much the second
                // subflow carries (under load as little as a few MiB of
                // the 32), so the withdrawal comes once it has carried
                // what the split check below asks of it.
                let second = conn.subflows().nth(1);
                if remove
                    && !removed
                    && second.is_some_and(|s| s.bytes_received > KERNEL_SPLIT_MIN && !s.closed)
                {
                    conn.remove_address(AddrId(1));
                    removed = true;
                }
                if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                    events.push(event);
                }
            },
        );
        (conn, received, kernel_side.join().unwrap(), events, removed)
    });
    assert!(Sha256::digest(&received) == Sha256::digest(&data));
    assert!(kernel_received == reply, "reply differs");
    let counters = nstat(&p.ns).expect("nstat");
    assert!(counter(&counters, "MPTcpExtAddAddr") >= 1, "{counters:?}");
    assert!(counter(&counters, "MPTcpExtEchoAddTx") >= 1, "{counters:?}");
    assert_eq!(counter(&counters, "MPTcpExtAddAddrDrop"), 0, "{counters:?}");
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(SubflowId(1))),
        "the kernel joined the announced address: {events:?}"
    );
    let got: Vec<_> = conn
        .subflows()
        .map(|s| (s.tuple.local, s.bytes_received))
        .collect();
    assert_eq!(got[1].0.ip(), p.ours[1], "{got:?}");
    assert!(
        got.iter().all(|(_, b)| *b > KERNEL_SPLIT_MIN),
        "both subflows carry data: {got:?}"
    );
    if remove {
        assert!(
            removed,
            "the second subflow never carried what the withdrawal waits for: {got:?}"
        );
        assert!(counter(&counters, "MPTcpExtRmAddr") >= 1, "{counters:?}");
        assert!(
            events.contains(&MptcpEvent::SubflowClosed(SubflowId(1))),
            "{events:?}"
        );
    }
}
