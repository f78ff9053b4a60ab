//! The command lines of the proxies: `mptcp convert` (the RFC 8803
//! Transport Converter) and `mptcp proxy` (the SOCKS5 front), with their
//! help texts.

use std::net::SocketAddr;

use clap::Args;

use super::StackArgs;

pub(super) const CONVERT_LONG: &str = "\
An RFC 8803 Transport Converter (the 0-RTT TCP Convert protocol, the MPTCP
proxy of 5G ATSSS) on our stack.

A client (MPTCP, or plain TCP) sends the Convert message (a Connect TLV
naming the server) as the data of its SYN, without a Fast Open cookie.
The converter holds that SYN, connects to the server through this
host's kernel sockets (--upstream stack: over our own stack and its
--path devices instead, MPTCP end to end when the server speaks it,
RFC 8803 §5.1), and answers the client only once the server has
answered: the client's SYN/ACK, then the converter's reply as the first
bytes of the stream, then the server's bytes. Bytes are relayed both
ways until both sides have closed; a reset on either side resets the
other (MP_FASTCLOSE towards an MPTCP client).

Every failure is an Error TLV sent in the stream, then a close (never a
reset first): Connection Reset (the server refused), Destination
Unreachable (with the ICMP code), Network Failure (no answer within
--upstream-timeout), Resource Exceeded (--max-connections,
--max-pending-per-client), Not Authorized (--allow, --deny), Malformed
Message, Unsupported Version, Unsupported Message, Unsupported TCP Option
(TCP-AO). Error replies are rate-limited (--errors-per-second); beyond
that, SYNs are dropped.

For each finished conversion one line on stdout:

    converted CLIENT -> SERVER mptcp=BOOL up=N down=M in S s: OUTCOME

with OUTCOME relayed, broken (why), answered CODE, reset or dropped;
and every --summary-every seconds one on stderr:

    summary: active=N finished=M relayed=R failed=F up=BYTES down=BYTES

(failed counts every conversion not relayed; bytes are those of the
finished ones). With --json both are JSON objects, the summary as
{\"summary\":{...}}.

Clients: the Linux kernel sends the Convert message from an MPTCP socket
with sendto(..., MSG_FASTOPEN) when net.ipv4.tcp_fastopen has 0x4 (send
data without a cookie) set, e.g. 5; libconvert (LD_PRELOAD) does it for
unmodified programs. With --require-cookie each client must first fetch
its cookie (a MAC of its address under a key drawn at start: Missing
Cookie hands it out, our client caches it and retries once). Not done
yet: the Extended TCP Header carries no options (the kernel's socket does
not show the server's SYN/ACK options).";

/// Examples shown at the end of `mptcp convert --help`.
pub(super) const CONVERT_EXAMPLES: &str = "\
Example: a converter on two uplinks' worth of TUN paths, clients from
10.0.0.0/8 only, private destinations refused:
  sudo mptcp convert --path tun0=10.61.0.2 --path tun1=10.62.0.2 --port 5124 \\
      --allow 10.0.0.0/8 --deny 192.168.0.0/16 --deny 172.16.0.0/12
The host must route the converter's public address into tun0 (the kernel
side of a TUN device mptcp creates is host 1 of its /24).";

pub(super) const PROXY_LONG: &str = "\
A SOCKS5 front (RFC 1928) for programs on this host, whose connections go
over our stack: through an RFC 8803 Transport Converter (--converter), or
straight to the destination over MPTCP (--direct, for servers that speak
it; others get plain TCP).

Programs connect to --socks5 (a kernel listener, 127.0.0.1:1080 by
default) and ask for a destination (CONNECT; IPv4, IPv6 or a name, which
is resolved here: RFC 8803 carries addresses only). Through a converter,
each connection is an MPTCP connection to it whose SYN carries the
Convert message (no Fast Open cookie needed); the converter's Error TLVs
become SOCKS5 replies (Connection Reset: refused, Destination
Unreachable: host unreachable, Not Authorized: not allowed, Network
Failure: TTL expired, others: general failure). The bytes are then
relayed between the program's socket and our connection until both have
closed.

Transparent capture (--capture DEV=ADDR[/PREFIX]) needs no proxy setting
in the programs at all: every TCP connection the host routes into the TUN
device DEV is taken, whatever its destination, and carried to that
destination the same way. The client's SYN is answered only once the
destination has answered, so a refused destination is a reset, as
without the proxy. DEV is a stack of its own (plain TCP): no subflow is
ever opened over it. Route what should be captured into it; the kernel
forwards the --path devices' own packets by the same table, so the
converter must stay outside the captured routes (to capture a default
route, put it in a table of its own and select it with policy routing
for everything but the --path devices: `ip rule add not iif tun0 ...`).
--capture alone turns the SOCKS5 front off; give --socks5 for both.

With --socks5-auth FILE the front asks for a user name and password
(RFC 1929) from the lines `user:password` of FILE:
  curl --socks5-hostname alice:s3cret@127.0.0.1:1080 http://example.com/

One line on stdout per finished connection (both fronts):

    proxied CLIENT -> DEST mptcp=BOOL subflows=N up=N down=M in S s: relayed|failed (why)

and every --summary-every seconds one on stderr, for both fronts together:

    summary: active=N finished=M relayed=R failed=F up=BYTES down=BYTES";

/// Examples shown at the end of `mptcp proxy --help`.
pub(super) const PROXY_EXAMPLES: &str = "\
Example: a host with two uplinks (policy routing sends each TUN path's
traffic out of its own uplink), a converter at 198.51.100.7:5124:
  sudo mptcp proxy --path tun0=10.61.0.2 --path tun1=10.62.0.2 \\
      --converter 198.51.100.7:5124 &
  curl --socks5-hostname 127.0.0.1:1080 http://example.com/
Every connection to 203.0.113.0/24, captured, no program configured:
  sudo mptcp proxy --path tun0=10.61.0.2 --path tun1=10.62.0.2 \\
      --converter 198.51.100.7:5124 --capture cap0=10.63.0.2 &
  sudo ip route add 203.0.113.0/24 dev cap0
Without a converter, to a server that speaks MPTCP:
  sudo mptcp proxy --path tun0=10.61.0.2 --path tun1=10.62.0.2 --direct";

/// `mptcp convert`.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The stack's paths and knobs.
    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// Take Convert clients on this TCP port, at every --path address
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,

    /// Accept Convert clients only from PREFIX (repeat; default: any)
    #[arg(
        long = "allow",
        value_name = "PREFIX",
        help_heading = "Converter policy"
    )]
    pub(crate) allow: Vec<umptcp_tun::Prefix>,

    /// Refuse destinations in PREFIX with Not Authorized (repeat)
    #[arg(
        long = "deny",
        value_name = "PREFIX",
        help_heading = "Converter policy"
    )]
    pub(crate) deny: Vec<umptcp_tun::Prefix>,

    /// Conversions at once; beyond, Resource Exceeded
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        help_heading = "Converter policy"
    )]
    pub(crate) max_connections: usize,

    /// Requests of one client waiting for their server; beyond, Resource Exceeded
    #[arg(
        long,
        value_name = "N",
        default_value_t = 16,
        help_heading = "Converter policy"
    )]
    pub(crate) max_pending_per_client: usize,

    /// Seconds the server may take to answer; then Network Failure
    #[arg(long, value_name = "S", default_value_t = 10, help_heading = "Converter policy",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) upstream_timeout: u64,

    /// How the converter reaches servers: the kernel's sockets, or our own
    /// stack over the --path devices (MPTCP when the server speaks it)
    #[arg(long, value_name = "VIA", default_value = "kernel",
          value_parser = ["kernel", "stack"], help_heading = "Converter policy")]
    pub(crate) upstream: String,

    /// Print a summary line on stderr every S seconds (0: none)
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub(crate) summary_every: u64,

    /// Ask every client for a cookie (RFC 8803 §6.2.7): a Connect without
    /// one gets Missing Cookie with the client's cookie, a wrong one Not Authorized
    #[arg(long, help_heading = "Converter policy")]
    pub(crate) require_cookie: bool,

    /// Error replies per second; beyond, SYNs are dropped unanswered
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        help_heading = "Converter policy"
    )]
    pub(crate) errors_per_second: u32,
}

/// `mptcp proxy`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("upstream").required(true).args(["converter", "direct"])))]
pub(crate) struct ProxyArgs {
    /// The stack's paths and knobs.
    #[command(flatten)]
    pub(crate) stack: StackArgs,

    /// The Transport Converter to go through (ADDR:PORT)
    #[arg(
        long,
        value_name = "ADDR:PORT",
        required_unless_present = "direct",
        conflicts_with = "direct"
    )]
    pub(crate) converter: Option<SocketAddr>,

    /// No converter: connect straight to each destination over MPTCP
    #[arg(long)]
    pub(crate) direct: bool,

    /// Where programs reach the SOCKS5 front, a kernel listener
    /// [default: 127.0.0.1:1080, none with --capture alone]
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) socks5: Option<SocketAddr>,

    /// Ask SOCKS5 clients for a user name and password (RFC 1929): FILE
    /// holds one `user:password` per line (`#` comments allowed); a client
    /// that offers no user/password method, or a wrong pair, is refused.
    #[arg(long, value_name = "FILE", verbatim_doc_comment)]
    pub(crate) socks5_auth: Option<std::path::PathBuf>,

    /// Transparent capture: every TCP connection routed into the TUN device
    /// DEV (created if missing; ADDR is our stack's address on it, the
    /// kernel's side is host 1) is carried to the destination it was for.
    /// The device is a stack of its own: no subflow ever uses it.
    #[arg(long, value_name = "DEV=ADDR[/PREFIX]", value_parser = super::parse_path,
          verbatim_doc_comment)]
    pub(crate) capture: Option<super::PathSpec>,

    /// Print a summary line on stderr every S seconds (0: none)
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub(crate) summary_every: u64,

    /// Seconds a connection through the stack may take to open
    #[arg(long, value_name = "S", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) connect_timeout: u64,
}
