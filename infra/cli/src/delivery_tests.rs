use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;

/// What the scripted receiver does with a request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16, Option<u64>),
    /// Reads the request and never answers.
    Hang,
}

/// A receiver on 127.0.0.1 that answers the n-th request with `script[n]` (the last entry
/// for every later one), counting the requests it got.
struct Scripted {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Scripted {
    fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let held = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let reply = script[n.min(script.len() - 1)];
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
                match reply {
                    Reply::Hang => held.lock().unwrap().push(stream),
                    Reply::Status(status, retry_after) => {
                        let mut stream = stream;
                        let retry = retry_after
                            .map(|s| format!("retry-after: {s}\r\n"))
                            .unwrap_or_default();
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status} X\r\n{retry}content-length: 2\r\nconnection: close\r\n\r\n{{}}"
                        );
                    }
                }
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn webhook(id: &str) -> Webhook {
    Webhook {
        id: id.to_string(),
        body: br#"{"event":"scan.created","id":"e"}"#.to_vec(),
        signature: Some(format!("sha256={}", "0".repeat(64))),
    }
}

fn quick() -> Policy {
    Policy {
        concurrency: 4,
        request_timeout: Duration::from_millis(500),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        give_up_after: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_503_is_retried_until_a_2xx() {
    let receiver = Scripted::start(vec![
        Reply::Status(503, None),
        Reply::Status(503, None),
        Reply::Status(200, None),
    ]);
    let report = deliver(&receiver.url, vec![webhook("evt_1")], &quick()).await;
    assert_eq!(report.delivered(), 1);
    assert_eq!(report.retried(), 1);
    assert_eq!(report.outcomes[0].attempts.len(), 3);
    assert_eq!(report.answered(503), 2);
    assert_eq!(receiver.requests(), 3);
}

#[tokio::test]
async fn every_non_2xx_is_retried_even_a_400() {
    let receiver = Scripted::start(vec![Reply::Status(400, None), Reply::Status(204, None)]);
    let report = deliver(&receiver.url, vec![webhook("evt_1")], &quick()).await;
    assert_eq!(report.delivered(), 1);
    assert_eq!(receiver.requests(), 2);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let receiver = Scripted::start(vec![Reply::Hang, Reply::Status(200, None)]);
    let report = deliver(&receiver.url, vec![webhook("evt_1")], &quick()).await;
    assert_eq!(report.delivered(), 1);
    assert_eq!(
        report.outcomes[0].attempts[0].result,
        AttemptResult::TimedOut
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_bound_then_given_up() {
    // A port nothing listens on.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/webhooks", listener.local_addr().unwrap())
    };
    let policy = Policy {
        give_up_after: Duration::from_secs(1),
        ..quick()
    };
    let started = Instant::now();
    let report = deliver(&url, vec![webhook("evt_1")], &policy).await;
    assert!(started.elapsed() <= Duration::from_secs(2));
    assert_eq!(report.gave_up(), 1);
    assert!(report.outcomes[0].attempts.len() >= 3);
    assert!(matches!(
        report.outcomes[0].attempts[0].result,
        AttemptResult::Failed(_)
    ));
}

#[tokio::test]
async fn a_receiver_that_never_accepts_is_given_up_after_the_bound() {
    let receiver = Scripted::start(vec![Reply::Status(503, None)]);
    let policy = Policy {
        give_up_after: Duration::from_millis(800),
        ..quick()
    };
    let report = deliver(&receiver.url, vec![webhook("evt_1")], &policy).await;
    assert_eq!(report.gave_up(), 1);
    let last = report.outcomes[0].attempts.last().unwrap().at;
    assert!(last <= Duration::from_millis(900), "{last:?}");
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_longest_backoff() {
    let receiver = Scripted::start(vec![Reply::Status(503, Some(1)), Reply::Status(200, None)]);
    let policy = Policy {
        max_backoff: Duration::from_secs(2),
        ..quick()
    };
    let report = deliver(&receiver.url, vec![webhook("evt_1")], &policy).await;
    let attempts = &report.outcomes[0].attempts;
    assert!(attempts[1].at - attempts[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn many_webhooks_are_each_delivered_once() {
    let receiver = Scripted::start(vec![Reply::Status(200, None)]);
    let webhooks: Vec<_> = (0..50).map(|n| webhook(&format!("evt_{n}"))).collect();
    let report = deliver(&receiver.url, webhooks, &quick()).await;
    assert_eq!(report.delivered(), 50);
    assert_eq!(receiver.requests(), 50);
    let ids: Vec<_> = report.outcomes.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids[..3], ["evt_0", "evt_1", "evt_2"]);
}
