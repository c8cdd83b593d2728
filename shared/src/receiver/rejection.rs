//! Every way a webhook request can fail, and the one place that maps each to its answer.

use http::StatusCode;

use crate::contract::signature::HeaderError;
use crate::receiver::keys::KeysError;
use crate::receiver::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("method {0} not allowed")]
    MethodNotAllowed(http::Method),
    #[error("the body is marked base64 but is not valid base64")]
    UndecodableBody,
    #[error("the event is not an API Gateway or function URL request")]
    UnsupportedEvent,
    #[error("body of {size} bytes is larger than the {limit} bytes the queue accepts")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid signature: {0}")]
    BadSignatureHeader(#[from] HeaderError),
    #[error("signature: {0}")]
    Keys(#[from] KeysError),
    #[error("queues not loaded: {0}")]
    QueuesUnavailable(PortError),
    #[error("queue unavailable: {0}")]
    QueueUnavailable(PortError),
    #[error("archive unavailable: {0}")]
    ArchiveUnavailable(PortError),
    /// The S3 object behind a claim-check pointer could not be stored (nothing was queued).
    #[error("claim-check object not stored: {0}")]
    ClaimCheckUnavailable(PortError),
    #[error("the invocation ran out of time before {0} answered")]
    Deadline(&'static str),
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UndecodableBody | Self::UnsupportedEvent | Self::BadSignatureHeader(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Keys(KeysError::Mismatch) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Keys(_)
            | Self::QueuesUnavailable(_)
            | Self::QueueUnavailable(_)
            | Self::ArchiveUnavailable(_)
            | Self::ClaimCheckUnavailable(_)
            | Self::Deadline(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short, stable name for logs, metrics and alarms.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::UndecodableBody | Self::UnsupportedEvent => "bad_request",
            Self::TooLarge { .. } => "too_large",
            Self::BadSignatureHeader(_) | Self::Keys(KeysError::Mismatch) => "invalid_signature",
            Self::Keys(KeysError::Unconfirmed(_)) => "signature_unconfirmed",
            Self::Keys(KeysError::NotConfigured { .. }) => "secret_not_configured",
            Self::Keys(KeysError::Unavailable(_)) => "secret_unavailable",
            Self::Keys(KeysError::NoTimeLeft) | Self::Deadline(_) => "deadline",
            Self::QueuesUnavailable(_) | Self::QueueUnavailable(_) => "queue_unavailable",
            Self::ArchiveUnavailable(_) => "archive_unavailable",
            Self::ClaimCheckUnavailable(_) => "claim_check_unavailable",
        }
    }

    /// What the sender is told. Signature failures all read alike, as in the sender's own
    /// reference handler; internal faults are not described to the outside.
    pub fn public_message(&self) -> String {
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable, retry later".into(),
            _ if self.outcome() == "invalid_signature" => "invalid signature".into(),
            _ => self.to_string(),
        }
    }
}
