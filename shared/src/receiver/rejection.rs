//! Every way a webhook request can fail, and the one place that maps each to its answer.

use http::StatusCode;

use crate::contract::envelope::EnvelopeError;
use crate::contract::signature::HeaderError;
use crate::receiver::keys::KeysError;
use crate::receiver::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("method {0} not allowed")]
    MethodNotAllowed(http::Method),
    #[error("body of {size} bytes is larger than the {limit} bytes the queue accepts")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid signature: {0}")]
    BadSignatureHeader(#[from] HeaderError),
    #[error("invalid signature: no current secret verifies it")]
    SignatureMismatch,
    #[error(transparent)]
    BadEnvelope(#[from] EnvelopeError),
    #[error("body holds U+{:04X}, a character SQS does not accept", u32::from(*.0))]
    UnsendableCharacter(char),
    #[error("signing secret unavailable: {0}")]
    SecretUnavailable(#[from] KeysError),
    #[error("queue unavailable: {0}")]
    QueueUnavailable(PortError),
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadSignatureHeader(_)
            | Self::SignatureMismatch
            | Self::BadEnvelope(_)
            | Self::UnsendableCharacter(_) => StatusCode::BAD_REQUEST,
            Self::SecretUnavailable(_) | Self::QueueUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A short, stable name for logs, metrics and alarms.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::TooLarge { .. } => "too_large",
            Self::BadSignatureHeader(_) | Self::SignatureMismatch => "invalid_signature",
            Self::BadEnvelope(_) | Self::UnsendableCharacter(_) => "bad_body",
            Self::SecretUnavailable(_) => "secret_unavailable",
            Self::QueueUnavailable(_) => "queue_unavailable",
        }
    }

    /// What the sender is told. Signature failures all read alike, as in the sender's own
    /// reference handler; internal faults are not described to the outside.
    pub fn public_message(&self) -> String {
        match self {
            Self::BadSignatureHeader(_) | Self::SignatureMismatch => "invalid signature".into(),
            Self::SecretUnavailable(_) | Self::QueueUnavailable(_) => {
                "temporarily unavailable, retry later".into()
            }
            other => other.to_string(),
        }
    }
}
