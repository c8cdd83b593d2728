//! The consumers' settings that have rules of their own, read from the environment once at
//! start-up: a value that is set but unusable stops the function with a message saying why,
//! as the receiver's configuration does, never a silent default.

use std::time::Duration;

use crate::settings::{whole_number, BadNumber};

/// How long a completed event skips its deliveries, in seconds.
pub const IDEMPOTENCY_TTL_VAR: &str = "IDEMPOTENCY_TTL_SECONDS";
/// Longer than 3QPR's retries of one delivery.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Ten years: the expiry is computed from the clock, and must stay a time the clock can hold.
const MAX_IDEMPOTENCY_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;
const IDEMPOTENCY_TTL_EXPECTED: &str = "of seconds from 1 to 315360000 (ten years)";

/// `IDEMPOTENCY_TTL_SECONDS` read through `var`: [`DEFAULT_IDEMPOTENCY_TTL`] when unset.
pub fn idempotency_ttl(var: impl Fn(&str) -> Option<String>) -> Result<Duration, BadNumber> {
    Ok(whole_number(
        var,
        IDEMPOTENCY_TTL_VAR,
        IDEMPOTENCY_TTL_EXPECTED,
        1..=MAX_IDEMPOTENCY_TTL_SECONDS,
    )?
    .map_or(DEFAULT_IDEMPOTENCY_TTL, Duration::from_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl_from(value: Option<&str>) -> Result<Duration, BadNumber> {
        idempotency_ttl(|name| {
            assert_eq!(name, IDEMPOTENCY_TTL_VAR);
            value.map(str::to_string)
        })
    }

    #[test]
    fn unset_the_ttl_is_seven_days() {
        assert_eq!(ttl_from(None), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn a_whole_number_of_seconds_is_the_ttl() {
        assert_eq!(ttl_from(Some("3600")), Ok(Duration::from_secs(3600)));
        assert_eq!(ttl_from(Some(" 86400\n")), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn a_value_that_is_not_a_usable_number_is_an_error_naming_it() {
        for bad in [
            "7d",
            "-1",
            "0",
            "1.5",
            "",
            "315360001",
            "99999999999999999999",
        ] {
            let error = ttl_from(Some(bad)).unwrap_err();
            assert_eq!(
                error,
                BadNumber {
                    var: IDEMPOTENCY_TTL_VAR,
                    value: bad.to_string(),
                    expected: IDEMPOTENCY_TTL_EXPECTED,
                }
            );
            let message = error.to_string();
            assert!(message.contains("IDEMPOTENCY_TTL_SECONDS"), "{message}");
        }
    }
}
