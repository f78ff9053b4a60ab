//! The long run of the hostile-input campaign: seeds round-robin over the
//! modes until the time is up, then totals per mode.
//!
//! ```text
//! cargo run --profile campaign -p umptcp-campaign -- --minutes 30 --mode all
//! cargo run --profile campaign -p umptcp-campaign -- --seed 123 --mode off-path
//! ```
//!
//! The cases run in virtual time; only this driver reads the clock, for its
//! time budget and progress lines.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use umptcp_campaign::{Mode, Tally, quiet_panics, run_bytes_traced, run_seed, run_seed_traced};

const HELP: &str = "\
campaign: a hostile-input campaign against umptcp_proto::Endpoint

Two endpoints over an in-memory network in virtual time move one honest
transfer while the mode's adversary works. Each seed draws a case (IPv4 or
IPv6, 1 to 3 subflows, DSS checksums on or off, transfers of a few bytes to
384 KiB each way, keys whose 32-bit DSNs wrap) and runs it in every chosen
mode; every case is checked against the oracles (no panic, no endless
transmit loop, no timer stuck in the past, closed connections freed, limits
kept; outside on-path mode also: the byte stream exact, the transfer
complete, no fallback or reset).

USAGE:
    campaign [--minutes M] [--mode MODES] [--start-seed S] [--cases N] [--jobs J]
    campaign --seed N [--mode MODES] [--trace]
    campaign --input FILE...

OPTIONS:
    --minutes M      Run for M minutes (fractions allowed; default 1).
    --mode MODES     all, or a comma-separated list of: impair, unknown-tuple,
                     off-path, flood, on-path (default all).
                       impair         drop, duplicate, reorder, delay, DSS
                                      re-encoded 32/64-bit (meaning kept)
                       unknown-tuple  segments on four-tuples nobody has
                       off-path       forgeries on the real four-tuples, sequence
                                      and ACK numbers 2^30 away, no valid timestamps
                       flood          SYN and MP_JOIN floods, joins with the real
                                      token from strangers
                       on-path        bit flips in honest segments (harm expected:
                                      only structural oracles)
    --seed N         Replay seed N only (in each chosen mode) and describe it.
    --trace          With --seed or --input: every segment delivered and every event, on stderr.
    --input FILE...  Run fuzzer inputs (the endpoint target's bytes, e.g. a
                     crash file or fuzz/corpus/endpoint/*) and describe each.
    --start-seed S   The first seed (default 0); seeds go up from it.
    --cases N        Stop after N seeds even if time remains.
    --jobs J         Threads running cases (default 1). Each case is
                     deterministic; only the order of the output lines varies.
    --progress SECS  A progress line on stderr every SECS seconds (default 60).
    -h, --help       This text.

OUTPUT:
    One line per finding as it is found:
        finding mode=off-path seed=123 oracle=byte-stream: <what happened>
    Replay it with --seed 123 --mode off-path. At the end, per mode:
        mode=off-path cases=.. segments=.. forged=.. findings=.. (oracle=count ..)
    Exit status 1 if anything was found, 2 on a usage error.
";

struct Args {
    minutes: f64,
    modes: Vec<Mode>,
    seed: Option<u64>,
    start: u64,
    cases: Option<u64>,
    jobs: usize,
    progress: u64,
    trace: bool,
    inputs: Vec<String>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        minutes: 1.0,
        modes: Mode::ALL.to_vec(),
        seed: None,
        start: 0,
        cases: None,
        jobs: 1,
        progress: 60,
        trace: false,
        inputs: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--trace" {
            a.trace = true;
            continue;
        }
        if flag == "--input" {
            a.inputs.extend(it.by_ref());
            continue;
        }
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |v: &str| format!("{flag}: bad value {v:?}");
        match flag.as_str() {
            "--minutes" => {
                let v = value()?;
                a.minutes = v.parse().map_err(|_| bad(&v))?;
            }
            "--mode" => {
                let v = value()?;
                a.modes = if v == "all" {
                    Mode::ALL.to_vec()
                } else {
                    v.split(',')
                        .map(|m| m.trim().parse::<Mode>().map_err(|e| e.to_string()))
                        .collect::<Result<_, _>>()?
                };
            }
            "--seed" => {
                let v = value()?;
                a.seed = Some(v.parse().map_err(|_| bad(&v))?);
            }
            "--start-seed" => {
                let v = value()?;
                a.start = v.parse().map_err(|_| bad(&v))?;
            }
            "--cases" => {
                let v = value()?;
                a.cases = Some(v.parse().map_err(|_| bad(&v))?);
            }
            "--jobs" => {
                let v = value()?;
                a.jobs = v.parse::<usize>().map_err(|_| bad(&v))?.max(1);
            }
            "--progress" => {
                let v = value()?;
                a.progress = v.parse::<u64>().map_err(|_| bad(&v))?.max(1);
            }
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    Ok(Some(a))
}

fn replay(seed: u64, modes: &[Mode], trace: bool) -> ExitCode {
    let mut found = false;
    for &mode in modes {
        let t = Instant::now();
        let r = run_seed_traced(mode, seed, trace);
        println!("case mode={mode} seed={seed}: {}", r.config);
        println!(
            "  {} segments, {} forged, {:.3} s virtual, {:.2} s real",
            r.segments,
            r.forged,
            r.elapsed.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        println!("  outcome: {}", r.outcome);
        for f in &r.findings {
            let note = if f.oracle.applies(mode) {
                ""
            } else {
                " (expected in on-path)"
            };
            println!("{f}{note}");
            found |= f.oracle.applies(mode);
        }
    }
    if found {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn inputs(files: &[String], trace: bool) -> ExitCode {
    let mut found = false;
    for file in files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("campaign: {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let r = run_bytes_traced(&data, trace);
        println!("input {file}: mode={} {}", r.mode, r.config);
        println!(
            "  {} segments, {} forged, {:.3} s virtual; outcome: {}",
            r.segments,
            r.forged,
            r.elapsed.as_secs_f64(),
            r.outcome
        );
        for f in r.defects() {
            println!("{f}");
            found = true;
        }
    }
    if found {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.inputs.is_empty() {
        return inputs(&args.inputs, args.trace);
    }
    quiet_panics();
    if let Some(seed) = args.seed {
        return replay(seed, &args.modes, args.trace);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    let next = AtomicU64::new(args.start);
    let end = args.cases.map(|n| args.start.saturating_add(n));
    let (tx, rx) = mpsc::channel();
    let mut tally = Tally::default();
    std::thread::scope(|s| {
        for _ in 0..args.jobs {
            let tx = tx.clone();
            let (next, modes) = (&next, &args.modes);
            s.spawn(move || {
                while Instant::now() < until {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if end.is_some_and(|e| seed >= e) {
                        break;
                    }
                    for &mode in modes {
                        if tx.send(run_seed(mode, seed)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut last = Instant::now();
        for report in rx {
            for f in report.defects() {
                println!("{f}");
            }
            tally.add(&report);
            if last.elapsed() >= Duration::from_secs(args.progress) {
                last = Instant::now();
                let cases: u64 = tally.modes.values().map(|t| t.cases).sum();
                let found = tally.findings().count();
                eprintln!(
                    "[{:.0} s] {cases} cases, {found} findings",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    });
    print!("{}", tally.summary());
    println!("elapsed {:.1} s", started.elapsed().as_secs_f64());
    if tally.findings().next().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
