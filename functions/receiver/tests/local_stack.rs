//! The real `receiver` binary under cargo lambda's Lambda emulator, against moto (the local
//! stack of `infra/local-stack.sh`), driven over HTTP by the sender tool as 3QPR would.
//!
//! Needs the project's .venv (moto, cargo-lambda): `make test` creates it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use sender::{Answer, Sender, Signing, SAMPLES};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (or infra/local-stack.sh setup) first",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// A moto server with the secret and queues, from `infra/local-stack.sh up`.
struct LocalStack {
    state: PathBuf,
    port: u16,
    env: HashMap<String, String>,
}

impl LocalStack {
    fn up() -> Self {
        let port = free_port();
        let state = std::env::temp_dir().join(format!("receiver-stack-{port}"));
        let status = Command::new(workspace_root().join("infra/local-stack.sh"))
            .arg("up")
            .env("MOTO_PORT", port.to_string())
            .env("STACK_STATE", &state)
            .stdout(Stdio::null())
            .status()
            .expect("infra/local-stack.sh runs");
        assert!(status.success(), "infra/local-stack.sh up failed");
        let env_file = std::fs::read_to_string(state.join("receiver.env")).expect("receiver.env");
        let env = env_file
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.trim_matches('\'').to_string()))
            .collect();
        Self { state, port, env }
    }

    fn down(&self) {
        let _ = Command::new(workspace_root().join("infra/local-stack.sh"))
            .arg("down")
            .env("MOTO_PORT", self.port.to_string())
            .env("STACK_STATE", &self.state)
            .status();
    }

    fn secret(&self) -> &str {
        &self.env["WEBHOOK_SECRET"]
    }

    fn queue_url(&self, name: &str) -> String {
        let urls: HashMap<String, String> =
            serde_json::from_str(&self.env["QUEUE_URLS"]).expect("QUEUE_URLS");
        urls[name].clone()
    }

    fn queue_names(&self) -> Vec<String> {
        let urls: HashMap<String, String> =
            serde_json::from_str(&self.env["QUEUE_URLS"]).expect("QUEUE_URLS");
        urls.into_keys().collect()
    }

    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&self.env["AWS_ENDPOINT_URL"])
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::for_tests())
                .http_client(receiver::aws::https_client())
                .build(),
        )
    }

    fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(&self.env["AWS_ENDPOINT_URL"])
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::for_tests())
                .http_client(receiver::aws::https_client())
                .build(),
        )
    }

    /// Every message the queue holds, left in place.
    async fn messages(&self, name: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let output = self
            .sqs()
            .receive_message()
            .queue_url(self.queue_url(name))
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage on moto");
        output.messages.unwrap_or_default()
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.down();
    }
}

/// A child process that is killed when the test ends, whatever happens.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The receiver binary, polling cargo lambda's runtime API emulator.
struct Function {
    url: String,
    _emulator: Process,
    receiver: Process,
    log: mpsc::Receiver<String>,
}

impl Function {
    fn start(stack: &LocalStack, overrides: &[(&str, &str)]) -> Self {
        let port = free_port();
        let emulator = Process(
            Command::new(venv_bin("cargo-lambda"))
                .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .args(["-P", &port.to_string(), "--timeout", "30"])
                .current_dir(workspace_root())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cargo lambda watch starts"),
        );
        wait_for_port(port);

        let mut command = Command::new(env!("CARGO_BIN_EXE_receiver"));
        command
            .env_clear()
            .envs(
                stack
                    .env
                    .iter()
                    .filter(|(key, _)| key.as_str() != "WEBHOOK_SECRET"),
            )
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt/receiver"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "receiver")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "json")
            .envs(overrides.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the receiver binary starts");
        let (lines, log) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        Self {
            url: format!("http://127.0.0.1:{port}/lambda-url/receiver/webhooks/3qpr"),
            _emulator: emulator,
            receiver: Process(child),
            log,
        }
    }

    /// Waits for a log line containing `text`; returns every line read until then.
    fn wait_for_log(&self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {text:?}; the receiver wrote: {seen:#?}");
    }

    fn ready(stack: &LocalStack) -> Self {
        let function = Self::start(stack, &[]);
        function.wait_for_log("receiver ready");
        function
    }

    fn post(&self, secret: &str, body: &[u8], signing: Signing, content_type: &str) -> Answer {
        Sender::new(secret)
            .expect("a secret")
            .post(&self.url, body, signing, content_type)
            .expect("the emulator answers")
    }
}

/// A TCP proxy to moto that can be told to stop answering: every byte sent to it is then
/// swallowed, as with an AWS endpoint that has become too slow.
struct StallingProxy {
    url: String,
    stalled: Arc<AtomicBool>,
}

impl StallingProxy {
    fn to(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stalled = Arc::new(AtomicBool::new(false));
        let stall = Arc::clone(&stalled);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                pipe(client, server_out, Arc::clone(&stall));
                pipe(server, client_out, Arc::clone(&stall));
            }
        });
        Self { url, stalled }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer) {
            if read == 0 {
                break;
            }
            if !stalled.load(Ordering::SeqCst) && to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
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
            let envelope =
                shared::envelope::Envelope::parse(message.body().unwrap().as_bytes()).unwrap();
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
    let function = Function::ready(&stack);
    let scan = SAMPLES[0].1.as_bytes();
    let secret = stack.secret();

    let tampered = function.post(secret, scan, Signing::Tampered, "application/json");
    assert_eq!(tampered.status, 400);
    let unsigned = function.post(secret, scan, Signing::Unsigned, "application/json");
    assert_eq!(unsigned.status, 400);
    let wrong_secret = function.post(
        "whsec_not_the_secret",
        scan,
        Signing::Signed,
        "application/json",
    );
    assert_eq!(wrong_secret.status, 400);
    let not_json = function.post(secret, b"scan.created", Signing::Signed, "application/json");
    assert_eq!(not_json.status, 400);
    assert!(not_json.body.contains("not JSON"), "{}", not_json.body);
    let no_id = function.post(
        secret,
        br#"{"event":"scan.created"}"#,
        Signing::Signed,
        "application/json",
    );
    assert_eq!(no_id.status, 400);
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
async fn the_secret_is_fetched_once_at_init() {
    let stack = LocalStack::up();
    let function = Function::ready(&stack);
    // Gone from Secrets Manager after init: the receiver still verifies with what it fetched.
    stack
        .secrets_manager()
        .delete_secret()
        .secret_id(&stack.env["WEBHOOK_SECRET_ID"])
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
async fn a_secret_that_cannot_be_read_fails_init_naming_it() {
    let stack = LocalStack::up();
    let mut function = Function::start(&stack, &[("WEBHOOK_SECRET_ID", "3qpr/no-such-secret")]);
    let lines = function.wait_for_log("receiver cannot start");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("3qpr/no-such-secret")),
        "{lines:#?}"
    );
    let status = function.receiver.0.wait().expect("the receiver exits");
    assert!(!status.success());
}

#[tokio::test]
async fn a_bad_route_fails_init_saying_what_to_fix() {
    let stack = LocalStack::up();
    let mut function = Function::start(&stack, &[("EVENT_ROUTES", r#"{"scan.*":"scans"}"#)]);
    let lines = function.wait_for_log("receiver configuration is invalid");
    assert!(
        lines.iter().any(|line| line.contains("EVENT_ROUTES")),
        "{lines:#?}"
    );
    assert!(!function.receiver.0.wait().unwrap().success());
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
        .secret_id(&stack.env["WEBHOOK_SECRET_ID"])
        .secret_string(rotated)
        .send()
        .await
        .unwrap();

    let scan = SAMPLES[0].1.as_bytes();
    let with_new = function.post(rotated, scan, Signing::Signed, "application/json");
    assert_eq!(with_new.status, 200, "{}", with_new.body);
    let with_previous = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(with_previous.status, 200, "{}", with_previous.body);
    let with_other = function.post("whsec_neither", scan, Signing::Signed, "application/json");
    assert_eq!(with_other.status, 400);
    assert_eq!(stack.messages("scans").await.len(), 2);
}

#[tokio::test]
async fn an_aws_call_slower_than_the_timeout_is_503_with_retry_after() {
    let stack = LocalStack::up();
    let proxy = StallingProxy::to(&stack.env["AWS_ENDPOINT_URL"]);
    let function = Function::start(
        &stack,
        &[
            ("AWS_ENDPOINT_URL", proxy.url.as_str()),
            ("AWS_CALL_TIMEOUT_MS", "1000"),
        ],
    );
    function.wait_for_log("receiver ready");
    let scan = SAMPLES[0].1.as_bytes();
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 200, "{}", answer.body);

    proxy.stall();
    let answer = function.post(stack.secret(), scan, Signing::Signed, "application/json");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    let lines = function.wait_for_log("queue_unavailable");
    assert!(
        lines.last().is_some_and(|line| line.contains("timed out")),
        "{lines:#?}"
    );
    assert_eq!(stack.messages("scans").await.len(), 1);
}
