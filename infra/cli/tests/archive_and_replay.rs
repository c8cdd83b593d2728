//! Nothing lost, and effects once: the receiver, the three consumers and the operator tool on
//! the local stack, with the payload bucket and the idempotency table. A large event goes by
//! claim-check and reaches its handler typed; archived events are replayed by id, type and
//! time, and skipped as duplicates unless forced; the poison record is listed in its
//! dead-letter queue and redriven; two consumers racing on one event run it once; with
//! DynamoDB down no record is handled.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::process::{Command, Output};

use qpr_cli::samples::SAMPLES;
use qpr_cli::sender::{Sender, Signing};
use testkit::fault::{Fault, FaultProxy};
use testkit::{workspace_binary, Emulator, LambdaProcess, LocalStack};

const TOOL: &str = env!("CARGO_BIN_EXE_qpr-webhooks");
const CONSUMERS: [&str; 3] = [
    "scans-consumer",
    "conversations-consumer",
    "account-consumer",
];

struct Deployment {
    stack: LocalStack,
    emulator: Emulator,
    receiver: LambdaProcess,
    consumers: Vec<LambdaProcess>,
}

impl Deployment {
    fn up() -> Self {
        let stack = LocalStack::up_with(&[("MAX_RECEIVE_COUNT", "2")]);
        let emulator = Emulator::start();
        let mut receiver = LambdaProcess::start(
            &emulator,
            &workspace_binary("receiver"),
            "receiver",
            &stack.function_env("receiver"),
            &[],
        );
        let consumers = CONSUMERS
            .iter()
            .map(|name| {
                LambdaProcess::start(
                    &emulator,
                    &workspace_binary(name),
                    name,
                    &stack.function_env(name),
                    &[],
                )
            })
            .collect();
        receiver.wait_for_log("receiver ready");
        Self {
            stack,
            emulator,
            receiver,
            consumers,
        }
    }

    fn post(&self, body: &[u8]) {
        let answer = Sender::new(self.stack.secret())
            .unwrap()
            .post(
                &self.emulator.function_url("receiver", "/webhooks/3qpr"),
                body,
                Signing::Signed,
                "application/json",
            )
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    fn tool(&self, args: &[&str]) -> Output {
        Command::new(TOOL)
            .args(args)
            .arg("--local")
            .arg(self.stack.state_dir())
            .output()
            .unwrap()
    }

    /// Feeds every queue to its consumer until all have been idle a while.
    fn run_consumers(&self) {
        let status = Command::new(TOOL)
            .arg("event-source")
            .args(["--invoke-url", &self.emulator.base_url()])
            .arg("--local")
            .arg(self.stack.state_dir())
            .args([
                "--batch-size",
                "10",
                "--visibility-timeout",
                "1",
                "--exit-when-idle",
                "4",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The event ids each consumer logged as processed so far, all consumers together.
    fn processed(&mut self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .consumers
            .iter_mut()
            .flat_map(|consumer| consumer.log().to_vec())
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter(|line| line["fields"]["message"] == "event processed")
            .filter_map(|line| line["fields"]["event_id"].as_str().map(str::to_string))
            .collect();
        ids.sort_unstable();
        ids
    }

    fn logged(&mut self, text: &str) -> usize {
        self.consumers
            .iter_mut()
            .flat_map(|consumer| consumer.log().to_vec())
            .filter(|line| line.contains(text))
            .count()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn large_scan() -> String {
    serde_json::json!({
        "event": "scan.created", "id": "evt_large",
        "data": {"scan_id": 7, "qpr_code_id": "qpr_big", "short_id": "big",
                 "scanned_at": "2026-03-20T15:30:00Z",
                 "metadata": {"note": "large ".repeat(400_000)}}
    })
    .to_string()
}

/// The sample scan.created event under another id.
fn late_scan(id: &str) -> String {
    SAMPLES[0].1.replace("evt_01HXYZ", id)
}

const POISON: &[u8] = br#"{"event":"scan.created","id":"evt_POISON","data":{"scan_id":"x"}}"#;

#[tokio::test]
async fn large_events_replays_duplicates_and_dead_letters_end_to_end() {
    let mut deployment = Deployment::up();
    let started = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    for (_, body) in SAMPLES {
        deployment.post(body.as_bytes());
    }
    deployment.post(large_scan().as_bytes());
    deployment.post(POISON);
    // Two more events, received after a moment noted between them and the others (a second
    // either side, whatever the precision of the receipt times).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let late_since = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let late_ids = ["evt_LATE1", "evt_LATE2"];
    for id in late_ids {
        deployment.post(late_scan(id).as_bytes());
    }
    deployment.run_consumers();

    // Every event once; the large one reached its handler through its claim-check pointer.
    let mut expected: Vec<String> = SAMPLES
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .chain(["evt_large".to_string()])
        .chain(late_ids.map(str::to_string))
        .collect();
    expected.sort_unstable();
    assert_eq!(deployment.processed(), expected);
    let stack = &deployment.stack;
    assert_eq!(
        stack.messages("scans-dlq").await.len(),
        1,
        "the poison record"
    );

    // The poison record, listed then redriven.
    let listed = deployment.tool(&["dlq", "scans"]);
    let out = text(&listed);
    assert!(listed.status.success(), "{out}");
    assert!(out.contains("scans-dlq holds 1 message(s)"), "{out}");
    let line = out
        .lines()
        .find(|line| line.contains("evt_POISON"))
        .expect(&out);
    assert!(
        line.contains("scan.created") && line.contains("reason: in the consumer's log"),
        "{line}"
    );
    let redriven = deployment.tool(&["redrive", "scans"]);
    let out = text(&redriven);
    assert!(redriven.status.success(), "{out}");
    assert!(
        out.contains("moved 1 message(s) from scans-dlq back to scans"),
        "{out}"
    );
    let stack = &deployment.stack;
    assert!(stack.messages("scans-dlq").await.is_empty());
    let back = stack.drain("scans").await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body().unwrap().as_bytes(), POISON);

    // Replays: a dry run sends nothing; by id, by type, by time, each marked.
    let dry = deployment.tool(&["replay", "--id", "evt_01HXYZ", "--dry-run"]);
    assert!(
        text(&dry).contains("1 archived webhook(s) would be replayed"),
        "{}",
        text(&dry)
    );
    assert!(deployment.stack.messages("scans").await.is_empty());

    let by_id = deployment.tool(&["replay", "--id", "evt_01HXYZ"]);
    assert!(
        text(&by_id).contains("replayed 1 archived webhook(s) (replay=true"),
        "{}",
        text(&by_id)
    );
    let by_type = deployment.tool(&["replay", "--type", "subscription.upgraded"]);
    assert!(text(&by_type).contains("replayed 1 "), "{}", text(&by_type));
    let stack = &deployment.stack;
    let scans = stack.drain("scans").await;
    let account = stack.drain("account").await;
    let id_of = |message: &aws_sdk_sqs::types::Message| {
        message.message_attributes().unwrap()["event_id"]
            .string_value()
            .unwrap()
            .to_string()
    };
    assert_eq!(scans.iter().map(id_of).collect::<Vec<_>>(), ["evt_01HXYZ"]);
    assert_eq!(
        account.iter().map(id_of).collect::<Vec<_>>(),
        ["evt_01HXZ4SUBS0001"]
    );
    for message in scans.iter().chain(&account) {
        assert_eq!(
            message.message_attributes().unwrap()["replay"].string_value(),
            Some("true")
        );
        assert_eq!(
            message.body().unwrap(),
            SAMPLES
                .iter()
                .find(|(_, body)| body.contains(&id_of(message)))
                .unwrap()
                .1
        );
    }

    // By time: the dry run lists exactly what the run sends, the events received since the
    // moment, not everything archived that day.
    let late = late_since
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let dry = deployment.tool(&["replay", "--since", &late, "--dry-run"]);
    let out = text(&dry);
    assert!(dry.status.success(), "{out}");
    let mut listed: Vec<&str> = out
        .lines()
        .filter_map(|line| line.strip_prefix("would replay "))
        .collect();
    listed.sort_unstable();
    assert_eq!(listed.len(), 2, "{out}");
    for (key, id) in listed.iter().zip(late_ids) {
        assert!(key.ends_with(&format!("/scan.created/{id}.json")), "{key}");
    }
    assert!(
        out.contains("7 archived webhook(s) of those days were received outside the time range"),
        "{out}"
    );
    assert!(
        out.contains("2 archived webhook(s) would be replayed (dry run: nothing sent)"),
        "{out}"
    );
    assert!(deployment.stack.messages("scans").await.is_empty());
    let by_late_time = deployment.tool(&["replay", "--since", &late]);
    let out = text(&by_late_time);
    assert!(
        out.contains("replayed 2 archived webhook(s) (replay=true; 0 by claim-check), 0 failed"),
        "{out}"
    );
    let mut sent: Vec<String> = deployment
        .stack
        .drain("scans")
        .await
        .iter()
        .map(id_of)
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, late_ids);

    let since = started
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let by_time = deployment.tool(&["replay", "--since", &since]);
    let out = text(&by_time);
    // The five samples, the large event (by claim-check again), the poison record and the
    // two late events.
    assert!(
        out.contains("replayed 9 archived webhook(s) (replay=true; 1 by claim-check)"),
        "{out}"
    );

    // Ordinary replays of processed events are duplicates: skipped, counted.
    let before = deployment.processed().len();
    deployment.run_consumers();
    assert_eq!(deployment.processed().len(), before, "no handler ran again");
    assert!(deployment.logged("\"Duplicates\"") > 0);

    // A forced replay runs the handler again.
    let forced = deployment.tool(&["replay", "--id", "evt_01HXZ2CONV0001", "--force"]);
    assert!(text(&forced).contains("replay=forced"), "{}", text(&forced));
    deployment.run_consumers();
    let processed = deployment.processed();
    assert_eq!(
        processed
            .iter()
            .filter(|id| *id == "evt_01HXZ2CONV0001")
            .count(),
        2
    );
    drop(deployment.receiver);
}

/// The SQS event Lambda would hand a consumer for `body`, as message `message_id`.
fn sqs_event(body: &str, message_id: &str) -> serde_json::Value {
    let envelope: serde_json::Value = serde_json::from_str(body).unwrap();
    let attribute = |value: &str| serde_json::json!({"stringValue": value, "dataType": "String"});
    serde_json::json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            "event_type": attribute(envelope["event"].as_str().unwrap()),
            "event_id": attribute(envelope["id"].as_str().unwrap()),
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scans",
        "awsRegion": "us-east-1"
    }]})
}

fn invoke(emulator: &Emulator, function: &str, event: &serde_json::Value) -> serde_json::Value {
    let agent = qpr_cli::sender::agent(std::time::Duration::from_secs(30));
    let mut response = agent
        .post(&format!(
            "{}/2015-03-31/functions/{function}/invocations",
            emulator.base_url()
        ))
        .send(event.to_string().as_bytes())
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[tokio::test]
async fn two_consumers_racing_on_one_event_run_it_once() {
    let stack = LocalStack::up();
    let emulator = Emulator::start();
    let mut instances: Vec<LambdaProcess> = (0..2)
        .map(|_| {
            LambdaProcess::start(
                &emulator,
                &workspace_binary("scans-consumer"),
                "scans-consumer",
                &stack.function_env("scans-consumer"),
                &[],
            )
        })
        .collect();
    let event = sqs_event(SAMPLES[0].1, "m1");
    let (a, b) = std::thread::scope(|scope| {
        let first = scope.spawn(|| invoke(&emulator, "scans-consumer", &event));
        let second = scope.spawn(|| invoke(&emulator, "scans-consumer", &event));
        (first.join().unwrap(), second.join().unwrap())
    });
    // The loser's record, if it lost while the winner ran, comes back and is skipped.
    for answer in [a, b] {
        if !answer["batchItemFailures"].as_array().unwrap().is_empty() {
            let again = invoke(&emulator, "scans-consumer", &event);
            assert_eq!(again["batchItemFailures"], serde_json::json!([]), "{again}");
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let runs: usize = instances
        .iter_mut()
        .map(|instance| {
            instance
                .log()
                .iter()
                .filter(|line| line.contains("\"event processed\""))
                .count()
        })
        .sum();
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn with_dynamodb_down_every_record_fails_and_none_is_handled() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    proxy.set(Fault::Refuse);
    let emulator = Emulator::start();
    let mut consumer = LambdaProcess::start(
        &emulator,
        &workspace_binary("scans-consumer"),
        "scans-consumer",
        &stack.function_env("scans-consumer"),
        &[("AWS_ENDPOINT_URL_DYNAMODB", proxy.url())],
    );
    let batch = serde_json::from_str::<serde_json::Value>(include_str!(
        "../../events/sqs-scans-poison.json"
    ))
    .unwrap();
    let answer = invoke(&emulator, "scans-consumer", &batch);
    let failed = answer["batchItemFailures"].as_array().unwrap();
    assert_eq!(
        failed.len(),
        batch["Records"].as_array().unwrap().len(),
        "{answer}"
    );
    assert!(!consumer
        .log()
        .iter()
        .any(|line| line.contains("\"event processed\"")));
}
