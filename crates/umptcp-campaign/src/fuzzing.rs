//! The entry point shared by the cargo-fuzz target `endpoint` and the
//! corpus replay test, so that stable CI runs every committed seed through
//! exactly the code the fuzzer exercises.

use crate::run::run_bytes;

/// Run the case `data` describes (see [`run_bytes`]).
///
/// # Panics
///
/// When the stack panics (the panic goes through, for the fuzzer to see),
/// or when the case has a finding that is a defect in its mode.
pub fn endpoint(data: &[u8]) {
    let report = run_bytes(data);
    if let Some(finding) = report.defects().next() {
        panic!("{finding} [{}] [{}]", report.config, report.outcome);
    }
}
