//! 3QPR webhooks on AWS, the logic free of the Lambda runtime and the AWS SDK, in three parts:
//!
//! - [`contract`]: what 3QPR sends (the signature scheme, the envelope and its typed events) and
//!   what the receiver hands the consumers (the queue message and its attributes);
//! - [`receiver`]: the webhook handler over two small ports (a secret source and a queue), its
//!   configuration, routing, secret cache, and the one place failures become answers;
//! - [`consumer`]: the consumer framework: SQS batches in, typed events to a handler, partial
//!   batch failures and metrics out.
//!
//! The AWS adapters for the ports and the Lambda entry points live in `qpr-webhooks-aws`.

pub mod consumer;
pub mod contract;
pub mod receiver;
pub mod settings;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;
