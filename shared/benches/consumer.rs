//! A batch of ten records whose handler waits 10 ms on I/O: one after the other it takes
//! 100 ms; in lanes, concurrently, about the 10 ms of one (records of a FIFO group stay in
//! order, so a single group still takes the sum).
//!
//! `cargo bench -p qpr-webhooks --bench consumer`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: a broken set-up fails it at once"
)]

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use criterion::{criterion_group, criterion_main, Criterion};
use qpr_webhooks::consumer::{Consumer, Delivered, EventHandler, HandlerError};
use qpr_webhooks::testing::sqs_record;

struct WaitsOnIo;

impl EventHandler for WaitsOnIo {
    async fn handle(&self, _event: &Delivered<'_>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(())
    }
}

fn batch(group: Option<&str>) -> SqsEvent {
    let mut batch = SqsEvent::default();
    batch.records = (0..10)
        .map(|n| {
            let body = format!(
                r#"{{"event":"scan.created","id":"evt_{n}","data":{{"scan_id":1,"qpr_code_id":"q","short_id":"s","scanned_at":"t"}}}}"#
            );
            sqs_record(&format!("m{n}"), &body, group)
        })
        .collect();
    batch
}

fn batch_of_ten(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("consumer/batch_of_10_handlers_waiting_10ms");
    group.sample_size(20);
    for (name, concurrency, message_group) in [
        ("standard_queue_concurrent", 10, None),
        ("standard_queue_one_at_a_time", 1, None),
        ("fifo_one_group", 10, Some("qpr_1")),
    ] {
        let consumer = Consumer::new(WaitsOnIo, "bench").with_concurrency(concurrency);
        let records = batch(message_group);
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = runtime.block_on(consumer.process(&records));
                assert!(report.failed_ids().is_empty());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, batch_of_ten);
criterion_main!(benches);
