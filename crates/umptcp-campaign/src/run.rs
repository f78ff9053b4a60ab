//! From a seed or a fuzzer's bytes to a case, and panics caught as findings.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

use crate::case::{Case, CaseReport, Sources};
use crate::config::{CaseConfig, Scale};
use crate::entropy::Entropy;
use crate::mode::Mode;
use crate::oracle::{Finding, Oracle};

/// Bytes of a fuzzer's input that choose the configuration (after the mode
/// byte); the rest drive the attacker.
pub const CONFIG_BYTES: usize = 32;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replace the panic hook with one that prints nothing and keeps the
/// message and location for [`run_seed`]'s finding (a campaign prints its
/// own lines, and a panicking case is one finding among thousands).
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// The case of `mode` from `seed`, its configuration drawn at full scale.
pub fn case_of_seed(mode: Mode, seed: u64) -> Case {
    let mut e = Entropy::seeded(seed, 0);
    let config = CaseConfig::draw(&mut e, Scale::FULL, mode == Mode::Impair);
    let sources = Sources {
        network: Entropy::seeded(seed, 1),
        attack: Entropy::seeded(seed, 2),
        endpoints: (seed ^ 0x0c11_e47a, seed ^ 0x05e2_7e2b),
    };
    Case::new(mode, seed, config, sources)
}

/// Run the case of `mode` from `seed`; a panic is a finding.
pub fn run_seed(mode: Mode, seed: u64) -> CaseReport {
    run_seed_traced(mode, seed, false)
}

/// [`run_seed`], printing every segment and event to stderr if `trace`.
pub fn run_seed_traced(mode: Mode, seed: u64, trace: bool) -> CaseReport {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut case = case_of_seed(mode, seed);
        case.set_trace(trace);
        case.run()
    }));
    match outcome {
        Ok(report) => report,
        Err(payload) => {
            let hooked = LAST_PANIC.with(|p| p.borrow_mut().take());
            let msg = hooked.unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".into())
            });
            CaseReport {
                mode,
                seed,
                config: String::new(),
                findings: vec![Finding {
                    mode,
                    seed,
                    oracle: Oracle::Panic,
                    detail: msg,
                }],
                segments: 0,
                forged: 0,
                elapsed: Default::default(),
                outcome: "panicked".into(),
            }
        }
    }
}

/// FNV-1a: a seed from bytes.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The case a fuzzer's input describes: byte 0 the mode, the next
/// [`CONFIG_BYTES`] the configuration (small transfers) and, hashed, the
/// seed of the network and the endpoints; every later byte drives the
/// attacker or mutator, which stops when they run out. Panics go through.
pub fn run_bytes(data: &[u8]) -> CaseReport {
    run_bytes_traced(data, false)
}

/// [`run_bytes`], printing every segment and event to stderr if `trace`.
pub fn run_bytes_traced(data: &[u8], trace: bool) -> CaseReport {
    let mode = Mode::ALL[usize::from(data.first().copied().unwrap_or(0)) % Mode::ALL.len()];
    let split = data.len().min(1 + CONFIG_BYTES);
    let head = &data[..split];
    let seed = hash(head);
    let mut e = Entropy::bytes(data.get(1..split).unwrap_or(&[]));
    let config = CaseConfig::draw(&mut e, Scale::FUZZ, mode == Mode::Impair);
    let sources = Sources {
        network: Entropy::seeded(seed, 1),
        attack: Entropy::bytes(&data[split..]),
        endpoints: (seed ^ 0x0c11_e47a, seed ^ 0x05e2_7e2b),
    };
    let mut case = Case::new(mode, seed, config, sources);
    case.set_trace(trace);
    case.run()
}
