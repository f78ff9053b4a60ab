//! One case: two endpoints, the network between them, the attacker of the
//! mode, the applications, and the oracles checked as it runs and at its end.
//!
//! The loop works in virtual time. At each instant it delivers what
//! arrives, runs the timers that are due, lets the applications act, and
//! drains both endpoints; then it jumps to the next arrival or deadline.
//! A case ends when both endpoints hold nothing any more, or when a bound
//! is passed: [`TRANSFER_LIMIT`] for the transfer (then the applications
//! abort), [`FREE_LIMIT`] for the endpoints to forget closed connections.

use std::net::SocketAddr;
use std::time::Duration;

use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::path_manager::{Announce, Fullmesh, NDiffPorts};
use umptcp_proto::{
    Admission, ConnectOptions, ConnectionId, ConnectionPolicy, Endpoint, EndpointConfig,
    FallbackReason, Listen, ListenOptions, MptcpEvent,
};
use umptcp_tcp::{FastOpenCookie, FourTuple, State};
use umptcp_time::Instant;
use umptcp_wire::AddrId;
use umptcp_wire::segment::{ChecksumCheck, Segment};

use crate::app::{Side, secs};
use crate::attack::{Attacker, Forged};
use crate::config::{CLIENT_PORT, CaseConfig, SERVER_PORT, SubflowPlan};
use crate::entropy::Entropy;
use crate::impair::Impairer;
use crate::keys::ScriptedRng;
use crate::mode::Mode;
use crate::mutate::Mutator;
use crate::network::{Arrival, Host, Network};
use crate::observe::Observer;
use crate::oracle::{Finding, Oracle, TRANSMIT_LOOP};
use crate::wire::{describe, describe_diff};

/// Virtual time the honest transfer may take, from the first SYN to both
/// sides' `Closed`.
pub const TRANSFER_LIMIT: Duration = Duration::from_secs(600);
/// Virtual time the endpoints may take to forget the connections once both
/// applications are done: TIME-WAIT, SYN retries and `close_timeout` end
/// well within it.
pub const FREE_LIMIT: Duration = Duration::from_secs(300);
/// Rounds at one instant in which a timer handled at that instant may still
/// be due before it counts as stuck in the past.
const STUCK_ROUNDS: u32 = 3;
/// Buffer bytes a half-open connection may hold: its buffers come with its
/// first byte, so a SYN flood costs state, not memory.
const HALF_OPEN_BYTES: usize = 16 * 1024;
/// Packet buffer: larger than any segment an endpoint writes.
const BUF: usize = 65_536;

/// What one case did and found.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// Its mode.
    pub mode: Mode,
    /// Its seed.
    pub seed: u64,
    /// Its configuration (for replay output).
    pub config: String,
    /// What failed.
    pub findings: Vec<Finding>,
    /// Segments the endpoints took (`handle_segment` calls), forged ones included.
    pub segments: u64,
    /// Forged or mutated segments the attacker sent.
    pub forged: u64,
    /// Virtual time at the end.
    pub elapsed: Duration,
    /// Where both applications stood at the end.
    pub outcome: String,
}

impl CaseReport {
    /// The findings that are defects in this mode (on-path: structural only).
    pub fn defects(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.oracle.applies(f.mode))
    }
}

/// How the case's randomness is split.
#[derive(Debug)]
pub struct Sources {
    /// The network's delays and impairments.
    pub network: Entropy,
    /// The attacker's (or mutator's) choices.
    pub attack: Entropy,
    /// Seeds of the two endpoints' RNGs (keys, nonces, ISN secrets).
    pub endpoints: (u64, u64),
}

/// A case being run.
pub struct Case {
    mode: Mode,
    seed: u64,
    config: CaseConfig,
    client: Endpoint,
    server: Endpoint,
    server_limits: EndpointConfig,
    net: Network,
    seen: Observer,
    impairer: Option<Impairer>,
    mutator: Option<Mutator>,
    attacker: Attacker,
    apps: [Side; 2],
    /// The server's other connections (a flood's), shut down at accept.
    others: Vec<ConnectionId>,
    now: Instant,
    findings: Vec<Finding>,
    segments: u64,
    budget: u64,
    /// A timer was handled at this instant, per endpoint, and how many
    /// rounds it stayed due since.
    fired: [bool; 2],
    stuck: [u32; 2],
    rounds: u64,
    done_at: Option<Instant>,
    over: bool,
    subflows_opened: bool,
    buf: Vec<u8>,
    forged: Vec<Forged>,
    trace: bool,
}

const CLIENT: usize = 0;
const SERVER: usize = 1;

fn cc(name: &'static str) -> Box<dyn FnMut() -> Box<dyn CongestionControl> + Send> {
    let registry = Registry::with_builtins();
    Box::new(move || {
        registry
            .build(name, &CcConfig::default())
            .expect("a built-in controller")
    })
}

impl Case {
    /// A case of `mode` with `config`, its randomness from `sources`.
    pub fn new(mode: Mode, seed: u64, config: CaseConfig, sources: Sources) -> Self {
        let f = config.family;
        let keys = |k: Option<u64>| k.into_iter().collect::<Vec<_>>();
        let mut client = Endpoint::new(
            config.mptcp(),
            config.client_endpoint(),
            Box::new(ScriptedRng::new(
                sources.endpoints.0,
                &keys(config.client_key),
            )),
            cc(config.cc),
        );
        let server_limits = config.server_endpoint();
        let mut server = Endpoint::new(
            config.mptcp(),
            server_limits.clone(),
            Box::new(ScriptedRng::new(
                sources.endpoints.1,
                &keys(config.server_key),
            )),
            cc(config.cc),
        );
        // RFC 8803 §4.2: a converter takes SYN data without a cookie.
        server.listen_on_with(
            Listen::Addr(f.listener()),
            Admission::Accept(None),
            ListenOptions {
                fast_open: config.fast_open,
                syn_data_without_cookie: config.fast_open,
                ..ListenOptions::default()
            },
        );
        if config.plan == SubflowPlan::Fullmesh {
            client.add_local_address(f.client(1));
            server.add_local_address(f.server(1));
            server.set_path_manager(Box::new(Announce));
        }
        let hold = Duration::from_micros(2 * config.delay_us.1);
        let (impairer, mutator) = match mode {
            Mode::Impair => (
                Some(Impairer::new(config.impair, hold, sources.network.clone())),
                None,
            ),
            Mode::OnPath => {
                let rate = (config.attack_rate / 10).max(10);
                (None, Some(Mutator::new(rate, sources.attack.clone())))
            }
            _ => (None, None),
        };
        let mut net_e = sources.network;
        // A different stream for the link delays than for the impairments.
        let _ = net_e.u64();
        let net = Network::new(f, config.delay_us, config.rate_mbps, net_e);
        let attacker = Attacker::new(mode, f, config.attack_rate, sources.attack);
        let salts = (seed ^ 0x00c1_1e47, seed ^ 0x005e_27e2);
        let apps = [
            Side::new(
                "client",
                (salts.0, config.client_bytes),
                (salts.1, config.server_bytes),
            ),
            Side::new(
                "server",
                (salts.1, config.server_bytes),
                (salts.0, config.client_bytes),
            ),
        ];
        let budget = 50_000 + 40 * (config.client_bytes + config.server_bytes) / 1000;
        Case {
            mode,
            seed,
            config,
            client,
            server,
            server_limits,
            net,
            seen: Observer::new(f),
            impairer,
            mutator,
            attacker,
            apps,
            others: Vec::new(),
            now: Instant::ZERO,
            findings: Vec::new(),
            segments: 0,
            budget,
            fired: [false; 2],
            stuck: [0; 2],
            rounds: 0,
            done_at: None,
            over: false,
            subflows_opened: false,
            buf: vec![0; BUF],
            forged: Vec::new(),
            trace: false,
        }
    }

    /// Print every segment delivered and every event to stderr (replays).
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// Record a finding of `oracle` (one per oracle and case).
    fn find(&mut self, oracle: Oracle, detail: String) {
        if self.findings.iter().any(|f| f.oracle == oracle) {
            return;
        }
        self.findings.push(Finding {
            mode: self.mode,
            seed: self.seed,
            oracle,
            detail,
        });
    }

    /// End the case now with a finding (the loop cannot go on sensibly).
    fn abort_case(&mut self, oracle: Oracle, detail: String) {
        self.find(oracle, detail);
        self.over = true;
    }

    fn endpoint(&mut self, side: usize) -> &mut Endpoint {
        if side == CLIENT {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// Run to the end.
    pub fn run(mut self) -> CaseReport {
        self.start();
        while !self.over {
            self.step();
            if !self.over {
                self.advance();
            }
        }
        self.judge();
        CaseReport {
            mode: self.mode,
            seed: self.seed,
            config: self.config.summary(),
            findings: self.findings,
            segments: self.segments,
            forged: self.attacker.forged + self.mutator.as_ref().map_or(0, |m| m.mutated),
            elapsed: self.now.since_epoch(),
            outcome: format!(
                "{}; {}{}",
                self.apps[CLIENT].status(),
                self.apps[SERVER].status(),
                self.impairer
                    .as_ref()
                    .map(|i| format!("; network dropped {} re-encoded {}", i.dropped, i.reencoded))
                    .unwrap_or_default()
            ),
        }
    }

    fn start(&mut self) {
        let f = self.config.family;
        let tuple = FourTuple {
            local: SocketAddr::new(f.client(0), CLIENT_PORT),
            remote: f.listener(),
        };
        let mut policy = ConnectionPolicy::new();
        let n = usize::from(self.config.subflows);
        if n > 1 {
            match self.config.plan {
                SubflowPlan::NDiffPorts => {
                    policy = policy.with_path_manager(Box::new(NDiffPorts { n }));
                }
                SubflowPlan::Fullmesh => {
                    policy = policy.with_path_manager(Box::new(Fullmesh { max_subflows: n }));
                }
                SubflowPlan::ManualAddress | SubflowPlan::ManualPort => {}
            }
        }
        let options = ConnectOptions {
            // A cookie of someone else's: the server takes the data anyway.
            fast_open: self
                .config
                .fast_open
                .then(|| FastOpenCookie::new(&[0x5f; 8])),
            policy,
            ..ConnectOptions::default()
        };
        match self.client.open(self.now, tuple, options) {
            Ok(id) => {
                self.apps[CLIENT].id = Some(id);
                // Before anything is sent: an early shutdown is one before
                // the SYN.
                if let Some(conn) = self.client.connection(id) {
                    self.apps[CLIENT].pump(conn);
                }
            }
            Err(e) => self.abort_case(Oracle::Harm, format!("connect failed: {e}")),
        }
    }

    /// Everything due at `now`.
    fn step(&mut self) {
        self.rounds += 1;
        while let Some(arrival) = self.net.pop_due(self.now) {
            self.deliver(arrival);
            if self.over {
                return;
            }
        }
        for side in [CLIENT, SERVER] {
            let now = self.now;
            let ep = self.endpoint(side);
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
                self.fired[side] = true;
            }
        }
        for _ in 0..16 {
            let moved = self.applications();
            let sent = self.transmit(CLIENT) + self.transmit(SERVER);
            if self.over || (!moved && sent == 0) {
                break;
            }
        }
        if self.over {
            return;
        }
        self.check_limits();
        self.phase();
    }

    fn deliver(&mut self, arrival: Arrival) {
        let now = self.now;
        let Arrival { to, bytes, forged } = arrival;
        let side = match to {
            Host::Client => CLIENT,
            Host::Server => SERVER,
            Host::Stranger => {
                let mut out = std::mem::take(&mut self.forged);
                self.attacker.at_stranger(now, &bytes, &mut out);
                self.inject(out);
                return;
            }
        };
        let Ok(seg) = Segment::parse(&bytes, ChecksumCheck::Verify) else {
            return;
        };
        if self.trace {
            let tag = if forged { "forged" } else { "in" };
            eprintln!("{} {tag} {}", secs(now), describe(&bytes));
        }
        let ep = if side == CLIENT {
            &mut self.client
        } else {
            &mut self.server
        };
        ep.handle_segment(now, &seg);
        self.segments += 1;
        if self.segments > self.budget {
            let detail = format!(
                "more than {} segments by {} ({})",
                self.budget,
                secs(now),
                self.outcome_line()
            );
            self.abort_case(Oracle::Storm, detail);
            return;
        }
        if !forged {
            let mut out = std::mem::take(&mut self.forged);
            self.attacker.after_delivery(now, &self.seen, &mut out);
            self.inject(out);
        }
    }

    fn inject(&mut self, mut out: Vec<Forged>) {
        for f in out.drain(..) {
            self.net.inject(f.at, f.dst, f.bytes);
        }
        self.forged = out;
    }

    /// Both applications act on their events and data; whether anything moved.
    fn applications(&mut self) -> bool {
        let mut moved = false;
        for side in [CLIENT, SERVER] {
            while let Some((id, event)) = self.endpoint(side).poll_event() {
                moved = true;
                if self.trace {
                    let name = self.apps[side].name;
                    eprintln!("{} event {name} {id:?} {event:?}", secs(self.now));
                }
                if Some(id) == self.apps[side].id {
                    self.on_event(side, id, event);
                }
            }
        }
        while let Some(id) = self.server.accept() {
            moved = true;
            let honest = self.apps[SERVER].id.is_none()
                && self.server.connection(id).is_some_and(|c| {
                    c.initial_subflow().four_tuple().remote
                        == SocketAddr::new(self.config.family.client(0), CLIENT_PORT)
                });
            if honest {
                self.apps[SERVER].id = Some(id);
            } else {
                // Nobody we know: no data for it.
                if let Some(c) = self.server.connection(id) {
                    c.shutdown();
                }
                self.others.push(id);
            }
        }
        for side in [CLIENT, SERVER] {
            let Some(id) = self.apps[side].id else {
                continue;
            };
            let ep = if side == CLIENT {
                &mut self.client
            } else {
                &mut self.server
            };
            match ep.connection(id) {
                Some(conn) => moved |= self.apps[side].pump(conn),
                None => self.apps[side].gone = true,
            }
        }
        if self.apps[SERVER].wrong_at.is_some() || self.apps[CLIENT].wrong_at.is_some() {
            self.byte_stream();
        }
        moved
    }

    fn on_event(&mut self, side: usize, id: ConnectionId, event: MptcpEvent) {
        let now = self.now;
        self.apps[side].on_event(now, event);
        match event {
            MptcpEvent::Connected { mptcp: true } if side == CLIENT => self.open_subflows(id),
            MptcpEvent::SubflowClosed(sub) => {
                let peer_closed = self.apps[side].peer_closed;
                let ep = self.endpoint(side);
                let Some(conn) = ep.connection(id) else {
                    return;
                };
                // Once the peer's DATA_FIN is in, a join may meet a peer that
                // finished (both DATA_FINs) and refuses it: no harm.
                if conn.is_closing() || peer_closed {
                    return;
                }
                let tuple = conn
                    .subflows()
                    .find(|s| s.id == sub)
                    .map(|s| format!("{}->{}", s.tuple.local, s.tuple.remote));
                if let Some(tuple) = tuple {
                    self.apps[side].subflows_lost.push((now, tuple));
                }
            }
            _ => {}
        }
        if self.apps[CLIENT].connected.is_some() && self.apps[SERVER].connected.is_some() {
            self.attacker.arm();
        }
    }

    /// The application's own joins (`manual` plans).
    fn open_subflows(&mut self, id: ConnectionId) {
        if self.subflows_opened {
            return;
        }
        self.subflows_opened = true;
        let f = self.config.family;
        for k in 1..self.config.subflows {
            let (local, remote, local_id) = match self.config.plan {
                SubflowPlan::ManualAddress => (
                    SocketAddr::new(f.client(k), CLIENT_PORT),
                    SocketAddr::new(f.server(k % 2), SERVER_PORT),
                    AddrId(k),
                ),
                SubflowPlan::ManualPort => (
                    SocketAddr::new(f.client(0), CLIENT_PORT + u16::from(k)),
                    f.listener(),
                    AddrId(0),
                ),
                SubflowPlan::NDiffPorts | SubflowPlan::Fullmesh => return,
            };
            let tuple = FourTuple { local, remote };
            let _ = self
                .client
                .open_subflow(self.now, id, tuple, local_id, false);
        }
    }

    /// Drain one endpoint; the number of segments it gave.
    fn transmit(&mut self, side: usize) -> usize {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        let mut packets = Vec::new();
        let ep = self.endpoint(side);
        while let Some(t) = ep.poll_transmit(now, &mut buf) {
            packets.push(buf[..t.len].to_vec());
            if packets.len() > TRANSMIT_LOOP {
                break;
            }
        }
        self.buf = buf;
        let count = packets.len();
        if count > TRANSMIT_LOOP {
            let name = self.apps[side].name;
            let detail = format!(
                "{name} gave more than {TRANSMIT_LOOP} segments at {} without returning None (first {}; last {})",
                secs(now),
                describe(&packets[0]),
                describe(&packets[count - 1]),
            );
            self.abort_case(Oracle::TransmitLoop, detail);
            return count;
        }
        for p in packets {
            self.send(p);
        }
        count
    }

    /// Put an endpoint's packet on the network, through the mode's
    /// impairments or mutations.
    fn send(&mut self, packet: Vec<u8>) {
        let Ok(seg) = Segment::parse(&packet, ChecksumCheck::Skip) else {
            return;
        };
        let (src, dst) = (seg.src(), seg.dst());
        self.seen.observe(&packet);
        let now = self.now;
        if self.trace {
            eprintln!("{} out {}", secs(now), describe(&packet));
        }
        if let Some(imp) = &mut self.impairer {
            let copies = imp.impair(packet, &self.seen);
            if self.trace && copies.len() != 1 {
                eprintln!("{} {} copies", secs(now), copies.len());
            }
            for copy in copies {
                self.net.transmit(now, src, dst, copy.bytes, copy.extra);
            }
        } else if let Some(m) = &mut self.mutator {
            let original = self.trace.then(|| packet.clone());
            for p in m.mutate(packet) {
                if original.as_ref().is_some_and(|o| *o != p) {
                    eprintln!(
                        "{} mutated {}",
                        secs(now),
                        describe_diff(original.as_deref().unwrap_or(&[]), &p)
                    );
                }
                self.net.transmit(now, src, dst, p, Duration::ZERO);
            }
        } else {
            self.net.transmit(now, src, dst, packet, Duration::ZERO);
        }
    }

    /// The configured limits, every round (the costly counts every 32nd).
    fn check_limits(&mut self) {
        let (max_conn, max_half) = (
            self.server_limits.max_connections,
            self.server_limits.max_half_open,
        );
        let client_max = self.config.client_endpoint().max_connections;
        if self.client.len() > client_max {
            let d = format!(
                "client holds {} connections, limit {client_max}",
                self.client.len()
            );
            self.find(Oracle::Limits, d);
        }
        if self.server.len() > max_conn {
            let d = format!(
                "server holds {} connections, limit {max_conn}",
                self.server.len()
            );
            self.find(Oracle::Limits, d);
        }
        if self.rounds % 32 != 0 {
            return;
        }
        let mptcp = self.config.mptcp();
        let mut half_open = 0;
        let server = &mut self.server;
        self.others.retain(|&id| server.connection(id).is_some());
        let mut costly = None;
        let honest = self.apps[SERVER].id;
        for &id in self.others.iter().chain(honest.iter()) {
            if let Some(c) = server.connection(id)
                && c.initial_subflow().state() == State::SynReceived
            {
                half_open += 1;
                // The honest server writes at accept: its buffers are its own.
                let bytes = c.buffer_bytes();
                if Some(id) != honest && bytes > HALF_OPEN_BYTES {
                    costly = Some((id, bytes));
                }
            }
        }
        if let Some((id, bytes)) = costly {
            let d = format!(
                "half-open connection {id:?} holds {bytes} buffer bytes (at most {HALF_OPEN_BYTES}: a SYN flood must not take memory)"
            );
            self.find(Oracle::Limits, d);
        }
        if half_open > max_half {
            let d = format!("server holds {half_open} half-open connections, limit {max_half}");
            self.find(Oracle::Limits, d);
        }
        for side in [CLIENT, SERVER] {
            let Some(id) = self.apps[side].id else {
                continue;
            };
            let name = self.apps[side].name;
            let Some(c) = self.endpoint(side).connection(id) else {
                continue;
            };
            let live = c.subflows().filter(|s| !s.closed).count();
            let addrs = c.remote_addresses().len();
            let readable = c.readable();
            if live > mptcp.max_subflows {
                let d = format!(
                    "{name} has {live} live subflows, limit {}",
                    mptcp.max_subflows
                );
                self.find(Oracle::Limits, d);
            }
            if addrs > mptcp.max_addresses {
                let d = format!(
                    "{name} keeps {addrs} peer addresses, limit {}",
                    mptcp.max_addresses
                );
                self.find(Oracle::Limits, d);
            }
            if readable > mptcp.recv_buffer {
                let d = format!(
                    "{name} holds {readable} readable bytes, buffer {}",
                    mptcp.recv_buffer
                );
                self.find(Oracle::Limits, d);
            }
        }
    }

    /// The byte-stream oracle, as soon as a wrong byte is read.
    fn byte_stream(&mut self) {
        if !self.mode.honest() {
            return;
        }
        for side in [SERVER, CLIENT] {
            let app = &self.apps[side];
            if let Some(at) = app.wrong_at {
                let peer = self.apps[1 - side].name;
                let what = if at >= app.expected() {
                    format!("more than the {} bytes the {peer} wrote", app.expected())
                } else {
                    format!("a wrong byte at offset {at} of the {peer}'s stream")
                };
                let d = format!(
                    "{} read {what} at {} ({})",
                    app.name,
                    secs(self.now),
                    self.outcome_line()
                );
                self.find(Oracle::ByteStream, d);
                return;
            }
        }
    }

    fn outcome_line(&self) -> String {
        format!(
            "{}; {}",
            self.apps[CLIENT].status(),
            self.apps[SERVER].status()
        )
    }

    /// Deadlines: the transfer's, then the endpoints'.
    fn phase(&mut self) {
        let both_done = self.apps.iter().all(Side::done);
        if !both_done {
            if self.now >= Instant::ZERO + TRANSFER_LIMIT {
                // The applications give up, as one with an idle timeout would.
                for side in [CLIENT, SERVER] {
                    let Some(id) = self.apps[side].id else {
                        self.apps[side].gone = true;
                        continue;
                    };
                    self.apps[side].aborted = true;
                    match self.endpoint(side).connection(id) {
                        Some(c) if !c.is_closed() => c.abort(),
                        Some(_) => {}
                        None => self.apps[side].gone = true,
                    }
                }
            }
            return;
        }
        if self.done_at.is_none() {
            self.attacker.stop();
            self.close_others();
        }
        let done_at = *self.done_at.get_or_insert(self.now);
        if self.client.is_empty() && self.server.is_empty() {
            self.over = true;
        } else if self.now >= done_at + FREE_LIMIT {
            let d = format!(
                "{} s after both applications were done: client holds {} connection(s){}, server {}{} ({})",
                FREE_LIMIT.as_secs(),
                self.client.len(),
                self.held(CLIENT),
                self.server.len(),
                self.held(SERVER),
                self.outcome_line()
            );
            self.abort_case(Oracle::ClosedHeld, d);
        }
    }

    /// The server application gives up the other connections it accepted
    /// once the honest one is over, as an application closes idle ones:
    /// established ones are aborted; half-open ones must time out by
    /// themselves (SYN/ACK retries).
    fn close_others(&mut self) {
        for &id in &self.others {
            if let Some(c) = self.server.connection(id)
                && !c.is_closed()
                && c.initial_subflow().state() != State::SynReceived
            {
                c.abort();
            }
        }
    }

    /// What the connections `side` still holds look like (the honest one
    /// and, on the server, the others it accepted).
    fn held(&mut self, side: usize) -> String {
        let now = self.now;
        let mut ids: Vec<(ConnectionId, &str)> =
            self.apps[side].id.iter().map(|&id| (id, "ours")).collect();
        if side == SERVER {
            ids.extend(self.others.iter().map(|&id| (id, "other")));
        }
        let ep = if side == CLIENT {
            &mut self.client
        } else {
            &mut self.server
        };
        let mut parts = Vec::new();
        for (id, whose) in ids {
            let Some(c) = ep.connection(id) else {
                continue;
            };
            let timer = c
                .poll_timeout()
                .map(|t| format!("next timer in {:?}", t.saturating_duration_since(now)))
                .unwrap_or_else(|| "no timer".into());
            parts.push(format!(
                "{whose} {id:?}: closed={} initial={:?} live-subflows={} {timer}",
                c.is_closed(),
                c.initial_subflow().state(),
                c.subflows().filter(|s| !s.closed).count()
            ));
            if parts.len() == 3 {
                break;
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" [{}]", parts.join("; "))
        }
    }

    /// The next instant: the earliest arrival, timer or deadline, unless
    /// something is still due now (then the same instant again, and a timer
    /// handled at it that stays due is stuck in the past).
    fn advance(&mut self) {
        let now = self.now;
        let mut due_now = self.net.next_at().is_some_and(|t| t <= now);
        for side in [CLIENT, SERVER] {
            let timer = self.endpoint(side).poll_timeout();
            if timer.is_some_and(|t| t <= now) {
                due_now = true;
                if self.fired[side] {
                    self.stuck[side] += 1;
                    if self.stuck[side] >= STUCK_ROUNDS {
                        let name = self.apps[side].name;
                        let t = timer.unwrap_or(now);
                        let d = format!(
                            "{name}'s poll_timeout() is {} after handle_timeout({}) {STUCK_ROUNDS} times ({})",
                            secs(t),
                            secs(now),
                            self.outcome_line()
                        );
                        self.abort_case(Oracle::TimerInPast, d);
                        return;
                    }
                }
            }
        }
        if due_now {
            return;
        }
        self.fired = [false; 2];
        self.stuck = [0; 2];
        let deadline = match self.done_at {
            Some(t) => t + FREE_LIMIT,
            None => Instant::ZERO + TRANSFER_LIMIT,
        };
        let next = [
            self.net.next_at(),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map_or(deadline, |t| t.min(deadline));
        self.now = next.max(now);
        if next <= now && deadline <= now {
            // Nothing will ever happen again and the deadline passed: the
            // phase check ends the case on this round.
            self.now = now + Duration::from_millis(1);
        }
    }

    /// The transfer oracles, at the end.
    fn judge(&mut self) {
        if !self.mode.honest() {
            return;
        }
        let now = self.now;
        let mut harmed = false;
        for side in [CLIENT, SERVER] {
            let app = &self.apps[side];
            let name = app.name;
            let mut harms = Vec::new();
            // Under loss a client may give up on MP_CAPABLE SYNs and send a
            // plain one (as Linux does); the server then has to fall back
            // when that connection's third ACK arrives without MP_CAPABLE.
            let peer_gave_up = self.apps[1 - side]
                .fell_back
                .is_some_and(|(r, _)| r == FallbackReason::SynBlackhole);
            if let Some((reason, at)) = app.fell_back {
                let allowed = self.mode == Mode::Impair
                    && (reason == FallbackReason::SynBlackhole
                        || (peer_gave_up && reason == FallbackReason::OptionStripped));
                if !allowed {
                    harms.push(format!("{name} fell back ({reason:?}) at {}", secs(at)));
                }
            }
            if let Some((event, at)) = app.terminal
                && event != MptcpEvent::Closed
                && !app.aborted
            {
                harms.push(format!("{name} saw {event:?} at {}", secs(at)));
            }
            if matches!(self.mode, Mode::OffPath | Mode::UnknownTuple)
                && let Some((at, tuple)) = app.subflows_lost.first()
            {
                harms.push(format!("{name} lost subflow {tuple} at {}", secs(*at)));
            }
            if !harms.is_empty() {
                harmed = true;
                let d = format!("{} ({})", harms.join(", "), self.outcome_line());
                self.find(Oracle::Harm, d);
            }
        }
        let complete = self.apps.iter().all(Side::complete);
        let ran_out = self
            .findings
            .iter()
            .all(|f| !f.oracle.structural() && f.oracle != Oracle::Storm);
        if !complete && !harmed && ran_out && self.apps.iter().all(|a| a.wrong_at.is_none()) {
            let d = format!(
                "transfer not finished at {} (limit {} s): {}",
                secs(now),
                TRANSFER_LIMIT.as_secs(),
                self.outcome_line()
            );
            self.find(Oracle::Incomplete, d);
        }
    }
}
