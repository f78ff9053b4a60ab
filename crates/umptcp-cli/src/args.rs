//! The command line: what `mptcp send` and `mptcp recv` accept, their help
//! texts, and how a clap error becomes one line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use umptcp_proto::PolicyRegistry;
use umptcp_tun::{Impairment, MptcpSettings, PathConfig, Route, StackConfig};

mod proxies;

use proxies::{CONVERT_EXAMPLES, CONVERT_LONG, PROXY_EXAMPLES, PROXY_LONG};
pub(crate) use proxies::{ConvertArgs, ProxyArgs};

use crate::error::one_line;
use crate::size::{parse_percent, parse_size};

/// The first paragraphs of `mptcp --help`.
const ABOUT_LONG: &str = "\
Send and receive data over our own userspace TCP stack, which runs on Linux
TUN devices, and measure the transfer.

A TUN device is a virtual network interface whose packets go to a program
instead of a wire. mptcp opens one TUN device per path (--path DEV=ADDR) and
runs its stack behind it at address ADDR. Programs on this host (the kernel's
TCP: nc, iperf3, curl, ...) reach our stack through the device, and our stack
reaches them:

    kernel TCP (e.g. nc) 10.9.0.1 <--tun0--> our stack 10.9.0.2 (mptcp)

A device that does not exist is created (and removed again at exit); its
kernel side gets host .1 of ADDR's subnet, or .2 when ADDR itself is .1. A
device that exists (e.g. made with 'ip tuntap add dev tun0 mode tun') is used
as it is, with the addresses and routes you gave it.

Opening TUN devices needs root or CAP_NET_ADMIN. 'mptcp demo' needs neither:
it runs two of our MPTCP stacks over two simulated paths in this process.
Nor does 'mptcp experiment', which runs congestion-control experiments on
the same simulator and writes their CSV and PNG files.

'mptcp send' and 'mptcp recv' speak MPTCP (RFC 8684) by default: with two
--path devices a connection gets a subflow on each, and a peer that does not
speak MPTCP gets plain TCP. --plain-tcp speaks plain TCP from the start.
--cc picks the congestion control: uncoupled cubic (the default) or reno,
or lia, olia, balia or wvegas, which couple a connection's subflows.

'mptcp convert' is an RFC 8803 Transport Converter (the MPTCP proxy of 5G
ATSSS): MPTCP clients in, their servers reached through the kernel.
'mptcp proxy' is a SOCKS5 front for programs on this host whose
connections go over our stack, through such a converter or straight.";

/// Examples shown at the end of `mptcp --help`.
const EXAMPLES: &str = "\
Examples:
  # No root, no setup: MPTCP over two simulated paths, with a table at the end.
  mptcp demo

  # Coupled congestion control: LIA's share of a bottleneck shared with TCP.
  mptcp experiment shared-bottleneck --cc lia

  # A kernel server in this namespace, our stack as the client. The server
  # must listen on the kernel side's address, so make the device first:
  sudo ip tuntap add dev tun0 mode tun
  sudo ip addr add 10.9.0.1/24 dev tun0
  sudo ip link set tun0 up
  nc -l 10.9.0.1 5000 > /dev/null &
  sudo mptcp send --path tun0=10.9.0.2 --to 10.9.0.1:5000 --bytes 64M

  # Our stack as the server (tun1 is created, the kernel side is 10.8.0.1):
  sudo mptcp recv --path tun1=10.8.0.2 --port 5000 --output copy.bin &
  sleep 1; nc -N 10.8.0.2 5000 < original.bin

  # MPTCP over two paths to a kernel MPTCP server (mptcpize runs any
  # program with MPTCP sockets; the kernel must accept 2 subflows):
  sudo ip mptcp limits set subflows 2 add_addr_accepted 2
  mptcpize run nc -l 5000 > /dev/null &
  sudo mptcp send --path tun0=10.9.0.2 --path tun1=10.8.0.2 \
      --to 10.9.0.1:5000 --bytes 64M --json

Each command ends with a result line on stdout:
  sent 67108864 bytes sha256 <64 hex digits> in 0.412 s (1303.08 Mbit/s)";

/// The long description of `mptcp send --help`.
const SEND_LONG: &str = "\
Connect from our stack to HOST:PORT and send data, then print what was sent.

Our stack runs behind the TUN devices named by --path (created if missing;
needs root or CAP_NET_ADMIN); HOST is any address or host name the kernel
behind them can forward to (see --to and --route).
The data is either N deterministic pseudo-random bytes (--bytes, seeded by
--seed; the same seed always gives the same bytes) or a file's contents
(--file). After the last byte, send closes its side of the connection and
waits until the peer closes too, so the time covers delivery. The last line
on stdout is

    sent N bytes sha256 HEX in S s (G Mbit/s)

with HEX the SHA-256 of exactly the bytes sent, S the seconds from the start
of the connect to the peer's close, and G = N * 8 / S / 10^6.";

/// Examples shown at the end of `mptcp send --help`.
const SEND_EXAMPLES: &str = "\
Example (a kernel server in this namespace; the server must listen on the
device's kernel-side address, so make the device first):
  sudo ip tuntap add dev tun0 mode tun
  sudo ip addr add 10.9.0.1/24 dev tun0
  sudo ip link set tun0 up
  nc -l 10.9.0.1 5000 > /dev/null &
  sudo mptcp send --path tun0=10.9.0.2 --to 10.9.0.1:5000 --bytes 64M

Without the first three lines mptcp creates tun0 itself, with 10.9.0.1 on
the kernel side, and a server listening on all addresses (nc -l 5000)
receives the connection.

A server elsewhere (the kernel routes what leaves tun0; let it forward):
  sudo sysctl -w net.ipv4.ip_forward=1
  sudo mptcp send --path tun0=10.9.0.2 --to example.org:80 --bytes 1M
Two paths, the second for one network only:
  sudo mptcp send --path tun0=10.9.0.2 --path tun1=10.10.0.2 \
      --route 192.0.2.0/24=tun1 --to 192.0.2.7:5000 --bytes 64M";

/// The long description of `mptcp recv --help`.
const RECV_LONG: &str = "\
Listen on PORT at our stack's addresses, accept K connections one after
another, and print for each what was received.

Our stack runs behind the TUN devices named by --path (created if missing;
needs root or CAP_NET_ADMIN) and listens on every ADDR. For each connection
it reads until the peer closes its side, closes its own side, and prints

    received N bytes sha256 HEX in S s (G Mbit/s)

with HEX the SHA-256 of exactly the bytes received, S the seconds from the
accept to the end of the stream, and G = N * 8 / S / 10^6.";

/// Examples shown at the end of `mptcp recv --help`.
const RECV_EXAMPLES: &str = "\
Example (tun0 is created, the kernel side gets 10.9.0.1):
  sudo mptcp recv --path tun0=10.9.0.2 --port 5000 --output copy.bin &
  sleep 1; nc -N 10.9.0.2 5000 < original.bin";

/// `mptcp`: the parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "mptcp",
    version,
    about = "Send and receive data over our userspace TCP stack on Linux TUN devices",
    long_about = ABOUT_LONG,
    after_long_help = EXAMPLES,
    subcommand_required = true,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect from our stack and send bytes or a file; print size, SHA-256 and rate
    #[command(long_about = SEND_LONG, after_long_help = SEND_EXAMPLES)]
    Send(SendArgs),
    /// Listen on our stack, receive K connections; print size, SHA-256 and rate of each
    #[command(long_about = RECV_LONG, after_long_help = RECV_EXAMPLES)]
    Recv(RecvArgs),
    /// Two of our MPTCP stacks over two simulated paths: no root, no setup
    #[command(long_about = DEMO_LONG, after_long_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// A congestion-control experiment on the simulator: CSV, PNG and a summary
    #[command(long_about = EXPERIMENT_LONG, after_long_help = EXPERIMENT_EXAMPLES)]
    Experiment(ExperimentArgs),
    /// An RFC 8803 Transport Converter: MPTCP clients in, their servers reached through the kernel
    #[command(long_about = CONVERT_LONG, after_long_help = CONVERT_EXAMPLES)]
    Convert(ConvertArgs),
    /// A SOCKS5 front whose connections go over our stack, through a converter or straight
    #[command(long_about = PROXY_LONG, after_long_help = PROXY_EXAMPLES)]
    Proxy(ProxyArgs),
}

impl Command {
    /// The congestion-control names the command will look up, each with
    /// the option that gave it.
    /// The policy names the arguments ask for, with their options: they
    /// are looked up in the registry `main_with` was given.
    /// What `--log` asks for (experiments log nothing).
    pub(crate) fn log_level(&self) -> LogLevel {
        match self {
            Command::Send(a) => a.stack.log,
            Command::Recv(a) => a.stack.log,
            Command::Demo(a) => a.log,
            Command::Convert(a) => a.stack.log,
            Command::Proxy(a) => a.stack.log,
            Command::Experiment(_) => LogLevel(None),
        }
    }

    pub(crate) fn policy_names(&self) -> Vec<(&'static str, PolicyKind, &str)> {
        fn stack(a: &StackArgs) -> Vec<(&'static str, PolicyKind, &str)> {
            let mut names = vec![("--cc", PolicyKind::CongestionControl, a.cc.as_str())];
            if !a.plain_tcp {
                names.push(("--pm", PolicyKind::PathManager, a.pm.as_str()));
                names.push(("--scheduler", PolicyKind::Scheduler, a.scheduler.as_str()));
            }
            names
        }
        match self {
            Command::Send(a) => stack(&a.stack),
            Command::Recv(a) => stack(&a.stack),
            Command::Convert(a) => stack(&a.stack),
            Command::Proxy(a) => stack(&a.stack),
            Command::Demo(a) => vec![
                ("--cc", PolicyKind::CongestionControl, a.cc.as_str()),
                ("--scheduler", PolicyKind::Scheduler, a.scheduler.as_str()),
            ],
            Command::Experiment(a) => {
                let mut names = vec![("--cc", PolicyKind::CongestionControl, a.cc.as_str())];
                names.extend(
                    a.tcp_cc
                        .as_deref()
                        .map(|n| ("--tcp-cc", PolicyKind::CongestionControl, n)),
                );
                names
            }
        }
    }
}

/// What `--log` asks for: nothing, or events at this level and above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogLevel(pub(crate) Option<tracing::Level>);

fn parse_log_level(arg: &str) -> Result<LogLevel, String> {
    use tracing::Level;
    Ok(LogLevel(Some(match arg.to_ascii_lowercase().as_str() {
        "off" => return Ok(LogLevel(None)),
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "info" => Level::INFO,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        _ => return Err("one of off, error, warn, info, debug, trace".to_owned()),
    })))
}

/// The kinds of policy a name on the command line may stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    PathManager,
    Scheduler,
    CongestionControl,
}

const EXPERIMENT_LONG: &str = "\
A congestion-control experiment on the simulator: CSV, PNG and a summary

Builds a small simulated network of our MPTCP stacks, routers and links,
runs bulk transfers in virtual time (deterministic: the same arguments
give the same figures on every machine), and writes NAME-CC.csv (every
time series: panel,series,unit,time_s,value) and NAME-CC.png (a plot per
panel) into --out. Prints a summary, or with --json one JSON object with
the experiment, cc, every summary figure and the files written.

Experiments:
  shared-bottleneck  two subflows and one single-path flow through one
                     bottleneck; mptcp_share is MPTCP's fraction of it
                     (about 0.5 coupled, about 0.67 uncoupled)
  disjoint           two independent paths; goodput against their sum
  balance            paths with different background load: traffic should
                     move to the less congested one (RFC 6356 goal 3), and
                     Khalili et al.'s scenario where LIA is not Pareto-optimal
  rtt-mismatch       10 ms against 100 ms, the receive buffer by RFC 8684's
                     rule: goodput and data-level reordering delay per scheduler
  responsiveness     a path's capacity drops and returns: time to re-converge";

const EXPERIMENT_EXAMPLES: &str = "\
Examples:
  mptcp experiment shared-bottleneck --cc lia
  mptcp experiment shared-bottleneck --cc reno --json
  mptcp experiment balance --cc olia --out results/olia
  for cc in lia olia balia reno; do mptcp experiment disjoint --cc $cc --json; done";

/// `mptcp experiment`.
#[derive(Debug, Args)]
pub(crate) struct ExperimentArgs {
    /// The experiment
    #[arg(value_name = "NAME",
          value_parser = clap::builder::PossibleValuesParser::new(umptcp_experiment::NAMES))]
    pub(crate) name: String,

    /// The MPTCP connection's congestion control: lia, olia, balia, wvegas, reno, cubic
    #[arg(long, value_name = "NAME", default_value = "lia")]
    pub(crate) cc: String,

    /// The single-path competitors' congestion control [default: reno, or cubic with --cc cubic]
    #[arg(long, value_name = "NAME")]
    pub(crate) tcp_cc: Option<String>,

    /// Seed of the simulator and the endpoints
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) seed: u64,

    /// Virtual seconds to run [default: the experiment's own]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<Duration>,

    /// Average the figures over N runs with seeds SEED, SEED+1, ... (the plots show the first)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) runs: u32,

    /// The folder for the CSV and PNG files (created if missing)
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub(crate) out: PathBuf,

    /// Print one JSON object at the end instead of the summary
    #[arg(long)]
    pub(crate) json: bool,
}

const DEMO_LONG: &str = "\
Two of our MPTCP stacks over two simulated paths: no root, no setup

Runs a client and a server of our stack in this process, joined by a
deterministic simulated network with two paths of different rate and
delay (path A: 10.0.1.0/24, path B: 10.0.2.0/24). The client connects over
path A, joins path B with MP_JOIN, and sends --bytes of seeded data; the
server checks the SHA-256 of everything it receives.

Time is simulated: the transfer runs as fast as the CPU allows, and the
same arguments give the same result on every machine. While it runs, a
progress line on stderr (when it is a terminal) shows each subflow's
throughput. At the end: a table per subflow (bytes, share, smoothed RTT,
congestion window, retransmissions) and the goodput against the sum of
the two link rates. With --json, one JSON object instead, with
goodput_mbps, utilization (a fraction of the summed link rates) and
subflows (a list).";

const DEMO_EXAMPLES: &str = "\
Examples:
  mptcp demo
  mptcp demo --bytes 50M --rate-b 100 --delay-b 5
  mptcp demo --scheduler roundrobin --json";

/// `mptcp demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How much the client sends, e.g. 50M or 1G
    #[arg(long, value_name = "N", default_value = "200M", value_parser = parse_size)]
    pub(crate) bytes: u64,

    /// Path A's rate in Mbit/s
    #[arg(long, value_name = "MBIT", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) rate_a: u64,

    /// Path A's one-way delay in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) delay_a: u64,

    /// Path B's rate in Mbit/s
    #[arg(long, value_name = "MBIT", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) rate_b: u64,

    /// Path B's one-way delay in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 40,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) delay_b: u64,

    /// The scheduler: minrtt (lowest RTT first), roundrobin, redundant (every byte on both), or one a program registered
    #[arg(long, value_name = "NAME", default_value = "minrtt")]
    pub(crate) scheduler: String,

    /// The congestion control: cubic, reno, or coupled lia, olia, balia, wvegas
    #[arg(long, value_name = "NAME", default_value = "cubic")]
    pub(crate) cc: String,

    /// Seed of the data, the keys and the simulator
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) seed: u64,

    /// Print one JSON object at the end instead of the table
    #[arg(long)]
    pub(crate) json: bool,

    /// Log to stderr at LEVEL and above: off, error, warn, info, debug, trace
    ///
    /// info: the stack's devices and its end; debug: every connection's
    /// and subflow's events (established, closed, fallback, addresses),
    /// path-manager actions and refused segments, each inside the span of
    /// its connection (role, addresses, token) and subflow; trace: also
    /// every readable and writable wakeup. The result line on stdout is
    /// unchanged.
    #[arg(long, value_name = "LEVEL", default_value = "off", value_parser = parse_log_level,
          verbatim_doc_comment)]
    pub(crate) log: LogLevel,
}

/// `mptcp send`.
///
/// The argument help below is written for `--help`: a one-line summary
/// (what `-h` shows), then paragraphs wrapped for an 80-column terminal.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The stack's paths and knobs.
    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// The peer to connect to, e.g. 10.9.0.1:5000, [fd00:9::1]:5000 or example.org:80
    ///
    /// An IPv4 or IPv6 address or a host name (resolved by the system's
    /// resolver, /etc/hosts included), and a port. Any destination is
    /// reachable: it leaves by the --path whose subnet holds it, else by
    /// a --route, else by the first --path of its family, and the kernel
    /// behind that device forwards it (its routes and ip_forward decide
    /// the rest of the way).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_peer, verbatim_doc_comment)]
    pub(crate) to: Peer,

    /// What to send.
    #[command(flatten)]
    pub(crate) source: Source,

    /// Give up connecting after SECS seconds without an answer
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) connect_timeout: Duration,
}

/// What `mptcp send` sends: exactly one of the two.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Source {
    /// Send N pseudo-random bytes, e.g. 1000, 512K, 64M, 1G
    ///
    /// K, M and G are powers of 1024 and may be followed by iB (64MiB). The
    /// bytes are a SplitMix64 stream seeded by --seed: the same seed always
    /// gives the same bytes, and so the same SHA-256.
    #[arg(long, value_name = "N", value_parser = parse_size, verbatim_doc_comment)]
    pub(crate) bytes: Option<u64>,

    /// Send the contents of FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// `mptcp recv`.
#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// The stack's paths and knobs.
    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// Listen on this TCP port, at every --path address
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,

    /// Accept K connections, one after another, then exit
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,

    /// Write the received bytes to FILE (replacing it)
    ///
    /// With --count K > 1 the first connection goes to FILE, the second to
    /// FILE.2, the third to FILE.3, and so on. FILE is created before the
    /// devices are opened, so that an unwritable path fails at once.
    #[arg(long, value_name = "FILE", verbatim_doc_comment)]
    pub(crate) output: Option<PathBuf>,
}

/// What both commands take to build the stack.
#[derive(Debug, Args)]
pub(crate) struct StackArgs {
    /// A TUN device and our stack's address behind it, e.g. tun0=10.9.0.2
    ///
    /// DEV is the device name (at most 15 bytes); it is created if missing.
    /// ADDR is the address of OUR stack on that path, IPv4 or IPv6, with an
    /// optional subnet prefix (default /24 for IPv4, /64 for IPv6); the
    /// stack reaches the subnet through DEV. A device mptcp creates gets,
    /// on the kernel side, host .1 of the subnet (.2 when ADDR is .1), so
    /// with tun0=10.9.0.2 the kernel is 10.9.0.1. Repeat for more paths:
    /// --path tun0=10.9.0.2 --path tun1=fd00:9::2/64
    #[arg(long = "path", value_name = "DEV=ADDR[/PREFIX]", required = true,
          value_parser = parse_path, verbatim_doc_comment)]
    pub(crate) paths: Vec<PathSpec>,

    /// Send to destinations in CIDR through device DEV, e.g. 10.0.0.0/8=tun1
    ///
    /// DEV is one of the --path devices, with an address of CIDR's family
    /// (the source of what leaves). Without routes a destination leaves by
    /// the path whose subnet holds it, else by the first path of its family
    /// (the default route); 0.0.0.0/0=DEV or ::/0=DEV picks another default.
    /// The longest matching prefix wins. A route chooses the path of a
    /// connection's first subflow; other subflows leave by the path of
    /// their own local address. Repeat for more routes.
    #[arg(long = "route", value_name = "CIDR=DEV", value_parser = parse_route,
          verbatim_doc_comment)]
    pub(crate) routes: Vec<Route>,

    /// Use plain TCP, not MPTCP
    ///
    /// MPTCP is the default: the connection opens subflows over the other
    /// --path devices and falls back to plain TCP by itself when the peer
    /// does not speak MPTCP. With --plain-tcp the connection is plain TCP
    /// from its SYN (no MP_CAPABLE), and a listener declines MPTCP.
    #[arg(long, help_heading = "MPTCP options", verbatim_doc_comment,
          conflicts_with_all = ["pm", "scheduler", "announce", "backup", "checksum"])]
    pub(crate) plain_tcp: bool,

    /// The path manager: who opens subflows and announces addresses
    ///
    /// fullmesh: a client opens a subflow between each of its --path
    ///   addresses and each server address (the first and the announced
    ///   ones); a server opens none. The default.
    /// announce: a server announces every --path address but the first.
    /// ndiffports: a client opens 2 subflows over the first address pair.
    /// manual: none; only --announce is sent.
    /// A program embedding this command line (umptcp_cli::main_with) may
    /// register path managers of its own under other names.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "fullmesh",
        help_heading = "MPTCP options",
        verbatim_doc_comment
    )]
    pub(crate) pm: String,

    /// Which subflow sends the next bytes
    ///
    /// minrtt: the lowest smoothed RTT with room in its window (the
    ///   default, as the kernel's). roundrobin: each in turn. redundant:
    ///   every byte on every subflow (for latency, not throughput).
    /// A program embedding this command line (umptcp_cli::main_with) may
    /// register schedulers of its own under other names.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "minrtt",
        help_heading = "MPTCP options",
        verbatim_doc_comment
    )]
    pub(crate) scheduler: String,

    /// Announce ADDR to the peer (ADD_ADDR) on every connection
    ///
    /// Usually the address of another --path, so that a peer whose path
    /// manager accepts announcements (the kernel's add_addr_accepted
    /// limit) opens a subflow to it. Repeat for more addresses.
    #[arg(
        long,
        value_name = "ADDR",
        help_heading = "MPTCP options",
        verbatim_doc_comment
    )]
    pub(crate) announce: Vec<IpAddr>,

    /// Make the subflows of device DEV backups (MP_PRIO)
    ///
    /// A backup subflow carries data only while no other subflow can.
    /// DEV is one of the --path devices. Repeat for more devices.
    #[arg(
        long,
        value_name = "DEV",
        help_heading = "MPTCP options",
        verbatim_doc_comment
    )]
    pub(crate) backup: Vec<String>,

    /// Ask for DSS checksums (they are on if either side asks)
    #[arg(long, help_heading = "MPTCP options")]
    pub(crate) checksum: bool,

    /// The congestion control: cubic, reno, or coupled lia, olia, balia, wvegas
    ///
    /// Uncoupled cubic and reno run on each (sub)flow alone; lia (RFC
    /// 6356), olia, balia and wvegas couple the subflows of a connection.
    /// A program built on this crate can register more names.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "cubic",
        help_heading = "Stack options",
        verbatim_doc_comment
    )]
    pub(crate) cc: String,

    /// Print one JSON object per transfer instead of the result line
    ///
    /// Its fields: direction, bytes, sha256, seconds, mbps, mptcp (false
    /// after a fallback or with --plain-tcp), fallback (the reason, or
    /// null) and subflows (a list: local, remote, backup, bytes_sent,
    /// bytes_received, srtt_ms, cwnd, retransmissions). For convert and
    /// proxy: one object per connection with the fields of its line
    /// (client, destination, mptcp, up, down, seconds, outcome; proxy
    /// also subflows).
    #[arg(long, help_heading = "Output", verbatim_doc_comment)]
    pub(crate) json: bool,

    /// At the end, print the connection's MPTCP figures on stderr as
    /// `ss -Mni` shows the kernel's: token, subflow counts, data-level
    /// sequence numbers, bytes acknowledged and received at the data
    /// level, then a line per subflow (state, rtt, cwnd, retransmissions,
    /// bytes)
    #[arg(long, help_heading = "Output", verbatim_doc_comment)]
    pub(crate) ss: bool,

    /// Log to stderr at LEVEL and above: off, error, warn, info, debug, trace
    ///
    /// info: the stack's devices and its end; debug: every connection's
    /// and subflow's events (established, closed, fallback, addresses),
    /// path-manager actions and refused segments, each inside the span of
    /// its connection (role, addresses, token) and subflow; trace: also
    /// every readable and writable wakeup. The result line on stdout is
    /// unchanged.
    #[arg(long, value_name = "LEVEL", default_value = "off", value_parser = parse_log_level,
          help_heading = "Output", verbatim_doc_comment)]
    pub(crate) log: LogLevel,

    /// Write every packet our stack sends and receives to a pcap file
    #[arg(long, value_name = "FILE", help_heading = "Stack options")]
    pub(crate) pcap: Option<PathBuf>,

    /// Drop PERCENT of the packets, in each direction (0 to 100)
    ///
    /// 2 and 2% both mean 2 %; 0.5 means 0.5 %. Which packets are dropped
    /// follows from --seed.
    #[arg(long, value_name = "PERCENT", default_value = "0", value_parser = parse_percent,
          help_heading = "Stack options", verbatim_doc_comment)]
    pub(crate) loss: f64,

    /// Delay every packet by MS milliseconds, in each direction
    ///
    /// One way: the round-trip time grows by twice MS.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        help_heading = "Stack options",
        verbatim_doc_comment
    )]
    pub(crate) delay: u64,

    /// Seed of the data (send) and of the stack, so runs repeat exactly
    ///
    /// The stack draws its initial sequence numbers, ports and packet
    /// losses from it; send also generates its --bytes from it.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 1,
        help_heading = "Stack options",
        verbatim_doc_comment
    )]
    pub(crate) seed: u64,

    /// MTU of the devices mptcp creates (default 1500)
    ///
    /// A device that already exists keeps its own MTU.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(576..),
          help_heading = "Stack options", verbatim_doc_comment)]
    pub(crate) mtu: Option<u16>,

    /// Use the TUN devices' offloads: far fewer system calls per byte
    ///
    /// The kernel hands over TCP super-packets of up to 64 KiB (split by
    /// the stack) and our segments are coalesced before each write. Several
    /// times the throughput on a fast host. A device that already exists
    /// must have been made with the same setting (ip tuntap ... vnet_hdr).
    #[arg(long, help_heading = "Stack options", verbatim_doc_comment)]
    pub(crate) offload: bool,
}

/// One `--path DEV=ADDR[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathSpec {
    /// The TUN device name.
    pub(crate) device: String,
    /// Our stack's address behind it.
    pub(crate) addr: IpAddr,
    /// The subnet prefix length, if given.
    pub(crate) prefix: Option<u8>,
}

/// Longest network interface name Linux takes (`IFNAMSIZ` - 1).
const MAX_DEVICE_NAME: usize = 15;

/// Parse `DEV=ADDR[/PREFIX]`.
///
/// # Errors
///
/// A message naming the part that is wrong.
pub(crate) fn parse_path(text: &str) -> Result<PathSpec, String> {
    let Some((device, rest)) = text.split_once('=') else {
        return Err(format!(
            "invalid path {text:?}: expected DEV=ADDR, e.g. tun0=10.9.0.2"
        ));
    };
    if device.is_empty()
        || device.len() > MAX_DEVICE_NAME
        || device.contains(|c: char| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
        || device == "."
        || device == ".."
    {
        return Err(format!(
            "invalid device name {device:?}: a TUN device name is 1 to {MAX_DEVICE_NAME} bytes \
             without '/', ':' or spaces"
        ));
    }
    let (addr_text, prefix_text) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        format!(
            "invalid address {addr_text:?} for device {device}: expected an IPv4 or IPv6 address"
        )
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                return Err(format!(
                    "invalid prefix length {p:?} for {addr}: expected 1 to {max}"
                ));
            }
        },
    };
    Ok(PathSpec {
        device: device.to_owned(),
        addr,
        prefix,
    })
}

/// The peer of `mptcp send`: an address, or a host name to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// `IP:PORT` or `[IPv6]:PORT`.
    Addr(SocketAddr),
    /// `NAME:PORT`, resolved when the command runs.
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Addr(a) => write!(f, "{a}"),
            Peer::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Parse the peer's `IP:PORT`, `[IPv6]:PORT` or `NAME:PORT`.
fn parse_peer(text: &str) -> Result<Peer, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Peer::Addr(addr));
    }
    let expected = "expected HOST:PORT, e.g. 10.9.0.1:5000, [fd00:9::1]:5000 or example.org:80";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(expected.to_owned());
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("invalid port {port:?}: {expected}")),
    };
    // A host name: letters, digits, '-', '.' and '_' (no brackets, no
    // colons: a bare IPv6 address needs [ ] around it).
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        return Err(format!("invalid host {host:?}: {expected}"));
    }
    Ok(Peer::Name {
        host: host.to_owned(),
        port,
    })
}

/// Parse `CIDR=DEV`.
fn parse_route(text: &str) -> Result<Route, String> {
    text.parse()
}

/// Parse a positive number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 => {
            Duration::try_from_secs_f64(s).map_err(|_| "too large a number of seconds".to_owned())
        }
        _ => Err("expected a positive number of seconds, e.g. 10 or 0.5".to_owned()),
    }
}

impl StackArgs {
    /// The paths as the driver takes them.
    pub(crate) fn path_configs(&self) -> Vec<PathConfig> {
        self.paths
            .iter()
            .map(|p| {
                let mut path = PathConfig::new(p.device.clone(), p.addr);
                if let Some(prefix) = p.prefix {
                    path.prefix = prefix;
                }
                if let Some(mtu) = self.mtu {
                    path.mtu = mtu;
                }
                path
            })
            .collect()
    }

    /// The stack configuration these arguments ask for.
    pub(crate) fn stack_config(&self, registry: &PolicyRegistry) -> StackConfig {
        let mut config = StackConfig::new(self.path_configs());
        config.routes = self.routes.clone();
        config.registry = registry.clone();
        let mut impairment = Impairment::default();
        impairment.loss = self.loss;
        impairment.delay = Duration::from_millis(self.delay);
        config.impairment = impairment;
        config.pcap = self.pcap.clone();
        config.seed = Some(self.seed);
        config.offload = self.offload;
        config.congestion_control = self.cc.clone();
        if !self.plain_tcp {
            let mut mptcp = MptcpSettings::default();
            mptcp.path_manager = self.pm.clone();
            mptcp.scheduler = self.scheduler.clone();
            mptcp.announce = self.announce.clone();
            mptcp.backup = self.backup.clone();
            mptcp.config.checksum = self.checksum;
            config.mptcp = Some(mptcp);
        }
        config
    }

    /// A device named by two paths, if any.
    pub(crate) fn duplicate_device(&self) -> Option<&str> {
        self.paths.iter().enumerate().find_map(|(i, p)| {
            self.paths[..i]
                .iter()
                .any(|q| q.device == p.device)
                .then_some(p.device.as_str())
        })
    }
}

/// A clap error (other than `--help` and `--version`) as one line: its
/// message and tips, without the usage block.
pub(crate) fn clap_error_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let text = text.trim_start().strip_prefix("error:").unwrap_or(&text);
    let parts: Vec<String> = text
        .split("\n\n")
        .filter(|part| {
            let part = part.trim_start();
            !part.is_empty()
                && !part.starts_with("Usage:")
                && !part.starts_with("For more information")
        })
        .map(one_line)
        .collect();
    format!("{} (see --help)", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("tun0=10.9.0.2"),
            Ok(PathSpec {
                device: "tun0".into(),
                addr: "10.9.0.2".parse().unwrap(),
                prefix: None
            })
        );
        assert_eq!(
            parse_path("t=fd00:9::2/64"),
            Ok(PathSpec {
                device: "t".into(),
                addr: "fd00:9::2".parse().unwrap(),
                prefix: Some(64)
            })
        );
        assert_eq!(parse_path("tun0=10.9.0.2/16").unwrap().prefix, Some(16));
        assert!(parse_path("abcdefghijklmno=10.0.0.2").is_ok());
    }

    #[test]
    fn bad_paths_name_the_problem() {
        let cases = [
            ("tun0", "expected DEV=ADDR"),
            ("=10.0.0.2", "invalid device name"),
            ("abcdefghijklmnop=10.0.0.2", "1 to 15 bytes"),
            ("a/b=10.0.0.2", "invalid device name"),
            ("tun0=10.0.0", "invalid address"),
            ("tun0=", "invalid address"),
            ("tun0=10.0.0.2/33", "expected 1 to 32"),
            ("tun0=10.0.0.2/0", "expected 1 to 32"),
            ("tun0=fd00::2/129", "expected 1 to 128"),
            ("tun0=10.0.0.2/x", "invalid prefix length"),
        ];
        for (text, wanted) in cases {
            let err = parse_path(text).unwrap_err();
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn peers() {
        assert_eq!(
            parse_peer("10.9.0.1:5000"),
            Ok(Peer::Addr("10.9.0.1:5000".parse().unwrap()))
        );
        assert_eq!(
            parse_peer("[fd00::1]:80"),
            Ok(Peer::Addr("[fd00::1]:80".parse().unwrap()))
        );
        assert_eq!(
            parse_peer("server.lab:5000"),
            Ok(Peer::Name {
                host: "server.lab".to_owned(),
                port: 5000
            })
        );
        for bad in [
            "10.9.0.1",
            "fd00::1:80",
            "host:0",
            "host:x",
            "10.9.0.1:70000",
            "a b:80",
            ":80",
            "",
        ] {
            assert!(
                parse_peer(bad).unwrap_err().contains("expected HOST:PORT"),
                "{bad}"
            );
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "", "NaN", "1e300"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stack_config_carries_every_knob() {
        let cli = Cli::try_parse_from([
            "mptcp",
            "send",
            "--path",
            "tun0=10.9.0.2/16",
            "--path",
            "tun1=fd00::2",
            "--to",
            "10.9.0.1:5000",
            "--bytes",
            "1M",
            "--loss",
            "2%",
            "--delay",
            "20",
            "--seed",
            "9",
            "--mtu",
            "1400",
            "--pcap",
            "x.pcap",
            "--offload",
        ])
        .unwrap();
        let Command::Send(send) = cli.command else {
            panic!("not send")
        };
        assert_eq!(send.source.bytes, Some(1 << 20));
        assert_eq!(send.connect_timeout, Duration::from_secs(10));
        let config = send.stack.stack_config(&PolicyRegistry::with_builtins());
        assert_eq!(config.paths.len(), 2);
        assert_eq!(config.paths[0].prefix, 16);
        assert_eq!(config.paths[0].mtu, 1400);
        assert_eq!(config.paths[1].prefix, 64);
        assert_eq!(config.impairment.loss, 0.02);
        assert_eq!(config.impairment.delay, Duration::from_millis(20));
        assert_eq!(config.seed, Some(9));
        assert_eq!(config.pcap, Some(PathBuf::from("x.pcap")));
        assert!(config.offload);
        assert_eq!(send.stack.duplicate_device(), None);
    }

    #[test]
    fn defaults_are_reproducible() {
        let cli = Cli::try_parse_from(["mptcp", "recv", "--path", "tun0=10.9.0.2", "--port", "5"])
            .unwrap();
        let Command::Recv(recv) = cli.command else {
            panic!("not recv")
        };
        assert_eq!(recv.count, 1);
        assert_eq!(recv.stack.seed, 1);
        assert_eq!(recv.stack.loss, 0.0);
        let config = recv.stack.stack_config(&PolicyRegistry::with_builtins());
        assert_eq!(config.seed, Some(1));
        assert!(!config.impairment.is_active());
        assert!(!config.offload, "offloads are off by default");
    }

    #[test]
    fn a_device_named_twice_is_found() {
        let cli = Cli::try_parse_from([
            "mptcp",
            "recv",
            "--path",
            "t0=10.0.0.2",
            "--path",
            "t0=10.1.0.2",
            "--port",
            "5",
        ])
        .unwrap();
        let Command::Recv(recv) = cli.command else {
            panic!("not recv")
        };
        assert_eq!(recv.stack.duplicate_device(), Some("t0"));
    }

    #[test]
    fn clap_errors_become_one_line() {
        let err = Cli::try_parse_from(["mptcp", "send", "--path", "t=10.0.0.2", "--bytes", "1"])
            .unwrap_err();
        let line = clap_error_line(&err);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("--to"), "{line}");
        let err = Cli::try_parse_from(["mptcp", "send", "--bogus"]).unwrap_err();
        let line = clap_error_line(&err);
        assert!(!line.contains('\n') && line.contains("--bogus"), "{line}");
    }
}
