use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::*;
use crate::contract::envelope::MAX_FIELD_BYTES;
use crate::contract::signature::SigningKey;
use crate::testing::{CapturedLogs, MemoryQueue, MemorySecrets};
use tokio::time::Instant;

const SECRET: &str = "whsec_AbCdEfGhIjKlMnOpQrStUv";
const SCANS: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/scans";
const ACCOUNT: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/account.fifo";
const UNROUTED: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/unrouted";
const QUEUE_LIMIT: usize = 256 * 1024;
const SCAN: &str = include_str!("../../../infra/samples/scan.created.json");

struct Setup {
    receiver: Receiver<MemorySecrets, MemoryQueue>,
    secrets: MemorySecrets,
    queue: MemoryQueue,
}

async fn setup() -> Setup {
    setup_with_limits(QUEUE_LIMIT, QUEUE_LIMIT).await
}

async fn setup_with_limits(scans_limit: usize, unrouted_limit: usize) -> Setup {
    let routes = format!(r#"{{"scan.*":"{SCANS}","subscription.*":"{ACCOUNT}","*":"{UNROUTED}"}}"#);
    let config = ReceiverConfig::from_env(|name| match name {
        "WEBHOOK_SECRET_ID" => Some("3qpr/webhook".into()),
        "EVENT_ROUTES" => Some(routes.clone()),
        _ => None,
    })
    .unwrap();
    let secrets = MemorySecrets::holding(&[SECRET]);
    let queue = MemoryQueue::default()
        .with_queue(SCANS, scans_limit)
        .with_queue(ACCOUNT, QUEUE_LIMIT)
        .with_queue(UNROUTED, unrouted_limit);
    let receiver = Receiver::start(&config, secrets.clone(), queue.clone()).await;
    Setup {
        receiver,
        secrets,
        queue,
    }
}

fn signed_headers(secret: &str, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = SigningKey::new(secret).unwrap().sign(body);
    headers.insert("X-3QPR-Signature", HeaderValue::from_str(&value).unwrap());
    headers
}

async fn post(setup: &Setup, headers: &HeaderMap, body: &[u8]) -> Response<String> {
    setup
        .receiver
        .handle(Inbound {
            method: &Method::POST,
            headers,
            body,
            request_id: "req-1",
            deadline: in_a_while(),
        })
        .await
}

fn in_a_while() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn json(response: &Response<String>) -> serde_json::Value {
    serde_json::from_str(response.body()).unwrap()
}

#[tokio::test]
async fn a_signed_event_is_queued_byte_for_byte_on_its_route() {
    let setup = setup().await;
    let response = post(
        &setup,
        &signed_headers(SECRET, SCAN.as_bytes()),
        SCAN.as_bytes(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(&response),
        serde_json::json!({"id": "evt_01HXYZ", "status": "queued"})
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let sent = setup.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].queue_url, SCANS);
    assert_eq!(sent[0].body, SCAN);
    assert_eq!(sent[0].attributes["event_type"], "scan.created");
    assert_eq!(sent[0].attributes["event_id"], "evt_01HXYZ");
    assert_eq!(sent[0].attributes["request_id"], "req-1");
    let received_at = &sent[0].attributes["received_at"];
    // RFC 3339 in UTC, e.g. 2026-03-20T15:30:00.123456789Z
    let (date, clock) = received_at.split_once('T').unwrap();
    assert_eq!(date.len(), 10, "{received_at}");
    assert!(clock.ends_with('Z') && clock.len() >= 9, "{received_at}");
    assert_eq!(sent[0].fifo, None);
}

#[tokio::test]
async fn unknown_event_types_go_to_the_catch_all_queue() {
    let setup = setup().await;
    let body = br#"{"event":"scan_batch.exported","id":"evt_new","data":{}}"#;
    let response = post(&setup, &signed_headers(SECRET, body), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(setup.queue.sent()[0].queue_url, UNROUTED);
}

#[tokio::test]
async fn fifo_routes_get_deduplication_and_group_ids() {
    let setup = setup().await;
    let body = br#"{"event":"subscription.upgraded","id":"evt_7","data":{"plan":"pro"}}"#;
    let response = post(&setup, &signed_headers(SECRET, body), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fifo = setup.queue.sent()[0].fifo.clone().unwrap();
    assert_eq!(fifo.deduplication_id, "evt_7");
    assert_eq!(fifo.group_id, "subscription.upgraded");
}

#[tokio::test]
async fn fifo_routes_group_by_the_qpr_code_when_the_event_has_one() {
    let setup = setup().await;
    let body =
        br#"{"event":"subscription.cancelled","id":"evt_8","data":{"qpr_code_id":"qpr_42"}}"#;
    let response = post(&setup, &signed_headers(SECRET, body), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        setup.queue.sent()[0].fifo.clone().unwrap().group_id,
        "qpr_42"
    );
}

#[tokio::test]
async fn signature_failures_are_400_and_queue_nothing() {
    let body = SCAN.as_bytes();
    let mut repeated = signed_headers(SECRET, body);
    let value = repeated["x-3qpr-signature"].clone();
    repeated.append("x-3qpr-signature", value);
    let mut malformed = HeaderMap::new();
    malformed.insert("x-3qpr-signature", HeaderValue::from_static("sha256=abc"));
    let tampered = SCAN.replace("9142", "9143");

    let cases: [(&str, HeaderMap, &[u8]); 5] = [
        ("missing", HeaderMap::new(), body),
        ("malformed", malformed, body),
        ("repeated", repeated, body),
        ("wrong secret", signed_headers("whsec_other", body), body),
        (
            "tampered",
            signed_headers(SECRET, body),
            tampered.as_bytes(),
        ),
    ];
    // Each on a fresh instance: a mismatch re-reads the secret, and the next mismatch within
    // the re-read interval is a 503 (see below).
    for (case, headers, body) in cases {
        let setup = setup().await;
        let response = post(&setup, &headers, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(
            json(&response),
            serde_json::json!({"error": "invalid signature"}),
            "{case}"
        );
        assert!(setup.queue.sent().is_empty());
    }
}

#[tokio::test]
async fn a_mismatch_soon_after_a_reread_is_503_until_the_secret_can_be_read_again() {
    let setup = setup().await;
    let body = SCAN.as_bytes();
    let forged = signed_headers("whsec_forged", body);
    assert_eq!(
        post(&setup, &forged, body).await.status(),
        StatusCode::BAD_REQUEST
    );
    let response = post(&setup, &forged, body).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(setup.secrets.fetches(), 2);
    assert!(setup.queue.sent().is_empty());
}

#[tokio::test]
async fn signed_bodies_that_are_not_usable_envelopes_are_kept_in_quarantine() {
    let setup = setup().await;
    let deep = format!(
        r#"{{"event":"scan.created","id":"e","data":{}{}}}"#,
        "[".repeat(80),
        "]".repeat(80)
    );
    let control_id = r#"{"event":"scan.created","id":"evt_\u0001","data":{}}"#;
    let cases: [(&[u8], &str, Option<&str>); 7] = [
        (b"\xff\xfe not utf-8", "not UTF-8", Some("base64")),
        (b"scan.created", "not JSON", None),
        (br#"{"id":"evt_1"}"#, "`event`", None),
        (br#"{"event":"scan.created"}"#, "`id`", None),
        (deep.as_bytes(), "deeper than 64", None),
        (control_id.as_bytes(), "`id` holds U+0001", None),
        (
            "{\"event\":\"scan.created\",\"id\":\"e\",\"data\":{\"x\":\"\u{FFFF}\"}}".as_bytes(),
            "body holds U+FFFF",
            Some("base64"),
        ),
    ];
    for (body, says, encoding) in cases {
        let response = post(&setup, &signed_headers(SECRET, body), body).await;
        assert_eq!(response.status(), StatusCode::OK, "{says}");
        assert_eq!(json(&response)["status"], "quarantined", "{says}");
        let sent = setup.queue.sent().pop().unwrap();
        assert_eq!(sent.queue_url, UNROUTED, "{says}");
        let reason = &sent.attributes["quarantine_reason"];
        assert!(reason.contains(says), "{reason:?} should say {says:?}");
        assert_eq!(
            sent.attributes.get("body_encoding").map(String::as_str),
            encoding
        );
        let kept = match encoding {
            Some(_) => base64::engine::general_purpose::STANDARD
                .decode(&sent.body)
                .unwrap(),
            None => sent.body.into_bytes(),
        };
        assert_eq!(kept, body, "{says}: byte for byte");
    }
    assert_eq!(setup.queue.sent().len(), 7);
}

#[tokio::test]
async fn unsigned_bodies_that_are_not_envelopes_are_refused_not_kept() {
    let setup = setup().await;
    let response = post(
        &setup,
        &signed_headers("whsec_other", b"scan.created"),
        b"scan.created",
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(setup.queue.sent().is_empty());
}

#[tokio::test]
async fn bodies_larger_than_the_smallest_queue_accepts_are_413_before_any_signature_work() {
    let setup = setup_with_limits(QUEUE_LIMIT, 4096).await;
    let limit = 4096 - ATTRIBUTE_ALLOWANCE;
    let too_big = vec![b'x'; limit + 1];
    // No signature header at all: the size alone decides.
    let response = post(&setup, &HeaderMap::new(), &too_big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(setup.secrets.fetches(), 1, "only the start-up fetch");

    // At the limit it goes on to the signature check.
    let at_limit = vec![b'x'; limit];
    let response = post(&setup, &HeaderMap::new(), &at_limit).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_id_too_long_for_the_attributes_is_quarantined_not_refused() {
    let setup = setup_with_limits(2048, QUEUE_LIMIT).await;
    // Fits the pre-check (2048 - 1024), but as an attribute its id would overflow the queue:
    // it used to be a 413, which 3QPR never retries, so a genuine webhook was lost.
    let body = format!(
        r#"{{"event":"scan.created","id":"{}","data":{{}}}}"#,
        "e".repeat(960)
    );
    assert!(body.len() <= 2048 - ATTRIBUTE_ALLOWANCE);
    let response = post(
        &setup,
        &signed_headers(SECRET, body.as_bytes()),
        body.as_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(&response)["status"], "quarantined");
    let sent = setup.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].queue_url, UNROUTED);
    assert_eq!(sent[0].body, body, "byte for byte");
    let reason = &sent[0].attributes["quarantine_reason"];
    assert!(reason.contains("`id` is 960 bytes long"), "{reason}");
    assert!(!sent[0].attributes.contains_key("event_id"));
}

#[tokio::test]
async fn ids_and_types_at_the_length_limit_are_queued_on_their_route() {
    let setup = setup_with_limits(2048, QUEUE_LIMIT).await;
    let id = "e".repeat(MAX_FIELD_BYTES);
    let event_type = format!("scan.{}", "x".repeat(MAX_FIELD_BYTES - "scan.".len()));
    let body = format!(r#"{{"event":"{event_type}","id":"{id}","data":{{}}}}"#);
    let response = post(
        &setup,
        &signed_headers(SECRET, body.as_bytes()),
        body.as_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(json(&response)["status"], "queued");
    let sent = setup.queue.sent();
    assert_eq!(sent[0].queue_url, SCANS);
    assert_eq!(sent[0].attributes["event_id"], id);
    assert_eq!(sent[0].attributes["event_type"], event_type);
}

#[tokio::test]
async fn methods_other_than_post_are_405() {
    let setup = setup().await;
    for method in [Method::GET, Method::PUT, Method::HEAD, Method::DELETE] {
        let response = setup
            .receiver
            .handle(Inbound {
                method: &method,
                headers: &signed_headers(SECRET, b""),
                body: b"",
                request_id: "r",
                deadline: in_a_while(),
            })
            .await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST");
    }
    assert!(setup.queue.sent().is_empty());
}

#[tokio::test]
async fn a_failing_queue_is_503_with_retry_after() {
    let setup = setup().await;
    setup.queue.set_failing(true);
    let response = post(
        &setup,
        &signed_headers(SECRET, SCAN.as_bytes()),
        SCAN.as_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(setup.queue.sent().is_empty());
}

#[tokio::test]
async fn a_secret_store_failing_on_refetch_is_503_not_400() {
    let setup = setup().await;
    setup.secrets.put(&["whsec_RotatedSecret0123456789"]);
    setup.secrets.set_failing(true);
    let body = SCAN.as_bytes();
    let response = post(
        &setup,
        &signed_headers("whsec_RotatedSecret0123456789", body),
        body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_at_once_and_the_previous_one_still_is() {
    let setup = setup().await;
    setup
        .secrets
        .put(&["whsec_RotatedSecret0123456789", SECRET]);
    let body = SCAN.as_bytes();
    assert_eq!(
        post(
            &setup,
            &signed_headers("whsec_RotatedSecret0123456789", body),
            body
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&setup, &signed_headers(SECRET, body), body)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_missing_queue_is_503_with_a_log_line_naming_it() {
    let config = ReceiverConfig::from_env(|name| match name {
        "WEBHOOK_SECRET_ID" => Some("s".into()),
        "EVENT_ROUTES" => Some(format!(r#"{{"*":"{UNROUTED}"}}"#)),
        _ => None,
    })
    .unwrap();
    let (captured, _guard) = CapturedLogs::start();
    let queue = MemoryQueue::default();
    let receiver = Receiver::start(&config, MemorySecrets::holding(&[SECRET]), queue.clone()).await;
    assert_eq!(receiver.is_ready(), (true, false));
    assert!(captured.text().contains(UNROUTED), "{}", captured.text());
    let body = SCAN.as_bytes();
    let response = receiver
        .handle(Inbound {
            method: &Method::POST,
            headers: &signed_headers(SECRET, body),
            body,
            request_id: "r",
            deadline: in_a_while(),
        })
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn each_request_logs_one_line_without_secret_signature_or_body() {
    let setup = setup().await;
    let (captured, _guard) = CapturedLogs::start();

    let body = SCAN.as_bytes();
    let good = signed_headers(SECRET, body);
    let wrong = signed_headers("whsec_wrong", body);
    assert_eq!(post(&setup, &good, body).await.status(), StatusCode::OK);
    assert_eq!(
        post(&setup, &wrong, body).await.status(),
        StatusCode::BAD_REQUEST
    );
    setup.queue.set_failing(true);
    assert_eq!(
        post(&setup, &good, body).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let output = captured.text();
    let lines = captured.lines();
    assert_eq!(lines.len(), 3, "{output}");
    let outcomes: Vec<_> = lines
        .iter()
        .map(|line| line["fields"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["queued", "invalid_signature", "queue_unavailable"]
    );
    let first = &lines[0]["fields"];
    assert_eq!(first["message"], "webhook");
    assert_eq!(first["status"], 200);
    assert!(first["duration_us"].is_u64());
    assert_eq!(first["event_type"], "scan.created");
    assert_eq!(first["event_id"], "evt_01HXYZ");
    assert_eq!(first["bytes"], body.len());
    assert_eq!(lines[1]["fields"]["status"], 400);
    assert_eq!(lines[2]["fields"]["status"], 503);

    let signature_hex = &good["x-3qpr-signature"].to_str().unwrap()["sha256=".len()..];
    let wrong_hex = &wrong["x-3qpr-signature"].to_str().unwrap()["sha256=".len()..];
    for secret_part in [SECRET, "AbCdEfGhIjKlMnOpQrStUv", signature_hex, wrong_hex] {
        assert!(!output.contains(secret_part), "log holds {secret_part}");
    }
    // Words only the body holds: its numbers could turn up in a duration by chance.
    for body_part in ["qpr_01HXYZ789ABC", "hc9m3r", "scan_id", "scanned_at"] {
        assert!(
            !output.contains(body_part),
            "log holds body part {body_part}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn with_aws_down_at_start_up_it_starts_answers_503_and_recovers_at_a_bounded_rate() {
    let routes = format!(r#"{{"scan.*":"{SCANS}","*":"{UNROUTED}"}}"#);
    let config = ReceiverConfig::from_env(|name| match name {
        "WEBHOOK_SECRET_ID" => Some("3qpr/webhook".into()),
        "EVENT_ROUTES" => Some(routes.clone()),
        _ => None,
    })
    .unwrap();
    let secrets = MemorySecrets::holding(&[SECRET]);
    let queue = MemoryQueue::default()
        .with_queue(SCANS, QUEUE_LIMIT)
        .with_queue(UNROUTED, QUEUE_LIMIT);
    secrets.set_failing(true);
    queue.set_failing(true);
    let receiver = Receiver::start(&config, secrets.clone(), queue.clone()).await;
    assert_eq!(receiver.is_ready(), (false, false));
    let setup = Setup {
        receiver,
        secrets: secrets.clone(),
        queue: queue.clone(),
    };
    let body = SCAN.as_bytes();
    let headers = signed_headers(SECRET, body);
    for _ in 0..3 {
        let response = post(&setup, &headers, body).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
    }
    assert_eq!(secrets.fetches(), 1, "no read before the retry interval");

    secrets.set_failing(false);
    queue.set_failing(false);
    tokio::time::advance(Duration::from_secs(5)).await;
    let response = post(&setup, &headers, body).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(setup.receiver.is_ready(), (true, true));
    assert_eq!(queue.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_queue_slower_than_the_invocation_has_left_is_503_before_the_deadline() {
    let setup = setup().await;
    setup.queue.set_delay(Duration::from_secs(60));
    let body = SCAN.as_bytes();
    let deadline = Instant::now() + Duration::from_secs(2);
    let response = setup
        .receiver
        .handle(Inbound {
            method: &Method::POST,
            headers: &signed_headers(SECRET, body),
            body,
            request_id: "r",
            deadline,
        })
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(Instant::now() <= deadline);
}

#[tokio::test]
async fn a_placeholder_secret_verifies_nothing_and_is_503_with_one_error_naming_it() {
    let (captured, _guard) = CapturedLogs::start();
    let setup = setup().await;
    let placeholder = "GeneratedPlaceholder0123456789ab";
    setup.secrets.put(&[placeholder]);
    let fresh = Setup {
        receiver: Receiver::start(
            &ReceiverConfig::from_env(|name| match name {
                "WEBHOOK_SECRET_ID" => Some("arn:aws:secretsmanager:secret:3qpr".into()),
                "EVENT_ROUTES" => Some(format!(r#"{{"*":"{UNROUTED}"}}"#)),
                _ => None,
            })
            .unwrap(),
            setup.secrets.clone(),
            setup.queue.clone(),
        )
        .await,
        secrets: setup.secrets.clone(),
        queue: setup.queue.clone(),
    };
    let body = SCAN.as_bytes();
    for _ in 0..3 {
        let response = post(&fresh, &signed_headers(placeholder, body), body).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
    }
    assert!(fresh.queue.sent().is_empty());
    let errors: Vec<_> = captured
        .lines()
        .into_iter()
        .filter(|line| line["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let message = errors[0]["fields"]["message"].as_str().unwrap();
    assert!(
        message.contains("arn:aws:secretsmanager:secret:3qpr"),
        "{message}"
    );
    assert!(message.contains("put-secret-value"), "{message}");
    assert!(!captured.text().contains(placeholder));
}

mod payload_bucket {
    use super::*;
    use crate::contract::pointer::{PayloadPointer, ATTR_EXTENDED_PAYLOAD_SIZE};
    use crate::testing::MemoryObjects;

    struct Stored {
        receiver: Receiver<MemorySecrets, MemoryQueue, MemoryObjects>,
        queue: MemoryQueue,
        objects: MemoryObjects,
    }

    async fn with_bucket(archive: bool, scans_limit: usize) -> Stored {
        let routes = format!(r#"{{"scan.*":"{SCANS}","*":"{UNROUTED}"}}"#);
        let archive = archive.to_string();
        let config = ReceiverConfig::from_env(|name| match name {
            "WEBHOOK_SECRET_ID" => Some("3qpr/webhook".into()),
            "EVENT_ROUTES" => Some(routes.clone()),
            "PAYLOAD_BUCKET" => Some("payloads".into()),
            "ARCHIVE_ENABLED" => Some(archive.clone()),
            _ => None,
        })
        .unwrap();
        let queue = MemoryQueue::default()
            .with_queue(SCANS, scans_limit)
            .with_queue(UNROUTED, QUEUE_LIMIT);
        let objects = MemoryObjects::named("payloads");
        let receiver = Receiver::start_with_objects(
            &config,
            MemorySecrets::holding(&[SECRET]),
            queue.clone(),
            Some(objects.clone()),
        )
        .await;
        Stored {
            receiver,
            queue,
            objects,
        }
    }

    async fn post_to(stored: &Stored, body: &[u8]) -> Response<String> {
        stored
            .receiver
            .handle(Inbound {
                method: &Method::POST,
                headers: &signed_headers(SECRET, body),
                body,
                request_id: "req-big",
                deadline: in_a_while(),
            })
            .await
    }

    fn large_scan(size: usize) -> String {
        let padding = "x".repeat(size);
        format!(
            r#"{{"event":"scan.created","id":"evt_large","data":{{"scan_id":1,"qpr_code_id":"q","short_id":"s","scanned_at":"t","metadata":{{"note":"{padding}"}}}}}}"#
        )
    }

    #[tokio::test]
    async fn a_body_too_large_for_its_queue_goes_to_s3_behind_an_extended_client_pointer() {
        let stored = with_bucket(false, QUEUE_LIMIT).await;
        let body = large_scan(2 * 1024 * 1024);
        let response = post_to(&stored, body.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
        let sent = stored.queue.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].queue_url, SCANS);
        let pointer = PayloadPointer::parse(&sent[0].body).unwrap();
        assert_eq!(pointer.bucket, "payloads");
        assert_eq!(pointer.key, "payloads/scans/req-big");
        assert_eq!(
            sent[0].attributes[ATTR_EXTENDED_PAYLOAD_SIZE],
            body.len().to_string()
        );
        assert_eq!(sent[0].attributes["event_id"], "evt_large");
        assert_eq!(sent[0].attributes["request_id"], "req-big");
        assert_eq!(
            stored.objects.get(&pointer.key).unwrap().body,
            body.as_bytes()
        );
        assert_eq!(stored.objects.stored().len(), 1, "the archive is off");
    }

    #[tokio::test]
    async fn with_the_archive_on_every_verified_body_is_stored_with_its_attributes() {
        let stored = with_bucket(true, QUEUE_LIMIT).await;
        let response = post_to(&stored, SCAN.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let objects = stored.objects.stored();
        assert_eq!(objects.len(), 1);
        let archived = &objects[0];
        assert!(archived.key.starts_with("archive/"), "{}", archived.key);
        assert!(
            archived.key.ends_with("/scan.created/evt_01HXYZ.json"),
            "{}",
            archived.key
        );
        assert_eq!(archived.body, SCAN.as_bytes());
        assert_eq!(archived.metadata["event-type"], "scan.created");
        assert_eq!(archived.metadata["event-id"], "evt_01HXYZ");
        assert_eq!(archived.metadata["request-id"], "req-big");
        assert_eq!(
            archived.metadata["received-at"],
            stored.queue.sent()[0].attributes["received_at"]
        );

        let quarantined = post_to(&stored, b"\xff not an envelope").await;
        assert_eq!(quarantined.status(), StatusCode::OK);
        let kept = stored
            .objects
            .stored()
            .into_iter()
            .find(|object| object.key.contains("/_quarantined/"))
            .unwrap();
        assert_eq!(kept.body, b"\xff not an envelope");
        assert!(kept.metadata["quarantine-reason"].contains("UTF-8"));
    }

    #[tokio::test]
    async fn with_the_archive_off_nothing_small_is_written() {
        let stored = with_bucket(false, QUEUE_LIMIT).await;
        assert_eq!(
            post_to(&stored, SCAN.as_bytes()).await.status(),
            StatusCode::OK
        );
        assert!(stored.objects.stored().is_empty());
    }

    #[tokio::test]
    async fn s3_down_is_a_503_never_a_2xx_without_the_archive_object() {
        let stored = with_bucket(true, QUEUE_LIMIT).await;
        stored.objects.set_failing(true);
        let response = post_to(&stored, SCAN.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        // 3QPR retries once S3 is back: then the archive object is there for what was queued.
        stored.objects.set_failing(false);
        assert_eq!(
            post_to(&stored, SCAN.as_bytes()).await.status(),
            StatusCode::OK
        );
        assert_eq!(stored.objects.stored().len(), 1);
        for sent in stored.queue.sent() {
            let id = &sent.attributes["event_id"];
            assert!(stored.objects.stored()[0].key.contains(id.as_str()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_and_archive_writes_run_at_once_so_latency_is_the_slower_not_the_sum() {
        let stored = with_bucket(true, QUEUE_LIMIT).await;
        // Set after start-up, so that loading the queues' limits is not delayed.
        let write = Duration::from_millis(200);
        stored.queue.set_delay(write);
        stored.objects.set_delay(write);
        let started = Instant::now();
        let response = post_to(&stored, SCAN.as_bytes()).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
        assert_eq!(stored.queue.sent().len(), 1);
        assert_eq!(stored.objects.stored().len(), 1);
        // Virtual time (paused clock): both writes waited their 200 ms, so the answer took at
        // least that; one after the other it would take 400 ms.
        assert!(elapsed >= write, "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(300), "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_claim_check_object_that_cannot_be_stored_queues_nothing() {
        let stored = with_bucket(false, QUEUE_LIMIT).await;
        stored.objects.set_failing(true);
        let (captured, _guard) = CapturedLogs::start();
        let body = large_scan(300 * 1024);
        let response = post_to(&stored, body.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            stored.queue.sent().is_empty(),
            "no pointer to a missing object"
        );
        // The log names S3, not SQS, as what failed.
        let lines = captured.lines();
        let fields = &lines[0]["fields"];
        assert_eq!(fields["outcome"], "claim_check_unavailable");
        assert!(
            fields["error"].as_str().unwrap().contains("PutObject"),
            "{fields}"
        );
    }

    #[tokio::test]
    async fn an_over_long_id_is_quarantined_and_archived_not_refused_on_every_retry() {
        let stored = with_bucket(true, QUEUE_LIMIT).await;
        // As an archive key part this id alone is over S3's 1024-byte key limit.
        let body = format!(
            r#"{{"event":"scan.created","id":"{}","data":{{}}}}"#,
            "e".repeat(2000)
        );
        let response = post_to(&stored, body.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
        assert_eq!(json(&response)["status"], "quarantined");
        let sent = stored.queue.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].queue_url, UNROUTED);
        assert_eq!(sent[0].body, body);
        assert!(sent[0].attributes["quarantine_reason"].contains("`id`"));
        let archived = stored.objects.stored();
        assert_eq!(archived.len(), 1);
        assert!(
            archived[0].key.contains("/_quarantined/"),
            "{}",
            archived[0].key
        );
        assert_eq!(archived[0].body, body.as_bytes());
    }

    #[tokio::test]
    async fn the_longest_usable_id_and_type_fit_s3s_key_and_metadata_limits() {
        let stored = with_bucket(true, 2048).await;
        // Two-byte characters: each of their bytes is percent-encoded in the key and the
        // metadata, the most any byte can grow.
        let longest = r"\u00e9".repeat(MAX_FIELD_BYTES / 2);
        for event_type in ["scan.created", longest.as_str()] {
            let body = format!(r#"{{"event":"{event_type}","id":"{longest}","data":{{}}}}"#);
            let response = post_to(&stored, body.as_bytes()).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
            assert_eq!(json(&response)["status"], "queued");
        }
        let archived = stored.objects.stored();
        assert_eq!(archived.len(), 2);
        for object in archived {
            assert!(object
                .key
                .ends_with(&format!("/{}.json", "%C3%A9".repeat(64))));
            assert!(!object.key.contains("_quarantined"), "{}", object.key);
        }
    }

    #[tokio::test]
    async fn only_what_cannot_reach_a_function_is_413_with_a_bucket() {
        let stored = with_bucket(false, QUEUE_LIMIT).await;
        let too_large = vec![b'x'; LAMBDA_PAYLOAD_LIMIT + 1];
        let response = post_to(&stored, &too_large).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
