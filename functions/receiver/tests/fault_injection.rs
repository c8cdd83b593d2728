//! The promise under load with faults injected: thousands of distinct signed events, delivered
//! as 3QPR delivers them (retrying every non-2xx and timeout, with backoff, for a bounded
//! time), through two instances of the real receiver binary, while a proxy between the
//! receiver and the local AWS stack refuses connections, stalls calls past the call timeout
//! and answers with throttling errors, a few seconds at a time, and the secret is rotated in
//! the middle. Forged and tampered events are mixed in.
//!
//! At the end: every event that got a 2xx is in its queue, every event was accepted, no forged
//! or tampered event is in any queue, and the figures are printed. `FAULT_EVENTS` sets the
//! number of events (default 3000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qpr_cli::delivery::{deliver, Policy, Report, Webhook};
use qpr_cli::samples::SAMPLES;
use qpr_cli::sender::{Sender, Signing};
use qpr_webhooks::contract::envelope::Envelope;
use testkit::fault::{Fault, FaultProxy};
use testkit::{workspace_binary, Emulator, LambdaProcess, LocalStack};

const INSTANCES: usize = 2;
const FORGED: usize = 100;
const TAMPERED: usize = 100;
const ROTATED_SECRET: &str = "whsec_RotatedDuringTheLoadTest0123456789";
/// Faults and the time each lasts, over and over until the deliveries end.
const SCHEDULE: [(Fault, Duration); 6] = [
    (Fault::None, Duration::from_secs(3)),
    (Fault::Refuse, Duration::from_secs(2)),
    (Fault::None, Duration::from_secs(3)),
    (Fault::Stall, Duration::from_secs(2)),
    (Fault::None, Duration::from_secs(3)),
    (Fault::Throttle, Duration::from_secs(2)),
];

/// `count` distinct events of the five documented types, ids `evt_{prefix}{n}`.
fn events(prefix: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|n| {
            let (_, sample) = SAMPLES[n % SAMPLES.len()];
            let mut envelope: serde_json::Value = serde_json::from_str(sample).unwrap();
            let id = format!("evt_{prefix}{n:05}");
            envelope["id"] = serde_json::json!(id);
            (id, envelope.to_string().into_bytes())
        })
        .collect()
}

fn webhooks(secret: &str, events: &[(String, Vec<u8>)], signing: Signing) -> Vec<Webhook> {
    let sender = Sender::new(secret).unwrap();
    events
        .iter()
        .map(|(id, body)| {
            let (body, signature) = sender.prepare(body, signing);
            Webhook {
                id: id.clone(),
                body,
                signature,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_is_kept_and_no_forgery_gets_in_under_faults() {
    let total: usize = std::env::var("FAULT_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let stack = Arc::new(LocalStack::up());
    let proxy = Arc::new(FaultProxy::to(stack.endpoint()));
    let emulator = Emulator::start();
    let overrides = [
        ("AWS_ENDPOINT_URL", proxy.url()),
        ("AWS_CALL_TIMEOUT_MS", "1000"),
        ("RETRY_AFTER_SECONDS", "1"),
        ("SECRET_REFETCH_INTERVAL_SECONDS", "2"),
        ("SECRET_REFRESH_SECONDS", "5"),
    ];
    let binary = workspace_binary("receiver");
    let mut instances: Vec<LambdaProcess> = (0..INSTANCES)
        .map(|_| {
            LambdaProcess::start(
                &emulator,
                &binary,
                "receiver",
                &stack.function_env("receiver"),
                &overrides,
            )
        })
        .collect();
    for instance in &mut instances {
        instance.wait_for_log("receiver ready");
    }
    let url = emulator.function_url("receiver", "/webhooks/3qpr");
    let policy = Policy {
        concurrency: 8,
        request_timeout: Duration::from_secs(15),
        first_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        give_up_after: Duration::from_secs(120),
    };

    // The faults, for as long as the deliveries run; meanwhile the queues are drained as the
    // consumers would (moto's SendMessage slows down as a queue fills).
    let delivering = Arc::new(AtomicBool::new(true));
    let drainer = {
        let (stack, delivering) = (Arc::clone(&stack), Arc::clone(&delivering));
        tokio::spawn(async move {
            let mut bodies = Vec::new();
            loop {
                let running = delivering.load(Ordering::SeqCst);
                for queue in stack.queue_names() {
                    bodies.extend(
                        stack
                            .drain(&queue)
                            .await
                            .into_iter()
                            .map(|message| message.body.unwrap_or_default()),
                    );
                }
                if !running {
                    return bodies;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let faults = {
        let (proxy, delivering) = (Arc::clone(&proxy), Arc::clone(&delivering));
        tokio::spawn(async move {
            let mut windows = 0;
            for (fault, lasting) in SCHEDULE.iter().cycle() {
                if !delivering.load(Ordering::SeqCst) {
                    break;
                }
                proxy.set(*fault);
                windows += usize::from(*fault != Fault::None);
                tokio::time::sleep(*lasting).await;
            }
            proxy.set(Fault::None);
            windows
        })
    };

    // Half the events signed with the first secret; then the operator rotates and 3QPR signs
    // the other half with the new one, while the first half is still being retried.
    let first = events("a", total / 2);
    let second = events("b", total - total / 2);
    let forged = events("forged", FORGED);
    let tampered = events("tampered", TAMPERED);
    let first_half = {
        let (url, policy) = (url.clone(), policy.clone());
        let batch = webhooks(stack.secret(), &first, Signing::Signed);
        tokio::spawn(async move { deliver(&url, batch, &policy).await })
    };
    let attacks = {
        let url = url.clone();
        let mut batch = webhooks("whsec_not_the_secret_at_all", &forged, Signing::Signed);
        batch.extend(webhooks(stack.secret(), &tampered, Signing::Tampered));
        let policy = Policy {
            give_up_after: Duration::from_secs(20),
            ..policy.clone()
        };
        tokio::spawn(async move { deliver(&url, batch, &policy).await })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    stack
        .secrets_manager()
        .put_secret_value()
        .secret_id(stack.secret_id())
        .secret_string(ROTATED_SECRET)
        .send()
        .await
        .expect("the rotation");
    let second_half = deliver(
        &url,
        webhooks(ROTATED_SECRET, &second, Signing::Signed),
        &policy,
    )
    .await;
    let first_half = first_half.await.unwrap();
    let attacks = attacks.await.unwrap();
    delivering.store(false, Ordering::SeqCst);
    let fault_windows = faults.await.unwrap();
    proxy.set(Fault::None);

    // What reached the queues, by event id.
    let bodies = drainer.await.unwrap();
    let messages = bodies.len();
    let mut held: HashMap<String, usize> = HashMap::new();
    for body in &bodies {
        let id = Envelope::parse_str(body)
            .map(|envelope| envelope.id.to_string())
            .unwrap_or_else(|_| "<not an envelope>".to_string());
        *held.entry(id).or_default() += 1;
    }

    let reports = [&first_half, &second_half];
    let accepted: Vec<&str> = reports
        .iter()
        .flat_map(|report| report.outcomes.iter())
        .filter(|outcome| outcome.delivered)
        .map(|outcome| outcome.id.as_str())
        .collect();
    let lost: Vec<&&str> = accepted
        .iter()
        .filter(|id| !held.contains_key(**id))
        .collect();
    let never_accepted = total - accepted.len();
    let forgeries_in = held
        .keys()
        .filter(|id| id.starts_with("evt_forged") || id.starts_with("evt_tampered"))
        .count();
    let duplicates = messages - held.len();
    let injected = proxy.injected();
    let sum = |pick: fn(&Report) -> usize| pick(&first_half) + pick(&second_half);
    println!(
        "fault injection: {total} events ({FORGED} forged and {TAMPERED} tampered beside them), \
         {fault_windows} fault windows ({} connections refused, {} transfers stalled, {} calls throttled), \
         {} attempts: {} 2xx, {} 503, {} unanswered; {} accepted ({} after retries), \
         {duplicates} duplicates, {} lost, {never_accepted} never accepted; forged/tampered: \
         {} attempts, {} 2xx, {forgeries_in} in a queue",
        injected.refused,
        injected.stalled,
        injected.throttled,
        sum(Report::attempts),
        sum(Report::successes),
        sum(|r| r.answered(503)),
        sum(Report::unanswered),
        accepted.len(),
        sum(Report::retried),
        lost.len(),
        attacks.attempts(),
        attacks.successes(),
    );

    assert!(fault_windows >= 3, "every kind of fault was injected");
    assert!(
        injected.refused > 0 && injected.stalled > 0 && injected.throttled > 0,
        "{injected:?}"
    );
    assert!(sum(|r| r.answered(503)) > 0, "the faults were felt");
    assert_eq!(lost.len(), 0, "accepted but not queued: {lost:?}");
    assert_eq!(never_accepted, 0, "events 3QPR gave up on");
    assert_eq!(
        attacks.successes(),
        0,
        "a forged or tampered event got a 2xx"
    );
    assert_eq!(forgeries_in, 0, "a forged or tampered event is in a queue");
    assert!(!held.contains_key("<not an envelope>"), "{held:?}");
}
