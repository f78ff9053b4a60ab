//! Counts per mode over many cases, and the lines the campaign prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::case::CaseReport;
use crate::mode::Mode;
use crate::oracle::{Finding, Oracle};

/// One mode's totals.
#[derive(Clone, Debug, Default)]
pub struct ModeTally {
    /// Cases run.
    pub cases: u64,
    /// Segments the endpoints took.
    pub segments: u64,
    /// Forged or mutated segments.
    pub forged: u64,
    /// Defects found (for on-path, structural ones only).
    pub findings: Vec<Finding>,
    /// On-path findings that are expected harm, by oracle.
    pub expected: BTreeMap<Oracle, u64>,
}

/// Totals of a campaign.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Per mode, in [`Mode::ALL`] order.
    pub modes: BTreeMap<Mode, ModeTally>,
}

impl Tally {
    /// Count one case.
    pub fn add(&mut self, r: &CaseReport) {
        let t = self.modes.entry(r.mode).or_default();
        t.cases += 1;
        t.segments += r.segments;
        t.forged += r.forged;
        for f in &r.findings {
            if f.oracle.applies(f.mode) {
                t.findings.push(f.clone());
            } else {
                *t.expected.entry(f.oracle).or_default() += 1;
            }
        }
    }

    /// Defects in every mode.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.modes.values().flat_map(|t| t.findings.iter())
    }

    /// One summary line per mode, then findings per oracle:
    /// `mode=off-path cases=120 segments=... forged=... findings=3 (harm=2 byte-stream=1)`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (mode, t) in &self.modes {
            let mut by_oracle: BTreeMap<Oracle, u64> = BTreeMap::new();
            for f in &t.findings {
                *by_oracle.entry(f.oracle).or_default() += 1;
            }
            let _ = write!(
                s,
                "mode={mode} cases={} segments={} forged={} findings={}",
                t.cases,
                t.segments,
                t.forged,
                t.findings.len()
            );
            if !by_oracle.is_empty() {
                let parts: Vec<String> =
                    by_oracle.iter().map(|(o, n)| format!("{o}={n}")).collect();
                let _ = write!(s, " ({})", parts.join(" "));
            }
            if !t.expected.is_empty() {
                let parts: Vec<String> =
                    t.expected.iter().map(|(o, n)| format!("{o}={n}")).collect();
                let _ = write!(s, " expected-harm: {}", parts.join(" "));
            }
            s.push('\n');
        }
        s
    }
}
