//! Property tests of everything that parses input from outside: the signature header, the
//! envelope, the request handler on any body, and the consumer on any SQS record. Nothing
//! panics, and what is accepted comes out byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessageAttribute};
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use qpr_webhooks::consumer::{Consumer, Delivered, EventHandler, HandlerError};
use qpr_webhooks::contract::envelope::{Envelope, EnvelopeError, MAX_FIELD_BYTES};
use qpr_webhooks::contract::signature::{Signature, SigningKey};
use qpr_webhooks::receiver::config::ReceiverConfig;
use qpr_webhooks::receiver::handler::{Inbound, Receiver};
use qpr_webhooks::testing::{sqs_record, MemoryQueue, MemorySecrets};
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
