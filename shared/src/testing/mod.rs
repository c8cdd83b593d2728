//! Test support for this crate and the crates built on it (feature `test-support`): fakes of
//! the receiver's ports, SQS records and fixtures as Lambda hands them over, and log capture.

#![allow(
    clippy::expect_used,
    reason = "test support: a broken fixture fails the test at once"
)]

pub mod fakes;
pub mod logs;
pub mod sqs;

pub use fakes::{
    IdempotencyRecord, MemoryIdempotency, MemoryObjects, MemoryPayloads, MemoryQueue,
    MemorySecrets, SentMessage, StoredObject,
};
pub use logs::CapturedLogs;
pub use sqs::{sqs_attribute, sqs_event, sqs_record};
