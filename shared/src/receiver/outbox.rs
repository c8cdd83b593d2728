//! What a verified body becomes, and how it is put on its queue: the receiver does this for
//! each webhook, the operator's replay for each archived one.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::contract::envelope::{Envelope, EnvelopeError};
use crate::contract::message::OutgoingMessage;
use crate::contract::pointer::PayloadPointer;
use crate::receiver::objects;
use crate::receiver::ports::{ObjectStore, Queue};
use crate::receiver::rejection::Rejection;
use crate::receiver::routing::{Destination, Routes};

/// A verified body as the queue message it becomes.
#[derive(Debug)]
pub struct Composed<'a, 'd> {
    pub destination: &'d Destination,
    pub message: OutgoingMessage<'a>,
    /// The event's type and id, or why the body is quarantined.
    pub event: Result<(String, String), EnvelopeError>,
    received: OffsetDateTime,
    received_at: String,
    request_id: &'a str,
}

impl Composed<'_, '_> {
    /// The key and the metadata of the body's archive object (computed only when archiving).
    pub fn archive_object(&self) -> (String, Vec<(&'static str, String)>) {
        let mut metadata = vec![
            (objects::META_RECEIVED_AT, self.received_at.clone()),
            (
                objects::META_REQUEST_ID,
                objects::metadata_value(self.request_id),
            ),
        ];
        let key = match &self.event {
            Ok((event_type, event_id)) => {
                metadata.push((
                    objects::META_EVENT_TYPE,
                    objects::metadata_value(event_type),
                ));
                metadata.push((objects::META_EVENT_ID, objects::metadata_value(event_id)));
                objects::archive_key(self.received, event_type, event_id)
            }
            Err(reason) => {
                metadata.push((
                    objects::META_QUARANTINE_REASON,
                    objects::metadata_value(&reason.to_string()),
                ));
                objects::quarantine_key(self.received, self.request_id)
            }
        };
        (key, metadata)
    }
}

/// The message for `body` (verified), received at `received` by request `request_id`: on its
/// route when it is a usable envelope, else quarantined on the `*` route's queue.
pub fn compose<'a, 'd>(
    body: &'a [u8],
    routes: &'d Routes<Destination>,
    received: OffsetDateTime,
    request_id: &'a str,
) -> Composed<'a, 'd> {
    let received_at = received.format(&Rfc3339).unwrap_or_default();
    let parsed = std::str::from_utf8(body)
        .map_err(|_| EnvelopeError::NotUtf8)
        .and_then(|text| Envelope::parse_str(text).map(|envelope| (text, envelope)));
    match parsed {
        Ok((text, envelope)) => {
            let destination = routes.queue_for(&envelope.event);
            Composed {
                destination,
                message: OutgoingMessage::for_event(
                    text,
                    &envelope,
                    destination.fifo,
                    received_at.clone(),
                    request_id,
                ),
                event: Ok((envelope.event.to_string(), envelope.id.to_string())),
                received,
                received_at,
                request_id,
            }
        }
        Err(reason) => {
            let destination = routes.catch_all();
            Composed {
                destination,
                message: OutgoingMessage::quarantined(
                    body,
                    &reason,
                    destination.fifo,
                    received_at.clone(),
                    request_id,
                ),
                event: Err(reason),
                received,
                received_at,
                request_id,
            }
        }
    }
}

/// Puts `message` on `destination`: behind a claim-check pointer (its body stored first under
/// `payloads/<queue>/<request id>`) when it is too large for the queue and there is a bucket.
/// `Ok(true)` when it went by claim-check.
pub async fn enqueue<Q: Queue, O: ObjectStore>(
    queue: &Q,
    objects: Option<&O>,
    destination: &Destination,
    message: OutgoingMessage<'_>,
    request_id: &str,
) -> Result<bool, Rejection> {
    let too_large = message.size() > destination.max_message_size;
    let (message, claimed) = match objects {
        None if too_large => {
            return Err(Rejection::TooLarge {
                size: message.size(),
                limit: destination.max_message_size,
            })
        }
        Some(objects) if too_large => {
            let pointer = PayloadPointer {
                bucket: objects.bucket().to_string(),
                key: objects::claim_key(&destination.url, request_id),
            };
            objects
                .put(&pointer.key, message.body.as_bytes(), &[])
                .await
                .map_err(Rejection::ClaimCheckUnavailable)?;
            (message.into_pointer(&pointer), true)
        }
        _ => (message, false),
    };
    queue
        .send(&destination.url, &message)
        .await
        .map_err(Rejection::QueueUnavailable)?;
    Ok(claimed)
}
