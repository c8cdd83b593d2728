//! What the consumer framework needs from AWS, as small traits: where claim-check payloads are
//! (S3), and the idempotency store (DynamoDB). The AWS adapters live in `qpr-webhooks-aws`.

use std::collections::HashSet;
use std::future::Future;

use crate::contract::pointer::PayloadPointer;
use crate::receiver::ports::PortError;

pub trait PayloadSource: Send + Sync {
    /// The body a claim-check pointer names; `None` when its object does not exist.
    fn fetch(
        &self,
        pointer: &PayloadPointer,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// What a claim on an event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The event is now marked in progress by this consumer: run the handler.
    Claimed,
    /// Another delivery completed it: skip it.
    Completed,
    /// Another delivery is running it now: try again later.
    InProgress,
}

/// Records of which events a consumer has processed, keyed by `<namespace>#<event id>`.
/// Times are epoch seconds (`expires_at`) and epoch milliseconds (`in_progress_until`), as
/// Powertools for AWS Lambda stores them.
pub trait IdempotencyStore: Send + Sync {
    /// The keys among `keys` whose events are completed (in as few reads as the store allows).
    fn completed(
        &self,
        keys: &[String],
        now: i64,
    ) -> impl Future<Output = Result<HashSet<String>, PortError>> + Send;

    /// Marks `key` in progress until `in_progress_until` unless a live record exists: a
    /// completed one (unless `force`), or one in progress whose time has not run out.
    fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until: i64,
        expires_at: i64,
        force: bool,
    ) -> impl Future<Output = Result<Claim, PortError>> + Send;

    /// Marks `key` completed until `expires_at`.
    fn complete(
        &self,
        key: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Removes the in-progress mark, so that the next delivery runs the handler again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// For a consumer without a payload bucket.
#[derive(Debug, Clone, Copy)]
pub enum NoPayloads {}

impl PayloadSource for NoPayloads {
    async fn fetch(&self, _pointer: &PayloadPointer) -> Result<Option<String>, PortError> {
        match *self {}
    }
}

/// For a consumer without an idempotency store.
#[derive(Debug, Clone, Copy)]
pub enum NoIdempotency {}

impl IdempotencyStore for NoIdempotency {
    async fn completed(&self, _keys: &[String], _now: i64) -> Result<HashSet<String>, PortError> {
        match *self {}
    }
    async fn claim(
        &self,
        _key: &str,
        _now_ms: i64,
        _in_progress_until: i64,
        _expires_at: i64,
        _force: bool,
    ) -> Result<Claim, PortError> {
        match *self {}
    }
    async fn complete(&self, _key: &str, _expires_at: i64) -> Result<(), PortError> {
        match *self {}
    }
    async fn release(&self, _key: &str) -> Result<(), PortError> {
        match *self {}
    }
}
