//! The receiver's hot path on this machine: signature verification against plain SHA-256 of
//! the same bytes (verification must reach 95 % of SHA-256's throughput from 16 KiB), envelope
//! parsing, and the whole handler over in-memory ports.
//!
//! `cargo bench -p qpr-webhooks --bench hot_path`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: a broken set-up fails it at once"
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{HeaderMap, HeaderValue, Method};
use qpr_webhooks::contract::envelope::Envelope;
use qpr_webhooks::contract::signature::{Signature, SigningKey};
use qpr_webhooks::receiver::config::ReceiverConfig;
use qpr_webhooks::receiver::handler::{Inbound, Receiver};
use qpr_webhooks::testing::{MemoryQueue, MemorySecrets};
use sha2::{Digest, Sha256};

const SECRET: &str = "whsec_BenchmarkSecret0123456789abcdef";
const SCAN: &str = include_str!("../../infra/samples/scan.created.json");
const SIZES: [usize; 3] = [256, 16 * 1024, 1024 * 1024];

fn verification_against_sha256(c: &mut Criterion) {
    let key = SigningKey::new(SECRET).unwrap();
    let mut group = c.benchmark_group("verify");
    for size in SIZES {
        let body = vec![b'x'; size];
        let signature = Signature::parse(key.sign(&body).as_bytes()).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sha256", size), &body, |b, body| {
            b.iter(|| Sha256::digest(std::hint::black_box(body)));
        });
        group.bench_with_input(BenchmarkId::new("hmac_verify", size), &body, |b, body| {
            b.iter(|| key.verifies(std::hint::black_box(body), &signature));
        });
    }
    group.finish();
}

fn envelope_parsing(c: &mut Criterion) {
    c.bench_function("envelope/parse_scan", |b| {
        b.iter(|| Envelope::parse_str(std::hint::black_box(SCAN)).unwrap());
    });
    let envelope = Envelope::parse_str(SCAN).unwrap();
    c.bench_function("envelope/decode_scan", |b| {
        b.iter(|| envelope.decode().unwrap());
    });
}

fn whole_handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    const SCANS: &str = "https://sqs.us-east-1.amazonaws.com/1/scans";
    let routes = format!(r#"{{"scan.*":"{SCANS}","*":"{SCANS}"}}"#);
    let config = ReceiverConfig::from_env(|name| match name {
        "WEBHOOK_SECRET_ID" => Some("s".into()),
        "EVENT_ROUTES" => Some(routes.clone()),
        _ => None,
    })
    .unwrap();
    let queue = MemoryQueue::default().with_queue(SCANS, 262_144);
    let receiver = runtime.block_on(Receiver::start(
        &config,
        MemorySecrets::holding(&[SECRET]),
        queue.clone(),
    ));
    let mut headers = HeaderMap::new();
    let signature = SigningKey::new(SECRET).unwrap().sign(SCAN.as_bytes());
    headers.insert(
        "x-3qpr-signature",
        HeaderValue::from_str(&signature).unwrap(),
    );
    c.bench_function("handler/signed_scan_in_memory", |b| {
        b.iter(|| {
            queue.clear();
            runtime.block_on(receiver.handle(Inbound {
                method: &Method::POST,
                headers: &headers,
                body: SCAN.as_bytes(),
                request_id: "req-bench",
                deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(30),
            }))
        });
    });
}

criterion_group!(
    benches,
    verification_against_sha256,
    envelope_parsing,
    whole_handler
);
criterion_main!(benches);
