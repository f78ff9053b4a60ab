//! The stack: its devices, its reader threads and the stack thread that
//! owns the endpoint.

use std::fs::File;
use std::io::{self, BufWriter};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};
use tun_rs::InterruptEvent;
use umptcp_proto::Protocol;
use umptcp_time::Instant;
use umptcp_wire::pcap::PcapWriter;

use crate::command::Command;
use crate::config::StackConfig;
use crate::device::{self, Device, PACKET_QUEUE, Packet};
use crate::endpoint::{Endpoint, EndpointConfig};
use crate::error::StackError;
use crate::impairment::{Impairer, Verdict};
use crate::output::Output;
use crate::route::RouteTable;
use crate::stats::StackStats;

/// Most packets the stack thread takes from the readers before it serves
/// its connections: one batch, one round of transmissions.
const BATCH: usize = 64;

/// Longest the stack thread sleeps with nothing due (it wakes earlier for
/// any packet or command).
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// A running stack. Dropping it stops the stack at once (connections are
/// aborted); [`Stack::shutdown`] lets them close first.
pub struct Stack {
    mptcp: bool,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
    stop_readers: Arc<InterruptEvent>,
    stats: Arc<Mutex<StackStats>>,
    devices: Vec<(String, bool)>,
    /// The relay of spliced kernel sockets, started by the first.
    relay: Mutex<Option<crate::socket_splice::SocketRelay>>,
}

/// Send a request and wait for its one reply (see `command.rs`). The
/// stack thread answers every request it takes at once.
pub(crate) fn request<T>(
    commands: &Sender<Command>,
    make: impl FnOnce(Sender<io::Result<T>>) -> Command,
) -> io::Result<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    commands.send(make(tx)).map_err(|_| stopped())?;
    rx.recv().map_err(|_| stopped())?
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stack has stopped")
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Open the devices and start the stack.
    ///
    /// # Errors
    ///
    /// A [`StackError`] saying which device or setting is the problem.
    pub fn start(config: StackConfig) -> Result<Stack, StackError> {
        config
            .impairment
            .validate()
            .map_err(StackError::InvalidConfig)?;
        for (i, p) in config.paths.iter().enumerate() {
            if config.paths[..i].iter().any(|q| q.device == p.device) {
                return Err(StackError::InvalidConfig(format!(
                    "device {} is named by two paths",
                    p.device
                )));
            }
        }
        let routes =
            RouteTable::new(&config.paths, &config.routes).map_err(StackError::InvalidConfig)?;
        let seed = config.seed.unwrap_or_else(rand::random);
        let devices: Vec<Device> = config
            .paths
            .iter()
            .map(|p| device::open(p, config.offload))
            .collect::<Result<_, _>>()?;
        let mtus = devices.iter().map(|d| d.mtu).collect();
        let mptcp = config.mptcp.is_some();
        let endpoint = Endpoint::new(
            EndpointConfig {
                paths: config.paths.clone(),
                routes,
                mtus,
                protocol: if mptcp {
                    Protocol::Mptcp
                } else {
                    Protocol::Tcp
                },
                settings: config.mptcp.clone().unwrap_or_default(),
                tcp: config.tcp.clone(),
                congestion_control: config.congestion_control.clone(),
                registry: config.registry.clone(),
                max_connections: config.max_connections,
                accept_backlog: config.accept_backlog,
                close_linger: config.close_linger,
            },
            seed,
        )
        .map_err(StackError::InvalidConfig)?;
        let pcap = match &config.pcap {
            Some(path) => {
                let file = File::create(path).map_err(|source| StackError::Pcap {
                    path: path.display().to_string(),
                    source,
                })?;
                Some(
                    PcapWriter::new(BufWriter::new(file)).map_err(|source| StackError::Pcap {
                        path: path.display().to_string(),
                        source,
                    })?,
                )
            }
            None => None,
        };

        let stop_readers =
            Arc::new(InterruptEvent::new().map_err(|source| StackError::Device {
                device: "interrupt event".to_owned(),
                source,
            })?);
        let (packets_tx, packets_rx) = crossbeam_channel::bounded(PACKET_QUEUE);
        let mut readers = Vec::new();
        let mut recycles = Vec::new();
        for (index, dev) in devices.iter().enumerate() {
            let (recycle_tx, recycle_rx) = crossbeam_channel::bounded(PACKET_QUEUE);
            let reader = device::spawn_reader(
                index,
                dev,
                Arc::clone(&stop_readers),
                packets_tx.clone(),
                recycle_rx,
            )
            .map_err(|source| StackError::Device {
                device: dev.name.clone(),
                source,
            })?;
            readers.push(reader);
            recycles.push(recycle_tx);
        }
        drop(packets_tx);

        let stats = Arc::new(Mutex::new(StackStats::default()));
        let (commands_tx, commands_rx) = crossbeam_channel::unbounded();
        let names: Vec<(String, bool)> = devices
            .iter()
            .map(|d| (d.name.clone(), d.created))
            .collect();
        let thread = StackThread {
            endpoint,
            recycles,
            egress: Impairer::new(config.impairment.clone(), seed ^ 0x6567_7265_7373),
            ingress: Impairer::new(config.impairment.clone(), seed ^ 0x696e_6772_6573),
            output: Output::new(devices, pcap),
            stats: Arc::clone(&stats),
            packets_in: 0,
        };
        #[cfg(feature = "tracing")]
        for (name, created) in &names {
            crate::log::log_event!(
                tracing::Level::INFO,
                device = %name,
                created = *created,
                offload = config.offload,
                mptcp,
                "stack path",
            );
        }
        let handle = std::thread::Builder::new()
            .name("mptcp-stack".to_owned())
            .spawn(move || thread.run(packets_rx, commands_rx))
            .map_err(|_| StackError::Stopped)?;
        Ok(Stack {
            mptcp,
            commands: commands_tx,
            thread: Some(handle),
            readers,
            stop_readers,
            stats,
            devices: names,
            relay: Mutex::new(None),
        })
    }

    pub(crate) fn commands(&self) -> Sender<Command> {
        self.commands.clone()
    }

    /// Whether the stack's connections and listeners speak MPTCP unless
    /// told otherwise (`StackConfig::mptcp` was set).
    pub fn is_mptcp(&self) -> bool {
        self.mptcp
    }

    /// The stack's devices, in path order, and whether the stack created
    /// each one (else it attached to an existing device).
    pub fn devices(&self) -> &[(String, bool)] {
        &self.devices
    }

    /// Every connection's events from now on (connected, subflows,
    /// addresses, fallback, close, failures; not readiness), each with the
    /// connection's number and addresses: what a proxy logs. The stack
    /// never waits for a slow subscriber: past
    /// [`crate::SUBSCRIPTION_CAPACITY`] unread events it drops new ones
    /// and counts them.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the stack has stopped.
    pub fn subscribe(&self) -> std::io::Result<crate::StackEvents> {
        let (events, subscriber) = crate::stack_events::subscription();
        self.commands
            .send(Command::Subscribe(subscriber))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "the stack has stopped")
            })?;
        Ok(events)
    }

    /// Join a connection of this stack to a kernel socket (a TCP
    /// connection through the host's own stack: an upstream server that
    /// the proxy reaches through the kernel, say): from now on one relay
    /// thread of the stack, shared by every such pair, moves the socket's
    /// bytes into the stream's send buffer and the stream's received
    /// bytes to the socket (one relay buffer per direction, no thread per
    /// connection). An end of stream is carried across as a half-close
    /// of the other side; when both directions have ended,
    /// [`crate::Splice::wait`] gives the bytes each way (stream to
    /// socket, then socket to stream) and both close. If either fails,
    /// the other is reset: the socket with an RST (SO_LINGER 0), the
    /// stream with MP_FASTCLOSE (or RST over plain TCP).
    ///
    /// # Errors
    ///
    /// The relay thread could not start, or the socket could not be made
    /// non-blocking.
    pub fn splice_socket(
        &self,
        stream: crate::Stream,
        socket: std::net::TcpStream,
    ) -> std::io::Result<crate::Splice> {
        let state = Arc::new(crate::splice::SpliceState::default());
        let mut relay = self.relay.lock().unwrap_or_else(PoisonError::into_inner);
        if relay.is_none() {
            *relay = Some(crate::socket_splice::SocketRelay::start()?);
        }
        relay
            .as_ref()
            .expect("started above")
            .add(stream, socket, Arc::clone(&state))?;
        Ok(crate::Splice { state })
    }

    /// Join two connections of this stack: from now on the stack thread
    /// hands each one's received bytes to the other, without a trip
    /// through the application (one copy, core to core, on the stack
    /// thread). Each stream's end of stream is carried across as a
    /// half-close of the other; when both directions have ended,
    /// [`crate::Splice::wait`] gives the bytes each way and the
    /// connections close. A proxy's relay is this: accept a client, open
    /// the upstream, splice them.
    ///
    /// Bytes already received into a stream (not yet read) go first.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the stack has stopped; a connection that is gone,
    /// the same one twice, or one spliced already ends the splice at once
    /// with the error (`wait` returns it).
    pub fn splice(&self, a: crate::Stream, b: crate::Stream) -> std::io::Result<crate::Splice> {
        let state = std::sync::Arc::new(crate::splice::SpliceState::default());
        self.commands
            .send(Command::Splice {
                a,
                b,
                state: std::sync::Arc::clone(&state),
            })
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "the stack has stopped")
            })?;
        Ok(crate::Splice { state })
    }

    /// The stack's counters (updated a few times a second and at the end).
    pub fn stats(&self) -> StackStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop the stack once every connection has closed, or `linger` has
    /// passed (then the rest are reset). Devices the stack created vanish.
    ///
    /// # Errors
    ///
    /// [`StackError::Stopped`] if the stack thread had died.
    pub fn shutdown(mut self, linger: Duration) -> Result<StackStats, StackError> {
        self.stop(linger)
    }

    fn stop(&mut self, linger: Duration) -> Result<StackStats, StackError> {
        let Some(thread) = self.thread.take() else {
            return Ok(self.stats());
        };
        let _ = self.commands.send(Command::Stop { linger });
        let result = thread.join();
        // Its streams are gone now: the relay's pairs end at once.
        if let Some(mut relay) = self
            .relay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            relay.stop();
        }
        let _ = self.stop_readers.trigger();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        result.map_err(|_| StackError::Stopped)?;
        Ok(self.stats())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop(Duration::ZERO);
    }
}

/// What the stack thread owns.
struct StackThread {
    endpoint: Endpoint,
    recycles: Vec<Sender<Vec<u8>>>,
    egress: Impairer,
    ingress: Impairer,
    output: Output,
    stats: Arc<Mutex<StackStats>>,
    packets_in: u64,
}

impl StackThread {
    #[allow(clippy::disallowed_methods)] // the driver is where the clock is read
    fn run(mut self, packets: Receiver<Packet>, commands: Receiver<Command>) {
        let start = std::time::Instant::now();
        let clock = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
        let mut stop_at: Option<Instant> = None;
        let mut last_stats = clock();
        loop {
            let now = clock();
            let next = [
                self.endpoint.poll_timeout(),
                self.egress.next_due(),
                self.ingress.next_due(),
                stop_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let wait = next.map_or(IDLE_WAKE, |t| {
                t.saturating_duration_since(now).min(IDLE_WAKE)
            });
            select! {
                recv(packets) -> packet => {
                    let Ok(packet) = packet else { break };
                    self.ingress_packet(clock(), packet);
                    // A batch: take what else is queued before serving.
                    for _ in 1..BATCH {
                        match packets.try_recv() {
                            Ok(packet) => self.ingress_packet(clock(), packet),
                            Err(_) => break,
                        }
                    }
                }
                recv(commands) -> command => match command {
                    Ok(Command::Stop { linger }) => {
                        let deadline = clock() + linger;
                        stop_at = Some(stop_at.map_or(deadline, |s| s.min(deadline)));
                    }
                    Ok(command) => self.endpoint.handle_command(clock(), command),
                    // Every handle and the Stack are gone.
                    Err(_) => stop_at = Some(clock()),
                },
                default(wait) => {}
            }
            let now = clock();
            while let Some((device, packet)) = self.ingress.pop_due(now) {
                self.deliver(now, device, &packet);
            }
            self.endpoint.handle_timeouts(now);
            self.flush(now);
            while let Some((device, packet)) = self.egress.pop_due(now) {
                self.output.write(now, device, &packet);
            }
            // One round, one batch per device.
            self.output.flush();
            if let Some(deadline) = stop_at {
                if self.endpoint.all_closed() {
                    break;
                }
                if now >= deadline {
                    self.endpoint.abort_all();
                    self.flush(now);
                    while let Some((device, packet)) = self.egress.pop_due(Instant::MAX) {
                        self.output.write(now, device, &packet);
                    }
                    break;
                }
            }
            if now.saturating_duration_since(last_stats) >= Duration::from_millis(200) {
                last_stats = now;
                self.publish_stats();
            }
        }
        self.output.finish();
        self.publish_stats();
        crate::log::log_event!(
            tracing::Level::INFO,
            packets_in = self.packets_in,
            packets_out = self.output.packets_out,
            write_errors = self.output.write_errors,
            "stack stopped",
        );
    }

    /// A packet from a reader: through the ingress impairment, then to the
    /// endpoint; its buffer goes back to the reader.
    fn ingress_packet(&mut self, now: Instant, packet: Packet) {
        let bytes = &packet.buf[..packet.len];
        self.packets_in += 1;
        self.output.record(now, bytes);
        match self.ingress.admit(now, packet.device, bytes) {
            Verdict::Now { duplicate } => {
                self.deliver(now, packet.device, bytes);
                if duplicate {
                    self.deliver(now, packet.device, bytes);
                }
            }
            Verdict::Held | Verdict::Dropped => {}
        }
        if let Some(recycle) = self.recycles.get(packet.device) {
            let _ = recycle.try_send(packet.buf);
        }
    }

    /// A packet to the endpoint; what it answers leaves with the next
    /// flush.
    fn deliver(&mut self, now: Instant, device: usize, bytes: &[u8]) {
        self.endpoint.handle_packet(now, device, bytes);
    }

    fn flush(&mut self, now: Instant) {
        let StackThread {
            endpoint,
            egress,
            output,
            ..
        } = self;
        endpoint.flush(now, &mut |dev, packet| {
            emit(egress, output, now, dev, packet);
        });
    }

    fn publish_stats(&self) {
        let mut stats = self.endpoint.stats.clone();
        stats.impairment_dropped = self.egress.dropped + self.ingress.dropped;
        stats.impairment_duplicated = self.egress.duplicated + self.ingress.duplicated;
        stats.impairment_reordered = self.egress.reordered + self.ingress.reordered;
        stats.packets_in = self.packets_in;
        stats.packets_out = self.output.packets_out;
        stats.write_errors = self.output.write_errors;
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner) = stats;
    }
}

/// A packet from the endpoint: impaired, then recorded and written.
fn emit(egress: &mut Impairer, output: &mut Output, now: Instant, device: usize, packet: &[u8]) {
    match egress.admit(now, device, packet) {
        Verdict::Now { duplicate } => {
            output.write(now, device, packet);
            if duplicate {
                output.write(now, device, packet);
            }
        }
        Verdict::Held | Verdict::Dropped => {}
    }
}
