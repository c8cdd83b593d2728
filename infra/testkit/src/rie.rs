//! AWS's Lambda Runtime Interface Emulator (the one inside the aws-sam-cli package) running a
//! workspace binary as its bootstrap: the same runtime API and deadline handling as Lambda,
//! with the function's timeout enforced.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{free_port, venv_bin, wait_for_port, Process};

/// The emulator's binary for this machine's architecture.
fn rie_binary() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    let lib = venv_bin("python")
        .parent()
        .and_then(Path::parent)
        .expect("the venv")
        .join("lib");
    let site = std::fs::read_dir(&lib)
        .expect("the venv's lib")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages"))
        .find(|path| path.exists())
        .expect("site-packages");
    let path = site.join(format!("samcli/local/rapid/aws-lambda-rie-{arch}"));
    assert!(path.exists(), "{} is missing", path.display());
    path
}

pub struct Rie {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    _process: Process,
}

impl Rie {
    /// `bootstrap` under the emulator with `env`, timing out invocations after
    /// `timeout_seconds` as Lambda would.
    pub fn start(bootstrap: &Path, env: &[(String, String)], timeout_seconds: u32) -> Self {
        let port = free_port();
        let mut child = Command::new(rie_binary())
            .args([
                "--runtime-interface-emulator-address",
                &format!("127.0.0.1:{port}"),
                "--runtime-api-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .arg(bootstrap)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_seconds.to_string())
            .env("AWS_LAMBDA_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runtime interface emulator starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let outputs: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for output in outputs {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        wait_for_port(port);
        Self {
            port,
            lines,
            _process: Process(child),
        }
    }

    /// Invokes the function with `event` and returns what it answered (or the emulator's error
    /// document when it timed out).
    pub fn invoke(&self, event: &serde_json::Value) -> serde_json::Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(event.to_string().as_bytes())
            .expect("the emulator answers");
        let text = response
            .body_mut()
            .read_to_string()
            .expect("an answer body");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    }

    /// Everything the emulator and the function wrote so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits for a log line containing `text` and returns every line read so far. The answer
    /// to an invocation can arrive before the reader threads have passed on the lines the
    /// function wrote while handling it, so a test that looks for a line must wait for it.
    pub fn wait_for_log(&self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.log();
            if lines.iter().any(|line| line.contains(text)) {
                return lines;
            }
            if Instant::now() > deadline {
                panic!("no log line with {text:?}; the emulator wrote: {lines:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An HTTP API (payload v2) event as API Gateway hands a POST of `body` to the function.
pub fn http_api_event(body: &[u8], headers: &[(&str, &str)]) -> serde_json::Value {
    let text = match std::str::from_utf8(body) {
        Ok(text) => serde_json::json!({ "body": text, "isBase64Encoded": false }),
        Err(_) => {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            serde_json::json!({ "body": encoded, "isBase64Encoded": true })
        }
    };
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), serde_json::json!(value)))
        .collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/3qpr",
        "rawPath": "/webhooks/3qpr",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api-id",
            "http": {
                "method": "POST",
                "path": "/webhooks/3qpr",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "3QPR-Webhooks"
            },
            "requestId": "test-request",
            "routeKey": "POST /webhooks/3qpr",
            "stage": "$default",
            "time": "20/Mar/2026:15:30:00 +0000",
            "timeEpoch": 1774020600000u64
        },
        "body": text["body"],
        "isBase64Encoded": text["isBase64Encoded"]
    })
}
