//! The receiver's configuration, read from its environment once at start-up.

use std::time::Duration;

use crate::receiver::routing::{Routes, RoutesError};
use crate::settings::{whole_number, BadNumber};

pub const SECRET_ID_VAR: &str = "WEBHOOK_SECRET_ID";
pub const ROUTES_VAR: &str = "EVENT_ROUTES";
pub const AWS_TIMEOUT_VAR: &str = "AWS_CALL_TIMEOUT_MS";
pub const RETRY_AFTER_VAR: &str = "RETRY_AFTER_SECONDS";
pub const REFETCH_INTERVAL_VAR: &str = "SECRET_REFETCH_INTERVAL_SECONDS";
pub const REFRESH_INTERVAL_VAR: &str = "SECRET_REFRESH_SECONDS";
pub const PAYLOAD_BUCKET_VAR: &str = "PAYLOAD_BUCKET";
pub const ARCHIVE_VAR: &str = "ARCHIVE_ENABLED";
/// The function's own timeout, as the template sets it; checked against the call timeout.
pub const FUNCTION_TIMEOUT_VAR: &str = "FUNCTION_TIMEOUT_SECONDS";
/// Read by the AWS SDK itself; checked here because the SDK panics on an empty value.
pub const ENDPOINT_URL_VAR: &str = "AWS_ENDPOINT_URL";

/// A request makes at most two rounds of AWS calls one after the other (reading the secret or
/// the queues, then storing the message), each limited to this, so with the template's 10 s
/// function timeout a slow AWS call becomes a 503 the sender retries, never a timeout.
const DEFAULT_AWS_TIMEOUT: Duration = Duration::from_millis(3000);
const DEFAULT_RETRY_AFTER_SECONDS: u64 = 5;
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Rounds of AWS calls a request can make one after the other.
const SEQUENTIAL_CALLS: u32 = 2;
/// Time kept at the end of each invocation to hand the answer back.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error(transparent)]
    Routes(#[from] RoutesError),
    #[error("{var} is set but empty: unset it (it only points the SDK at a local emulator)")]
    EmptyEndpoint { var: &'static str },
    #[error(transparent)]
    BadNumber(#[from] BadNumber),
    #[error("{var}={value:?} is neither true nor false")]
    BadFlag { var: &'static str, value: String },
    #[error("{ARCHIVE_VAR}=true needs {PAYLOAD_BUCKET_VAR}: the archive is kept in that bucket")]
    ArchiveWithoutBucket,
    #[error("{AWS_TIMEOUT_VAR}={call_ms} cannot fit the function's {function_seconds} s timeout ({FUNCTION_TIMEOUT_VAR}): a request makes two rounds of AWS calls and keeps {margin_ms} ms to answer, so lower {AWS_TIMEOUT_VAR} to at most {fits_ms} or raise the timeout", margin_ms = ANSWER_MARGIN.as_millis())]
    CallTimeoutTooLong {
        call_ms: u128,
        function_seconds: u64,
        fits_ms: u128,
    },
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub secret_id: String,
    pub routes: Routes,
    /// Limit for one AWS operation, retries included.
    pub aws_timeout: Duration,
    pub retry_after_seconds: u64,
    pub secret_refetch_interval: Duration,
    pub secret_refresh_interval: Duration,
    /// The S3 bucket of claim-check objects and the archive; none: bodies too large for their
    /// queue get 413, and nothing is archived.
    pub payload_bucket: Option<String>,
    /// Every verified body is archived in the payload bucket before the 2xx.
    pub archive: bool,
}

impl ReceiverConfig {
    /// Reads the configuration through `var` (the process environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if var(ENDPOINT_URL_VAR).is_some_and(|url| url.trim().is_empty()) {
            return Err(ConfigError::EmptyEndpoint {
                var: ENDPOINT_URL_VAR,
            });
        }
        let secret_id = var(SECRET_ID_VAR)
            .filter(|id| !id.trim().is_empty())
            .ok_or(ConfigError::Missing {
                var: SECRET_ID_VAR,
                hint: "set it to the name or ARN of the Secrets Manager secret holding 3QPR's whsec_ signing secret",
            })?;
        let routes = var(ROUTES_VAR).ok_or(ConfigError::Missing {
            var: ROUTES_VAR,
            hint: r#"set it to a JSON object of event type to SQS queue URL, e.g. {"scan.*":"https://sqs...","*":"https://sqs..."}"#,
        })?;
        let number = |name: &'static str, expected: &'static str, min: u64, max: u64| {
            whole_number(&var, name, expected, min..=max)
        };
        let aws_timeout = number(
            AWS_TIMEOUT_VAR,
            "of milliseconds from 100 to 25000",
            100,
            25_000,
        )?
        .map_or(DEFAULT_AWS_TIMEOUT, Duration::from_millis);
        if let Some(function_seconds) =
            number(FUNCTION_TIMEOUT_VAR, "of seconds from 1 to 900", 1, 900)?
        {
            let available = Duration::from_secs(function_seconds).saturating_sub(ANSWER_MARGIN);
            if aws_timeout * SEQUENTIAL_CALLS > available {
                return Err(ConfigError::CallTimeoutTooLong {
                    call_ms: aws_timeout.as_millis(),
                    function_seconds,
                    fits_ms: (available / SEQUENTIAL_CALLS).as_millis(),
                });
            }
        }
        let payload_bucket = var(PAYLOAD_BUCKET_VAR)
            .map(|bucket| bucket.trim().to_string())
            .filter(|bucket| !bucket.is_empty());
        let archive = match var(ARCHIVE_VAR).map(|value| value.trim().to_ascii_lowercase()) {
            None => payload_bucket.is_some(),
            Some(value) if value == "true" => true,
            Some(value) if value == "false" => false,
            Some(value) => {
                return Err(ConfigError::BadFlag {
                    var: ARCHIVE_VAR,
                    value,
                })
            }
        };
        if archive && payload_bucket.is_none() {
            return Err(ConfigError::ArchiveWithoutBucket);
        }
        Ok(Self {
            payload_bucket,
            archive,
            secret_id: secret_id.trim().to_string(),
            routes: Routes::parse(&routes)?,
            aws_timeout,
            retry_after_seconds: number(RETRY_AFTER_VAR, "of seconds from 1 to 3600", 1, 3600)?
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
            secret_refetch_interval: number(
                REFETCH_INTERVAL_VAR,
                "of seconds from 1 to 86400",
                1,
                86_400,
            )?
            .map_or(DEFAULT_REFETCH_INTERVAL, Duration::from_secs),
            secret_refresh_interval: number(
                REFRESH_INTERVAL_VAR,
                "of seconds from 1 to 86400",
                1,
                86_400,
            )?
            .map_or(DEFAULT_REFRESH_INTERVAL, Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ROUTES: &str = r#"{"*":"https://sqs.eu-west-1.amazonaws.com/123456789012/unrouted"}"#;

    fn config(vars: &[(&str, &str)]) -> Result<ReceiverConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ReceiverConfig::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn the_two_required_variables_are_enough() {
        let config = config(&[(SECRET_ID_VAR, "3qpr/webhook"), (ROUTES_VAR, ROUTES)]).unwrap();
        assert_eq!(config.secret_id, "3qpr/webhook");
        assert_eq!(config.aws_timeout, Duration::from_secs(3));
        assert_eq!(config.retry_after_seconds, 5);
        assert_eq!(config.secret_refetch_interval, Duration::from_secs(60));
        assert_eq!(config.secret_refresh_interval, Duration::from_secs(300));
    }

    #[test]
    fn knobs_override_the_defaults() {
        let config = config(&[
            (SECRET_ID_VAR, "s"),
            (ROUTES_VAR, ROUTES),
            (AWS_TIMEOUT_VAR, "1500"),
            (RETRY_AFTER_VAR, "30"),
            (REFETCH_INTERVAL_VAR, "120"),
            (REFRESH_INTERVAL_VAR, "900"),
            (FUNCTION_TIMEOUT_VAR, "10"),
        ])
        .unwrap();
        assert_eq!(config.secret_refresh_interval, Duration::from_secs(900));
        assert_eq!(config.aws_timeout, Duration::from_millis(1500));
        assert_eq!(config.retry_after_seconds, 30);
        assert_eq!(config.secret_refetch_interval, Duration::from_secs(120));
    }

    #[test]
    fn missing_variables_say_what_to_set() {
        let error = config(&[(ROUTES_VAR, ROUTES)]).unwrap_err().to_string();
        assert!(error.starts_with("WEBHOOK_SECRET_ID is not set"), "{error}");
        let error = config(&[(SECRET_ID_VAR, " "), (ROUTES_VAR, ROUTES)]).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Missing {
                var: SECRET_ID_VAR,
                ..
            }
        ));
        let error = config(&[(SECRET_ID_VAR, "s")]).unwrap_err().to_string();
        assert!(error.starts_with("EVENT_ROUTES is not set"), "{error}");
    }

    #[test]
    fn an_empty_endpoint_override_is_refused_instead_of_crashing_the_sdk() {
        let error = config(&[
            (SECRET_ID_VAR, "s"),
            (ROUTES_VAR, ROUTES),
            (ENDPOINT_URL_VAR, ""),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            ConfigError::EmptyEndpoint {
                var: ENDPOINT_URL_VAR
            }
        );
        assert!(config(&[
            (SECRET_ID_VAR, "s"),
            (ROUTES_VAR, ROUTES),
            (ENDPOINT_URL_VAR, "http://127.0.0.1:5000"),
        ])
        .is_ok());
    }

    #[test]
    fn bad_routes_and_numbers_are_refused_by_name() {
        let error = config(&[(SECRET_ID_VAR, "s"), (ROUTES_VAR, "{}")]).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Routes(RoutesError::NoCatchAll)
        ));
        for (var, value) in [
            (AWS_TIMEOUT_VAR, "fast"),
            (AWS_TIMEOUT_VAR, "60000"),
            (RETRY_AFTER_VAR, "0"),
            (REFETCH_INTERVAL_VAR, "-1"),
            (REFRESH_INTERVAL_VAR, "0"),
            (FUNCTION_TIMEOUT_VAR, "ten"),
        ] {
            let error = config(&[(SECRET_ID_VAR, "s"), (ROUTES_VAR, ROUTES), (var, value)])
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(var), "{error}");
        }
    }

    #[test]
    fn a_call_timeout_that_cannot_fit_the_function_timeout_is_refused() {
        let error = config(&[
            (SECRET_ID_VAR, "s"),
            (ROUTES_VAR, ROUTES),
            (AWS_TIMEOUT_VAR, "5000"),
            (FUNCTION_TIMEOUT_VAR, "10"),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            ConfigError::CallTimeoutTooLong {
                call_ms: 5000,
                function_seconds: 10,
                fits_ms: 4750
            }
        );
        assert!(error.to_string().contains("at most 4750"), "{error}");
        assert!(config(&[
            (SECRET_ID_VAR, "s"),
            (ROUTES_VAR, ROUTES),
            (AWS_TIMEOUT_VAR, "4750"),
            (FUNCTION_TIMEOUT_VAR, "10"),
        ])
        .is_ok());
    }

    #[test]
    fn the_archive_is_on_by_default_with_a_bucket_and_needs_one() {
        let base = [(SECRET_ID_VAR, "s"), (ROUTES_VAR, ROUTES)];
        let none = config(&base).unwrap();
        assert_eq!((none.payload_bucket, none.archive), (None, false));
        let with = config(&[base[0], base[1], (PAYLOAD_BUCKET_VAR, "payloads")]).unwrap();
        assert_eq!(
            (with.payload_bucket.as_deref(), with.archive),
            (Some("payloads"), true)
        );
        let off = config(&[
            base[0],
            base[1],
            (PAYLOAD_BUCKET_VAR, "payloads"),
            (ARCHIVE_VAR, "false"),
        ])
        .unwrap();
        assert!(!off.archive);
        assert_eq!(
            config(&[base[0], base[1], (ARCHIVE_VAR, "true")]).unwrap_err(),
            ConfigError::ArchiveWithoutBucket
        );
        assert!(matches!(
            config(&[
                base[0],
                base[1],
                (PAYLOAD_BUCKET_VAR, "p"),
                (ARCHIVE_VAR, "yes")
            ]),
            Err(ConfigError::BadFlag { .. })
        ));
    }
}
