//! The AWS side of 3QPR webhooks: one SDK configuration, thin adapters for the receiver's ports
//! (Secrets Manager, SQS, S3) and the consumers' (S3, DynamoDB), and the consumers' Lambda entry point. Every SDK failure becomes a
//! [`PortError`](qpr_webhooks::receiver::ports::PortError), answered with 503.

pub mod consumer;
pub mod dynamodb;
pub mod invocation;
pub mod s3;
pub mod sdk;
pub mod secrets;
pub mod sqs;

pub use dynamodb::DynamoDbIdempotency;
pub use s3::{S3Objects, S3Payloads};
pub use sdk::{https_client, sdk_config};
pub use secrets::SecretsManagerSource;
pub use sqs::SqsQueue;
