//! The webhook envelope (`event`, `id`, `created_at`, `data`) and the typed events inside it.
//!
//! Only ever parse bytes whose signature has been verified. Parsing borrows from the body:
//! `data` stays a slice of the original bytes until a typed view of it is asked for.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::contract::message::first_character_sqs_refuses;

/// How deep JSON may nest in a usable envelope (`{"data":{...}}` is two levels). The receiver
/// quarantines deeper bodies instead of queueing them, so no consumer's parser meets one.
pub const MAX_NESTING: usize = 64;

/// The longest `event` and `id` (in UTF-8 bytes) of a usable envelope; longer ones are
/// quarantined. Both become parts of the archive key, whose percent-encoding turns a byte into
/// at most three: 25 fixed bytes + 2 × 3 × 128 = 793, under S3's 1024-byte key limit. As object
/// metadata (encoded alike) they take at most 768 of S3's 2 KB of user metadata, beside the
/// receipt time and request id. As SQS attributes they take 256 of the 1024 bytes the size
/// check before any HMAC work leaves for attributes. 3QPR's own are about 30 bytes.
pub const MAX_FIELD_BYTES: usize = 128;

/// Why a body is not a usable envelope. The messages never quote the body: they reach logs
/// and the `quarantine_reason` attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a webhook envelope: {0}")]
    NotEnvelope(String),
    #[error("body nests JSON deeper than {MAX_NESTING} levels")]
    TooDeep,
    #[error("{part} holds U+{:04X}, a character SQS does not accept", u32::from(*.character))]
    Unsendable { part: &'static str, character: char },
    #[error(
        "{part} is {bytes} bytes long, more than the {MAX_FIELD_BYTES} a usable envelope may hold"
    )]
    TooLong { part: &'static str, bytes: usize },
}

#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub created_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parses the envelope of a verified body; says which of UTF-8, JSON or the envelope's
    /// fields is wrong.
    pub fn parse(body: &'a [u8]) -> Result<Self, EnvelopeError> {
        let text = std::str::from_utf8(body).map_err(|_| EnvelopeError::NotUtf8)?;
        Self::parse_str(text)
    }

    /// The one parser of the receiver and the consumers: a JSON object no deeper than
    /// [`MAX_NESTING`], with non-empty string `event` and `id` of at most [`MAX_FIELD_BYTES`]
    /// each, all of it characters SQS can carry (the body as text, `event` and `id` as
    /// attributes).
    pub fn parse_str(text: &'a str) -> Result<Self, EnvelopeError> {
        if nests_deeper_than(text.as_bytes(), MAX_NESTING) {
            return Err(EnvelopeError::TooDeep);
        }
        let envelope: Self =
            serde_json::from_str(text).map_err(|error| match error.classify() {
                serde_json::error::Category::Data => {
                    EnvelopeError::NotEnvelope(describe_json_error(&error))
                }
                _ => EnvelopeError::NotJson(describe_json_error(&error)),
            })?;
        if envelope.event.is_empty() || envelope.id.is_empty() {
            return Err(EnvelopeError::NotEnvelope(
                "`event` and `id` must not be empty".into(),
            ));
        }
        for (part, value) in [("`event`", &envelope.event), ("`id`", &envelope.id)] {
            if value.len() > MAX_FIELD_BYTES {
                return Err(EnvelopeError::TooLong {
                    part,
                    bytes: value.len(),
                });
            }
        }
        for (part, value) in [
            ("`event`", &*envelope.event),
            ("`id`", &*envelope.id),
            ("body", text),
        ] {
            if let Some(character) = first_character_sqs_refuses(value) {
                return Err(EnvelopeError::Unsendable { part, character });
            }
        }
        Ok(envelope)
    }

    /// `data.qpr_code_id` when `data` is an object holding it as a string.
    pub fn qpr_code_id(&self) -> Option<Cow<'a, str>> {
        #[derive(Deserialize)]
        struct CodeRef<'b> {
            #[serde(borrow, default)]
            qpr_code_id: Option<Cow<'b, str>>,
        }
        let data = self.data?;
        serde_json::from_str::<CodeRef<'a>>(data.get())
            .ok()?
            .qpr_code_id
    }

    /// Decodes `data` into the typed event for the documented types; any other type is kept as
    /// [`Event::Other`], never rejected.
    pub fn decode(&self) -> Result<Event, serde_json::Error> {
        let data = self.data.map_or("null", RawValue::get);
        Ok(match EventKind::of(&self.event) {
            EventKind::ScanCreated => Event::ScanCreated(serde_json::from_str(data)?),
            EventKind::ConversationCompleted => {
                Event::ConversationCompleted(serde_json::from_str(data)?)
            }
            EventKind::QprCodeCreated => Event::QprCodeCreated(serde_json::from_str(data)?),
            EventKind::SubscriptionUpgraded => {
                Event::SubscriptionUpgraded(serde_json::from_str(data)?)
            }
            EventKind::SubscriptionCancelled => {
                Event::SubscriptionCancelled(serde_json::from_str(data)?)
            }
            EventKind::Other => Event::Other {
                event_type: self.event.to_string(),
                data: serde_json::from_str(data)?,
            },
        })
    }
}

/// Whether JSON text opens more than `limit` objects or arrays inside one another (brackets
/// inside strings do not count). Checked before parsing, so no parser recurses that deep.
fn nests_deeper_than(text: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Says what is wrong with a JSON document without quoting it: serde's messages for a value of
/// the wrong type quote the value, and these messages reach logs, where no part of a body may.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let (what, _location) = message.rsplit_once(" at line ").unwrap_or((&message, ""));
    let what = if error.is_data() && !what.starts_with("missing field") {
        "a field has the wrong type or shape"
    } else {
        what
    };
    format!("{what} (line {}, column {})", error.line(), error.column())
}

/// The event types 3QPR documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    ScanCreated,
    ConversationCompleted,
    QprCodeCreated,
    SubscriptionUpgraded,
    SubscriptionCancelled,
    Other,
}

impl EventKind {
    pub const DOCUMENTED: [(&'static str, EventKind); 5] = [
        ("scan.created", EventKind::ScanCreated),
        ("conversation.completed", EventKind::ConversationCompleted),
        ("qpr_code.created", EventKind::QprCodeCreated),
        ("subscription.upgraded", EventKind::SubscriptionUpgraded),
        ("subscription.cancelled", EventKind::SubscriptionCancelled),
    ];

    pub fn of(event_type: &str) -> Self {
        Self::DOCUMENTED
            .iter()
            .find(|(name, _)| *name == event_type)
            .map_or(EventKind::Other, |(_, kind)| *kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ScanCreated(ScanCreated),
    ConversationCompleted(EventDetails),
    QprCodeCreated(EventDetails),
    SubscriptionUpgraded(EventDetails),
    SubscriptionCancelled(EventDetails),
    Other { event_type: String, data: Value },
}

/// `scan.created`, with the fields 3QPR documents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScanCreated {
    pub scan_id: u64,
    pub qpr_code_id: String,
    pub short_id: String,
    pub scanned_at: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// The events whose `data` 3QPR does not document: the code they concern when present, and
/// every other field kept as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventDetails {
    #[serde(default)]
    pub qpr_code_id: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCAN: &str = include_str!("../../../infra/samples/scan.created.json");

    #[test]
    fn the_documented_scan_example_parses_into_its_typed_fields() {
        let envelope = Envelope::parse(SCAN.as_bytes()).unwrap();
        assert_eq!(envelope.event, "scan.created");
        assert_eq!(envelope.id, "evt_01HXYZ");
        assert_eq!(envelope.created_at.as_deref(), Some("2026-03-20T15:30:00Z"));
        let Event::ScanCreated(scan) = envelope.decode().unwrap() else {
            panic!("not a scan");
        };
        assert_eq!(scan.scan_id, 9142);
        assert_eq!(scan.qpr_code_id, "qpr_01HXYZ789ABC");
        assert_eq!(scan.short_id, "hc9m3r");
        assert_eq!(scan.scanned_at, "2026-03-20T15:30:00Z");
        assert!(scan.metadata.is_empty());
    }

    #[test]
    fn data_is_borrowed_from_the_body_not_copied() {
        let envelope = Envelope::parse(SCAN.as_bytes()).unwrap();
        let data = envelope.data.unwrap().get();
        let body_range = SCAN.as_bytes().as_ptr_range();
        assert!(body_range.contains(&data.as_ptr()));
        assert!(matches!(envelope.event, Cow::Borrowed(_)));
    }

    #[test]
    fn undocumented_fields_of_other_events_are_kept() {
        let body = br#"{"event":"conversation.completed","id":"evt_2","data":{"qpr_code_id":"qpr_1","duration_s":42,"reason":"timeout"}}"#;
        let Event::ConversationCompleted(details) =
            Envelope::parse(body).unwrap().decode().unwrap()
        else {
            panic!("wrong variant");
        };
        assert_eq!(details.qpr_code_id.as_deref(), Some("qpr_1"));
        assert_eq!(details.fields["duration_s"], 42);
        assert_eq!(details.fields["reason"], "timeout");
    }

    #[test]
    fn each_documented_type_decodes_to_its_own_variant() {
        for (name, kind) in EventKind::DOCUMENTED {
            let data = if kind == EventKind::ScanCreated {
                r#"{"scan_id":1,"qpr_code_id":"q","short_id":"s","scanned_at":"t"}"#
            } else {
                r#"{"plan":"pro"}"#
            };
            let body = format!(r#"{{"event":"{name}","id":"evt","data":{data}}}"#);
            let event = Envelope::parse(body.as_bytes()).unwrap().decode().unwrap();
            let decoded_kind = match event {
                Event::ScanCreated(_) => EventKind::ScanCreated,
                Event::ConversationCompleted(_) => EventKind::ConversationCompleted,
                Event::QprCodeCreated(_) => EventKind::QprCodeCreated,
                Event::SubscriptionUpgraded(_) => EventKind::SubscriptionUpgraded,
                Event::SubscriptionCancelled(_) => EventKind::SubscriptionCancelled,
                Event::Other { .. } => EventKind::Other,
            };
            assert_eq!(decoded_kind, kind, "{name}");
        }
    }

    #[test]
    fn unknown_event_types_are_kept_not_rejected() {
        let body = br#"{"event":"scan.deleted","id":"evt_9","data":{"x":1}}"#;
        let event = Envelope::parse(body).unwrap().decode().unwrap();
        assert_eq!(
            event,
            Event::Other {
                event_type: "scan.deleted".into(),
                data: serde_json::json!({"x": 1})
            }
        );
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let body = br#"{"event":"scan.created","id":"evt_\u00e9\n"}"#;
        assert_eq!(Envelope::parse(body).unwrap().id, "evt_\u{e9}\n");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert_eq!(
            Envelope::parse(b"\xff{}").unwrap_err(),
            EnvelopeError::NotUtf8
        );
        assert!(matches!(
            Envelope::parse(b"event=scan.created").unwrap_err(),
            EnvelopeError::NotJson(_)
        ));
        assert!(matches!(
            Envelope::parse(b"").unwrap_err(),
            EnvelopeError::NotJson(_)
        ));
        let missing_id = Envelope::parse(br#"{"event":"scan.created"}"#).unwrap_err();
        assert!(missing_id.to_string().contains("`id`"), "{missing_id}");
        let numeric_event = Envelope::parse(br#"{"event":5,"id":"evt"}"#).unwrap_err();
        assert!(matches!(numeric_event, EnvelopeError::NotEnvelope(_)));
        let empty_id = Envelope::parse(br#"{"event":"scan.created","id":""}"#).unwrap_err();
        assert!(empty_id.to_string().contains("`id`"), "{empty_id}");
        let array = Envelope::parse(b"[1,2]").unwrap_err();
        assert!(matches!(array, EnvelopeError::NotEnvelope(_)));
    }

    #[test]
    fn an_id_or_type_longer_than_the_limit_is_not_a_usable_envelope() {
        let body = |event: &str, id: &str| format!(r#"{{"event":"{event}","id":"{id}"}}"#);
        let at_limit = "e".repeat(MAX_FIELD_BYTES);
        let over = "e".repeat(MAX_FIELD_BYTES + 1);
        assert!(Envelope::parse_str(&body(&at_limit, &at_limit)).is_ok());
        assert_eq!(
            Envelope::parse_str(&body("scan.created", &over)).unwrap_err(),
            EnvelopeError::TooLong {
                part: "`id`",
                bytes: MAX_FIELD_BYTES + 1
            }
        );
        assert_eq!(
            Envelope::parse_str(&body(&over, "evt_1")).unwrap_err(),
            EnvelopeError::TooLong {
                part: "`event`",
                bytes: MAX_FIELD_BYTES + 1
            }
        );
        // The limit is on UTF-8 bytes (what S3 and SQS count), not characters; an escaped
        // character counts as the bytes it stands for.
        let wide = r"\u00e9".repeat(MAX_FIELD_BYTES / 2 + 1);
        let error = Envelope::parse_str(&body("scan.created", &wide)).unwrap_err();
        assert_eq!(
            error,
            EnvelopeError::TooLong {
                part: "`id`",
                bytes: MAX_FIELD_BYTES + 2
            }
        );
        assert!(!error.to_string().contains('\u{e9}'), "{error}");
    }

    #[test]
    fn errors_never_quote_the_body() {
        for body in [
            &br#"{"event":"scan.created","id":"secret-looking-value-1"}x"#[..],
            br#"{"event":"secret-looking-value-2","id":7}"#,
            br#"{"event":["secret-looking-value-3"],"id":"e"}"#,
        ] {
            let error = Envelope::parse(body).unwrap_err().to_string();
            assert!(!error.contains("secret-looking-value"), "{error}");
            assert!(!error.contains('7'), "{error}");
        }
        let scan = Envelope::parse(
            br#"{"event":"scan.created","id":"e","data":{"scan_id":"secret-looking-value-4"}}"#,
        )
        .unwrap();
        let error = describe_json_error(&scan.decode().unwrap_err());
        assert!(!error.contains("secret-looking-value"), "{error}");
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn qpr_code_id_is_read_from_data_when_present() {
        let with =
            Envelope::parse(br#"{"event":"a","id":"b","data":{"qpr_code_id":"qpr_7"}}"#).unwrap();
        assert_eq!(with.qpr_code_id().as_deref(), Some("qpr_7"));
        for body in [
            &br#"{"event":"a","id":"b"}"#[..],
            br#"{"event":"a","id":"b","data":null}"#,
            br#"{"event":"a","id":"b","data":{"qpr_code_id":7}}"#,
            br#"{"event":"a","id":"b","data":[1]}"#,
        ] {
            assert_eq!(Envelope::parse(body).unwrap().qpr_code_id(), None);
        }
    }

    #[test]
    fn a_scan_without_its_documented_fields_fails_to_decode_but_parses() {
        let envelope =
            Envelope::parse(br#"{"event":"scan.created","id":"e","data":{"scan_id":"x"}}"#)
                .unwrap();
        assert!(envelope.decode().is_err());
    }
}
