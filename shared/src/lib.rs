//! The logic of the 3QPR webhook receiver and its consumers, free of the Lambda runtime and the
//! AWS SDK: the signature scheme, the envelope and typed events, routing, the queue message, the
//! request handler over two small ports (a secret source and a queue), and the consumer side
//! (SQS batches in, partial batch failures out; only the SQS event's data types are used).

pub mod activity;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod handler;
pub mod keys;
pub mod message;
pub mod ports;
pub mod rejection;
pub mod routing;
pub mod signature;

#[cfg(any(test, feature = "test-support"))]
pub mod memory;
