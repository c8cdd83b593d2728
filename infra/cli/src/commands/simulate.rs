//! `simulate`: a local 3QPR. It serves the registration API and then delivers events to each
//! registered URL through the delivery engine, as 3QPR would.

use std::io::Read;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::SimulateArgs;
use crate::delivery::{deliver, AttemptResult, Policy, Report, Webhook};
use crate::samples::sample;
use crate::sender::{Sender, Signing};
use crate::threeqpr::{Registered, Registration};
use crate::Exit;

pub async fn run(args: SimulateArgs) -> Exit {
    let server = match tiny_http::Server::http(&args.listen) {
        Ok(server) => server,
        Err(error) => return super::usage(format!("cannot listen on {}: {error}", args.listen)),
    };
    println!(
        "local 3QPR: POST http://{}/v1/webhooks to register",
        args.listen
    );
    let (registered_tx, mut registered_rx) = mpsc::unbounded_channel::<Registered>();
    let wanted = args.registrations;
    std::thread::spawn(move || serve(&server, wanted, &registered_tx));

    let mut extra = Vec::new();
    for path in &args.files {
        match std::fs::read(path) {
            Ok(body) => extra.push(body),
            Err(error) => return super::usage(format!("cannot read {}: {error}", path.display())),
        }
    }
    let policy = Policy {
        concurrency: 4,
        request_timeout: Duration::from_secs(args.request_timeout),
        first_backoff: Duration::from_millis(args.first_backoff_ms),
        max_backoff: Duration::from_secs(args.max_backoff),
        give_up_after: Duration::from_secs(args.give_up_after),
    };
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..wanted {
        let Some(webhook) = registered_rx.recv().await else {
            break;
        };
        println!(
            "registered {} for {} at {}: delivering in {} s",
            webhook.id,
            webhook.events.join(", "),
            webhook.url,
            args.deliver_after
        );
        let bodies = events_for(&webhook.events, args.per_type, &extra);
        let (policy, wait) = (policy.clone(), Duration::from_secs(args.deliver_after));
        deliveries.spawn(async move {
            tokio::time::sleep(wait).await;
            let report = deliver(&webhook.url, signed(&webhook.secret, bodies), &policy).await;
            (webhook.id, report)
        });
    }
    let mut exit = Exit::Done;
    while let Some(finished) = deliveries.join_next().await {
        let Ok((id, report)) = finished else {
            exit = Exit::Failed;
            continue;
        };
        print_report(&id, &report);
        if report.gave_up() > 0 {
            exit = Exit::Failed;
        }
    }
    exit
}

/// Answers registrations until `wanted` succeeded, then stops serving.
fn serve(
    server: &tiny_http::Server,
    wanted: usize,
    registered: &mpsc::UnboundedSender<Registered>,
) {
    let mut done = 0;
    while done < wanted {
        let Ok(mut request) = server.recv() else {
            return;
        };
        let (status, body) = answer(&mut request);
        let mut response = tiny_http::Response::from_string(match &body {
            Ok(webhook) => serde_json::to_string(webhook).unwrap_or_default(),
            Err(error) => serde_json::json!({ "error": error }).to_string(),
        })
        .with_status_code(status);
        if let Ok(header) =
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
        {
            response.add_header(header);
        }
        let answered = request.respond(response).is_ok();
        if let (Ok(webhook), true) = (body, answered) {
            done += 1;
            let _ = registered.send(webhook);
        }
    }
}

/// 3QPR's answer to one request: a registered webhook with a fresh secret, or an error.
fn answer(request: &mut tiny_http::Request) -> (u16, Result<Registered, String>) {
    if request.method() != &tiny_http::Method::Post || request.url() != "/v1/webhooks" {
        return (404, Err("not found: POST /v1/webhooks".into()));
    }
    let authorised = request.headers().iter().any(|header| {
        header.field.equiv("authorization")
            && header
                .value
                .as_str()
                .strip_prefix("Bearer ")
                .is_some_and(|key| !key.trim().is_empty())
    });
    if !authorised {
        return (401, Err("missing or malformed API key".into()));
    }
    let mut text = String::new();
    if request.as_reader().read_to_string(&mut text).is_err() {
        return (400, Err("the body is not UTF-8".into()));
    }
    let registration: Registration = match serde_json::from_str(&text) {
        Ok(registration) => registration,
        Err(_) => {
            return (
                400,
                Err("expected {\"url\": ..., \"events\": [...]}".into()),
            )
        }
    };
    if !registration.url.starts_with("http://") && !registration.url.starts_with("https://") {
        return (400, Err("url must be http(s)".into()));
    }
    if registration.events.is_empty() {
        return (400, Err("events must not be empty".into()));
    }
    let Ok(random) = random_hex(24) else {
        return (500, Err("no randomness available".into()));
    };
    (
        200,
        Ok(Registered {
            id: format!("wh_{}", &random[..12]),
            url: registration.url,
            events: registration.events,
            secret: format!("whsec_{random}"),
            active: true,
            created_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .ok(),
        }),
    )
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// `per_type` events of each registered type (the documented sample, then copies with fresh
/// ids), and the extra bodies as they are.
fn events_for(types: &[String], per_type: usize, extra: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut events = Vec::new();
    for event_type in types {
        let template: serde_json::Value = sample(event_type)
            .and_then(|body| serde_json::from_str(body).ok())
            .unwrap_or_else(|| {
                serde_json::json!({"event": event_type, "id": format!("evt_sim_{event_type}"), "data": {}})
            });
        let id = template["id"].as_str().unwrap_or("evt_sim").to_string();
        // The sample byte for byte, then copies with fresh ids.
        let first = sample(event_type).map_or_else(|| template.to_string(), str::to_string);
        events.push((id.clone(), first.into_bytes()));
        for copy in 1..per_type {
            let mut event = template.clone();
            event["id"] = serde_json::json!(format!("{id}_{copy}"));
            events.push((format!("{id}_{copy}"), event.to_string().into_bytes()));
        }
    }
    for (index, body) in extra.iter().enumerate() {
        events.push((format!("file #{}", index + 1), body.clone()));
    }
    events
}

fn signed(secret: &str, events: Vec<(String, Vec<u8>)>) -> Vec<Webhook> {
    let Ok(sender) = Sender::new(secret) else {
        return Vec::new();
    };
    events
        .into_iter()
        .map(|(id, body)| {
            let (body, signature) = sender.prepare(&body, Signing::Signed);
            Webhook {
                id,
                body,
                signature,
            }
        })
        .collect()
}

fn print_report(webhook: &str, report: &Report) {
    println!("deliveries of {webhook}:");
    for outcome in &report.outcomes {
        let answers: Vec<String> = outcome
            .attempts
            .iter()
            .map(|attempt| match &attempt.result {
                AttemptResult::Status(status) => status.to_string(),
                AttemptResult::TimedOut => "timeout".into(),
                AttemptResult::Failed(_) => "no answer".into(),
            })
            .collect();
        let state = if outcome.delivered {
            "delivered"
        } else {
            "given up"
        };
        println!(
            "  {:<28} {state:<9} after {}",
            outcome.id,
            answers.join(" → ")
        );
    }
    println!("  {}", report.summary());
}
