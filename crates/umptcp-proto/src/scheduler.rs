//! Which subflow carries the next chunk of data: the [`Scheduler`] trait
//! and the built-in policies.
//!
//! The connection asks its scheduler each time it has data to hand to a
//! subflow (new bytes, or bytes to reinject after a subflow failed). It
//! lists every subflow that may carry data now, with what the scheduler
//! needs to judge it; the scheduler answers with one of them, or none to
//! wait (every window is full).

use std::fmt::Debug;
use std::time::Duration;

pub use crate::id::SubflowId;

/// What a scheduler sees of one subflow that can carry data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The subflow.
    pub id: SubflowId,
    /// Its smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Bytes its congestion window leaves for new data now (0: full).
    pub space: u64,
    /// A backup subflow (either side set the B flag or MP_PRIO): used only
    /// when no regular subflow is established (RFC 8684 §3.3.8).
    pub backup: bool,
}

/// A policy that spreads data over subflows. Object-safe: a connection
/// holds a `Box<dyn Scheduler>`, chosen by name or by value.
pub trait Scheduler: Debug + Send {
    /// The policy's name (as `--scheduler` takes it).
    fn name(&self) -> &'static str;

    /// The index in `candidates` of the subflow that takes the next chunk,
    /// or `None` to wait for room. `candidates` lists every established
    /// subflow able to carry data, full or not; never empty.
    fn pick(&mut self, candidates: &[Candidate]) -> Option<usize>;

    /// Whether each chunk also goes, whole, on every other subflow with
    /// room for it (for latency over lossy paths, at the cost of
    /// capacity). Default: no.
    fn redundant(&self) -> bool {
        false
    }
}

/// Candidates to consider: the regular subflows if any is established,
/// else the backups (backup semantics, as Linux's default scheduler).
fn preferred(candidates: &[Candidate]) -> impl Iterator<Item = (usize, &Candidate)> {
    let any_regular = candidates.iter().any(|c| !c.backup);
    candidates
        .iter()
        .enumerate()
        .filter(move |(_, c)| c.backup != any_regular)
}

/// The default: the subflow with the lowest smoothed RTT among those with
/// room in their window, regular before backup. A subflow without an RTT
/// sample yet counts as slowest, so it is used once the others are full.
#[derive(Clone, Debug, Default)]
pub struct MinRtt;

impl Scheduler for MinRtt {
    fn name(&self) -> &'static str {
        "minrtt"
    }

    fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        preferred(candidates)
            .filter(|(_, c)| c.space > 0)
            .min_by_key(|(_, c)| c.srtt.unwrap_or(Duration::MAX))
            .map(|(i, _)| i)
    }
}

/// Each chunk to the next subflow in turn that has room, regular before
/// backup.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    last: Option<SubflowId>,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        let with_room = || preferred(candidates).filter(|(_, c)| c.space > 0);
        // The first with an id after the last one served, else wrap around.
        let next = with_room()
            .filter(|(_, c)| self.last.is_none_or(|last| c.id > last))
            .min_by_key(|(_, c)| c.id)
            .or_else(|| with_room().min_by_key(|(_, c)| c.id))?;
        self.last = Some(next.1.id);
        Some(next.0)
    }
}

/// Every chunk on every subflow with room: the first chosen as `minrtt`
/// would, then a copy on each other one (regular before backup as
/// always). Trades capacity for the fastest delivery of each byte.
#[derive(Clone, Debug, Default)]
pub struct Redundant;

impl Scheduler for Redundant {
    fn name(&self) -> &'static str {
        "redundant"
    }

    fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        MinRtt.pick(candidates)
    }

    fn redundant(&self) -> bool {
        true
    }
}

/// A scheduler by name: `minrtt`, `roundrobin` or `redundant`.
pub fn by_name(name: &str) -> Option<Box<dyn Scheduler>> {
    match name {
        "minrtt" => Some(Box::new(MinRtt)),
        "roundrobin" => Some(Box::new(RoundRobin::default())),
        "redundant" => Some(Box::new(Redundant)),
        _ => None,
    }
}

/// The names [`by_name`] knows.
pub const BUILTIN: &[&str] = &["minrtt", "roundrobin", "redundant"];

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u32, srtt_ms: Option<u64>, space: u64, backup: bool) -> Candidate {
        Candidate {
            id: SubflowId(id),
            srtt: srtt_ms.map(Duration::from_millis),
            space,
            backup,
        }
    }

    #[test]
    fn minrtt_takes_the_fastest_with_room() {
        let mut s = MinRtt;
        let list = [c(0, Some(50), 1000, false), c(1, Some(10), 1000, false)];
        assert_eq!(s.pick(&list), Some(1));
        let list = [c(0, Some(50), 1000, false), c(1, Some(10), 0, false)];
        assert_eq!(s.pick(&list), Some(0));
        let list = [c(0, Some(50), 0, false), c(1, Some(10), 0, false)];
        assert_eq!(s.pick(&list), None);
        // No sample yet: after the measured ones.
        let list = [c(0, None, 1000, false), c(1, Some(80), 1000, false)];
        assert_eq!(s.pick(&list), Some(1));
    }

    #[test]
    fn backup_only_without_a_regular_subflow() {
        let mut s = MinRtt;
        // The regular subflow is full: wait for it, do not spill onto the
        // backup.
        let list = [c(0, Some(50), 0, false), c(1, Some(10), 1000, true)];
        assert_eq!(s.pick(&list), None);
        let list = [c(1, Some(10), 1000, true)];
        assert_eq!(s.pick(&list), Some(0));
        let mut r = RoundRobin::default();
        let list = [c(0, Some(50), 10, false), c(1, Some(10), 1000, true)];
        assert_eq!(r.pick(&list), Some(0));
        assert_eq!(r.pick(&list), Some(0));
    }

    #[test]
    fn roundrobin_rotates_over_subflows_with_room() {
        let mut s = RoundRobin::default();
        let list = [
            c(0, Some(5), 100, false),
            c(3, Some(5), 100, false),
            c(7, Some(5), 100, false),
        ];
        let picks: Vec<_> = (0..5).map(|_| s.pick(&list).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1]);
        let list = [
            c(0, Some(5), 100, false),
            c(3, Some(5), 0, false),
            c(7, Some(5), 100, false),
        ];
        assert_eq!(s.pick(&list), Some(2));
        assert_eq!(s.pick(&list), Some(0));
    }

    #[test]
    fn by_name_knows_the_builtins() {
        for name in BUILTIN {
            assert_eq!(by_name(name).unwrap().name(), *name);
        }
        assert!(by_name("nope").is_none());
    }
}
