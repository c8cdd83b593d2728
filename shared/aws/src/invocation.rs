//! What the Lambda runtime tells an invocation about its time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use tokio::time::Instant;

/// Lambda's longest timeout, for an invocation whose deadline is unknown.
const LONGEST_INVOCATION: Duration = Duration::from_secs(900);
/// 2001-09-09 in epoch milliseconds: a smaller deadline is no epoch time at all (cargo lambda's
/// emulator sends its timeout there), so the deadline is unknown.
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// When the invocation times out, on the monotonic clock.
pub fn deadline(context: &Context) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    let left = if context.deadline < PLAUSIBLE_EPOCH_MS {
        LONGEST_INVOCATION
    } else {
        Duration::from_millis(context.deadline.saturating_sub(now_ms))
    };
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(deadline: u64) -> Context {
        let mut context = Context::default();
        context.deadline = deadline;
        context
    }

    #[test]
    fn the_deadline_is_the_epoch_time_lambda_gives_on_the_monotonic_clock() {
        let now_ms = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        let left = deadline(&context(now_ms + 3000)) - Instant::now();
        assert!(
            left <= Duration::from_secs(3) && left > Duration::from_millis(2500),
            "{left:?}"
        );
        assert!(deadline(&context(now_ms - 5000)) <= Instant::now());
    }

    #[test]
    fn a_deadline_that_is_no_epoch_time_is_unknown() {
        for not_epoch in [0, 600_000] {
            let left = deadline(&context(not_epoch)) - Instant::now();
            assert!(left > Duration::from_secs(890), "{not_epoch}: {left:?}");
        }
    }
}
