//! One SDK configuration for every client of an instance, and for the tools and tests.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

const MAX_ATTEMPTS: u32 = 3;

/// One SDK configuration for the whole instance: one HTTPS client (rustls on ring), standard
/// retries, and `timeout` as the limit of a whole operation, retries included. Region,
/// credentials and `AWS_ENDPOINT_URL` come from the environment as usual.
pub async fn sdk_config(timeout: Duration) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(1)))
        .operation_attempt_timeout(timeout / 2)
        .operation_timeout(timeout)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// The one HTTPS client: hyper 1 with rustls on ring.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Says what went wrong without the request or response payloads (never the secret).
pub fn describe<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            "timed out connecting".to_string()
        }
        SdkError::DispatchFailure(_) => "could not reach the service".to_string(),
        SdkError::ServiceError(_) => format!(
            "{}: {}",
            error.code().unwrap_or("error"),
            error.message().unwrap_or("no message")
        ),
        _ => "unexpected response".to_string(),
    }
}
