//! The SQS message a verified webhook becomes: the body byte for byte, string attributes that
//! say what it is, and on FIFO queues the deduplication and group ids.
//!
//! A verified body that is not a usable envelope is still kept: it becomes a quarantined
//! message for the `*` route's queue, with `quarantine_reason`, and base64-encoded (with
//! `body_encoding=base64`) when SQS cannot carry it as text.

use std::borrow::Cow;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::contract::envelope::{Envelope, EnvelopeError};

pub const ATTR_EVENT_TYPE: &str = "event_type";
pub const ATTR_EVENT_ID: &str = "event_id";
pub const ATTR_RECEIVED_AT: &str = "received_at";
pub const ATTR_REQUEST_ID: &str = "request_id";
/// On a quarantined body: why it could not be routed.
pub const ATTR_QUARANTINE_REASON: &str = "quarantine_reason";
/// `base64` when the body is the base64 of what 3QPR sent.
pub const ATTR_BODY_ENCODING: &str = "body_encoding";
pub const BASE64_ENCODING: &str = "base64";
/// On a message the operator replayed from the archive: `true`, or `forced` to run the
/// consumer's handler again although the event was processed before.
pub const ATTR_REPLAY: &str = "replay";
pub const REPLAY_TRUE: &str = "true";
pub const REPLAY_FORCED: &str = "forced";

/// What the body-size check before any HMAC work leaves for the attributes. A message whose
/// real attributes need more is still refused with 413 before it is sent.
pub const ATTRIBUTE_ALLOWANCE: usize = 1024;

/// SQS limits deduplication and group ids to 128 characters of printable ASCII.
const FIFO_ID_MAX_LEN: usize = 128;
/// The message group of quarantined bodies on a FIFO queue.
const QUARANTINE_GROUP: &str = "quarantine";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    String,
    Number,
}

impl DataType {
    /// The name SQS uses, which also counts towards the message size.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Number => "Number",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: &'static str,
    pub value: Cow<'a, str>,
    pub data_type: DataType,
}

impl<'a> Attribute<'a> {
    pub fn string(name: &'static str, value: impl Into<Cow<'a, str>>) -> Self {
        Self {
            name,
            value: value.into(),
            data_type: DataType::String,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoIds {
    pub deduplication_id: String,
    pub group_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage<'a> {
    pub body: Cow<'a, str>,
    pub attributes: Vec<Attribute<'a>>,
    pub fifo: Option<FifoIds>,
}

impl<'a> OutgoingMessage<'a> {
    /// The message for a verified `body` whose envelope is `envelope`. On a FIFO queue the
    /// event's `data.qpr_code_id` orders the queue per code (read only there).
    pub fn for_event(
        body: &'a str,
        envelope: &Envelope<'a>,
        fifo: bool,
        received_at: String,
        request_id: &'a str,
    ) -> Self {
        let fifo = fifo.then(|| FifoIds {
            deduplication_id: fifo_id(&envelope.id),
            group_id: fifo_id(envelope.qpr_code_id().as_deref().unwrap_or(&envelope.event)),
        });
        Self {
            body: Cow::Borrowed(body),
            attributes: vec![
                Attribute::string(ATTR_EVENT_TYPE, envelope.event.clone()),
                Attribute::string(ATTR_EVENT_ID, envelope.id.clone()),
                Attribute::string(ATTR_RECEIVED_AT, received_at),
                Attribute::string(ATTR_REQUEST_ID, request_id),
            ],
            fifo,
        }
    }

    /// A verified `body` that is not a usable envelope, kept as 3QPR sent it: as text when
    /// SQS can carry it, else base64-encoded. On a FIFO queue it is deduplicated by the
    /// body's hash.
    pub fn quarantined(
        body: &'a [u8],
        reason: &EnvelopeError,
        fifo: bool,
        received_at: String,
        request_id: &'a str,
    ) -> Self {
        let as_text = std::str::from_utf8(body)
            .ok()
            .filter(|text| first_character_sqs_refuses(text).is_none());
        let mut attributes = vec![
            Attribute::string(ATTR_QUARANTINE_REASON, reason.to_string()),
            Attribute::string(ATTR_RECEIVED_AT, received_at),
            Attribute::string(ATTR_REQUEST_ID, request_id),
        ];
        let body = match as_text {
            Some(text) => Cow::Borrowed(text),
            None => {
                attributes.push(Attribute::string(ATTR_BODY_ENCODING, BASE64_ENCODING));
                Cow::Owned(base64::engine::general_purpose::STANDARD.encode(body))
            }
        };
        let fifo = fifo.then(|| FifoIds {
            deduplication_id: hex::encode(Sha256::digest(body.as_bytes())),
            group_id: QUARANTINE_GROUP.to_string(),
        });
        Self {
            body,
            attributes,
            fifo,
        }
    }

    /// The value of the attribute `name`, if the message has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|attribute| attribute.name == name)
            .map(|attribute| attribute.value.as_ref())
    }

    /// The size SQS compares with the queue's MaximumMessageSize: the body, and each
    /// attribute's name, data type and value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|attribute| {
                    attribute.name.len()
                        + attribute.data_type.as_str().len()
                        + attribute.value.len()
                })
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

/// SQS refuses message bodies and attribute values with characters outside the XML character
/// set (`#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`). JSON can carry
/// U+FFFE and U+FFFF unescaped, and any control character escaped, so a verified body or a
/// field parsed from it can still hold one.
pub fn first_character_sqs_refuses(text: &str) -> Option<char> {
    // In UTF-8 the only characters refused are the controls (one byte below 0x20) and
    // U+FFFE/U+FFFF (EF BF BE/BF): a byte scan finds the usual clean text at once.
    let suspect = text
        .bytes()
        .any(|byte| (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')) || byte == 0xEF);
    if !suspect {
        return None;
    }
    text.chars().find(|&c| {
        !matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
