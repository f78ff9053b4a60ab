//! The five kinds of case: what the network and the attacker may do.

use std::fmt;
use std::str::FromStr;

/// What a case's network and attacker do besides carrying the honest
/// transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Meaning-preserving impairments only: drop, duplicate, reorder,
    /// delay, and honest DSS options re-encoded between their 4- and
    /// 8-octet forms. The transfer must still be exact and complete.
    Impair,
    /// Segments (any flags, payload and MPTCP option) on four-tuples no
    /// connection has. Nothing may change.
    UnknownTuple,
    /// Forged segments on the real four-tuples, with sequence and
    /// acknowledgment numbers far outside any window and no valid
    /// timestamps: what an attacker who knows only the four-tuple can send.
    /// Nothing may change.
    OffPath,
    /// SYN floods and MP_JOIN floods to the listener, joins carrying the
    /// real token from strangers, while the honest transfer runs. The
    /// honest connection must not notice.
    Flood,
    /// Bit flips in honest segments (sequence and acknowledgment numbers,
    /// flags, options, payload) with the TCP checksum recomputed: an
    /// on-path attacker. Harm is expected; only the structural oracles apply.
    OnPath,
}

impl Mode {
    /// Every mode, in the order the campaign runs them.
    pub const ALL: [Mode; 5] = [
        Mode::Impair,
        Mode::UnknownTuple,
        Mode::OffPath,
        Mode::Flood,
        Mode::OnPath,
    ];

    /// The name used on the command line and in finding lines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Impair => "impair",
            Mode::UnknownTuple => "unknown-tuple",
            Mode::OffPath => "off-path",
            Mode::Flood => "flood",
            Mode::OnPath => "on-path",
        }
    }

    /// Whether the honest transfer must come through exact and complete
    /// (every mode but on-path, where the attacker may corrupt it).
    pub fn honest(self) -> bool {
        self != Mode::OnPath
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mode name nobody knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
        write!(f, "unknown mode {:?} (known: {})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>(), Ok(mode));
        }
        assert!("sideways".parse::<Mode>().is_err());
    }
}
