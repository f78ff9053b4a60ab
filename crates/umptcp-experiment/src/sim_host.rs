//! [`SimHost`]: our endpoint as a host of the simulator, with an
//! [`Application`] on top. The demo, the experiments and any researcher's
//! own simulation share this one adapter, so the glue between
//! `umptcp_proto::Endpoint` and `umptcp_sim::Host` (parsing what arrives,
//! naming the interface each packet leaves by, running the application
//! between inputs and transmissions) is written once.

use std::net::IpAddr;

use umptcp_proto::{Endpoint, Interface};
use umptcp_sim::{Host, IfaceId};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment};

/// What runs on top of a [`SimHost`]'s endpoint: accepts, reads events,
/// writes and reads, as a program over the socket API would.
pub trait Application {
    /// The application's turn: after every input the endpoint took and
    /// before every transmission, at `now`.
    fn service(&mut self, now: Instant, endpoint: &mut Endpoint);

    /// Sees each segment that arrived, before the endpoint takes it (a
    /// meter of what the wire carried). Nothing by default.
    fn observe(&mut self, now: Instant, segment: &Segment<'_>) {
        let _ = (now, segment);
    }
}

/// An [`Endpoint`] and its [`Application`] as an `umptcp_sim` host.
///
/// Interfaces are numbered in the order of the addresses given to
/// [`SimHost::new`], which must be the order they are added to the
/// simulator ([`umptcp_sim::Simulator::add_iface`]). A packet leaves by the
/// interface the endpoint names (a connection a SYN opened answers by the
/// interface the SYN came in by), else by the interface holding its
/// source address; a packet from an address no interface holds is dropped
/// and counted ([`SimHost::unroutable`]).
pub struct SimHost<A> {
    endpoint: Endpoint,
    /// The address of each interface, in `IfaceId` order.
    ifaces: Vec<IpAddr>,
    app: A,
    unroutable: u64,
}

impl<A: Application> SimHost<A> {
    /// `endpoint` with `app` on top, on interfaces holding `ifaces` (one
    /// address each, in `IfaceId` order).
    pub fn new(endpoint: Endpoint, ifaces: &[IpAddr], app: A) -> Self {
        Self {
            endpoint,
            ifaces: ifaces.to_vec(),
            app,
            unroutable: 0,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, mutably (to connect, listen, or look at a
    /// connection between runs of the simulator).
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutably.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// The endpoint and the application at once.
    pub fn parts_mut(&mut self) -> (&mut Endpoint, &mut A) {
        (&mut self.endpoint, &mut self.app)
    }

    /// Packets dropped because their source address is on no interface.
    pub fn unroutable(&self) -> u64 {
        self.unroutable
    }

    fn service(&mut self, now: Instant) {
        self.app.service(now, &mut self.endpoint);
    }
}

impl<A: Application> Host for SimHost<A> {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        // A packet whose checksum fails was corrupted on the way: the
        // endpoint never sees it, as a NIC would drop it.
        if let Ok(segment) = Segment::parse(packet, ChecksumCheck::Verify) {
            self.app.observe(now, &segment);
            let _ = self
                .endpoint
                .handle_segment_from(now, Some(Interface(iface.0)), &segment);
        }
        self.service(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        self.service(now);
        loop {
            let Some(t) = self.endpoint.poll_transmit(now, buf) else {
                // Transmitting can raise events (a reset going out closes
                // the connection): the application sees them before the
                // network idles.
                self.service(now);
                return None;
            };
            let by_source = || {
                let k = self.ifaces.iter().position(|a| *a == t.src.ip())?;
                u32::try_from(k).ok()
            };
            match t.interface.map(|i| i.0).or_else(by_source) {
                Some(iface) => return Some((IfaceId(iface), t.len)),
                None => self.unroutable += 1,
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.service(now);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    use umptcp_cc::{CcConfig, Registry};
    use umptcp_proto::{EndpointConfig, MptcpConfig};
    use umptcp_sim::{LinkConfig, Rate, SimConfig, Simulator};
    use umptcp_tcp::FourTuple;

    use super::*;

    fn endpoint(seed: u64) -> Endpoint {
        let cc = Box::new(|| {
            Registry::with_builtins()
                .build("reno", &CcConfig::default())
                .expect("built in")
        });
        Endpoint::new(
            MptcpConfig::default(),
            EndpointConfig::default(),
            Box::new(ChaCha20Rng::seed_from_u64(seed)),
            cc,
        )
    }

    /// Writes `left` bytes of a counter pattern and closes; reads and
    /// checks whatever it accepts.
    #[derive(Default)]
    struct Echoless {
        ids: Vec<umptcp_proto::ConnectionId>,
        left: usize,
        written: u8,
        received: usize,
        wrong: usize,
    }

    impl Application for Echoless {
        fn service(&mut self, _now: Instant, ep: &mut Endpoint) {
            while let Some(id) = ep.accept() {
                self.ids.push(id);
            }
            while ep.poll_event().is_some() {}
            for &id in &self.ids {
                let Some(conn) = ep.connection(id) else {
                    continue;
                };
                while self.left > 0 {
                    let n = conn.writable().min(self.left).min(1024);
                    if n == 0 {
                        break;
                    }
                    let chunk: Vec<u8> = (0..n)
                        .map(|_| {
                            self.written = self.written.wrapping_add(1);
                            self.written
                        })
                        .collect();
                    self.left -= conn.write(&chunk);
                }
                let mut buf = [0; 2048];
                loop {
                    let n = conn.read(&mut buf);
                    if n == 0 {
                        break;
                    }
                    for &b in &buf[..n] {
                        self.received += 1;
                        if b != self.received as u8 {
                            self.wrong += 1;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn two_hosts_move_bytes_and_a_foreign_source_is_counted_not_sent() {
        let client_ip: IpAddr = "10.0.1.1".parse().unwrap();
        let server: SocketAddr = "10.0.1.2:80".parse().unwrap();
        let mut sim = Simulator::new(SimConfig::with_seed(7)).unwrap();
        let mut client = SimHost::new(
            endpoint(1),
            &[client_ip],
            Echoless {
                left: 200_000,
                ..Echoless::default()
            },
        );
        let id = client
            .endpoint_mut()
            .connect(
                Instant::ZERO,
                FourTuple {
                    local: SocketAddr::new(client_ip, 40000),
                    remote: server,
                },
            )
            .unwrap();
        client.app_mut().ids.push(id);
        // A second connection from an address the host has no interface
        // for: its SYNs go nowhere.
        client
            .endpoint_mut()
            .connect(
                Instant::ZERO,
                FourTuple {
                    local: "192.0.2.9:40001".parse().unwrap(),
                    remote: server,
                },
            )
            .unwrap();
        let mut server_host = SimHost::new(endpoint(2), &[server.ip()], Echoless::default());
        server_host.endpoint_mut().listen(server);
        let c = sim.add_host(client).unwrap();
        let s = sim.add_host(server_host).unwrap();
        let ci = sim.add_iface(c, &[client_ip]).unwrap();
        let si = sim.add_iface(s, &[server.ip()]).unwrap();
        let link = LinkConfig::new(Rate::mbit(50), std::time::Duration::from_millis(5));
        sim.connect((c, ci), (s, si), link.clone(), link).unwrap();
        sim.run_until(Instant::ZERO + std::time::Duration::from_secs(2));
        let got = sim.host_mut(s).unwrap().app();
        assert_eq!((got.received, got.wrong), (200_000, 0));
        assert!(
            sim.host_mut(c).unwrap().unroutable() >= 1,
            "the SYN from 192.0.2.9 was counted"
        );
    }
}
