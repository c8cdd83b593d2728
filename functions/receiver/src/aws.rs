//! Thin AWS adapters for the receiver's ports: Secrets Manager as the secret source, SQS as the
//! queue. Every SDK failure becomes a [`PortError`] (answered with 503).

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use shared::message::OutgoingMessage;
use shared::ports::{PortError, Queue, SecretSource};

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
fn describe<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
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

/// The signing secret in Secrets Manager: its AWSCURRENT version, and its AWSPREVIOUS one
/// while a rotation is under way.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> Self {
        Self { client, secret_id }
    }

    async fn version(&self, stage: &str) -> Result<Option<String>, PortError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(output) => output.secret_string.map(Some).ok_or_else(|| {
                PortError::new(
                    "GetSecretValue",
                    format!(
                        "{} {stage} has no SecretString: store the whsec_ value as plain text",
                        self.secret_id
                    ),
                )
            }),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(PortError::new(
                "GetSecretValue",
                format!("{} {stage}: {}", self.secret_id, describe(&error)),
            )),
        }
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<Vec<String>, PortError> {
        let (current, previous) =
            tokio::join!(self.version("AWSCURRENT"), self.version("AWSPREVIOUS"));
        let current = current?.ok_or_else(|| {
            PortError::new(
                "GetSecretValue",
                format!(
                    "{} not found: create it, or set WEBHOOK_SECRET_ID to its name or ARN",
                    self.secret_id
                ),
            )
        })?;
        Ok(std::iter::once(current).chain(previous?).collect())
    }
}

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }
}

impl Queue for SqsQueue {
    async fn max_message_size(&self, queue_url: &str) -> Result<usize, PortError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .send()
            .await
            .map_err(|error| PortError::new("GetQueueAttributes", describe(&error)))?;
        output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(&QueueAttributeName::MaximumMessageSize))
            .and_then(|size| size.parse().ok())
            .ok_or_else(|| {
                PortError::new("GetQueueAttributes", "no MaximumMessageSize in the answer")
            })
    }

    async fn send(&self, queue_url: &str, message: &OutgoingMessage<'_>) -> Result<(), PortError> {
        let mut attributes = HashMap::new();
        for (name, value) in message.attributes() {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|error| PortError::new("SendMessage", error.to_string()))?;
            attributes.insert(name.to_string(), value);
        }
        let fifo = message.fifo.as_ref();
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(message.body)
            .set_message_attributes(Some(attributes))
            .set_message_deduplication_id(fifo.map(|ids| ids.deduplication_id.clone()))
            .set_message_group_id(fifo.map(|ids| ids.group_id.clone()))
            .send()
            .await
            .map_err(|error| PortError::new("SendMessage", describe(&error)))?;
        Ok(())
    }
}
