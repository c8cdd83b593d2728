//! Property tests of everything that parses input from outside: the signature header, the
//! envelope, the request handler on any body, and the consumer on any SQS record, any
//! claim-check pointer, any attributes and any SQS event JSON. Nothing panics, and what is
//! accepted comes out byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use qpr_webhooks::consumer::ports::PayloadSource;
use qpr_webhooks::consumer::{Consumer, Delivered, EventHandler, HandlerError};
use qpr_webhooks::contract::envelope::{
    Envelope, EnvelopeError, Event, EventKind, MAX_FIELD_BYTES,
};
use qpr_webhooks::contract::message::{ATTR_EVENT_ID, ATTR_EVENT_TYPE};
use qpr_webhooks::contract::pointer::{
    PayloadPointer, ATTR_EXTENDED_PAYLOAD_SIZE, ATTR_LEGACY_PAYLOAD_SIZE,
};
use qpr_webhooks::contract::signature::{Signature, SigningKey};
use qpr_webhooks::receiver::config::ReceiverConfig;
use qpr_webhooks::receiver::handler::{Inbound, Receiver};
use qpr_webhooks::receiver::ports::PortError;
use qpr_webhooks::testing::{sqs_attribute, sqs_record, MemoryQueue, MemorySecrets};
use tokio::time::{Duration, Instant};

const SECRET: &str = "whsec_PropertyTestSecret0123456789";
const UNROUTED: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/unrouted";
const SCANS: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/scans";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_header_value_parses_or_is_refused_without_panicking(value in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = Signature::parse(&value);
    }

    #[test]
    fn a_header_3qpr_would_send_parses_and_verifies(body in prop::collection::vec(any::<u8>(), 0..2000)) {
        let key = SigningKey::new(SECRET).unwrap();
        let header = key.sign(&body);
        let signature = Signature::parse(header.as_bytes()).unwrap();
        prop_assert!(key.verifies(&body, &signature));
    }

    #[test]
    fn any_bytes_parse_as_an_envelope_or_are_refused_without_panicking(body in prop::collection::vec(any::<u8>(), 0..500)) {
        let _ = Envelope::parse(&body);
    }

    #[test]
    fn any_text_parses_as_an_envelope_or_is_refused_without_panicking(text in ".{0,300}") {
        let _ = Envelope::parse_str(&text);
    }

    #[test]
    fn an_envelope_keeps_its_event_id_and_data_exactly(
        event in "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,2}",
        id in "[ -~]{1,40}",
        data in json_value(),
    ) {
        let body = serde_json::json!({"event": event, "id": id, "data": data}).to_string();
        let envelope = Envelope::parse_str(&body).unwrap();
        prop_assert_eq!(&*envelope.event, event.as_str());
        prop_assert_eq!(&*envelope.id, id.as_str());
        // `"data": null` reads as no data.
        let raw: serde_json::Value = envelope
            .data
            .map_or(serde_json::Value::Null, |raw| serde_json::from_str(raw.get()).unwrap());
        prop_assert_eq!(raw, data);
    }

    #[test]
    fn an_id_or_type_is_usable_exactly_up_to_the_byte_limit(
        text in "[^\\p{C}]{1,100}",
        as_type in any::<bool>(),
    ) {
        let (event, id) = if as_type { (text.as_str(), "evt_p") } else { ("scan.created", text.as_str()) };
        let body = serde_json::json!({"event": event, "id": id}).to_string();
        match Envelope::parse_str(&body) {
            Ok(envelope) => {
                prop_assert!(text.len() <= MAX_FIELD_BYTES);
                prop_assert_eq!(if as_type { &*envelope.event } else { &*envelope.id }, text.as_str());
            }
            Err(error) => prop_assert_eq!(
                error,
                EnvelopeError::TooLong { part: if as_type { "`event`" } else { "`id`" }, bytes: text.len() }
            ),
        }
    }

    #[test]
    fn every_verified_body_is_kept_byte_for_byte(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        json_value().prop_map(|data| serde_json::json!({"event": "scan.created", "id": "evt_p", "data": data}).to_string().into_bytes()),
        ".{0,200}".prop_map(String::into_bytes),
    ]) {
        runtime().block_on(async {
            let config = ReceiverConfig::from_env(|name| match name {
                "WEBHOOK_SECRET_ID" => Some("s".into()),
                "EVENT_ROUTES" => Some(format!(r#"{{"scan.*":"{SCANS}","*":"{UNROUTED}"}}"#)),
                _ => None,
            }).unwrap();
            let queue = MemoryQueue::default().with_queue(SCANS, 262_144).with_queue(UNROUTED, 262_144);
            let receiver = Receiver::start(&config, MemorySecrets::holding(&[SECRET]), queue.clone()).await;
            let mut headers = HeaderMap::new();
            let signature = SigningKey::new(SECRET).unwrap().sign(&body);
            headers.insert("x-3qpr-signature", HeaderValue::from_str(&signature).unwrap());
            let response = receiver.handle(Inbound {
                method: &Method::POST,
                headers: &headers,
                body: &body,
                request_id: "r",
                deadline: Instant::now() + Duration::from_secs(30),
            }).await;
            prop_assert_eq!(response.status(), 200, "{}", response.body());
            let sent = queue.sent();
            prop_assert_eq!(sent.len(), 1);
            let kept = match sent[0].attributes.get("body_encoding").map(String::as_str) {
                Some("base64") => base64::engine::general_purpose::STANDARD.decode(&sent[0].body).unwrap(),
                _ => sent[0].body.clone().into_bytes(),
            };
            prop_assert_eq!(kept, body);
            Ok(())
        })?;
    }

    #[test]
    fn any_sqs_record_is_handled_or_failed_alone_without_panicking(
        bodies in prop::collection::vec(prop_oneof![
            ".{0,200}",
            json_value().prop_map(|data| serde_json::json!({"event": "scan.created", "id": "evt_q", "data": data}).to_string()),
        ], 1..10),
        event_id_attribute in prop::option::of(".{0,20}"),
    ) {
        runtime().block_on(async {
            let mut batch = SqsEvent::default();
            for (n, body) in bodies.iter().enumerate() {
                let mut record = sqs_record(&format!("m{n}"), body, None);
                if let Some(value) = &event_id_attribute {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.string_value = Some(value.clone());
                    record.message_attributes.insert("event_id".into(), attribute);
                }
                batch.records.push(record);
            }
            let report = Consumer::new(Counting, "test").process(&batch).await;
            let failed = report.failed_ids();
            prop_assert!(failed.len() <= bodies.len());
            for id in failed {
                prop_assert!(batch.records.iter().any(|r| r.message_id.as_deref() == Some(id)));
            }
            Ok(())
        })?;
    }
}

struct Counting;

impl EventHandler for Counting {
    async fn handle(&self, _event: &Delivered<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The consumer on claim-check pointers, on attributes, and on the SQS event JSON it is given.
// ---------------------------------------------------------------------------------------------

const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";

/// What the handler saw of one event, owned.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    message_id: String,
    event_type: String,
    event_id: String,
    created_at: Option<String>,
    event: Event,
}

/// How one record ended: handled as this event, or failed for this reason.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Handled(Box<Seen>),
    Failed(&'static str),
}

/// A handler that keeps every event it is given.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<Seen>>>);

impl Recording {
    fn seen(&self) -> Vec<Seen> {
        let mut seen = self.0.lock().unwrap().clone();
        seen.sort_by(|a, b| a.message_id.cmp(&b.message_id));
        seen
    }
}

impl EventHandler for Recording {
    async fn handle(&self, event: &Delivered<'_>) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(Seen {
            message_id: event.message_id.to_string(),
            event_type: event.event_type.to_string(),
            event_id: event.event_id.to_string(),
            created_at: event.created_at.map(str::to_string),
            event: event.event.clone(),
        });
        Ok(())
    }
}

/// A payload bucket holding any bytes, read as the S3 adapter reads it: a missing key is
/// `None`, an object that is not UTF-8 a `GetObject` error.
#[derive(Clone, Default)]
struct Bucket(Arc<HashMap<String, Vec<u8>>>);

impl PayloadSource for Bucket {
    async fn fetch(&self, pointer: &PayloadPointer) -> Result<Option<String>, PortError> {
        match self.0.get(&pointer.key) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes.clone())
                .map(Some)
                .map_err(|_| PortError::new("GetObject", "the object is not UTF-8 text")),
        }
    }
}

/// Runs `records` as one batch through a consumer reading `bucket`: the failed message ids,
/// the failures by reason, and what the handler saw.
fn run_batch(
    records: Vec<SqsMessage>,
    bucket: &Bucket,
) -> (Vec<String>, BTreeMap<&'static str, u64>, Vec<Seen>) {
    let mut batch = SqsEvent::default();
    batch.records = records;
    let handler = Recording::default();
    let consumer = Consumer::new(handler.clone(), "test").with_payloads(bucket.clone());
    let report = runtime().block_on(consumer.process(&batch));
    let mut failed: Vec<String> = report
        .failed_ids()
        .into_iter()
        .map(str::to_string)
        .collect();
    failed.sort();
    (failed, report.failures, handler.seen())
}

/// One record alone: how it ended. A failed record is never seen by the handler.
fn outcome_of(record: SqsMessage, bucket: &Bucket) -> Result<Outcome, TestCaseError> {
    let (failed, failures, mut seen) = run_batch(vec![record], bucket);
    match (failed.len(), failures.len(), seen.len()) {
        (0, 0, 1) => Ok(Outcome::Handled(Box::new(seen.remove(0)))),
        (1, 1, 0) => Ok(Outcome::Failed(failures.into_keys().next().unwrap())),
        _ => Err(TestCaseError::fail(format!(
            "one record, yet failed {failed:?}, failures {failures:?}, seen {seen:?}"
        ))),
    }
}

/// What the consumer must make of `body` read inline with the attributes the receiver sets
/// from it, worked out from the contract's parser alone.
fn expected_inline(message_id: &str, body: &str) -> Outcome {
    let Ok(envelope) = Envelope::parse_str(body) else {
        return Outcome::Failed("not_an_event");
    };
    match envelope.decode() {
        Ok(event) => Outcome::Handled(Box::new(Seen {
            message_id: message_id.to_string(),
            event_type: envelope.event.to_string(),
            event_id: envelope.id.to_string(),
            created_at: envelope.created_at.as_deref().map(str::to_string),
            event,
        })),
        Err(_) => Outcome::Failed("undocumented_data"),
    }
}

/// `data` that decodes as the documented `scan.created`.
fn scan_data() -> impl Strategy<Value = serde_json::Value> {
    (
        any::<u64>(),
        "\\PC{1,20}",
        "[A-Za-z0-9]{1,10}",
        prop::collection::btree_map("\\PC{1,8}", json_value(), 0..3),
    )
        .prop_map(|(scan_id, code, short_id, metadata)| {
            serde_json::json!({
                "scan_id": scan_id,
                "qpr_code_id": code,
                "short_id": short_id,
                "scanned_at": "2026-03-20T15:30:00Z",
                "metadata": serde_json::Value::Object(metadata.into_iter().collect()),
            })
        })
}

fn event_type() -> impl Strategy<Value = String> {
    let documented: Vec<String> = EventKind::DOCUMENTED
        .iter()
        .map(|(name, _)| (*name).to_string())
        .collect();
    prop_oneof![
        prop::sample::select(documented),
        "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,2}",
        "\\PC{1,20}",
    ]
}

/// What the claim-check object holds.
#[derive(Debug, Clone)]
enum Payload {
    /// Any text at all.
    Text(String),
    /// An envelope; its id is made unique to the record.
    Envelope {
        event: String,
        id: String,
        created_at: Option<String>,
        data: Option<serde_json::Value>,
        pretty: bool,
    },
    /// Bytes that are not UTF-8.
    Bytes(Vec<u8>),
}

impl Payload {
    fn bytes(&self, n: usize) -> Vec<u8> {
        match self {
            Self::Text(text) => text.clone().into_bytes(),
            Self::Envelope {
                event,
                id,
                created_at,
                data,
                pretty,
            } => {
                let mut envelope =
                    serde_json::json!({"event": event, "id": format!("evt{n}-{id}")});
                if let Some(created_at) = created_at {
                    envelope["created_at"] = created_at.clone().into();
                }
                if let Some(data) = data {
                    envelope["data"] = data.clone();
                }
                if *pretty {
                    serde_json::to_vec_pretty(&envelope).unwrap()
                } else {
                    serde_json::to_vec(&envelope).unwrap()
                }
            }
            Self::Bytes(bytes) => bytes.clone(),
        }
    }
}

fn payload() -> impl Strategy<Value = Payload> {
    let envelope = (
        event_type(),
        "\\PC{1,30}",
        prop::option::of("[ -~]{0,30}"),
        prop::option::of(prop_oneof![json_value(), scan_data()]),
        any::<bool>(),
    )
        .prop_map(|(event, id, created_at, data, pretty)| Payload::Envelope {
            event,
            id,
            created_at,
            data,
            pretty,
        });
    prop_oneof![
        1 => ".{0,200}".prop_map(Payload::Text),
        1 => prop::collection::vec(any::<u8>(), 1..200)
            .prop_filter("not UTF-8", |bytes| std::str::from_utf8(bytes).is_err())
            .prop_map(Payload::Bytes),
        4 => envelope,
    ]
}

/// The body of a record marked as a pointer.
#[derive(Debug, Clone)]
enum PointerBody {
    /// As either library writes it: the class (current or legacy), then the object,
    /// compact or spaced, with or without a field the reader does not know.
    Valid {
        legacy: bool,
        spaced: bool,
        extra_field: bool,
    },
    /// A well-formed pointer under another class name.
    WrongClass(String),
    /// Anything that is not a pointer (and not an envelope either).
    Malformed(String),
    /// A valid pointer cut short after this many characters.
    Truncated(usize),
}

impl PointerBody {
    fn render(&self, bucket: &str, key: &str) -> String {
        let object = serde_json::json!({"s3BucketName": bucket, "s3Key": key});
        match self {
            Self::Valid {
                legacy,
                spaced,
                extra_field,
            } => {
                let class = if *legacy {
                    LEGACY_POINTER_CLASS
                } else {
                    POINTER_CLASS
                };
                let mut object = object;
                if *extra_field {
                    object["s3Version"] = "1".into();
                }
                let pointer = serde_json::json!([class, object]);
                if *spaced {
                    // Python's json.dumps separators.
                    serde_json::to_string_pretty(&pointer)
                        .unwrap()
                        .replace('\n', " ")
                } else {
                    pointer.to_string()
                }
            }
            Self::WrongClass(class) => serde_json::json!([class, object]).to_string(),
            Self::Malformed(body) => body.clone(),
            Self::Truncated(chars) => {
                let whole = serde_json::json!([POINTER_CLASS, object]).to_string();
                let cut = chars % whole.chars().count();
                whole.chars().take(cut).collect()
            }
        }
    }
}

fn pointer_body() -> impl Strategy<Value = PointerBody> {
    let malformed = prop_oneof![
        ".{0,120}",
        json_value().prop_map(|value| value.to_string()),
        Just(format!(r#"["{POINTER_CLASS}",{{"s3BucketName":"b"}}]"#)),
        Just(format!(
            r#"["{POINTER_CLASS}",{{"s3BucketName":"b","s3Key":7}}]"#
        )),
        Just(format!(
            r#"[{{"s3BucketName":"b","s3Key":"k"}},"{POINTER_CLASS}"]"#
        )),
        Just(format!(
            r#"{{"{POINTER_CLASS}":{{"s3BucketName":"b","s3Key":"k"}}}}"#
        )),
        Just(r#"{"s3BucketName":"b","s3Key":"k"}"#.to_string()),
    ]
    .prop_filter("not an envelope", |body| Envelope::parse_str(body).is_err());
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(legacy, spaced, extra_field)| {
            PointerBody::Valid { legacy, spaced, extra_field }
        }),
        1 => prop_oneof![
            ".{0,60}",
            Just(POINTER_CLASS.to_uppercase()),
            Just(format!("{POINTER_CLASS} ")),
            Just(POINTER_CLASS.replace("payloadoffloading", "payloadOffloading")),
        ]
        .prop_filter("another class", |class| class != POINTER_CLASS && class != LEGACY_POINTER_CLASS)
        .prop_map(PointerBody::WrongClass),
        1 => malformed.prop_map(PointerBody::Malformed),
        1 => any::<usize>().prop_map(PointerBody::Truncated),
    ]
}

/// The size attribute that marks a record as a pointer.
#[derive(Debug, Clone)]
enum SizeAttribute {
    /// `ExtendedPayloadSize`, the payload's size, as the libraries write it.
    Correct,
    /// The Java library's legacy name.
    Legacy,
    /// `ExtendedPayloadSize` with any value: the libraries read a pointer by the attribute's
    /// presence, never its value.
    Wrong(String),
    /// No size attribute: the body is an ordinary message's.
    Missing,
}

fn size_attribute() -> impl Strategy<Value = SizeAttribute> {
    prop_oneof![
        3 => Just(SizeAttribute::Correct),
        1 => Just(SizeAttribute::Legacy),
        1 => prop_oneof![".{0,12}", any::<i64>().prop_map(|n| n.to_string())].prop_map(SizeAttribute::Wrong),
        1 => Just(SizeAttribute::Missing),
    ]
}

/// One claim-check record and the bucket's object for it.
#[derive(Debug, Clone)]
struct PointerCase {
    payload: Payload,
    stored: bool,
    body: PointerBody,
    size: SizeAttribute,
    bucket: String,
    key: String,
}

fn pointer_case() -> impl Strategy<Value = PointerCase> {
    (
        payload(),
        prop::bool::weighted(0.8),
        pointer_body(),
        size_attribute(),
        "\\PC{0,20}",
        ".{0,40}",
    )
        .prop_map(|(payload, stored, body, size, bucket, key)| PointerCase {
            payload,
            stored,
            body,
            size,
            bucket,
            key,
        })
}

/// The record as the receiver would have queued it (its attributes from the payload, the
/// pointer as its body) and what the consumer must make of it.
fn pointer_record(
    n: usize,
    case: &PointerCase,
    objects: &mut HashMap<String, Vec<u8>>,
) -> Result<(SqsMessage, Outcome), TestCaseError> {
    let message_id = format!("m{n}");
    let key = format!("{n}/{}", case.key);
    let payload = case.payload.bytes(n);
    if case.stored {
        objects.insert(key.clone(), payload.clone());
    }
    let body = case.body.render(&case.bucket, &key);
    let mut record = sqs_record(&message_id, &String::from_utf8_lossy(&payload), None);
    record.body = Some(body.clone());
    let size = payload.len().to_string();
    match &case.size {
        SizeAttribute::Correct => {
            let attribute = sqs_attribute(&size, "Number");
            record
                .message_attributes
                .insert(ATTR_EXTENDED_PAYLOAD_SIZE.into(), attribute);
        }
        SizeAttribute::Legacy => {
            let attribute = sqs_attribute(&size, "Number");
            record
                .message_attributes
                .insert(ATTR_LEGACY_PAYLOAD_SIZE.into(), attribute);
        }
        SizeAttribute::Wrong(value) => {
            let attribute = sqs_attribute(value, "Number");
            record
                .message_attributes
                .insert(ATTR_EXTENDED_PAYLOAD_SIZE.into(), attribute);
        }
        SizeAttribute::Missing => {}
    }
    let parsed = PayloadPointer::parse(&body);
    // The generator means what it says: valid pointers parse to their bucket and key, the
    // rest do not.
    match &case.body {
        PointerBody::Valid { .. } => prop_assert_eq!(
            parsed.as_ref().ok(),
            Some(&PayloadPointer {
                bucket: case.bucket.clone(),
                key: key.clone()
            })
        ),
        _ => prop_assert!(parsed.is_err(), "{body}"),
    }
    let expected = match (&case.size, parsed) {
        // Not marked as a pointer: the pointer body read as an event, which it is not.
        (SizeAttribute::Missing, _) => {
            prop_assert!(Envelope::parse_str(&body).is_err());
            Outcome::Failed("not_an_event")
        }
        (_, Err(_)) => Outcome::Failed("payload_missing"),
        (_, Ok(_)) if !case.stored => Outcome::Failed("payload_missing"),
        (_, Ok(_)) => match String::from_utf8(payload) {
            Ok(text) => expected_inline(&message_id, &text),
            Err(_) => Outcome::Failed("payload_unavailable"),
        },
    };
    Ok((record, expected))
}

/// An attribute as a record may carry it, against the body's value.
#[derive(Debug, Clone)]
enum AttributeValue {
    Missing,
    /// The body's value, as the receiver sets it.
    Same,
    /// The body's value changed a little.
    Changed(Change),
    /// Any text.
    Any(String),
    /// The body's value as a Binary attribute (no string value).
    Binary,
}

#[derive(Debug, Clone, Copy)]
enum Change {
    TrailingSpace,
    LeadingSpace,
    Upper,
    DropLast,
    Nul,
    Composed,
}

impl AttributeValue {
    fn apply(&self, record: &mut SqsMessage, name: &str, in_body: &str) {
        let value = match self {
            Self::Missing => {
                record.message_attributes.remove(name);
                return;
            }
            Self::Binary => {
                let mut attribute = SqsMessageAttribute::default();
                let mut bytes = Base64Data::default();
                bytes.extend_from_slice(in_body.as_bytes());
                attribute.binary_value = Some(bytes);
                attribute.data_type = Some("Binary".into());
                record.message_attributes.insert(name.into(), attribute);
                return;
            }
            Self::Same => in_body.to_string(),
            Self::Any(text) => text.clone(),
            Self::Changed(change) => match change {
                Change::TrailingSpace => format!("{in_body} "),
                Change::LeadingSpace => format!(" {in_body}"),
                Change::Upper => in_body.to_uppercase(),
                Change::DropLast => {
                    let mut value = in_body.to_string();
                    value.pop();
                    value
                }
                Change::Nul => format!("{in_body}\0"),
                // An `e` followed by a combining acute: looks like `é`, is not the same bytes.
                Change::Composed => format!("{in_body}e\u{301}"),
            },
        };
        record
            .message_attributes
            .insert(name.into(), sqs_attribute(&value, "String"));
    }
}

fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        1 => Just(AttributeValue::Missing),
        4 => Just(AttributeValue::Same),
        2 => prop::sample::select(vec![
            Change::TrailingSpace,
            Change::LeadingSpace,
            Change::Upper,
            Change::DropLast,
            Change::Nul,
            Change::Composed,
        ])
        .prop_map(AttributeValue::Changed),
        1 => ".{0,30}".prop_map(AttributeValue::Any),
        1 => Just(AttributeValue::Binary),
    ]
}

/// JSON text of `text` with every character as a `\u` escape (surrogate pairs beyond the BMP).
fn escaped(text: &str) -> String {
    let mut json = String::from("\"");
    for unit in text.encode_utf16() {
        json.push_str(&format!("\\u{unit:04x}"));
    }
    json.push('"');
    json
}

/// An SQS event as JSON: each field well typed, or any JSON value in its place.
fn sqs_event_json() -> impl Strategy<Value = serde_json::Value> {
    let string_or_any = || {
        prop_oneof![
            12 => "\\PC{0,40}".prop_map(serde_json::Value::from),
            3 => ".{0,40}".prop_map(serde_json::Value::from),
            1 => json_value(),
        ]
    };
    let attribute = (
        prop::option::of(string_or_any()),
        prop::option::weighted(
            0.2,
            prop_oneof![
                "[A-Za-z0-9+/]{0,12}={0,2}".prop_map(serde_json::Value::from),
                json_value(),
            ],
        ),
        prop::option::of(string_or_any()),
    )
        .prop_map(|(string_value, binary_value, data_type)| {
            let mut attribute = serde_json::Map::new();
            for (name, value) in [
                ("stringValue", string_value),
                ("binaryValue", binary_value),
                ("dataType", data_type),
            ] {
                if let Some(value) = value {
                    attribute.insert(name.into(), value);
                }
            }
            serde_json::Value::Object(attribute)
        });
    let attributes = prop::collection::btree_map("[a-z_]{1,12}", attribute, 0..4)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()));
    let record = (
        prop::option::of(string_or_any()),
        prop::option::of(prop_oneof![
            string_or_any(),
            json_value().prop_map(|data| {
                serde_json::json!({"event": "scan.created", "id": "evt_j", "data": data})
                    .to_string()
                    .into()
            }),
        ]),
        prop::option::of(attributes),
        prop::option::of(prop_oneof![
            3 => Just(serde_json::json!({"MessageGroupId": "g"})),
            1 => json_value(),
        ]),
    )
        .prop_map(|(message_id, body, message_attributes, attributes)| {
            let mut record = serde_json::Map::new();
            record.insert("eventSource".into(), "aws:sqs".into());
            for (name, value) in [
                ("messageId", message_id),
                ("body", body),
                ("messageAttributes", message_attributes),
                ("attributes", attributes),
            ] {
                if let Some(value) = value {
                    record.insert(name.into(), value);
                }
            }
            serde_json::Value::Object(record)
        });
    prop_oneof![
        4 => prop::collection::vec(record, 0..5)
            .prop_map(|records| serde_json::json!({"Records": records})),
        1 => json_value().prop_map(|records| serde_json::json!({"Records": records})),
    ]
}

/// Whether a field of generated SQS JSON is one the event type reads as a string.
fn as_str(value: Option<&serde_json::Value>) -> Option<Option<&str>> {
    match value {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(serde_json::Value::String(text)) => Some(Some(text)),
        Some(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_pointer_resolves_to_what_the_inline_body_would_be_and_anything_else_fails(
        cases in prop::collection::vec(pointer_case(), 1..6),
    ) {
        let mut objects = HashMap::new();
        let mut records = Vec::new();
        let mut expected = Vec::new();
        for (n, case) in cases.iter().enumerate() {
            let (record, outcome) = pointer_record(n, case, &mut objects)?;
            records.push(record);
            expected.push(outcome);
        }
        let bucket = Bucket(Arc::new(objects));
        // Each record alone: as a pointer, and (when the object is text) inline.
        for (n, (record, outcome)) in records.iter().zip(&expected).enumerate() {
            prop_assert_eq!(&outcome_of(record.clone(), &bucket)?, outcome, "record {}: {:?}", n, cases[n]);
            let payload = cases[n].payload.bytes(n);
            if let (Ok(text), SizeAttribute::Correct) = (std::str::from_utf8(&payload), &cases[n].size) {
                let inline = sqs_record(&format!("m{n}"), text, None);
                prop_assert_eq!(outcome_of(inline, &bucket)?, expected_inline(&format!("m{n}"), text));
            }
        }
        // All of them in one batch: each ends as it does alone.
        let (failed, failures, seen) = run_batch(records, &bucket);
        let mut expected_failed = Vec::new();
        let mut expected_failures = BTreeMap::new();
        let mut expected_seen = Vec::new();
        for (n, outcome) in expected.into_iter().enumerate() {
            match outcome {
                Outcome::Handled(event) => expected_seen.push(*event),
                Outcome::Failed(reason) => {
                    expected_failed.push(format!("m{n}"));
                    *expected_failures.entry(reason).or_insert(0) += 1;
                }
            }
        }
        expected_failed.sort();
        prop_assert_eq!(failed, expected_failed);
        prop_assert_eq!(failures, expected_failures);
        prop_assert_eq!(seen, expected_seen);
    }

    #[test]
    fn an_attribute_that_differs_from_the_body_fails_its_record(
        event in event_type(),
        id in "\\PC{1,30}",
        escape in any::<bool>(),
        type_attribute in attribute_value(),
        id_attribute in attribute_value(),
        via_pointer in any::<bool>(),
    ) {
        let data = if event == "scan.created" {
            serde_json::json!({"scan_id": 1, "qpr_code_id": "c", "short_id": "s", "scanned_at": "t"})
        } else {
            serde_json::json!({"qpr_code_id": "qpr_1", "n": 1})
        };
        let body = if escape {
            format!(r#"{{"event":{},"id":{},"data":{data}}}"#, escaped(&event), escaped(&id))
        } else {
            serde_json::json!({"event": event, "id": id, "data": data}).to_string()
        };
        // Only usable envelopes are queued with attributes.
        prop_assume!(Envelope::parse_str(&body).is_ok());
        let mut record = sqs_record("m0", &body, None);
        type_attribute.apply(&mut record, ATTR_EVENT_TYPE, &event);
        id_attribute.apply(&mut record, ATTR_EVENT_ID, &id);
        let attribute = |name: &str| {
            record.message_attributes.get(name).and_then(|a| a.string_value.clone())
        };
        let agrees = attribute(ATTR_EVENT_TYPE).as_deref() == Some(event.as_str())
            && attribute(ATTR_EVENT_ID).as_deref() == Some(id.as_str());
        let mut objects = HashMap::new();
        if via_pointer {
            objects.insert("k".to_string(), body.clone().into_bytes());
            let pointer = PayloadPointer { bucket: "b".into(), key: "k".into() };
            record.body = Some(pointer.to_body());
            record.message_attributes.insert(
                ATTR_EXTENDED_PAYLOAD_SIZE.into(),
                sqs_attribute(&body.len().to_string(), "Number"),
            );
        }
        let outcome = outcome_of(record, &Bucket(Arc::new(objects)))?;
        if agrees {
            prop_assert_eq!(outcome, expected_inline("m0", &body));
        } else {
            prop_assert_eq!(outcome, Outcome::Failed("attributes"));
        }
    }

    #[test]
    fn any_bytes_as_an_sqs_event_are_read_or_refused_without_panicking(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            json_value().prop_map(|value| value.to_string().into_bytes()),
            sqs_event_json().prop_map(|value| value.to_string().into_bytes()),
        ],
    ) {
        // How the Lambda runtime reads an invocation's payload (through serde_path_to_error,
        // over this same deserializer).
        if let Ok(event) = serde_json::from_slice::<SqsEvent>(&bytes) {
            let ids: Vec<_> = event.records.iter().map(|r| r.message_id.clone().unwrap_or_default()).collect();
            let (failed, _, seen) = run_batch(event.records, &Bucket::default());
            prop_assert!(failed.len() + seen.len() <= ids.len());
            for id in failed {
                prop_assert!(ids.contains(&id));
            }
        }
    }

    #[test]
    fn an_sqs_event_keeps_its_bodies_and_attributes_exactly(json in sqs_event_json()) {
        let parsed = serde_json::from_slice::<SqsEvent>(json.to_string().as_bytes());
        let records = json["Records"].as_array();
        // Well-typed JSON is always read.
        let well_typed = records.is_some_and(|records| records.iter().all(|record| {
            record.is_object()
                && as_str(record.get("messageId")).is_some()
                && as_str(record.get("body")).is_some()
                && record.get("attributes").is_none_or(|a| {
                    a.is_null() || a.as_object().is_some_and(|a| a.values().all(serde_json::Value::is_string))
                })
                && record.get("messageAttributes").is_none_or(|attributes| {
                    attributes.as_object().is_some_and(|attributes| attributes.values().all(|a| {
                        as_str(a.get("stringValue")).is_some()
                            && as_str(a.get("dataType")).is_some()
                            && a.get("binaryValue").is_none()
                    }))
                })
        }));
        if well_typed {
            prop_assert!(parsed.is_ok(), "{:?}", parsed);
        }
        let Ok(event) = parsed else { return Ok(()) };
        let records = records.unwrap();
        prop_assert_eq!(event.records.len(), records.len());
        for (record, json) in event.records.iter().zip(records) {
            prop_assert_eq!(record.message_id.as_deref(), as_str(json.get("messageId")).unwrap());
            prop_assert_eq!(record.body.as_deref(), as_str(json.get("body")).unwrap());
            for (name, attribute) in json.get("messageAttributes").and_then(|a| a.as_object()).into_iter().flatten() {
                let read = &record.message_attributes[name];
                prop_assert_eq!(read.string_value.as_deref(), as_str(attribute.get("stringValue")).unwrap());
                prop_assert_eq!(read.data_type.as_deref(), as_str(attribute.get("dataType")).unwrap());
            }
        }
        // And what was read writes back to the same event.
        let again: SqsEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        prop_assert_eq!(again, event);
    }
}
