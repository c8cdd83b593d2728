//! SQS records and events as Lambda's event source hands them to a consumer.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};

use crate::contract::envelope::Envelope;
use crate::contract::message::{ATTR_EVENT_ID, ATTR_EVENT_TYPE, ATTR_RECEIVED_AT, ATTR_REQUEST_ID};

/// A message attribute with a string value, of SQS data type `data_type` (`String`, `Number`).
pub fn sqs_attribute(value: &str, data_type: &str) -> SqsMessageAttribute {
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(value.to_string());
    attribute.data_type = Some(data_type.to_string());
    attribute
}

/// An SQS record as Lambda's event source hands it over, carrying the attributes the receiver
/// sets (taken from the body when it is an envelope).
pub fn sqs_record(message_id: &str, body: &str, message_group: Option<&str>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.to_string());
    record.receipt_handle = Some(format!("receipt-{message_id}"));
    record.body = Some(body.to_string());
    record.event_source = Some("aws:sqs".to_string());
    if let Ok(envelope) = Envelope::parse_str(body) {
        for (name, value) in [
            (ATTR_EVENT_TYPE, envelope.event.as_ref()),
            (ATTR_EVENT_ID, envelope.id.as_ref()),
            (ATTR_RECEIVED_AT, "2026-03-20T15:30:01Z"),
            (ATTR_REQUEST_ID, "req-1"),
        ] {
            record
                .message_attributes
                .insert(name.to_string(), sqs_attribute(value, "String"));
        }
    }
    if let Some(group) = message_group {
        record
            .attributes
            .insert("MessageGroupId".to_string(), group.to_string());
    }
    record
}

/// An SQS event fixture (`infra/events/sqs-*.json`) as Lambda hands it over.
pub fn sqs_event(json: &str) -> SqsEvent {
    serde_json::from_str(json).expect("an SQS event fixture")
}
