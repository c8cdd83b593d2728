//! The receiver binary with its payload bucket on the local stack: large bodies by
//! claim-check in the SQS Extended Client format (read back by AWS's own Python library), the
//! archive of every verified body, and S3 faults.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::path::Path;
use std::process::Command;

use qpr_cli::samples::SAMPLES;
use qpr_webhooks::contract::pointer::PayloadPointer;
use qpr_webhooks::contract::signature::SigningKey;
use testkit::fault::{Fault, FaultProxy};
use testkit::rie::{http_api_event, Rie};
use testkit::{venv_bin, workspace_root, LocalStack};

fn receiver(stack: &LocalStack, overrides: &[(&str, &str)]) -> Rie {
    let mut env = stack.function_env("receiver");
    env.retain(|(key, _)| !overrides.iter().any(|(name, _)| name == key));
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Rie::start(Path::new(env!("CARGO_BIN_EXE_receiver")), &env, 10)
}

fn signed_event(stack: &LocalStack, body: &[u8]) -> serde_json::Value {
    let signature = SigningKey::new(stack.secret()).unwrap().sign(body);
    http_api_event(
        body,
        &[
            ("X-3QPR-Signature", &signature),
            ("content-type", "application/json"),
        ],
    )
}

/// A scan.created of about `size` bytes, its metadata padded with text that JSON and SQS
/// both carry (an emoji, U+2028, CRLF).
fn large_scan(id: &str, size: usize) -> String {
    let unit = "🌷\u{2028}\r\nlorem ipsum ";
    let padding = unit.repeat(size / unit.len());
    serde_json::json!({
        "event": "scan.created",
        "id": id,
        "created_at": "2026-03-20T15:30:00Z",
        "data": {"scan_id": 1, "qpr_code_id": "qpr_big", "short_id": "big",
                 "scanned_at": "2026-03-20T15:30:00Z", "metadata": {"note": padding}}
    })
    .to_string()
}

async fn object(
    stack: &LocalStack,
    key: &str,
) -> (Vec<u8>, std::collections::HashMap<String, String>) {
    let object = stack
        .s3()
        .get_object()
        .bucket(stack.bucket())
        .key(key)
        .send()
        .await
        .unwrap_or_else(|error| panic!("s3://{}/{key}: {error:?}", stack.bucket()));
    let metadata = object.metadata().cloned().unwrap_or_default();
    (
        object.body.collect().await.unwrap().into_bytes().to_vec(),
        metadata,
    )
}

async fn keys(stack: &LocalStack, prefix: &str) -> Vec<String> {
    stack
        .s3()
        .list_objects_v2()
        .bucket(stack.bucket())
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn large_events_go_by_claim_check_and_aws_extended_client_reads_them() {
    let stack = LocalStack::up();
    let rie = receiver(&stack, &[("ARCHIVE_ENABLED", "false")]);
    for (id, size) in [("evt_2mib", 2 << 20), ("evt_4mib", 4 << 20)] {
        let body = large_scan(id, size);
        let answer = rie.invoke(&signed_event(&stack, body.as_bytes()));
        assert_eq!(answer["statusCode"], 200, "{id}: {answer:#}");

        let held = stack.drain("scans").await;
        assert_eq!(held.len(), 1, "{id}");
        let message = &held[0];
        let pointer = PayloadPointer::parse(message.body().unwrap()).unwrap();
        assert_eq!(pointer.bucket, stack.bucket());
        let attributes = message.message_attributes().unwrap();
        assert_eq!(
            attributes["ExtendedPayloadSize"].string_value(),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(attributes["ExtendedPayloadSize"].data_type(), "Number");
        assert_eq!(attributes["event_id"].string_value(), Some(id));
        assert_eq!(
            attributes["event_type"].string_value(),
            Some("scan.created")
        );
        let (stored, _) = object(&stack, &pointer.key).await;
        assert_eq!(stored, body.as_bytes(), "{id}: byte for byte");

        // The same kind of message, read by AWS's Python extended client library.
        stack
            .sqs()
            .send_message()
            .queue_url(stack.queue_url("scans"))
            .message_body(message.body().unwrap())
            .set_message_attributes(message.message_attributes.clone())
            .send()
            .await
            .unwrap();
        let read = Command::new(venv_bin("python"))
            .arg(workspace_root().join("infra/extended_client_reader.py"))
            .arg(stack.state_dir())
            .arg(stack.queue_url("scans"))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&read.stdout);
        assert!(
            read.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&read.stderr)
        );
        let expected = format!("{} {}", body.len(), sha256_hex(body.as_bytes()));
        assert_eq!(out.trim(), expected, "{id}");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn with_the_archive_on_each_sample_is_stored_byte_for_byte_with_its_metadata() {
    let stack = LocalStack::up();
    let rie = receiver(&stack, &[]);
    for (event_type, body) in SAMPLES {
        let answer = rie.invoke(&signed_event(&stack, body.as_bytes()));
        assert_eq!(answer["statusCode"], 200, "{event_type}: {answer:#}");
    }
    let archived = keys(&stack, "archive/").await;
    assert_eq!(archived.len(), SAMPLES.len(), "{archived:?}");
    for (event_type, body) in SAMPLES {
        let envelope = qpr_webhooks::contract::envelope::Envelope::parse_str(body).unwrap();
        let key = archived
            .iter()
            .find(|key| key.ends_with(&format!("/{event_type}/{}.json", envelope.id)))
            .unwrap_or_else(|| panic!("{event_type} in {archived:?}"));
        let (stored, metadata) = object(&stack, key).await;
        assert_eq!(stored, body.as_bytes());
        assert_eq!(metadata["event-type"], event_type);
        assert_eq!(metadata["event-id"], envelope.id.as_ref());
        assert!(metadata["received-at"].ends_with('Z'));
        assert!(!metadata["request-id"].is_empty());
    }
}

#[tokio::test]
async fn with_the_archive_off_nothing_is_written_and_no_s3_call_is_made() {
    let stack = LocalStack::up();
    // S3 only, through a proxy that refuses and counts every connection (FaultProxy counts
    // connections only when it injects a fault): a small webhook must not need S3 at all, so
    // it is queued (200) and the proxy never sees a connection.
    let proxy = FaultProxy::to(stack.endpoint());
    proxy.set(Fault::Refuse);
    let rie = receiver(
        &stack,
        &[
            ("ARCHIVE_ENABLED", "false"),
            ("AWS_ENDPOINT_URL_S3", proxy.url()),
        ],
    );
    for (event_type, body) in SAMPLES {
        let answer = rie.invoke(&signed_event(&stack, body.as_bytes()));
        assert_eq!(answer["statusCode"], 200, "{event_type}: {answer:#}");
    }
    assert_eq!(proxy.injected().refused, 0, "S3 was called");
    assert!(keys(&stack, "").await.is_empty());
}

#[tokio::test]
async fn with_s3_down_the_answer_is_503_until_every_queued_message_has_its_archive_object() {
    let stack = LocalStack::up();
    // S3 only, through a proxy that refuses every connection; SQS and Secrets Manager direct.
    let proxy = FaultProxy::to(stack.endpoint());
    proxy.set(Fault::Refuse);
    let rie = receiver(
        &stack,
        &[
            ("AWS_ENDPOINT_URL_S3", proxy.url()),
            ("AWS_CALL_TIMEOUT_MS", "1000"),
        ],
    );
    let body = SAMPLES[0].1.as_bytes();
    let answer = rie.invoke(&signed_event(&stack, body));
    assert_eq!(answer["statusCode"], 503, "{answer:#}");
    assert!(answer["headers"]["retry-after"].is_string());
    rie.wait_for_log("archive_unavailable");

    // 3QPR retries once S3 is back.
    proxy.set(Fault::None);
    assert_eq!(rie.invoke(&signed_event(&stack, body))["statusCode"], 200);
    let archived = keys(&stack, "archive/").await;
    for message in stack.drain("scans").await {
        let id = message.message_attributes().unwrap()["event_id"]
            .string_value()
            .unwrap()
            .to_string();
        assert!(
            archived
                .iter()
                .any(|key| key.ends_with(&format!("/{id}.json"))),
            "{id} has no archive object: {archived:?}"
        );
    }
    assert!(proxy.injected().refused > 0);
}
