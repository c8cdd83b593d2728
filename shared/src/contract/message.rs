//! The SQS message a verified webhook becomes: the body byte for byte, four string attributes,
//! and on FIFO queues the deduplication and group ids.

use sha2::{Digest, Sha256};

use crate::contract::envelope::Envelope;

pub const ATTR_EVENT_TYPE: &str = "event_type";
pub const ATTR_EVENT_ID: &str = "event_id";
pub const ATTR_RECEIVED_AT: &str = "received_at";
pub const ATTR_REQUEST_ID: &str = "request_id";

/// SQS counts each attribute's name, data type and value towards the message size.
const ATTRIBUTE_DATA_TYPE: &str = "String";

/// What the body-size check before any HMAC work leaves for the attributes. A message whose
/// real attributes need more is still refused with 413 before it is sent.
pub const ATTRIBUTE_ALLOWANCE: usize = 1024;

/// SQS limits deduplication and group ids to 128 characters of printable ASCII.
const FIFO_ID_MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoIds {
    pub deduplication_id: String,
    pub group_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage<'a> {
    pub body: &'a str,
    pub event_type: &'a str,
    pub event_id: &'a str,
    pub received_at: String,
    pub request_id: &'a str,
    pub fifo: Option<FifoIds>,
}

impl<'a> OutgoingMessage<'a> {
    /// The message for a verified `body` whose envelope is `envelope`. On a FIFO queue the
    /// event's `data.qpr_code_id` orders the queue per code (read only there).
    pub fn for_event(
        body: &'a str,
        envelope: &'a Envelope<'a>,
        fifo: bool,
        received_at: String,
        request_id: &'a str,
    ) -> Self {
        let fifo = fifo.then(|| FifoIds {
            deduplication_id: fifo_id(&envelope.id),
            group_id: fifo_id(envelope.qpr_code_id().as_deref().unwrap_or(&envelope.event)),
        });
        Self {
            body,
            event_type: &envelope.event,
            event_id: &envelope.id,
            received_at,
            request_id,
            fifo,
        }
    }

    pub fn attributes(&self) -> [(&'static str, &str); 4] {
        [
            (ATTR_EVENT_TYPE, self.event_type),
            (ATTR_EVENT_ID, self.event_id),
            (ATTR_RECEIVED_AT, &self.received_at),
            (ATTR_REQUEST_ID, self.request_id),
        ]
    }

    /// The size SQS compares with the queue's MaximumMessageSize.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes()
                .iter()
                .map(|(name, value)| name.len() + ATTRIBUTE_DATA_TYPE.len() + value.len())
                .sum::<usize>()
    }
}

/// The id as is when SQS accepts it, else its SHA-256 in hex: still one stable id per value,
/// so deduplication and ordering keep working for ids SQS would refuse.
fn fifo_id(value: &str) -> String {
    let acceptable = !value.is_empty()
        && value.len() <= FIFO_ID_MAX_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if acceptable {
        value.to_string()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

/// SQS refuses message bodies with characters outside the XML character set
/// (`#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`). JSON can carry
/// U+FFFE and U+FFFF unescaped, so a verified body can still hold one.
pub fn first_character_sqs_refuses(body: &str) -> Option<char> {
    body.chars().find(|&c| {
        !matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event_id: &str, code: Option<&str>) -> String {
        let data = code.map_or("{}".to_string(), |code| {
            serde_json::json!({ "qpr_code_id": code }).to_string()
        });
        format!(
            r#"{{"event":"scan.created","id":{},"data":{data}}}"#,
            serde_json::Value::from(event_id)
        )
    }

    /// The message for an event of `event_id` (with `data.qpr_code_id` = `code`), its body
    /// replaced by `{}` to keep the size arithmetic simple.
    fn message(fifo: bool, event_id: &str, code: Option<&str>) -> OutgoingMessage<'static> {
        let body: &'static str = Box::leak(envelope(event_id, code).into_boxed_str());
        let parsed: &'static Envelope<'static> =
            Box::leak(Box::new(Envelope::parse_str(body).unwrap()));
        OutgoingMessage {
            body: "{}",
            ..OutgoingMessage::for_event(body, parsed, fifo, "2026-03-20T15:30:00Z".into(), "req-1")
        }
    }

    const STANDARD: bool = false;
    const FIFO: bool = true;

    #[test]
    fn standard_queues_get_no_fifo_ids() {
        assert_eq!(message(STANDARD, "evt_1", Some("qpr_1")).fifo, None);
    }

    #[test]
    fn fifo_queues_deduplicate_by_event_id_and_group_by_code() {
        let ids = message(FIFO, "evt_1", Some("qpr_1")).fifo.unwrap();
        assert_eq!(ids.deduplication_id, "evt_1");
        assert_eq!(ids.group_id, "qpr_1");
    }

    #[test]
    fn fifo_events_without_a_code_are_grouped_by_type() {
        let ids = message(FIFO, "evt_1", None).fifo.unwrap();
        assert_eq!(ids.group_id, "scan.created");
    }

    #[test]
    fn ids_sqs_would_refuse_are_hashed_stably() {
        let long = "e".repeat(129);
        let first = message(FIFO, &long, Some("qpr é")).fifo.unwrap();
        let again = message(FIFO, &long, Some("qpr é")).fifo.unwrap();
        assert_eq!(first, again);
        assert_eq!(first.deduplication_id.len(), 64);
        assert_ne!(first.group_id, "qpr é");
        let edge = "e".repeat(128);
        assert_eq!(
            message(FIFO, &edge, None).fifo.unwrap().deduplication_id,
            edge
        );
    }

    #[test]
    fn attributes_are_the_four_documented_ones() {
        let msg = message(STANDARD, "evt_1", None);
        assert_eq!(
            msg.attributes(),
            [
                ("event_type", "scan.created"),
                ("event_id", "evt_1"),
                ("received_at", "2026-03-20T15:30:00Z"),
                ("request_id", "req-1"),
            ]
        );
    }

    #[test]
    fn size_counts_body_and_each_attribute_name_type_and_value() {
        let msg = message(STANDARD, "evt_1", None);
        let expected = 2
            + ("event_type".len() + 6 + "scan.created".len())
            + ("event_id".len() + 6 + "evt_1".len())
            + ("received_at".len() + 6 + 20)
            + ("request_id".len() + 6 + 5);
        assert_eq!(msg.size(), expected);
    }

    #[test]
    fn characters_outside_the_sqs_set_are_found() {
        assert_eq!(
            first_character_sqs_refuses("{\"a\":\"é 🌷\u{2028}\"}\r\n\t"),
            None
        );
        assert_eq!(
            first_character_sqs_refuses("{\"a\":\"\u{FFFF}\"}"),
            Some('\u{FFFF}')
        );
        assert_eq!(first_character_sqs_refuses("\u{1}"), Some('\u{1}'));
    }
}
