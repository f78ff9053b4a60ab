//! `balance`: does the MPTCP connection move its traffic off the more
//! congested of its paths (RFC 6356 §2, goal 3)? And, in the scenario of
//! Khalili et al. where LIA is not Pareto-optimal, how much does it leave
//! to the single-path users it shares a bottleneck with?
//!
//! Part 1, two paths of equal capacity and unequal load:
//!
//! ```text
//!  M 10.1.0.1  ─┐
//!  A 10.3.1.1  ─┴ RA ══ path A: 10 Mbit/s, 18 ms, 1 BDP queue ══┐
//!  M 10.2.0.1  ─┐                                               RS ── S 10.9.0.1
//!  B 10.4.1-3.1 ┴ RB ══ path B: 10 Mbit/s, 18 ms, 1 BDP queue ══┘
//! ```
//!
//! Every flow has a 40 ms base RTT. Path A carries one single-path
//! background flow, path B three; M's connection has a subflow on each.
//! RFC 6356 §2, goal 3: "A multipath flow should move as much traffic as
//! possible off its most congested paths, subject to meeting the first two
//! goals." Uncoupled, each subflow takes a TCP's share of its path: half
//! of A and a quarter of B, so `share_on_less_congested` is 2/3. Perfect
//! pooling would leave B to its three flows and split A with its one:
//! a share of 1, and still as much as the best single path would give (goal
//! 1). A coupled controller lands in between, the nearer 1 the better it
//! balances.
//!
//! Part 2, Khalili, Gast, Popovic and Le Boudec, "MPTCP is not
//! Pareto-optimal: performance issues and a possible solution" (CoNEXT
//! 2012), scenario A:
//!
//! ```text
//!  MP users 10.5.i.1 ─ RX ══ ISP X: N1 × C1 (theirs alone) ══┐
//!  MP users 10.6.i.1 ─┐                                       RS ── S 10.9.0.1
//!  SP users 10.7.j.1 ─┴ RAP ══ shared AP: N2 × C2 ═══════════┘
//! ```
//!
//! N1 multipath users each have a subflow through ISP X, which only they
//! use, and one through an access point shared with N2 single-path users.
//! Before the multipath users upgrade (TCP over ISP X alone) each user of
//! either kind gets its capacity share, C1 or C2. The paper finds that
//! with LIA the upgrade cuts the single-path users' throughput while
//! giving the multipath users little, because LIA keeps sending over the
//! congested AP what a Pareto-optimal controller would send over the
//! uncongested ISP X; OLIA, its remedy, leaves the AP to the single-path
//! users. Here both bottlenecks stay full, so between two controllers what
//! one kind of user gains the other loses: the figures to compare are
//! `khalili_single_path_mbps` across controllers, and
//! `khalili_multipath_normalized` against what the multipath users had
//! before upgrading (about 0.95 of C1, headers taken off).
//! `khalili_ap_share_single_path` is the fraction of the AP's goodput the
//! single-path users get: 1 if the multipath users kept off it,
//! N2 / (N1 + N2) if each of their subflows took a TCP's share.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use umptcp_sim::{HostId, IfaceId, LinkConfig};
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;

use crate::Options;
use crate::error::ExperimentError;
use crate::experiments::{Measured, PathGoodput, Windows, sample};
use crate::net::{Net, access, bdp, ip, link};
use crate::report::{Report, Series};

/// The experiment's name.
pub(crate) const NAME: &str = "balance";

/// Part 1: the rate of each path (Mbit/s), its bottleneck's one-way delay,
/// the base RTT of every flow.
const RATE: u64 = 10;
const DELAY: Duration = Duration::from_millis(18);
const RTT: Duration = Duration::from_millis(40);
/// Part 1: single-path background flows on path A and on path B.
const BACKGROUND_A: usize = 1;
const BACKGROUND_B: usize = 3;

/// Part 2: multipath users (N1) and single-path users (N2), and each
/// user's capacity share of ISP X (C1) and of the AP (C2), Mbit/s. The
/// paper varies how the populations and capacities compare; equal ones
/// are the simplest point, and two users of each kind keep the run cheap.
const N1: usize = 2;
const N2: usize = 2;
const C1: u64 = 5;
const C2: u64 = 5;

/// The default length of a run, and the warm-up not counted in the
/// figures.
const DURATION: Duration = Duration::from_secs(50);
const WARM_UP: Duration = Duration::from_secs(10);

/// When the `i`-th single-path flow starts: 0 to 199 ms, from the seed
/// and `i`, so that flows do not start in lockstep and seeds sample
/// different loss patterns (the links lose nothing at random).
fn start_offset(seed: u64, i: usize) -> Duration {
    // A multiplicative hash spreads consecutive seeds and indices.
    let spread = (seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> 32;
    Duration::from_millis(spread % 200)
}

/// A bulk flow to start: its node, first subflow, further subflows, its
/// controller and when.
struct Start {
    node: HostId,
    first: FourTuple,
    joins: Vec<FourTuple>,
    cc: String,
    at: Duration,
}

/// Start `flows` in time order, running `net` up to each start; returns
/// each flow's index on its node, in the order given.
fn start(net: &mut Net, flows: &[Start], options: &Options) -> Result<Vec<usize>, ExperimentError> {
    let mut order: Vec<usize> = (0..flows.len()).collect();
    order.sort_by_key(|&i| flows[i].at);
    let mut index = vec![0; flows.len()];
    for i in order {
        let f = &flows[i];
        let at = Instant::ZERO + f.at;
        net.sim.run_until(at);
        index[i] = net
            .node_mut(f.node)
            .bulk(at, f.first, &f.joins, &f.cc, &options.registry)?;
    }
    Ok(index)
}

/// A router in front of a bottleneck: one access link from each of
/// `sources` (a node's interface and its address), a host route back to
/// each, everything else out of its last interface, which it returns.
fn ingress(
    net: &mut Net,
    sources: &[(HostId, IfaceId, IpAddr)],
) -> Result<(HostId, IfaceId), ExperimentError> {
    let hosts: Vec<String> = sources.iter().map(|s| s.2.to_string()).collect();
    let out = u32::try_from(sources.len()).expect("a few sources");
    let mut routes: Vec<(&str, u8, u32)> = hosts
        .iter()
        .zip(0..)
        .map(|(h, k)| (h.as_str(), 32, k))
        .collect();
    routes.push(("0.0.0.0", 0, out));
    let (r, r_if) = net.router(sources.len() + 1, &routes)?;
    for (&(host, iface, _), &r_iface) in sources.iter().zip(&r_if) {
        net.connect((host, iface), (r, r_iface), access())?;
    }
    Ok((r, r_if[sources.len()]))
}

/// The router behind the bottlenecks, in front of the sink `sink`: one
/// bottleneck from each of `paths` (its ingress router's outgoing
/// interface, the link, and the addresses behind it), host routes back.
fn egress(
    net: &mut Net,
    paths: &[((HostId, IfaceId), LinkConfig, Vec<IpAddr>)],
    sink: (HostId, IfaceId),
) -> Result<(), ExperimentError> {
    let hosts: Vec<(String, u32)> = paths
        .iter()
        .zip(0..)
        .flat_map(|((_, _, addrs), k)| addrs.iter().map(move |a| (a.to_string(), k)))
        .collect();
    let out = u32::try_from(paths.len()).expect("a few paths");
    let mut routes: Vec<(&str, u8, u32)> =
        hosts.iter().map(|(h, k)| (h.as_str(), 32, *k)).collect();
    routes.push(("10.9.0.0", 16, out));
    let (r, r_if) = net.router(paths.len() + 1, &routes)?;
    for ((from, config, _), &r_iface) in paths.iter().zip(&r_if) {
        net.connect(*from, (r, r_iface), config.clone())?;
    }
    net.connect((r, r_if[paths.len()]), sink, access())?;
    Ok(())
}

/// The four-tuple from `local` (port `port`) to the sink, 10.9.0.1:80.
fn to_sink(local: IpAddr, port: u16) -> FourTuple {
    FourTuple {
        local: SocketAddr::new(local, port),
        remote: SocketAddr::new(ip("10.9.0.1"), 80),
    }
}

/// Mbit/s of `bytes` over `seconds`.
fn mbps(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 * 8.0 / seconds / 1e6
}

/// The point-by-point mean of `series` (all sampled at the same instants),
/// named `name`.
fn mean_series(name: String, series: &[&Series]) -> Series {
    let mut out = Series::new(name, "Mbit/s");
    let n = series.len().max(1) as f64;
    if let Some(first) = series.first() {
        out.points = first
            .points
            .iter()
            .enumerate()
            .map(|(k, &(t, _))| {
                let sum: f64 = series
                    .iter()
                    .filter_map(|s| s.points.get(k))
                    .map(|p| p.1)
                    .sum();
                (t, sum / n)
            })
            .collect();
    }
    out
}

pub(crate) fn run(options: &Options) -> Result<Report, ExperimentError> {
    let end = options.duration.unwrap_or(DURATION);
    let warm_up = WARM_UP.min(end / 4);
    let mut report = Report::new(NAME, &options.cc);
    pooling(options, end, warm_up, &mut report)?;
    khalili(options, end, warm_up, &mut report)?;
    Ok(report)
}

/// Part 1: two equal paths, one background flow on A, three on B.
fn pooling(
    options: &Options,
    end: Duration,
    warm_up: Duration,
    report: &mut Report,
) -> Result<(), ExperimentError> {
    let mut net = Net::new(options.seed)?;
    let buffer = 4 << 20;
    let competitor = options.competitor();
    let (m, m_if) = net.node(&["10.1.0.1", "10.2.0.1"], buffer)?;
    let (s, s_if) = net.node(&["10.9.0.1"], buffer)?;
    // Background flows: path A's from 10.3.k.1, path B's from 10.4.k.1.
    let mut background = |path: u8, n: usize| {
        (1..=n)
            .map(|k| {
                let addr = format!("10.{path}.{k}.1");
                let (h, h_if) = net.node(&[&addr], buffer)?;
                Ok((h, h_if[0], ip(&addr)))
            })
            .collect::<Result<Vec<_>, ExperimentError>>()
    };
    let on_a = background(3, BACKGROUND_A)?;
    let on_b = background(4, BACKGROUND_B)?;
    let (m_a, m_b) = (ip("10.1.0.1"), ip("10.2.0.1"));
    let sources_a: Vec<_> = [(m, m_if[0], m_a)]
        .into_iter()
        .chain(on_a.iter().copied())
        .collect();
    let sources_b: Vec<_> = [(m, m_if[1], m_b)]
        .into_iter()
        .chain(on_b.iter().copied())
        .collect();
    let ra = ingress(&mut net, &sources_a)?;
    let rb = ingress(&mut net, &sources_b)?;
    // The two paths differ only in their load: same rate, same RTT, a
    // queue of one BDP.
    let bottleneck = link(RATE, DELAY, bdp(RATE, RTT));
    egress(
        &mut net,
        &[
            (
                ra,
                bottleneck.clone(),
                sources_a.iter().map(|s| s.2).collect(),
            ),
            (rb, bottleneck, sources_b.iter().map(|s| s.2).collect()),
        ],
        (s, s_if[0]),
    )?;

    net.node_mut(s)
        .listen("10.9.0.1:80".parse().expect("constant"));
    let competitor_flow = |(node, _, addr): (HostId, IfaceId, IpAddr), k: usize| Start {
        node,
        first: to_sink(addr, 40000),
        joins: Vec::new(),
        cc: competitor.clone(),
        at: start_offset(options.seed, k),
    };
    let mut flows = vec![Start {
        node: m,
        first: to_sink(m_a, 40000),
        joins: vec![to_sink(m_b, 40001)],
        cc: options.cc.clone(),
        at: Duration::ZERO,
    }];
    flows.extend(
        on_a.iter()
            .chain(&on_b)
            .zip(0..)
            .map(|(&h, k)| competitor_flow(h, k)),
    );
    let index = start(&mut net, &flows, options)?;

    let mut measured = vec![Measured {
        name: format!("MPTCP ({})", options.cc),
        sink: s,
        peer: m_a,
    }];
    for (path, hosts) in [("A", &on_a), ("B", &on_b)] {
        for (k, h) in hosts.iter().enumerate() {
            measured.push(Measured {
                name: format!("TCP {path}{} ({competitor})", k + 1),
                sink: s,
                peer: h.2,
            });
        }
    }
    let windows = [Windows {
        name: "MPTCP".into(),
        node: m,
        flow: index[0],
    }];
    let mut paths = [
        PathGoodput::new("MPTCP on A", s, m_a, m_a),
        PathGoodput::new("MPTCP on B", s, m_a, m_b),
    ];
    let mut nodes = vec![m, s];
    nodes.extend(on_a.iter().chain(&on_b).map(|h| h.0));
    let sampled = sample(
        &mut net,
        &nodes,
        &measured,
        &windows,
        warm_up,
        end,
        |net, t| {
            for p in &mut paths {
                p.record(net, t, warm_up);
            }
        },
    )?;

    let seconds = (end - warm_up).as_secs_f64();
    let counted = |i: usize| sampled.bytes[i] - sampled.bytes_at[i];
    let [a, b] = &paths;
    let (on_path_a, on_path_b) = (a.bytes - a.bytes_at, b.bytes - b.bytes_at);
    let per_flow = |range: std::ops::Range<usize>| {
        let n = range.len().max(1) as f64;
        range.map(|i| mbps(counted(i), seconds)).sum::<f64>() / n
    };
    let tcp_a = per_flow(1..1 + BACKGROUND_A);
    let tcp_b = per_flow(1 + BACKGROUND_A..1 + BACKGROUND_A + BACKGROUND_B);

    report.notes.push(format!(
        "part 1: two paths of {RATE} Mbit/s, base RTT {} ms, drop-tail queues of one BDP; \
         {BACKGROUND_A} {competitor} flow on path A, {BACKGROUND_B} on path B; MPTCP ({}) with a \
         subflow on each; counted after {} s of {} s",
        RTT.as_millis(),
        options.cc,
        warm_up.as_secs(),
        end.as_secs()
    ));
    report.notes.push(
        "expected share_on_less_congested (MPTCP's traffic on path A): 0.67 uncoupled, \
         1 with perfect pooling, coupled controllers in between (RFC 6356 goal 3)"
            .into(),
    );
    report.summary.push((
        "share_on_less_congested".into(),
        on_path_a as f64 / ((on_path_a + on_path_b) as f64).max(1.0),
    ));
    report
        .summary
        .push(("mptcp_mbps".into(), mbps(counted(0), seconds)));
    report
        .summary
        .push(("mptcp_path_a_mbps".into(), mbps(on_path_a, seconds)));
    report
        .summary
        .push(("mptcp_path_b_mbps".into(), mbps(on_path_b, seconds)));
    report.summary.push(("tcp_path_a_mbps".into(), tcp_a));
    report.summary.push(("tcp_path_b_mbps".into(), tcp_b));

    let [a, b] = paths;
    let mut tcp = sampled.goodput.into_iter().skip(1);
    let mut panel_a = vec![a.series];
    panel_a.extend(tcp.by_ref().take(BACKGROUND_A));
    let mut panel_b = vec![b.series];
    panel_b.extend(tcp);
    report
        .panels
        .push(("path A (less congested) goodput".into(), panel_a));
    report
        .panels
        .push(("path B (more congested) goodput".into(), panel_b));
    report
        .panels
        .push(("MPTCP congestion windows".into(), sampled.cwnd));
    Ok(())
}

/// Part 2: Khalili et al.'s scenario A.
fn khalili(
    options: &Options,
    end: Duration,
    warm_up: Duration,
    report: &mut Report,
) -> Result<(), ExperimentError> {
    let mut net = Net::new(options.seed)?;
    let buffer = 4 << 20;
    let competitor = options.competitor();
    let (s, s_if) = net.node(&["10.9.0.1"], buffer)?;
    // Multipath user i: 10.5.i.1 on ISP X, 10.6.i.1 on the AP.
    let mut multipath = Vec::new();
    for i in 1..=N1 {
        let (x, ap) = (format!("10.5.{i}.1"), format!("10.6.{i}.1"));
        let (h, h_if) = net.node(&[&x, &ap], buffer)?;
        multipath.push(((h, h_if[0], ip(&x)), (h, h_if[1], ip(&ap))));
    }
    // Single-path user j: 10.7.j.1, on the AP.
    let mut single = Vec::new();
    for j in 1..=N2 {
        let addr = format!("10.7.{j}.1");
        let (h, h_if) = net.node(&[&addr], buffer)?;
        single.push((h, h_if[0], ip(&addr)));
    }
    let sources_x: Vec<_> = multipath.iter().map(|m| m.0).collect();
    let sources_ap: Vec<_> = multipath
        .iter()
        .map(|m| m.1)
        .chain(single.iter().copied())
        .collect();
    let rx = ingress(&mut net, &sources_x)?;
    let rap = ingress(&mut net, &sources_ap)?;
    // Each bottleneck has the capacity of its users' shares, the same
    // RTT as part 1 and a queue of one BDP.
    let (x_rate, ap_rate) = (N1 as u64 * C1, N2 as u64 * C2);
    egress(
        &mut net,
        &[
            (
                rx,
                link(x_rate, DELAY, bdp(x_rate, RTT)),
                sources_x.iter().map(|s| s.2).collect(),
            ),
            (
                rap,
                link(ap_rate, DELAY, bdp(ap_rate, RTT)),
                sources_ap.iter().map(|s| s.2).collect(),
            ),
        ],
        (s, s_if[0]),
    )?;

    net.node_mut(s)
        .listen("10.9.0.1:80".parse().expect("constant"));
    let mut flows = Vec::new();
    for (k, ((h, _, x), (_, _, ap))) in multipath.iter().enumerate() {
        flows.push(Start {
            node: *h,
            first: to_sink(*x, 40000),
            joins: vec![to_sink(*ap, 40001)],
            cc: options.cc.clone(),
            at: start_offset(options.seed, 100 + k),
        });
    }
    for (k, (h, _, addr)) in single.iter().enumerate() {
        flows.push(Start {
            node: *h,
            first: to_sink(*addr, 40000),
            joins: Vec::new(),
            cc: competitor.clone(),
            at: start_offset(options.seed, 200 + k),
        });
    }
    start(&mut net, &flows, options)?;

    let measured: Vec<Measured> = multipath
        .iter()
        .map(|m| m.0.2)
        .chain(single.iter().map(|s| s.2))
        .map(|peer| Measured {
            name: peer.to_string(),
            sink: s,
            peer,
        })
        .collect();
    let mut on_ap: Vec<PathGoodput> = multipath
        .iter()
        .map(|m| PathGoodput::new(m.1.2.to_string(), s, m.0.2, m.1.2))
        .collect();
    let mut nodes = vec![s];
    nodes.extend(multipath.iter().map(|m| m.0.0));
    nodes.extend(single.iter().map(|s| s.0));
    let sampled = sample(&mut net, &nodes, &measured, &[], warm_up, end, |net, t| {
        for p in &mut on_ap {
            p.record(net, t, warm_up);
        }
    })?;

    let seconds = (end - warm_up).as_secs_f64();
    let counted = |i: usize| sampled.bytes[i] - sampled.bytes_at[i];
    let mp_bytes: u64 = (0..N1).map(counted).sum();
    let sp_bytes: u64 = (N1..N1 + N2).map(counted).sum();
    let mp_ap_bytes: u64 = on_ap.iter().map(|p| p.bytes - p.bytes_at).sum();
    let mp = mbps(mp_bytes, seconds) / N1 as f64;
    let sp = mbps(sp_bytes, seconds) / N2 as f64;

    report.notes.push(format!(
        "part 2 (Khalili et al., CoNEXT 2012, scenario A): {N1} multipath users ({}) with a \
         subflow over ISP X ({x_rate} Mbit/s, theirs alone) and one over an AP ({ap_rate} \
         Mbit/s) shared with {N2} single-path users ({competitor}); base RTT {} ms, queues of \
         one BDP; figures per user",
        options.cc,
        RTT.as_millis()
    ));
    report.notes.push(format!(
        "expected: before upgrading (TCP over ISP X alone) every user gets its share, {C1} and \
         {C2} Mbit/s less headers (normalized ~0.95); the paper finds LIA takes from the \
         single-path users and OLIA leaves them more, the multipath users still at or above \
         their share; khalili_ap_share_single_path is 1 if the multipath users keep off the AP, \
         {:.2} if uncoupled",
        N2 as f64 / (N1 + N2) as f64
    ));
    report.summary.push(("khalili_multipath_mbps".into(), mp));
    report.summary.push(("khalili_single_path_mbps".into(), sp));
    report.summary.push((
        "khalili_multipath_on_ap_mbps".into(),
        mbps(mp_ap_bytes, seconds) / N1 as f64,
    ));
    report.summary.push((
        "khalili_ap_share_single_path".into(),
        sp_bytes as f64 / ((sp_bytes + mp_ap_bytes) as f64).max(1.0),
    ));
    report
        .summary
        .push(("khalili_multipath_normalized".into(), mp / C1 as f64));
    report
        .summary
        .push(("khalili_single_path_normalized".into(), sp / C2 as f64));

    let goodput = &sampled.goodput;
    let mp_series: Vec<&Series> = goodput[..N1].iter().collect();
    let sp_series: Vec<&Series> = goodput[N1..].iter().collect();
    let ap_series: Vec<&Series> = on_ap.iter().map(|p| &p.series).collect();
    report.panels.push((
        "Khalili scenario A: goodput per user".into(),
        vec![
            mean_series(format!("multipath user ({})", options.cc), &mp_series),
            mean_series(format!("single-path user ({competitor})"), &sp_series),
            mean_series("multipath user through the AP".into(), &ap_series),
        ],
    ));
    Ok(())
}
