//! The Transport Converter of RFC 8803 on our stack: clients (MPTCP or
//! plain TCP) send a Convert message as the data of their SYN; the
//! converter holds the SYN, reaches the server through the kernel's
//! sockets (or, with [`Limits::upstream_stack`], over our own stack:
//! MPTCP when the server speaks it, §5.1), and only then answers the
//! client (§3, §4.2), whose connection it relays to the server's
//! ([`umptcp_tun::Stack::splice_socket`], [`umptcp_tun::Stack::splice`]).
//!
//! Every failure is an Error TLV in the bytestream followed by a close,
//! never an RST first (§6.2.8): the server refused (Connection Reset),
//! is unreachable (Destination Unreachable with the ICMP code the kernel
//! reports as an errno), did not answer in time (Network Failure), a
//! limit (Resource Exceeded), policy (Not Authorized), or the message
//! itself (Malformed, Unsupported Version, Unsupported Message,
//! Unsupported TCP Option). A Total Length of zero is reset (§6.1).

mod cookie;
mod policy;
mod session;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use umptcp_tun::{Listener, ListenerOptions, Stack};

pub use policy::Limits;

use crate::convert::ErrorCode;

/// How a conversion ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Relayed both ways to the end.
    Relayed,
    /// The relay failed after it began (a reset on either side).
    Broken(String),
    /// Answered with this Error TLV and closed.
    Answered(ErrorCode),
    /// Reset (a Total Length of zero).
    Reset,
    /// Dropped unanswered (error replies over their rate).
    Dropped,
}

/// One finished conversion, for the log line.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The client.
    pub client: SocketAddr,
    /// The destination its Connect named, if it named one.
    pub destination: Option<SocketAddr>,
    /// Whether the client's connection spoke MPTCP.
    pub mptcp: bool,
    /// Bytes client to server, and server to client.
    pub up: u64,
    /// See `up`.
    pub down: u64,
    /// From the SYN to the end.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dst = self
            .destination
            .map_or_else(|| "-".to_owned(), |d| d.to_string());
        let outcome = match &self.outcome {
            Outcome::Relayed => "relayed".to_owned(),
            Outcome::Broken(why) => format!("broken ({why})"),
            Outcome::Answered(code) => format!("answered {code}"),
            Outcome::Reset => "reset".to_owned(),
            Outcome::Dropped => "dropped".to_owned(),
        };
        write!(
            f,
            "converted {} -> {dst} mptcp={} up={} down={} in {:.3} s: {outcome}",
            self.client,
            self.mptcp,
            self.up,
            self.down,
            self.duration.as_secs_f64()
        )
    }
}

impl Finished {
    /// The same as one JSON object (`mptcp convert --json`): client,
    /// destination (or null), mptcp, up, down, seconds, outcome (relayed,
    /// broken, answered, reset, dropped), and for the last ones detail
    /// (the reason, or the Error TLV's name) and code.
    pub fn to_json(&self) -> String {
        let dst = self
            .destination
            .map_or_else(|| "null".to_owned(), |d| format!("\"{d}\""));
        let (outcome, detail, code) = match &self.outcome {
            Outcome::Relayed => ("relayed", None, None),
            Outcome::Broken(why) => ("broken", Some(why.clone()), None),
            Outcome::Answered(c) => ("answered", Some(c.name().to_owned()), Some(c.to_u8())),
            Outcome::Reset => ("reset", None, None),
            Outcome::Dropped => ("dropped", None, None),
        };
        let mut out = format!(
            "{{\"client\":\"{}\",\"destination\":{dst},\"mptcp\":{},\"up\":{},\"down\":{},\"seconds\":{:.6},\"outcome\":\"{outcome}\"",
            self.client,
            self.mptcp,
            self.up,
            self.down,
            self.duration.as_secs_f64()
        );
        if let Some(detail) = detail {
            out.push_str(&format!(",\"detail\":{}", crate::json_string(&detail)));
        }
        if let Some(code) = code {
            out.push_str(&format!(",\"code\":{code}"));
        }
        out.push('}');
        out
    }
}

/// A converter listening on one port of a stack.
pub struct Converter {
    stack: Arc<Stack>,
    listener: Listener,
    gate: Arc<policy::Gate>,
    tally: Arc<crate::summary::Tally>,
}

impl Converter {
    /// Take Convert clients on `port` of `stack` (every address), with
    /// `limits`.
    ///
    /// # Errors
    ///
    /// The listener could not be opened (the port is taken, the stack
    /// stopped).
    pub fn bind(stack: &Arc<Stack>, port: u16, limits: Limits) -> io::Result<Converter> {
        let options = ListenerOptions::new().fast_open(true).hold_syns();
        Ok(Converter {
            stack: Arc::clone(stack),
            listener: Listener::bind_with(stack, port, options)?,
            gate: Arc::new(policy::Gate::new(limits)),
            tally: Arc::default(),
        })
    }

    /// The running totals (conversions open, finished, relayed or not,
    /// bytes), for a summary line while [`Self::run`] serves.
    pub fn tally(&self) -> Arc<crate::summary::Tally> {
        Arc::clone(&self.tally)
    }

    /// Serve conversions until the listener fails (the stack stops);
    /// `report` is called once per finished conversion, from the
    /// conversion's thread.
    ///
    /// # Errors
    ///
    /// The listener failed, or no thread could be started.
    pub fn run(self, report: impl Fn(&Finished) + Send + Sync + 'static) -> io::Result<()> {
        let report = Arc::new(report);
        loop {
            let syn = self.listener.incoming()?;
            self.tally.start();
            let (stack, gate, report, tally) = (
                Arc::clone(&self.stack),
                Arc::clone(&self.gate),
                Arc::clone(&report),
                Arc::clone(&self.tally),
            );
            // One thread per conversion, from the held SYN to the relay's
            // end (the bytes themselves move on the stack's relay thread).
            std::thread::Builder::new()
                .name("umptcp-convert".to_owned())
                .spawn(move || {
                    let finished = session::convert(&stack, &gate, syn);
                    let ok = finished.outcome == Outcome::Relayed;
                    tally.finish(ok, finished.up, finished.down);
                    report(&finished);
                })?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_conversion_as_json() {
        let mut f = Finished {
            client: "10.0.0.1:4000".parse().unwrap(),
            destination: Some("192.0.2.1:80".parse().unwrap()),
            mptcp: true,
            up: 5,
            down: 7,
            duration: Duration::from_millis(1500),
            outcome: Outcome::Relayed,
        };
        assert_eq!(
            f.to_json(),
            r#"{"client":"10.0.0.1:4000","destination":"192.0.2.1:80","mptcp":true,"up":5,"down":7,"seconds":1.500000,"outcome":"relayed"}"#
        );
        f.outcome = Outcome::Answered(ErrorCode::ConnectionReset);
        f.destination = None;
        assert!(
            f.to_json()
                .ends_with(r#""destination":null,"mptcp":true,"up":5,"down":7,"seconds":1.500000,"outcome":"answered","detail":"Connection Reset","code":96}"#),
            "{}",
            f.to_json()
        );
        f.outcome = Outcome::Broken("a \"quoted\" reason".to_owned());
        assert!(
            f.to_json().contains(r#""detail":"a \"quoted\" reason""#),
            "{}",
            f.to_json()
        );
    }
}
