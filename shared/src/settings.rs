//! Settings read through an injectable `var` (the process environment in production), with
//! one rule for bounded whole numbers that the receiver's and the consumers' configuration
//! share: set but unusable is an error naming the variable, never a silent default.

use std::ops::RangeInclusive;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?} is not a whole number {expected}")]
pub struct BadNumber {
    pub var: &'static str,
    pub value: String,
    /// What it must be, e.g. "of seconds from 1 to 3600".
    pub expected: &'static str,
}

/// `name`'s value as a whole number in `range` (surrounding whitespace ignored); `None` when
/// unset.
pub fn whole_number(
    var: impl Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
    range: RangeInclusive<u64>,
) -> Result<Option<u64>, BadNumber> {
    var(name)
        .map(|value| match value.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(BadNumber {
                var: name,
                value,
                expected,
            }),
        })
        .transpose()
}
