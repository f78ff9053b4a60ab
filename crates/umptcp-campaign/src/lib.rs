//! A hostile-input campaign against [`umptcp_proto::Endpoint`].
//!
//! Two endpoints, a client and a server, are joined by an in-memory network
//! in virtual time ([`network`]); one honest connection moves data between
//! them while the mode's adversary works ([`mode`]): a network that only
//! impairs ([`impair`]), an attacker off the path ([`attack`], with
//! segments from [`forge`]), or one on it ([`mutate`]). Everything follows
//! from a seed (or a fuzzer's bytes, [`entropy`]): the configuration
//! ([`config`]: IPv4 or IPv6, one to three subflows, DSS checksums, sizes,
//! keys whose 32-bit DSNs wrap, [`keys`]), the network and the attacker.
//!
//! Each case is checked against the [`oracle`]s: no panic, no endless
//! transmit loop, no timer stuck in the past, closed connections freed,
//! limits kept; and wherever the attacker is off-path or the network only
//! impairs, the byte stream exact, the transfer complete within bounded
//! virtual time, and no fallback or reset. [`run`] makes cases from seeds
//! or bytes, [`report`] counts them; the `campaign` binary runs them for
//! minutes, `tests/` replays fixed seeds and the fuzz corpus, and
//! `fuzz/fuzz_targets/endpoint.rs` feeds [`fuzzing::endpoint`].
//!
//! ```text
//! cargo test -p umptcp-campaign                    # fixed seeds per mode, and the fuzz corpus
//! cargo run --profile campaign -p umptcp-campaign -- --minutes 30 --mode all
//! cargo run --profile campaign -p umptcp-campaign -- --seed 44 --mode off-path --trace
//! cd fuzz && cargo +nightly fuzz run endpoint     # bytes -> a case
//! ```
//!
//! Finding lines are stable: `finding mode=M seed=N oracle=O: what happened`.

pub mod app;
pub mod attack;
pub mod case;
pub mod config;
pub mod entropy;
pub mod forge;
pub mod fuzzing;
pub mod impair;
pub mod keys;
pub mod mode;
pub mod mutate;
pub mod network;
pub mod observe;
pub mod oracle;
pub mod report;
pub mod run;
pub mod wire;

pub use case::{Case, CaseReport};
pub use config::CaseConfig;
pub use mode::Mode;
pub use oracle::{Finding, Oracle};
pub use report::Tally;
pub use run::{quiet_panics, run_bytes, run_bytes_traced, run_seed, run_seed_traced};
