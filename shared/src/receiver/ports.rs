//! The two things the receiver needs from the outside world, as small traits: the AWS adapters
//! implement them in the receiver function, tests implement them in memory.

use std::future::Future;

use crate::contract::message::OutgoingMessage;

/// A call to the outside failed, timed out or was throttled: transient from the sender's point
/// of view, so it is answered with 503 and retried by 3QPR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct PortError {
    pub operation: &'static str,
    pub detail: String,
}

impl PortError {
    pub fn new(operation: &'static str, detail: impl Into<String>) -> Self {
        Self {
            operation,
            detail: detail.into(),
        }
    }
}

pub trait SecretSource: Send + Sync {
    /// Every stored secret value that verifies now: the current one first, then the previous
    /// one while a rotation is under way.
    fn fetch(&self) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

pub trait Queue: Send + Sync {
    /// The queue's MaximumMessageSize in bytes; answering at all proves the queue exists.
    fn max_message_size(
        &self,
        queue_url: &str,
    ) -> impl Future<Output = Result<usize, PortError>> + Send;

    /// Sends one message; `Ok` only once SQS has accepted it.
    fn send(
        &self,
        queue_url: &str,
        message: &OutgoingMessage<'_>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The payload bucket (S3): the archive and the claim-check objects.
pub trait ObjectStore: Send + Sync {
    /// The bucket's name, for the pointers that name an object in it.
    fn bucket(&self) -> &str;

    /// Stores `body` under `key` with `metadata`; `Ok` only once the object is stored.
    fn put(
        &self,
        key: &str,
        body: &[u8],
        metadata: &[(&'static str, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// For a receiver without a payload bucket: there is nothing to store in.
#[derive(Debug, Clone, Copy)]
pub enum NoObjectStore {}

impl ObjectStore for NoObjectStore {
    fn bucket(&self) -> &str {
        match *self {}
    }

    async fn put(
        &self,
        _key: &str,
        _body: &[u8],
        _metadata: &[(&'static str, String)],
    ) -> Result<(), PortError> {
        match *self {}
    }
}
