//! What can go wrong once the arguments are parsed, as one line for a
//! person to read: `main` prints it as `mptcp: error: <line>`.

use std::fmt;
use std::io;

use umptcp_tun::StackError;

/// A failure of a command, already phrased for the user (one line, no
/// trailing period, saying what was being done and what went wrong).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CliError(String);

impl CliError {
    /// A failure described by `message`.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError(one_line(&message.into()))
    }

    /// A failed I/O operation: `doing` says what (e.g. "reading data.bin").
    pub(crate) fn io(doing: impl fmt::Display, error: &io::Error) -> Self {
        CliError::new(format!("{doing}: {}", describe_io(error)))
    }
}

impl From<StackError> for CliError {
    fn from(error: StackError) -> Self {
        CliError::new(strip_os_error(&error.to_string()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An I/O error as words: the system's message without the `(os error N)`
/// suffix, starting in lower case.
pub(crate) fn describe_io(error: &io::Error) -> String {
    let full = error.to_string();
    let text = strip_os_error(&full);
    let mut chars = text.chars();
    match chars.next() {
        // Lower-case only a capitalised word ("No such file"), not an
        // acronym ("TUN device").
        Some(first)
            if first.is_uppercase() && chars.clone().next().is_some_and(char::is_lowercase) =>
        {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// `text` without the ` (os error N)` that std appends to system errors:
/// the words say it already.
fn strip_os_error(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    }
}

/// `text` with its line breaks and runs of whitespace folded into single
/// spaces: every message this command prints is exactly one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_words() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(describe_io(&e), "no such file or directory");
        let e = io::Error::new(io::ErrorKind::TimedOut, "TUN device gone");
        assert_eq!(describe_io(&e), "TUN device gone");
        assert_eq!(
            CliError::io("reading /x", &io::Error::from_raw_os_error(13)).to_string(),
            "reading /x: permission denied"
        );
    }

    #[test]
    fn stack_errors_lose_the_errno_suffix() {
        let e = StackError::Pcap {
            path: "/x/y.pcap".into(),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            CliError::from(e).to_string(),
            "pcap file /x/y.pcap: No such file or directory"
        );
        let e = StackError::DeviceBusy {
            device: "tun0".into(),
        };
        assert_eq!(
            CliError::from(e).to_string(),
            "TUN device tun0 is busy: another program has it open"
        );
    }

    #[test]
    fn messages_are_folded_to_one_line() {
        assert_eq!(CliError::new("a\n  b\tc\n").to_string(), "a b c");
    }
}
