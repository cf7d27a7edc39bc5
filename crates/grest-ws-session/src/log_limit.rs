//! A process-wide budget for one kind of log line, so that what peers can provoke cannot flood the log.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lets at most `per_second` lines of one kind through per wall-clock second, across all connections; the lines
/// held back are counted and the next line that gets through reports how many (see [`LogLimit::admit`]). Meant for
/// a `static` at each warning a peer can trigger at will (a message for an unknown path, a dropped slow reader, a
/// refused connection):
///
/// ```
/// use grest_ws_session::LogLimit;
///
/// static UNKNOWN_PATH: LogLimit = LogLimit::new(10);
///
/// fn unknown_path(path: &str) {
///     match UNKNOWN_PATH.admit() {
///         Some(suppressed) => tracing::warn!(path, suppressed, "no handler for message"),
///         None => tracing::debug!(path, "no handler for message"),
///     }
/// }
/// # unknown_path("Chat.nope");
/// ```
#[derive(Debug)]
pub struct LogLimit {
    per_second: u32,
    /// The second (since the Unix epoch) that `used` counts for.
    second: AtomicU64,
    used: AtomicU32,
    suppressed: AtomicU64,
}

impl LogLimit {
    /// A budget of `per_second` lines per second.
    pub const fn new(per_second: u32) -> LogLimit {
        LogLimit {
            per_second,
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now — `n` lines were held back since the last one written — or `None`
    /// when this second's budget is spent (the line is counted as held back).
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// [`LogLimit::admit`] at wall-clock second `now`.
    fn admit_at(&self, now: u64) -> Option<u64> {
        let second = self.second.load(Ordering::Relaxed);
        if second != now
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_budget_then_counts_what_it_holds_back() {
        let limit = LogLimit::new(3);
        let first: Vec<Option<u64>> = (0..5).map(|_| limit.admit_at(100)).collect();
        assert_eq!(first, [Some(0), Some(0), Some(0), None, None]);
        // The next second's first line reports the two held back; the count starts again.
        assert_eq!(limit.admit_at(101), Some(2));
        assert_eq!(limit.admit_at(101), Some(0));
        assert_eq!(limit.admit_at(101), Some(0));
        assert_eq!(limit.admit_at(101), None);
        assert_eq!(limit.admit_at(105), Some(1));
    }
}
