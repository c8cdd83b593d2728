//! The whole path on the local stack: the sender signs events, the real receiver queues them,
//! and this runner feeds each queue to its real consumer binary, all polling one cargo lambda
//! emulator. A poison record is retried and ends in its dead-letter queue; nothing else is lost
//! or processed twice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::process::{Command, Stdio};

use qpr_cli::samples::SAMPLES;
use qpr_cli::sender::{Sender, Signing};
use testkit::{workspace_binary, Emulator, LambdaProcess, LocalStack, Process};

const MAX_RECEIVE_COUNT: usize = 3;
const CONSUMERS: [(&str, &str); 3] = [
    ("scans", "scans-consumer"),
    ("conversations", "conversations-consumer"),
    ("account", "account-consumer"),
];

/// The event ids a consumer logged as processed, in order.
fn processed_ids(consumer: &mut LambdaProcess) -> Vec<String> {
    consumer
        .log()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "event processed")
        .map(|line| {
            line["fields"]["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn every_event_reaches_its_consumer_and_a_poison_record_its_dead_letter_queue() {
    let count = MAX_RECEIVE_COUNT.to_string();
    let stack = LocalStack::up_with(&[("MAX_RECEIVE_COUNT", &count)]);
    let emulator = Emulator::start();
    let mut receiver = LambdaProcess::start(
        &emulator,
        &workspace_binary("receiver"),
        "receiver",
        &stack.function_env("receiver"),
        &[],
    );
    let mut consumers: Vec<LambdaProcess> = CONSUMERS
        .iter()
        .map(|(_, function)| {
            LambdaProcess::start(
                &emulator,
                &workspace_binary(function),
                function,
                &stack.function_env(function),
                &[],
            )
        })
        .collect();
    receiver.wait_for_log("receiver ready");

    // 3QPR sends the five documented events and one the consumers can never process.
    let sender = Sender::new(stack.secret()).unwrap();
    let url = emulator.function_url("receiver", "/webhooks/3qpr");
    let poison = br#"{"event":"scan.created","id":"evt_POISON","data":{"scan_id":"x"}}"#;
    for body in SAMPLES
        .iter()
        .map(|(_, body)| body.as_bytes())
        .chain([&poison[..]])
    {
        let answer = sender
            .post(&url, body, Signing::Signed, "application/json")
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    // Every queue with a consumer in the local stack's description, fed to that consumer.
    let mut runner = Command::new(env!("CARGO_BIN_EXE_qpr-webhooks"));
    runner
        .arg("event-source")
        .args(["--invoke-url", &emulator.base_url()])
        .arg("--local")
        .arg(stack.state_dir())
        .args(["--batch-size", "10", "--batch-window-ms", "200"])
        .args(["--visibility-timeout", "1", "--exit-when-idle", "6"])
        .stdout(Stdio::piped());
    let mut runner = Process(runner.spawn().expect("the runner starts"));
    let status = runner.0.wait().expect("the runner exits");
    assert!(status.success(), "the runner failed");

    let expected: [&[&str]; 3] = [
        &["evt_01HXYZ"],
        &["evt_01HXZ2CONV0001"],
        &[
            "evt_01HXZ3CODE0001",
            "evt_01HXZ4SUBS0001",
            "evt_01HXZ5SUBS0002",
        ],
    ];
    for (consumer, ids) in consumers.iter_mut().zip(expected) {
        let mut processed = processed_ids(consumer);
        processed.sort_unstable();
        assert_eq!(processed, ids, "each event exactly once");
    }
    let scans = &mut consumers[0];
    let poison_failures = scans
        .log()
        .iter()
        .filter(|line| line.contains("record failed"))
        .count();
    assert_eq!(
        poison_failures, MAX_RECEIVE_COUNT,
        "the poison record was retried"
    );
    assert!(
        scans.log().iter().any(|line| line.contains("\"Scans\":1")),
        "scans-consumer printed its EMF metrics"
    );

    let dead = stack.messages("scans-dlq").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body().unwrap().as_bytes(), poison);
    for queue in [
        "scans",
        "conversations",
        "account",
        "unrouted",
        "conversations-dlq",
        "account-dlq",
        "unrouted-dlq",
    ] {
        assert_eq!(stack.depth(queue).await, 0, "queue {queue} is empty");
    }
}
