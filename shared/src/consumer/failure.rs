//! Why a record fails: the handler's own errors, and the framework's reasons, each with a
//! stable name that becomes the `Reason` dimension of the `FailedRecords` metric.

use crate::contract::envelope::EnvelopeError;

/// What a handler returns when it cannot process an event: any error converts into it with
/// `?`, and a message with `.into()`. The record is retried, then dead-lettered.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// The event is of a type this consumer does not handle: the route sends it to the wrong
/// queue, or 3QPR added a type to the family. Failing keeps it for an operator in the DLQ.
#[derive(Debug, thiserror::Error)]
#[error("no handler for event type {event_type}: left for the dead-letter queue")]
pub struct UnsupportedEvent {
    pub event_type: String,
}

impl UnsupportedEvent {
    pub fn new(event_type: &str) -> Self {
        Self {
            event_type: event_type.to_string(),
        }
    }
}

/// Why one record of a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordFailure {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    NotEnvelope(#[from] EnvelopeError),
    #[error("the record has no {0} attribute")]
    MissingAttribute(&'static str),
    #[error("its {name} attribute {attribute:?} differs from the body's {in_body:?}")]
    AttributeMismatch {
        name: &'static str,
        attribute: String,
        in_body: String,
    },
    #[error("data of {event_type} is not what 3QPR documents: {detail}")]
    UndocumentedData { event_type: String, detail: String },
    #[error("{0}")]
    Handler(HandlerError),
    #[error("event {0} already failed in this batch")]
    DuplicateOfFailed(String),
    #[error("an earlier record of its message group failed")]
    GroupStopped,
    #[error("a quarantined body, not an event: {0}")]
    Quarantined(String),
    #[error("the handler panicked: {0}")]
    Panicked(String),
    #[error("the handler did not finish before the invocation's deadline")]
    TimedOut,
    #[error("not processed: the invocation's deadline was near")]
    NotReached,
    #[error(transparent)]
    NotAPointer(#[from] crate::contract::pointer::NotAPointer),
    #[error("the claim-check object s3://{bucket}/{key} does not exist")]
    PayloadMissing { bucket: String, key: String },
    #[error("the claim-check object s3://{bucket}/{key} cannot be read: {detail}")]
    PayloadUnavailable {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("another delivery of this event is being processed now")]
    InProgress,
    #[error("the idempotency store cannot be used: {0}")]
    StoreUnavailable(String),
}

impl RecordFailure {
    /// A short, stable name for logs and the metric's `Reason` dimension.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoBody | Self::NotEnvelope(_) => "not_an_event",
            Self::MissingAttribute(_) | Self::AttributeMismatch { .. } => "attributes",
            Self::UndocumentedData { .. } => "undocumented_data",
            Self::Handler(_) => "handler",
            Self::DuplicateOfFailed(_) => "duplicate_of_failed",
            Self::GroupStopped => "group_stopped",
            Self::Quarantined(_) => "quarantined",
            Self::Panicked(_) => "panicked",
            Self::TimedOut | Self::NotReached => "deadline",
            Self::NotAPointer(_) | Self::PayloadMissing { .. } => "payload_missing",
            Self::PayloadUnavailable { .. } => "payload_unavailable",
            Self::InProgress => "in_progress",
            Self::StoreUnavailable(_) => "store_unavailable",
        }
    }
}
