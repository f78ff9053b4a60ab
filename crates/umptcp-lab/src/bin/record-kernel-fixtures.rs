//! Record the kernel MPTCP fixtures: `tests/fixtures/kernel/*.pcap`.
//!
//! Runs two kernel-to-kernel MPTCP sessions over the lab's two bridged paths
//! (see the `umptcp_lab` crate docs), one without and one with DSS checksums,
//! and writes each as a pcap file of raw IP packets. Needs root.
//!
//! Usage: `cargo run -p umptcp-lab --bin record-kernel-fixtures [OUT_DIR]`
//! (default: the workspace's `tests/fixtures/kernel`).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use umptcp_lab::{CaptureConfig, capture_kernel_session, lab_available};

fn main() -> ExitCode {
    let out_dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kernel"),
        PathBuf::from,
    );
    let lab = match lab_available() {
        Ok(lab) => lab,
        Err(reason) => {
            eprintln!("record-kernel-fixtures: the lab is not available: {reason}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("record-kernel-fixtures: {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    for (file, checksum) in [
        ("mptcp-v1-two-paths.pcap", false),
        ("mptcp-v1-two-paths-checksum.pcap", true),
    ] {
        let capture = match capture_kernel_session(&lab, &CaptureConfig::with_checksum(checksum)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("record-kernel-fixtures: capture for {file} failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let path = out_dir.join(file);
        let written = File::create(&path).and_then(|f| capture.write_pcap(BufWriter::new(f)));
        if let Err(e) = written {
            eprintln!("record-kernel-fixtures: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!(
            "{}: {} packets (overflow {}), client tokens {:?}, server tokens {:?}",
            path.display(),
            capture.packets.len(),
            capture.overflow,
            capture.cli_tokens,
            capture.srv_tokens,
        );
        println!(
            "--- ss -Mnia (cli)\n{}--- ss -Mnia (srv)\n{}",
            capture.cli_ss, capture.srv_ss
        );
    }
    ExitCode::SUCCESS
}
