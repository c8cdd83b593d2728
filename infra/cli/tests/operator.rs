//! The operator's commands as a user runs them: the real `qpr-webhooks` binary against the
//! local stack (moto), the real receiver under cargo lambda's emulator, and the local 3QPR.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use testkit::fault::{Fault, FaultProxy};
use testkit::{free_port, wait_for_port, Emulator, LambdaProcess, LocalStack, Process};

const TOOL: &str = env!("CARGO_BIN_EXE_qpr-webhooks");
const API_KEY: &str = "local-test-api-key";

fn tool(args: &[&str]) -> Command {
    let mut command = Command::new(TOOL);
    command.args(args).env_remove("WEBHOOK_SECRET");
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The local 3QPR, serving one registration on a free port.
struct Simulator {
    api_base: String,
    process: Process,
}

impl Simulator {
    fn start(extra: &[&str]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let process = Process(
            tool(&["simulate", "--listen", &listen])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("simulate starts"),
        );
        wait_for_port(port);
        Self {
            api_base: format!("http://{listen}"),
            process,
        }
    }

    fn register(&self, url: &str) -> serde_json::Value {
        let agent = qpr_cli::sender::agent(Duration::from_secs(10));
        let body = serde_json::json!({"url": url, "events": ["scan.created"]}).to_string();
        let mut response = agent
            .post(&format!("{}/v1/webhooks", self.api_base))
            .header("authorization", &format!("Bearer {API_KEY}"))
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Waits for simulate to end; its exit code and output.
    fn finish(mut self) -> (i32, String) {
        let status = self.process.0.wait().unwrap();
        let mut out = String::new();
        self.process
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status.code().unwrap_or(-1), out)
    }
}

/// A receiver on 127.0.0.1 answering with `statuses` in turn (the last one from then on).
fn scripted_receiver(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = statuses[n.min(statuses.len() - 1)];
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    (url, requests)
}

#[test]
fn every_subcommand_explains_itself() {
    let cases: [(&[&str], &[&str]); 11] = [
        (
            &[],
            &[
                "register",
                "check",
                "send",
                "tail",
                "replay",
                "redrive",
                "dlq",
                "simulate",
                "event-source",
                "completions",
                "Exit codes",
            ],
        ),
        (
            &["register"],
            &[
                "--stack",
                "--local",
                "--url",
                "--event",
                "THREEQPR_API_KEY",
                "never",
            ],
        ),
        (&["check"], &["--send", "✓ or ✗", "--stack"]),
        (
            &["send"],
            &["--url", "--secret", "--signing", "--all", "--file"],
        ),
        (
            &["tail"],
            &[
                "--count-receives",
                "no peek",
                "--exit-when-idle",
                "--visibility-timeout",
            ],
        ),
        (
            &["replay"],
            &[
                "--id",
                "--type",
                "--since",
                "--until",
                "--dry-run",
                "--force",
                "replay=true",
            ],
        ),
        (
            &["redrive"],
            &["--stack", "--local", "message-move task", "one by one"],
        ),
        (
            &["dlq"],
            &[
                "--stack",
                "--local",
                "no peek",
                "visible again",
                "before the listing",
            ],
        ),
        (
            &["simulate"],
            &["--listen", "--give-up-after", "/v1/webhooks", "retried"],
        ),
        (
            &["event-source"],
            &["--invoke-url", "--local", "--map", "--batch-size"],
        ),
        (&["completions"], &["bash", "zsh"]),
    ];
    for (subcommand, says) in cases {
        let output = tool(subcommand).arg("--help").output().unwrap();
        assert!(output.status.success(), "{subcommand:?}");
        let help = text(&output);
        for phrase in says {
            assert!(
                help.contains(phrase),
                "{subcommand:?} --help lacks {phrase:?}:\n{help}"
            );
        }
    }
    let bad = tool(&["send", "--no-such-flag"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let completions = tool(&["completions", "bash"]).output().unwrap();
    assert!(text(&completions).contains("qpr-webhooks"));
}

#[test]
fn simulate_retries_a_503_until_a_2xx() {
    let (url, requests) = scripted_receiver(vec![503, 503, 200]);
    let simulator = Simulator::start(&["--deliver-after", "0", "--first-backoff-ms", "100"]);
    let registered = simulator.register(&url);
    assert!(registered["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(registered["id"].as_str().unwrap().starts_with("wh_"));
    let (code, out) = simulator.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("delivered after 503 → 503 → 200"), "{out}");
    assert!(
        out.contains("1 delivered (1 after retries), 0 given up"),
        "{out}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[test]
fn simulate_gives_up_after_its_bound() {
    let (url, requests) = scripted_receiver(vec![503]);
    let simulator = Simulator::start(&[
        "--deliver-after",
        "0",
        "--first-backoff-ms",
        "100",
        "--max-backoff",
        "1",
        "--give-up-after",
        "2",
    ]);
    simulator.register(&url);
    let (code, out) = simulator.finish();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("given up"), "{out}");
    assert!(out.contains("0 delivered"), "{out}");
    let attempts = requests.load(Ordering::SeqCst);
    assert!((3..=8).contains(&attempts), "{attempts}");
}

fn secret_value(stack: &LocalStack, stage: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            stack
                .secrets_manager()
                .get_secret_value()
                .secret_id(stack.secret_id())
                .version_stage(stage)
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap()
        })
}

#[test]
fn register_stores_the_secret_unseen_and_the_receiver_accepts_webhooks_signed_with_it() {
    let stack = LocalStack::up();
    let emulator = Emulator::start();
    let mut receiver = LambdaProcess::start(
        &emulator,
        &testkit::workspace_binary("receiver"),
        "receiver",
        &stack.function_env("receiver"),
        &[("RETRY_AFTER_SECONDS", "1")],
    );
    receiver.wait_for_log("receiver ready");
    let url = emulator.function_url("receiver", "/webhooks/3qpr");
    let before = stack.secret().to_string();
    let simulator = Simulator::start(&["--deliver-after", "1", "--first-backoff-ms", "200"]);

    let workdir = tempfile_dir();
    let output = tool(&["register", "--local"])
        .arg(stack.state_dir())
        .args(["--url", &url, "--api-base", &simulator.api_base])
        .env("THREEQPR_API_KEY", API_KEY)
        .current_dir(workdir.path())
        .output()
        .unwrap();
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("registered webhook wh_"), "{printed}");
    assert!(
        printed.contains("stored in 3qpr/webhook-secret as version"),
        "{printed}"
    );

    let current = secret_value(&stack, "AWSCURRENT");
    assert!(current.starts_with("whsec_") && current != before);
    assert_eq!(secret_value(&stack, "AWSPREVIOUS"), before);
    assert!(!printed.contains(&current), "the secret was printed");
    assert!(!printed.contains(&current["whsec_".len()..]));
    assert_eq!(
        std::fs::read_dir(workdir.path()).unwrap().count(),
        0,
        "register wrote a file"
    );

    // The local 3QPR now delivers, signed with the new secret; the receiver accepts it.
    let (code, out) = simulator.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("5 delivered"), "{out}");
    let logged = receiver.log().join("\n");
    assert!(
        !logged.contains(&current["whsec_".len()..]),
        "the secret was logged"
    );
    let (code, queued) = tail(&stack, "scans");
    assert_eq!(code, Some(0), "{queued}");
    assert!(queued.contains("evt_01HXYZ"), "{queued}");
}

#[test]
fn register_says_how_to_recover_when_the_secret_cannot_be_stored() {
    let stack = LocalStack::up();
    let proxy = FaultProxy::to(stack.endpoint());
    // The same stack, reached through a proxy that refuses every connection: Secrets Manager
    // is down after 3QPR answered.
    let broken = tempfile_dir();
    let mut description: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.state_dir().join("stack.json")).unwrap(),
    )
    .unwrap();
    description["endpoint"] = serde_json::json!(proxy.url());
    std::fs::write(broken.path().join("stack.json"), description.to_string()).unwrap();
    proxy.set(Fault::Refuse);
    let simulator = Simulator::start(&["--deliver-after", "0", "--give-up-after", "1"]);
    let output = tool(&["register", "--local"])
        .arg(broken.path())
        .args([
            "--url",
            "http://127.0.0.1:9/unused",
            "--api-base",
            &simulator.api_base,
        ])
        .env("THREEQPR_API_KEY", API_KEY)
        .output()
        .unwrap();
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(4), "{printed}");
    assert!(printed.contains("could not be stored"), "{printed}");
    assert!(printed.contains("register again"), "{printed}");
    assert!(!printed.contains("whsec_"), "{printed}");
    drop(simulator);
}

/// A directory of this test's own, removed when dropped (tests run concurrently).
fn tempfile_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("qpr-cli-test-")
        .tempdir()
        .unwrap()
}

fn check(stack: &LocalStack, extra: &[&str]) -> (Option<i32>, String) {
    let output = tool(&["check", "--local"])
        .arg(stack.state_dir())
        .args(extra)
        .output()
        .unwrap();
    (output.status.code(), text(&output))
}

fn tail(stack: &LocalStack, queue: &str) -> (Option<i32>, String) {
    let output = tool(&["tail", "--local"])
        .arg(stack.state_dir())
        .args([queue, "--exit-when-idle", "1", "--count-receives"])
        .output()
        .unwrap();
    (output.status.code(), text(&output))
}

#[tokio::test]
async fn check_passes_on_a_healthy_stack_and_names_each_fault() {
    let stack = LocalStack::up();
    let emulator = Emulator::start();
    let mut receiver = LambdaProcess::start(
        &emulator,
        &testkit::workspace_binary("receiver"),
        "receiver",
        &stack.function_env("receiver"),
        &[],
    );
    receiver.wait_for_log("receiver ready");
    let url = emulator.function_url("receiver", "/webhooks/3qpr");
    // More than one receive's worth of messages wait on unrouted ahead of the test event.
    let waiting = put_events(&stack, "unrouted", "evt_waiting_", 25).await;

    let (code, out) = check(&stack, &["--send", "--url", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains('✗'), "{out}");
    assert!(
        out.contains("✓ secret 3qpr/webhook-secret starts with whsec_: 1 usable version"),
        "{out}"
    );
    assert!(
        out.contains("✓ queue scans exists, with a dead-letter queue after"),
        "{out}"
    );
    assert!(out.contains("✓ test event evt_check_"), "{out}");
    assert!(
        out.contains("found on queue unrouted, then deleted"),
        "{out}"
    );
    // The messages that were waiting on unrouted are still there, visible, each received at
    // most once by the search (the count below includes this test's own receive).
    let waiting_after = receive_everything(&stack, "unrouted").await;
    let mut ids_after: Vec<String> = waiting_after.iter().map(event_id_of).collect();
    ids_after.sort_unstable();
    assert_eq!(
        ids_after, waiting,
        "the test event was removed, the others left: {out}"
    );
    for message in &waiting_after {
        let receives = receive_count(message);
        assert!(
            (1..=2).contains(&receives),
            "{} received {receives}×",
            event_id_of(message)
        );
    }

    // A placeholder secret, a missing queue, a message in a dead-letter queue.
    stack
        .secrets_manager()
        .put_secret_value()
        .secret_id(stack.secret_id())
        .secret_string("GeneratedPlaceholderNotAKey0123")
        .send()
        .await
        .unwrap();
    stack
        .sqs()
        .delete_queue()
        .queue_url(stack.queue_url("conversations"))
        .send()
        .await
        .unwrap();
    stack
        .sqs()
        .send_message()
        .queue_url(stack.queue_url("scans-dlq"))
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let (code, out) = check(&stack, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("✗ secret 3qpr/webhook-secret holds no signing secret"),
        "{out}"
    );
    assert!(out.contains("run qpr-webhooks register"), "{out}");
    assert!(
        out.contains("✗ queue conversations cannot be read"),
        "{out}"
    );
    assert!(
        out.contains("✗ dead-letter queue of scans holds 1 message(s)"),
        "{out}"
    );
    assert!(out.contains("qpr-webhooks redrive scans"), "{out}");
    assert!(out.contains("check(s) failed"), "{out}");
    drop(receiver);
}

#[tokio::test]
async fn tail_follows_a_dead_letter_queue_and_refuses_to_count_receives_unasked() {
    let stack = LocalStack::up();
    stack
        .sqs()
        .send_message()
        .queue_url(stack.queue_url("scans-dlq"))
        .message_body(r#"{"event":"scan.created","id":"evt_dead"}"#)
        .message_attributes("event_type", string_attribute("scan.created"))
        .message_attributes("event_id", string_attribute("evt_dead"))
        .send()
        .await
        .unwrap();
    let output = tool(&["tail", "--local"])
        .arg(stack.state_dir())
        .args(["scans-dlq", "--exit-when-idle", "1"])
        .output()
        .unwrap();
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("receiving changes nothing"), "{out}");
    let line = out
        .lines()
        .find(|line| line.contains("evt_dead"))
        .expect(&out);
    assert!(
        line.contains("scan.created") && line.contains("bytes"),
        "{line}"
    );
    assert_eq!(
        out.matches("evt_dead").count(),
        1,
        "each message once: {out}"
    );

    let refused = tool(&["tail", "--local"])
        .arg(stack.state_dir())
        .arg("scans")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused).contains("--count-receives"));
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

/// Puts `count` events of an unrouted type on queue `name`, with the event ids
/// `{prefix}01`, `{prefix}02`, ...; returns the ids.
async fn put_events(stack: &LocalStack, name: &str, prefix: &str, count: usize) -> Vec<String> {
    let ids: Vec<String> = (1..=count).map(|n| format!("{prefix}{n:02}")).collect();
    for chunk in ids.chunks(10) {
        let entries = chunk
            .iter()
            .map(|id| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(format!(r#"{{"event":"unknown.type","id":"{id}"}}"#))
                    .message_attributes("event_type", string_attribute("unknown.type"))
                    .message_attributes("event_id", string_attribute(id))
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = stack
            .sqs()
            .send_message_batch()
            .queue_url(stack.queue_url(name))
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
    ids
}

/// Every message visible on queue `name` now, each received once (and then out of sight for
/// a minute, which no test here outlasts).
async fn receive_everything(stack: &LocalStack, name: &str) -> Vec<Message> {
    let mut everything = Vec::new();
    loop {
        let received = stack
            .sqs()
            .receive_message()
            .queue_url(stack.queue_url(name))
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            return everything;
        }
        everything.extend(received);
    }
}

fn event_id_of(message: &Message) -> String {
    message.message_attributes().unwrap()["event_id"]
        .string_value()
        .unwrap()
        .to_string()
}

/// ApproximateReceiveCount: this receive included.
fn receive_count(message: &Message) -> u64 {
    message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn dlq_lists_every_message_once_and_gives_each_back_with_one_more_receive() {
    let stack = LocalStack::up();
    let ids = put_events(&stack, "scans-dlq", "evt_dead_", 25).await;

    let output = tool(&["dlq", "--local"])
        .arg(stack.state_dir())
        .arg("scans")
        .output()
        .unwrap();
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("scans-dlq holds 25 message(s)"), "{out}");
    assert_eq!(
        out.matches("listing received each message once").count(),
        1,
        "the cost is said once: {out}"
    );
    for id in &ids {
        let lines: Vec<&str> = out
            .lines()
            .filter(|line| line.contains(id.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "{id} listed once: {out}");
        assert!(
            lines[0].contains("received 0×"),
            "the count from before the listing: {}",
            lines[0]
        );
    }

    // All visible again at once, each with exactly one more receive: the listing's (and this
    // one, which the count includes).
    let after = receive_everything(&stack, "scans-dlq").await;
    let mut ids_after: Vec<String> = after.iter().map(event_id_of).collect();
    ids_after.sort_unstable();
    assert_eq!(ids_after, ids);
    for message in &after {
        assert_eq!(receive_count(message), 2, "{}", event_id_of(message));
    }
}

#[tokio::test]
async fn tail_on_a_queue_with_a_redrive_policy_receives_each_message_once_per_hold() {
    let stack = LocalStack::up();
    let ids = put_events(&stack, "scans", "evt_live_", 3).await;

    // Followed for about six seconds: three polls or more.
    let output = tool(&["tail", "--local"])
        .arg(stack.state_dir())
        .args(["scans", "--count-receives", "--exit-when-idle", "4"])
        .output()
        .unwrap();
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains(
            "while a message stays on scans, tail receives it once every 30 s; each receive counts towards maxReceiveCount ("
        ),
        "{out}"
    );
    for id in &ids {
        assert_eq!(
            out.matches(id.as_str()).count(),
            1,
            "{id} shown once: {out}"
        );
    }

    // Given back when tail stopped: visible, each received once by tail (and once here).
    let after = receive_everything(&stack, "scans").await;
    let mut ids_after: Vec<String> = after.iter().map(event_id_of).collect();
    ids_after.sort_unstable();
    assert_eq!(ids_after, ids, "all still on scans: {out}");
    for message in &after {
        assert_eq!(receive_count(message), 2, "{}", event_id_of(message));
    }
    assert!(stack.messages("scans-dlq").await.is_empty());
}
