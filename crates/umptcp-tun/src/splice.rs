//! [`Splice`]: two connections of one stack joined by the stack thread,
//! each one's received bytes sent on the other, without a trip through
//! the application ([`Stack::splice`](crate::Stack::splice)).

use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// What a splice moved: bytes from the first stream to the second, and
/// from the second to the first.
pub type Spliced = (u64, u64);

/// The outcome of a splice, written by the stack thread.
#[derive(Debug, Default)]
pub(crate) struct SpliceState {
    outcome: Mutex<Option<Result<Spliced, (io::ErrorKind, String)>>>,
    done: Condvar,
}

impl SpliceState {
    /// The splice ended (both directions half-closed across, or failed).
    pub(crate) fn finish(&self, outcome: Result<Spliced, (io::ErrorKind, String)>) {
        let mut slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(outcome);
        }
        self.done.notify_all();
    }
}

/// A splice in progress; see [`Stack::splice`](crate::Stack::splice).
/// Dropping it leaves the splice running to its end.
#[derive(Debug)]
pub struct Splice {
    pub(crate) state: Arc<SpliceState>,
}

impl Splice {
    /// Wait until both directions have ended: each stream's peer closed
    /// its side and everything before was handed to the other stream,
    /// which was then shut down for writing. The bytes each way.
    ///
    /// # Errors
    ///
    /// The error of the connection that failed (a reset, a timeout); the
    /// other one is then reset too.
    pub fn wait(&self) -> io::Result<Spliced> {
        self.wait_inner(None)
            .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::TimedOut)))
    }

    /// As [`Splice::wait`], for at most `timeout`: `None` if it passed.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<io::Result<Spliced>> {
        self.wait_inner(Some(timeout))
    }

    fn wait_inner(&self, timeout: Option<Duration>) -> Option<io::Result<Spliced>> {
        let mut outcome = self
            .state
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        #[allow(clippy::disallowed_methods)] // the driver's handles wait in real time
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if let Some(result) = outcome.as_ref() {
                return Some(
                    result
                        .clone()
                        .map_err(|(kind, msg)| io::Error::new(kind, msg)),
                );
            }
            outcome = match deadline {
                None => self
                    .state
                    .done
                    .wait(outcome)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    #[allow(clippy::disallowed_methods)]
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.state
                        .done
                        .wait_timeout(outcome, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}
