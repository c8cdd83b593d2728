//! What the receiver writes to the payload bucket, and under which keys:
//!
//! - `archive/<yyyy>/<mm>/<dd>/<event type>/<event id>.json`: every verified body as 3QPR sent
//!   it (a retried delivery of an event overwrites it with the same bytes), with the message's
//!   attributes as object metadata; a quarantined body under `…/<dd>/_quarantined/<request id>`;
//! - `payloads/<queue name>/<request id>`: the body of a message too large for its queue (the
//!   claim-check object its pointer names). Separate from the archive, so that deleting a
//!   message (which AWS's Java extended client does to its object by default) never deletes
//!   an archived body.

use time::OffsetDateTime;

pub const ARCHIVE_PREFIX: &str = "archive/";
pub const PAYLOADS_PREFIX: &str = "payloads/";
pub const QUARANTINED_DIRECTORY: &str = "_quarantined";

/// Object metadata names (S3 adds the `x-amz-meta-` prefix).
pub const META_EVENT_TYPE: &str = "event-type";
pub const META_EVENT_ID: &str = "event-id";
pub const META_RECEIVED_AT: &str = "received-at";
pub const META_REQUEST_ID: &str = "request-id";
pub const META_QUARANTINE_REASON: &str = "quarantine-reason";

/// The archive key of an event received at `received`.
pub fn archive_key(received: OffsetDateTime, event_type: &str, event_id: &str) -> String {
    format!(
        "{}{}/{}/{}.json",
        ARCHIVE_PREFIX,
        date_path(received),
        key_part(event_type),
        key_part(event_id)
    )
}

/// The archive key of a quarantined body (it has no usable type or id).
pub fn quarantine_key(received: OffsetDateTime, request_id: &str) -> String {
    format!(
        "{}{}/{QUARANTINED_DIRECTORY}/{}",
        ARCHIVE_PREFIX,
        date_path(received),
        key_part(request_id)
    )
}

/// The claim-check key of a body too large for the queue at `queue_url`.
pub fn claim_key(queue_url: &str, request_id: &str) -> String {
    let queue = queue_url.rsplit('/').next().unwrap_or(queue_url);
    format!(
        "{PAYLOADS_PREFIX}{}/{}",
        key_part(queue),
        key_part(request_id)
    )
}

fn date_path(received: OffsetDateTime) -> String {
    format!(
        "{:04}/{:02}/{:02}",
        received.year(),
        u8::from(received.month()),
        received.day()
    )
}

/// A key segment a person can read: letters, digits and `._-` as they are, anything else
/// percent-encoded (so `/` in an id cannot make a directory).
pub fn key_part(text: &str) -> String {
    let mut part = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            part.push(char::from(byte));
        } else {
            part.push_str(&format!("%{byte:02X}"));
        }
    }
    if part.is_empty() || part == "." || part == ".." {
        part = format!("%2E{part}");
    }
    part
}

/// S3 user metadata is ASCII: anything else in a value is percent-encoded.
pub fn metadata_value(text: &str) -> String {
    let mut value = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_ascii_graphic() || character == ' ' {
            if character == '%' {
                value.push_str("%25");
            } else {
                value.push(character);
            }
        } else {
            let mut buffer = [0u8; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                value.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn archive_keys_browse_by_date_type_and_id() {
        let received = datetime!(2026-03-20 15:30:00 UTC);
        assert_eq!(
            archive_key(received, "scan.created", "evt_01HXYZ"),
            "archive/2026/03/20/scan.created/evt_01HXYZ.json"
        );
        assert_eq!(
            quarantine_key(received, "req-1"),
            "archive/2026/03/20/_quarantined/req-1"
        );
    }

    #[test]
    fn odd_ids_cannot_escape_their_directory() {
        let received = datetime!(2026-03-20 15:30:00 UTC);
        assert_eq!(
            archive_key(received, "a/b", "../x y"),
            "archive/2026/03/20/a%2Fb/..%2Fx%20y.json"
        );
        assert_eq!(key_part(".."), "%2E..");
        assert_eq!(key_part(""), "%2E");
        assert_eq!(key_part("é"), "%C3%A9");
    }

    #[test]
    fn claim_keys_sit_under_the_queues_name() {
        assert_eq!(
            claim_key(
                "https://sqs.eu-west-1.amazonaws.com/1/stack-ScansQueue-X",
                "req-9"
            ),
            "payloads/stack-ScansQueue-X/req-9"
        );
    }

    #[test]
    fn metadata_values_are_ascii() {
        assert_eq!(metadata_value("evt_é 100%"), "evt_%C3%A9 100%25");
        assert_eq!(metadata_value("a\nb"), "a%0Ab");
    }
}
