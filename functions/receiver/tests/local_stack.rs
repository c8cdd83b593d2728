//! The real `receiver` binary under cargo lambda's Lambda emulator, against moto (the local
//! stack of `infra/local-stack.sh`), driven over HTTP by the sender tool as 3QPR would.
//!
//! Needs the project's .venv (moto, cargo-lambda): `make test` creates it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use qpr_cli::samples::SAMPLES;
use qpr_cli::sender::{Answer, Sender, Signing};
use qpr_webhooks::contract::signature::SigningKey;
use testkit::fault::{Fault, FaultProxy};
use testkit::rie::{http_api_event, Rie};
use testkit::{Emulator, LambdaProcess, LocalStack};

/// The receiver polling its own emulator.
struct Function {
    url: String,
    process: LambdaProcess,
    _emulator: Emulator,
}

impl Function {
    fn start(stack: &LocalStack, overrides: &[(&str, &str)]) -> Self {
        let emulator = Emulator::start();
        let process = LambdaProcess::start(
            &emulator,
            Path::new(env!("CARGO_BIN_EXE_receiver")),
            "receiver",
            &stack.function_env("receiver"),
            overrides,
        );
        Self {
            url: emulator.function_url("receiver", "/webhooks/3qpr"),
            process,
            _emulator: emulator,
        }
    }

    fn ready(stack: &LocalStack) -> Self {
        let mut function = Self::start(stack, &[]);
        function.process.wait_for_log("receiver ready");
        function
    }

    fn post(&self, secret: &str, body: &[u8], signing: Signing, content_type: &str) -> Answer {
        Sender::new(secret)
            .expect("a secret")
            .post(&self.url, body, signing, content_type)
            .expect("the emulator answers")
    }
}

fn attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> String {
    message.message_attributes().expect("attributes")[name]
        .string_value()
        .expect("a string attribute")
        .to_string()
}

#[tokio::test]
async fn signed_events_land_byte_for_byte_in_their_routed_queues() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);

    for (event_type, body) in SAMPLES {
        let answer = function.post(
            stack.secret(),
            body.as_bytes(),
            Signing::Signed,
            "application/json",
        );
        assert_eq!(answer.status, 200, "{event_type}: {}", answer.body);
        let reply: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(reply["status"], "queued");
    }
    // A body the emulator hands over base64-encoded, as API Gateway does for binary types.
    let crlf =
        "{\"event\":\"scan.created\",\r\n\"id\":\"evt_b64\",\"data\":{\"n\":\"🌷\u{2028}\"}}";
    let answer = function.post(
        stack.secret(),
        crlf.as_bytes(),
        Signing::Signed,
        "application/octet-stream",
    );
    assert_eq!(answer.status, 200, "{}", answer.body);

    let expected: [(&str, Vec<&str>); 4] = [
        ("scans", vec![SAMPLES[0].1, crlf]),
        ("conversations", vec![SAMPLES[1].1]),
        ("account", vec![SAMPLES[2].1, SAMPLES[3].1, SAMPLES[4].1]),
        ("unrouted", vec![]),
    ];
    for (queue, bodies) in expected {
        let messages = stack.messages(queue).await;
        let mut held: Vec<&str> = messages.iter().map(|m| m.body().unwrap()).collect();
        let mut wanted = bodies.clone();
        held.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(held, wanted, "queue {queue}");
        for message in &messages {
            let envelope = qpr_webhooks::contract::envelope::Envelope::parse(
                message.body().unwrap().as_bytes(),
            )
            .unwrap();
            assert_eq!(attribute(message, "event_type"), envelope.event);
            assert_eq!(attribute(message, "event_id"), envelope.id);
            assert!(attribute(message, "received_at").ends_with('Z'));
            assert!(!attribute(message, "request_id").is_empty());
        }
    }
}

#[tokio::test]
async fn unknown_event_types_are_kept_in_the_unrouted_queue() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    let body = br#"{"event":"scan_report.exported","id":"evt_new_type","data":{}}"#;
    let answer = function.post(stack.secret(), body, Signing::Signed, "application/json");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let held = stack.messages("unrouted").await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].body().unwrap().as_bytes(), body);
}

#[tokio::test]
async fn no_refusal_enqueues_anything() {
    let stack = LocalStack::up();
    // Without a payload bucket, so that a body larger than the queues take is refused.
    let mut function = Function::start(
        &stack,
        &[("PAYLOAD_BUCKET", ""), ("ARCHIVE_ENABLED", "false")],
    );
    function.process.wait_for_log("receiver ready");
    let scan = SAMPLES[0].1.as_bytes();
    let secret = stack.secret();

    let tampered = function.post(secret, scan, Signing::Tampered, "application/json");
    assert_eq!(tampered.status, 400);
    let unsigned = function.post(secret, scan, Signing::Unsigned, "application/json");
    assert_eq!(unsigned.status, 400);
    // The tampered body made the receiver re-read the secret: the next mismatch within the
    // re-read interval is a 503 (3QPR would retry it), still never queued.
    let wrong_secret = function.post(
        "whsec_not_the_secret",
        scan,
        Signing::Signed,
        "application/json",
    );
    assert_eq!(wrong_secret.status, 503);
    let max_size: usize = stack
        .sqs()
        .get_queue_attributes()
        .queue_url(stack.queue_url("scans"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize]
        .parse()
        .unwrap();
    let too_large = vec![b' '; max_size];
    let answer = function.post(secret, &too_large, Signing::Signed, "application/json");
    assert_eq!(answer.status, 413);

    for queue in stack.queue_names() {
        assert!(stack.messages(&queue).await.is_empty(), "queue {queue}");
    }
}

#[tokio::test]
async fn signed_bodies_that_are_not_envelopes_are_kept_in_the_unrouted_queue() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    let secret = stack.secret();
    let bodies: [(&[u8], &str); 3] = [
        (b"scan.created", "not JSON"),
        (br#"{"event":"scan.created"}"#, "`id`"),
        // Real SQS refuses U+0001 in an attribute value (moto does not check).
        (
            br#"{"event":"scan.created","id":"evt_\u0001","data":{}}"#,
            "U+0001",
        ),
    ];
    for (body, _) in bodies {
        let answer = function.post(secret, body, Signing::Signed, "application/json");
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("quarantined"), "{}", answer.body);
    }
    let held = stack.messages("unrouted").await;
    assert_eq!(held.len(), bodies.len());
    for (body, reason) in bodies {
        let message = held
            .iter()
            .find(|message| message.body().unwrap().as_bytes() == body)
            .expect("kept byte for byte");
        assert!(attribute(message, "quarantine_reason").contains(reason));
    }
}

#[tokio::test]
async fn the_secret_is_fetched_once_at_init() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    // Gone from Secrets Manager after init: the receiver still verifies with what it fetched.
    stack
        .secrets_manager()
        .delete_secret()
        .secret_id(stack.secret_id())
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let answer = function.post(
        stack.secret(),
        SAMPLES[0].1.as_bytes(),
        Signing::Signed,
        "application/json",
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_503_with_a_log_line_naming_it() {
    let stack = LocalStack::up();
    let mut function = Function::start(&stack, &[("WEBHOOK_SECRET_ID", "3qpr/no-such-secret")]);
    function.process.wait_for_log("receiver ready");
    let answer = function.post(
        stack.secret(),
        SAMPLES[0].1.as_bytes(),
        Signing::Signed,
        "application/json",
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    let lines = function.process.wait_for_log("secret_unavailable").to_vec();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("cannot read the signing secret")
                && line.contains("3qpr/no-such-secret")),
        "{lines:#?}"
    );
    for queue in stack.queue_names() {
        assert!(stack.messages(&queue).await.is_empty(), "queue {queue}");
    }
}

#[tokio::test]
async fn a_bad_route_fails_init_saying_what_to_fix() {
    let stack = LocalStack::up();
    let mut function = Function::start(&stack, &[("EVENT_ROUTES", r#"{"scan.*":"scans"}"#)]);
    let lines = function
        .process
        .wait_for_log("receiver configuration is invalid")
        .to_vec();
    assert!(
        lines.iter().any(|line| line.contains("EVENT_ROUTES")),
        "{lines:#?}"
    );
    assert!(!function.process.wait_for_exit().success());
}

#[tokio::test]
async fn with_moto_stopped_the_answer_is_503_and_nothing_is_acknowledged() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    stack.down();
    let answer = function.post(
        stack.secret(),
        SAMPLES[0].1.as_bytes(),
        Signing::Signed,
        "application/json",
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.retry_after.is_some());
}

#[tokio::test]
async fn a_new_secret_version_is_accepted_at_once_and_the_previous_one_still_is() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    let rotated = "whsec_RotatedSecretValue0123456789";
    stack
        .secrets_manager()
        .put_secret_value()
        .secret_id(stack.secret_id())
        .secret_string(rotated)
        .send()
        .await
        .unwrap();

    let scan = SAMPLES[0].1.as_bytes();
    let with_new = function.post(rotated, scan, Signing::Signed, "application/json");
    assert_eq!(with_new.status, 200, "{}", with_new.body);
    let with_previous = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(with_previous.status, 200, "{}", with_previous.body);
    // A mismatch right after the re-read: not refused (the secret may be rotated again), but
    // answered 503 until the re-read interval allows another read.
    let with_other = function.post("whsec_neither", scan, Signing::Signed, "application/json");
    assert_eq!(with_other.status, 503, "{}", with_other.body);
    assert!(with_other.retry_after.is_some());
    assert_eq!(stack.messages("scans").await.len(), 2);
}

#[tokio::test]
async fn an_aws_call_slower_than_the_timeout_is_503_with_retry_after() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    let mut function = Function::start(
        &stack,
        &[
            ("AWS_ENDPOINT_URL", proxy.url()),
            ("AWS_CALL_TIMEOUT_MS", "1000"),
        ],
    );
    function.process.wait_for_log("receiver ready");
    let scan = SAMPLES[0].1.as_bytes();
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 200, "{}", answer.body);

    proxy.set(Fault::Stall);
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    let lines = function.process.wait_for_log("queue_unavailable").to_vec();
    assert!(
        lines.last().is_some_and(|line| line.contains("timed out")),
        "{lines:#?}"
    );
    assert_eq!(stack.messages("scans").await.len(), 1);
}

#[tokio::test]
async fn with_aws_unreachable_at_cold_start_it_starts_answers_503_then_recovers() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    proxy.set(Fault::Refuse);
    let mut function = Function::start(
        &stack,
        &[
            ("AWS_ENDPOINT_URL", proxy.url()),
            ("RETRY_AFTER_SECONDS", "1"),
        ],
    );
    let lines = function.process.wait_for_log("receiver ready").to_vec();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"keys_loaded\":false")),
        "{lines:#?}"
    );
    let scan = SAMPLES[0].1.as_bytes();
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));

    proxy.set(Fault::None);
    std::thread::sleep(Duration::from_millis(1100));
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(stack.messages("scans").await.len(), 1);
    assert!(proxy.injected().refused > 0);
}

#[tokio::test]
async fn throttled_aws_calls_are_503_with_retry_after_and_nothing_is_lost() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    let mut function = Function::start(&stack, &[("AWS_ENDPOINT_URL", proxy.url())]);
    function.process.wait_for_log("receiver ready");
    proxy.set(Fault::Throttle);
    let scan = SAMPLES[0].1.as_bytes();
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.retry_after.is_some());
    let lines = function.process.wait_for_log("queue_unavailable").to_vec();
    assert!(
        lines
            .last()
            .is_some_and(|line| line.contains("ThrottlingException")),
        "{lines:#?}"
    );
    assert!(stack.messages("scans").await.is_empty());
    proxy.set(Fault::None);
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn under_lambdas_own_emulator_a_call_longer_than_the_invocation_is_503_before_the_timeout() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    let mut env = stack.function_env("receiver");
    env.retain(|(key, _)| key != "AWS_ENDPOINT_URL" && key != "AWS_CALL_TIMEOUT_MS");
    env.push(("AWS_ENDPOINT_URL".into(), proxy.url().into()));
    // Longer than the 2 s the invocation has: only the deadline can stop it in time.
    env.push(("AWS_CALL_TIMEOUT_MS".into(), "4000".into()));
    let rie = Rie::start(Path::new(env!("CARGO_BIN_EXE_receiver")), &env, 2);
    let scan = SAMPLES[0].1.as_bytes();
    let signature = SigningKey::new(stack.secret()).unwrap().sign(scan);
    let event = http_api_event(scan, &[("X-3QPR-Signature", &signature)]);
    assert_eq!(rie.invoke(&event)["statusCode"], 200, "{:#?}", rie.log());

    proxy.set(Fault::Stall);
    let started = Instant::now();
    let answer = rie.invoke(&event);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer["statusCode"], 503, "{answer:#}");
    assert!(answer["headers"]["retry-after"].is_string(), "{answer:#}");
    rie.wait_for_log("\"outcome\":\"deadline\"");
    assert_eq!(stack.messages("scans").await.len(), 1);
}

#[tokio::test]
async fn a_call_timeout_that_cannot_fit_the_function_timeout_fails_init_saying_so() {
    let stack = LocalStack::up();
    let mut function = Function::start(
        &stack,
        &[
            ("AWS_CALL_TIMEOUT_MS", "5000"),
            ("FUNCTION_TIMEOUT_SECONDS", "10"),
        ],
    );
    let lines = function
        .process
        .wait_for_log("receiver configuration is invalid")
        .to_vec();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("AWS_CALL_TIMEOUT_MS")),
        "{lines:#?}"
    );
    assert!(!function.process.wait_for_exit().success());
}
