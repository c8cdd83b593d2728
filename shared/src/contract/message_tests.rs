use super::*;

const STANDARD: bool = false;
const FIFO: bool = true;
const RECEIVED_AT: &str = "2026-03-20T15:30:00Z";

fn envelope_body(event_id: &str, code: Option<&str>) -> String {
    let data = code.map_or("{}".to_string(), |code| {
        serde_json::json!({ "qpr_code_id": code }).to_string()
    });
    format!(
        r#"{{"event":"scan.created","id":{},"data":{data}}}"#,
        serde_json::Value::from(event_id)
    )
}

/// The message for an event of `event_id` (with `data.qpr_code_id` = `code`), with its body
/// replaced by `{}` to keep the size arithmetic simple.
fn message(fifo: bool, event_id: &str, code: Option<&str>) -> OutgoingMessage<'static> {
    let body = envelope_body(event_id, code);
    let envelope = Envelope::parse_str(&body).unwrap();
    let message = OutgoingMessage::for_event(&body, &envelope, fifo, RECEIVED_AT.into(), "req-1");
    OutgoingMessage {
        body: Cow::Borrowed("{}"),
        attributes: message
            .attributes
            .into_iter()
            .map(|attribute| Attribute {
                value: Cow::Owned(attribute.value.into_owned()),
                ..attribute
            })
            .collect(),
        fifo: message.fifo,
    }
}

fn names_and_values(message: &OutgoingMessage<'_>) -> Vec<(&'static str, String)> {
    message
        .attributes
        .iter()
        .map(|attribute| (attribute.name, attribute.value.to_string()))
        .collect()
}

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
    // An id is at most 128 bytes (a usable envelope's limit), but may hold any character; a
    // code may be any length.
    let long_code = "q".repeat(129);
    let first = message(FIFO, "evt é", Some(&long_code)).fifo.unwrap();
    let again = message(FIFO, "evt é", Some(&long_code)).fifo.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.deduplication_id.len(), 64);
    assert_eq!(first.group_id.len(), 64);
    assert_ne!(
        message(FIFO, "evt_1", Some("qpr é")).fifo.unwrap().group_id,
        "qpr é"
    );
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
        names_and_values(&msg),
        [
            ("event_type", "scan.created".to_string()),
            ("event_id", "evt_1".to_string()),
            ("received_at", RECEIVED_AT.to_string()),
            ("request_id", "req-1".to_string()),
        ]
    );
    assert!(msg
        .attributes
        .iter()
        .all(|attribute| attribute.data_type == DataType::String));
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

#[test]
fn a_quarantined_text_body_is_kept_verbatim_with_its_reason() {
    let body = b"scan.created";
    let reason = Envelope::parse(body).unwrap_err();
    let msg = OutgoingMessage::quarantined(body, &reason, STANDARD, RECEIVED_AT.into(), "req-9");
    assert_eq!(msg.body, "scan.created");
    assert_eq!(
        msg.attribute(ATTR_QUARANTINE_REASON),
        Some(reason.to_string().as_str())
    );
    assert_eq!(msg.attribute(ATTR_BODY_ENCODING), None);
    assert_eq!(msg.attribute(ATTR_REQUEST_ID), Some("req-9"));
    assert_eq!(msg.attribute(ATTR_EVENT_ID), None);
}

#[test]
fn a_quarantined_body_sqs_cannot_carry_is_base64_encoded() {
    for body in [
        &b"\xff\xfe not utf-8"[..],
        "{\"x\":\"\u{FFFF}\"}".as_bytes(),
    ] {
        let reason = Envelope::parse(body).unwrap_err();
        let msg = OutgoingMessage::quarantined(body, &reason, FIFO, RECEIVED_AT.into(), "r");
        assert_eq!(msg.attribute(ATTR_BODY_ENCODING), Some(BASE64_ENCODING));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(msg.body.as_bytes())
            .unwrap();
        assert_eq!(decoded, body);
        let fifo = msg.fifo.unwrap();
        assert_eq!(fifo.group_id, QUARANTINE_GROUP);
        assert_eq!(fifo.deduplication_id.len(), 64);
    }
}
