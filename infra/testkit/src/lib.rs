//! The pieces the integration tests run for real: the local stack of `infra/local-stack.sh`
//! (moto), cargo lambda's runtime API emulator, and the workspace's Lambda binaries polling it.
//! Every process is stopped when its handle is dropped, failed test or not.
//!
//! Needs the project's .venv (moto, cargo-lambda): `make test` creates it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the test harness: a broken set-up fails the test at once"
)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

pub mod fault;
pub mod rie;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool installed in the project's .venv (or `$VENV`).
pub fn venv_bin(tool: &str) -> PathBuf {
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

/// A binary of the workspace, in the profile and target directory of the running tests.
///
/// `cargo build-workspace` (.cargo/config.toml) runs first, once per test process: a no-op
/// when `make test` has built the workspace, the build the tests need when they run alone.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build-workspace", "--quiet"])
            .current_dir(workspace_root());
        // What cargo set for this test (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...) would reach
        // the build scripts that rerun when those change (ring's does), and so rebuild ring,
        // rustls and the SDK once for every test binary.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if SET_FOR_TESTS.iter().any(|prefix| name.starts_with(prefix)) {
                command.env_remove(&*name);
            }
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "cargo build-workspace failed");
    });
    let test_executable = std::env::current_exe().expect("the test executable's path");
    let profile_dir = test_executable
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// The variables cargo sets for a test (its package's manifest, name and version, its
/// binaries), by prefix.
const SET_FOR_TESTS: [&str; 7] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto server with the secret and the queues, from `infra/local-stack.sh up`.
pub struct LocalStack {
    state: PathBuf,
    port: u16,
    /// What `infra/local-stack.sh` wrote to stack.json.
    pub description: qpr_cli::local::LocalStack,
    /// SDK settings for moto, shared by the clients the tests use.
    aws: SdkConfig,
}

impl LocalStack {
    pub fn up() -> Self {
        Self::up_with(&[])
    }

    /// `settings` go to the script's environment, e.g. `MAX_RECEIVE_COUNT`.
    pub fn up_with(settings: &[(&str, &str)]) -> Self {
        let port = free_port();
        let state = std::env::temp_dir().join(format!("3qpr-stack-{port}"));
        let status = Command::new(workspace_root().join("infra/local-stack.sh"))
            .arg("up")
            .env("MOTO_PORT", port.to_string())
            .env("STACK_STATE", &state)
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .status()
            .expect("infra/local-stack.sh runs");
        assert!(status.success(), "infra/local-stack.sh up failed");
        let description = qpr_cli::local::LocalStack::load(&state).expect("stack.json");
        let aws = description.sdk_config();
        Self {
            state,
            port,
            description,
            aws,
        }
    }

    /// Stops moto (also done on drop).
    pub fn down(&self) {
        let _ = Command::new(workspace_root().join("infra/local-stack.sh"))
            .arg("down")
            .env("MOTO_PORT", self.port.to_string())
            .env("STACK_STATE", &self.state)
            .status();
    }

    /// The state directory (`stack.json`, moto's log).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The environment the template gives function `binary`, pointing at this stack.
    pub fn function_env(&self, binary: &str) -> Vec<(String, String)> {
        self.description.functions[binary]
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The whsec_ value the secret was created with.
    pub fn secret(&self) -> &str {
        &self.description.secret.value
    }

    pub fn secret_id(&self) -> &str {
        &self.description.secret.id
    }

    pub fn endpoint(&self) -> &str {
        &self.description.endpoint
    }

    pub fn queue_url(&self, name: &str) -> String {
        self.description
            .queue_url(name)
            .expect("a queue of the local stack")
            .to_string()
    }

    /// The queues and their dead-letter queues (`scans`, `scans-dlq`, ...).
    pub fn queue_names(&self) -> Vec<String> {
        self.description
            .all_queues()
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    /// The SDK settings of the tests' own clients.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.aws
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        qpr_webhooks_aws::s3::client(&self.aws)
    }

    /// The payload bucket's name.
    pub fn bucket(&self) -> &str {
        self.description
            .bucket
            .as_deref()
            .expect("the stack has a payload bucket")
    }

    /// The idempotency table's name.
    pub fn table(&self) -> &str {
        self.description
            .table
            .as_deref()
            .expect("the stack has an idempotency table")
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.aws)
    }

    /// Up to ten messages the queue holds, left in place.
    pub async fn messages(&self, name: &str) -> Vec<aws_sdk_sqs::types::Message> {
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

    /// Messages in the queue, visible or in flight.
    pub async fn depth(&self, name: &str) -> u64 {
        let output = self
            .sqs()
            .get_queue_attributes()
            .queue_url(self.queue_url(name))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes on moto");
        let attributes = output.attributes.unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
        .sum()
    }
}

impl LocalStack {
    /// Every message the queue holds, received and deleted until it is empty.
    pub async fn drain(&self, name: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let url = self.queue_url(name);
        let mut drained = Vec::new();
        loop {
            let received = self
                .sqs()
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage on moto")
                .messages
                .unwrap_or_default();
            if received.is_empty() {
                return drained;
            }
            let entries = received
                .iter()
                .enumerate()
                .map(|(index, message)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .build()
                        .expect("an entry")
                })
                .collect();
            self.sqs()
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("DeleteMessageBatch on moto");
            drained.extend(received);
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.down();
    }
}

/// A child process that is killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// cargo lambda's Lambda runtime API emulator (`cargo lambda watch --only-lambda-apis`): the
/// functions poll it, and it turns HTTP requests and invocations into their events.
pub struct Emulator {
    pub port: u16,
    _process: Process,
}

impl Emulator {
    pub fn start() -> Self {
        let port = free_port();
        let process = Process(
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
        Self {
            port,
            _process: process,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The function-URL-style address of `function`, at `path`.
    pub fn function_url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.base_url())
    }
}

/// A Lambda binary of the workspace polling the emulator as function `name`, its stdout and
/// stderr collected line by line.
pub struct LambdaProcess {
    pub process: Process,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LambdaProcess {
    pub fn start(
        emulator: &Emulator,
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        overrides: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("{}/.rt/{name}", emulator.base_url()),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "json")
            .envs(overrides.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{} starts: {error}", binary.display()));
        let (sender, lines) = mpsc::channel();
        let outputs: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for output in outputs {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        Self {
            process: Process(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `text`; returns every line read so far.
    pub fn wait_for_log(&mut self, text: &str) -> &[String] {
        let deadline = Instant::now() + Duration::from_secs(60);
        if self.seen.iter().any(|line| line.contains(text)) {
            return &self.seen;
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = line.contains(text);
            self.seen.push(line);
            if found {
                return &self.seen;
            }
        }
        panic!(
            "no log line with {text:?}; the process wrote: {:#?}",
            self.seen
        );
    }

    /// Every line written so far.
    pub fn log(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    pub fn wait_for_exit(&mut self) -> ExitStatus {
        self.process.0.wait().expect("the process exits")
    }
}
