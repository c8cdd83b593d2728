use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;

use super::*;
use crate::testing::sqs_record;

/// Records what it handled; refuses the event ids it is told to.
#[derive(Default)]
struct Recording {
    handled: Mutex<Vec<String>>,
    refuse: Vec<&'static str>,
}

impl EventHandler for Recording {
    async fn handle(&self, event: &Delivered<'_>) -> Result<(), HandlerError> {
        if self.refuse.contains(&event.event_id) {
            return Err("refused by the test".into());
        }
        self.handled
            .lock()
            .unwrap()
            .push(event.event_id.to_string());
        Ok(())
    }
}

fn scan(id: &str) -> String {
    format!(
        r#"{{"event":"scan.created","id":"{id}","data":{{"scan_id":1,"qpr_code_id":"qpr_1","short_id":"s","scanned_at":"2026-03-20T15:30:00Z","metadata":{{}}}}}}"#
    )
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// The events handled, in id order: records of different lanes run concurrently.
fn handled<P, I>(consumer: &Consumer<Recording, P, I>) -> Vec<String> {
    let mut handled = consumer.handler.handled.lock().unwrap().clone();
    handled.sort_unstable();
    handled
}

#[tokio::test]
async fn a_clean_batch_reports_no_failures_and_counts_by_type() {
    let consumer = Consumer::new(Recording::default(), "test");
    let upgraded = r#"{"event":"subscription.upgraded","id":"evt_u","data":{"plan":"pro"}}"#;
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_2"), None),
            sqs_record("m3", upgraded, None),
        ]))
        .await;
    assert!(report.failed_ids().is_empty());
    assert_eq!(handled(&consumer), ["evt_1", "evt_2", "evt_u"]);
    assert_eq!(report.counts["Scans"], 2);
    assert_eq!(report.counts["SubscriptionsUpgraded"], 1);
    assert!(!report.counts.contains_key(FAILED_RECORDS_METRIC));
}

#[tokio::test]
async fn a_poison_record_fails_alone() {
    let consumer = Consumer::new(Recording::default(), "test");
    let bad_data = r#"{"event":"scan.created","id":"evt_bad","data":{"scan_id":"not a number"}}"#;
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", "not json at all", None),
            sqs_record("m3", bad_data, None),
            sqs_record("m4", &scan("evt_4"), None),
        ]))
        .await;
    assert_eq!(report.failed_ids(), ["m2", "m3"]);
    assert_eq!(handled(&consumer), ["evt_1", "evt_4"]);
    assert_eq!(report.counts[FAILED_RECORDS_METRIC], 2);
    assert_eq!(report.counts["Scans"], 2);
}

#[tokio::test]
async fn a_handler_error_fails_only_its_record() {
    let consumer = Consumer::new(
        Recording {
            refuse: vec!["evt_2"],
            ..Recording::default()
        },
        "test",
    );
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_2"), None),
            sqs_record("m3", &scan("evt_3"), None),
        ]))
        .await;
    assert_eq!(report.failed_ids(), ["m2"]);
    assert_eq!(handled(&consumer), ["evt_1", "evt_3"]);
}

#[tokio::test]
async fn attributes_must_agree_with_the_body() {
    let consumer = Consumer::new(Recording::default(), "test");
    let mut mismatched = sqs_record("m1", &scan("evt_1"), None);
    mismatched
        .message_attributes
        .get_mut(ATTR_EVENT_ID)
        .unwrap()
        .string_value = Some("evt_other".into());
    let mut missing = sqs_record("m2", &scan("evt_2"), None);
    missing.message_attributes.remove(ATTR_EVENT_TYPE);
    let mut no_body = sqs_record("m3", &scan("evt_3"), None);
    no_body.body = None;
    let report = consumer
        .process(&batch(vec![mismatched, missing, no_body]))
        .await;
    assert_eq!(report.failed_ids(), ["m1", "m2", "m3"]);
    assert!(handled(&consumer).is_empty());
}

#[tokio::test]
async fn the_same_event_twice_in_a_batch_is_processed_once() {
    let consumer = Consumer::new(Recording::default(), "test");
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_1"), None),
        ]))
        .await;
    assert!(report.failed_ids().is_empty());
    assert_eq!(handled(&consumer), ["evt_1"]);
    assert_eq!(report.counts["Scans"], 1);
}

#[tokio::test]
async fn a_duplicate_of_a_failed_event_fails_too() {
    let consumer = Consumer::new(
        Recording {
            refuse: vec!["evt_1"],
            ..Recording::default()
        },
        "test",
    );
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_1"), None),
        ]))
        .await;
    assert_eq!(report.failed_ids(), ["m1", "m2"]);
}

#[tokio::test]
async fn on_fifo_queues_a_failure_stops_the_rest_of_its_group() {
    let consumer = Consumer::new(
        Recording {
            refuse: vec!["evt_a1"],
            ..Recording::default()
        },
        "test",
    );
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_a1"), Some("qpr_a")),
            sqs_record("m2", &scan("evt_b1"), Some("qpr_b")),
            sqs_record("m3", &scan("evt_a2"), Some("qpr_a")),
            sqs_record("m4", &scan("evt_b2"), Some("qpr_b")),
        ]))
        .await;
    assert_eq!(report.failed_ids(), ["m1", "m3"]);
    assert_eq!(handled(&consumer), ["evt_b1", "evt_b2"]);
}

#[tokio::test]
async fn an_empty_batch_is_answered_empty() {
    let consumer = Consumer::new(Recording::default(), "test");
    let report = consumer.process(&SqsEvent::default()).await;
    assert!(report.failed_ids().is_empty());
    assert!(report.counts.is_empty());
}

#[tokio::test]
async fn the_response_serialises_as_lambda_expects() {
    let consumer = Consumer::new(Recording::default(), "test");
    let report = consumer
        .process(&batch(vec![sqs_record("m1", "{}", None)]))
        .await;
    assert_eq!(
        serde_json::to_value(&report.response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
}

#[test]
fn the_metrics_are_an_embedded_metric_format_document() {
    let mut report = BatchReport::default();
    report.counts.insert("Scans", 3);
    report.counts.insert(FAILED_RECORDS_METRIC, 1);
    let document: serde_json::Value =
        serde_json::from_str(&report.emf("3QPR/Webhooks", 1_774_020_600_000)).unwrap();
    assert_eq!(document["Scans"], 3);
    assert_eq!(document["FailedRecords"], 1);
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(document["_aws"]["Timestamp"], 1_774_020_600_000i64);
    assert_eq!(directive["Namespace"], "3QPR/Webhooks");
    assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
    let names: Vec<_> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| {
            assert_eq!(metric["Unit"], "Count");
            metric["Name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(names, ["FailedRecords", "Scans"]);
}

#[test]
fn the_metrics_namespace_is_configurable_with_a_default() {
    let configured = Consumer::with_namespace_from(Recording::default(), |name| {
        (name == METRICS_NAMESPACE_VAR).then(|| "Acme/3QPR".to_string())
    });
    assert_eq!(configured.metrics_namespace, "Acme/3QPR");
    let default = Consumer::with_namespace_from(Recording::default(), |_| None);
    assert_eq!(default.metrics_namespace, DEFAULT_METRICS_NAMESPACE);
}

/// Handles `scan.created`, panicking on evt_panic, hanging on evt_hang, taking 10 ms on others.
#[derive(Default)]
struct Unruly {
    handled: Mutex<Vec<String>>,
}

impl EventHandler for Unruly {
    async fn handle(&self, event: &Delivered<'_>) -> Result<(), HandlerError> {
        match event.event_id {
            "evt_panic" => panic!("the handler's own bug"),
            "evt_hang" => std::future::pending::<()>().await,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        self.handled
            .lock()
            .unwrap()
            .push(event.event_id.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_record() {
    let consumer = Consumer::new(Unruly::default(), "test");
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_panic"), None),
            sqs_record("m3", &scan("evt_3"), None),
        ]))
        .await;
    assert_eq!(report.failed_ids(), ["m2"]);
    assert_eq!(report.failures["panicked"], 1);
    let mut handled = consumer.handler.handled.lock().unwrap().clone();
    handled.sort_unstable();
    assert_eq!(handled, ["evt_1", "evt_3"]);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_handler_and_records_not_reached_fail_before_the_deadline() {
    let consumer = Consumer::new(Unruly::default(), "test").with_concurrency(1);
    let deadline = Instant::now() + Duration::from_secs(3);
    let report = consumer
        .process_until(
            &batch(vec![
                sqs_record("m1", &scan("evt_1"), None),
                sqs_record("m2", &scan("evt_hang"), None),
                sqs_record("m3", &scan("evt_3"), None),
            ]),
            deadline,
        )
        .await;
    assert!(Instant::now() <= deadline - DEADLINE_MARGIN);
    assert_eq!(report.failed_ids(), ["m2", "m3"]);
    assert_eq!(report.failures["deadline"], 2);
    assert_eq!(*consumer.handler.handled.lock().unwrap(), ["evt_1"]);
}

#[tokio::test(start_paused = true)]
async fn records_of_a_standard_queue_are_handled_concurrently() {
    let records: Vec<_> = (0..10)
        .map(|n| sqs_record(&format!("m{n}"), &scan(&format!("evt_{n}")), None))
        .collect();
    for (concurrency, took) in [(10, 10), (1, 100)] {
        let consumer = Consumer::new(Unruly::default(), "test").with_concurrency(concurrency);
        let started = Instant::now();
        let report = consumer.process(&batch(records.clone())).await;
        assert!(report.failed_ids().is_empty());
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(took),
            "{concurrency}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn fifo_groups_keep_their_order_while_groups_run_concurrently() {
    let consumer = Consumer::new(Unruly::default(), "test");
    let started = Instant::now();
    let report = consumer
        .process(&batch(vec![
            sqs_record("m1", &scan("evt_a1"), Some("qpr_a")),
            sqs_record("m2", &scan("evt_b1"), Some("qpr_b")),
            sqs_record("m3", &scan("evt_a2"), Some("qpr_a")),
            sqs_record("m4", &scan("evt_b2"), Some("qpr_b")),
        ]))
        .await;
    assert!(report.failed_ids().is_empty());
    assert_eq!(started.elapsed(), Duration::from_millis(20));
    let handled = consumer.handler.handled.lock().unwrap().clone();
    let position = |id: &str| handled.iter().position(|h| h == id).unwrap();
    assert!(position("evt_a1") < position("evt_a2"));
    assert!(position("evt_b1") < position("evt_b2"));
}

#[tokio::test]
async fn a_quarantined_body_on_a_consumer_queue_is_left_for_the_dead_letter_queue() {
    let consumer = Consumer::new(Recording::default(), "test");
    let mut quarantined = sqs_record("m1", "not json", None);
    quarantined.message_attributes.insert(
        "quarantine_reason".into(),
        sqs_record("x", &scan("evt_x"), None).message_attributes["event_id"].clone(),
    );
    let report = consumer.process(&batch(vec![quarantined])).await;
    assert_eq!(report.failed_ids(), ["m1"]);
    assert_eq!(report.failures["quarantined"], 1);
}

mod claim_check {
    use super::*;
    use crate::contract::pointer::{PayloadPointer, ATTR_EXTENDED_PAYLOAD_SIZE};
    use crate::testing::MemoryPayloads;

    fn pointer_record(message_id: &str, event_id: &str, key: &str) -> SqsMessage {
        let mut record = sqs_record(message_id, &scan(event_id), None);
        let pointer = PayloadPointer {
            bucket: "payloads".into(),
            key: key.into(),
        };
        record.body = Some(pointer.to_body());
        let mut size = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        size.string_value = Some(scan(event_id).len().to_string());
        size.data_type = Some("Number".into());
        record
            .message_attributes
            .insert(ATTR_EXTENDED_PAYLOAD_SIZE.into(), size);
        record
    }

    #[tokio::test]
    async fn a_pointer_is_resolved_so_the_handler_sees_the_same_typed_event() {
        let payloads = MemoryPayloads::default();
        payloads.put("payloads/scans/req-1", &scan("evt_large"));
        let consumer = Consumer::new(Recording::default(), "test").with_payloads(payloads);
        let report = consumer
            .process(&batch(vec![
                pointer_record("m1", "evt_large", "payloads/scans/req-1"),
                sqs_record("m2", &scan("evt_small"), None),
            ]))
            .await;
        assert!(report.failed_ids().is_empty());
        let mut handled = consumer.handler.handled.lock().unwrap().clone();
        handled.sort_unstable();
        assert_eq!(handled, ["evt_large", "evt_small"]);
    }

    #[tokio::test]
    async fn a_pointer_whose_object_is_missing_fails_with_a_clear_reason() {
        let consumer =
            Consumer::new(Recording::default(), "test").with_payloads(MemoryPayloads::default());
        let (logs, _guard) = crate::testing::CapturedLogs::start();
        let report = consumer
            .process(&batch(vec![pointer_record(
                "m1",
                "evt_gone",
                "payloads/scans/gone",
            )]))
            .await;
        assert_eq!(report.failed_ids(), ["m1"]);
        assert_eq!(report.failures["payload_missing"], 1);
        assert!(logs
            .text()
            .contains("s3://payloads/payloads/scans/gone does not exist"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_that_hangs_fails_its_record_before_the_deadline_naming_the_object() {
        let payloads = MemoryPayloads::default();
        payloads.put("payloads/scans/req-1", &scan("evt_large"));
        payloads.set_hanging(true);
        let consumer = Consumer::new(Recording::default(), "test").with_payloads(payloads);
        let (logs, _guard) = crate::testing::CapturedLogs::start();
        let deadline = Instant::now() + Duration::from_secs(3);
        let records = batch(vec![
            pointer_record("m1", "evt_large", "payloads/scans/req-1"),
            sqs_record("m2", &scan("evt_small"), None),
        ]);
        let report = tokio::time::timeout_at(deadline, consumer.process_until(&records, deadline))
            .await
            .expect("answered before the invocation's deadline");
        assert!(Instant::now() <= deadline - DEADLINE_MARGIN);
        assert_eq!(report.failed_ids(), ["m1"]);
        assert_eq!(report.failures["payload_unavailable"], 1);
        assert!(
            logs.text()
                .contains("s3://payloads/payloads/scans/req-1 cannot be read"),
            "{}",
            logs.text()
        );
        assert_eq!(handled(&consumer), ["evt_small"]);
    }
}

mod idempotency {
    use super::*;
    use crate::testing::{IdempotencyRecord, MemoryIdempotency};

    const DAY: Duration = Duration::from_secs(86_400);

    fn consumer(
        store: &MemoryIdempotency,
        refuse: Vec<&'static str>,
    ) -> Consumer<Recording, NoPayloads, MemoryIdempotency> {
        Consumer::new(
            Recording {
                refuse,
                ..Recording::default()
            },
            "test",
        )
        .with_idempotency(store.clone(), "scans-consumer", DAY)
    }

    fn replayed(message_id: &str, event_id: &str, mode: &str) -> SqsMessage {
        let mut record = sqs_record(message_id, &scan(event_id), None);
        let mut attribute = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        attribute.string_value = Some(mode.into());
        record.message_attributes.insert("replay".into(), attribute);
        record
    }

    #[tokio::test]
    async fn an_event_in_two_batches_is_handled_once_and_the_second_is_a_counted_success() {
        let store = MemoryIdempotency::default();
        let consumer = consumer(&store, vec![]);
        let first = consumer
            .process(&batch(vec![sqs_record("m1", &scan("evt_1"), None)]))
            .await;
        let (logs, _guard) = crate::testing::CapturedLogs::start();
        let second = consumer
            .process(&batch(vec![sqs_record("m2", &scan("evt_1"), None)]))
            .await;
        assert!(first.failed_ids().is_empty() && second.failed_ids().is_empty());
        assert_eq!(handled(&consumer), ["evt_1"]);
        assert_eq!(second.counts["Duplicates"], 1);
        // The operator sees the skip in the log, not only in the metric.
        let skipped: Vec<_> = logs
            .lines()
            .into_iter()
            .filter(|line| {
                line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("duplicate skipped"))
            })
            .collect();
        assert_eq!(skipped.len(), 1, "{}", logs.text());
        assert_eq!(skipped[0]["fields"]["event_id"], "evt_1");
        assert_eq!(skipped[0]["fields"]["message_id"], "m2");
        assert!(!second.counts.contains_key("Scans"));
        assert!(store.record("scans-consumer#evt_1").unwrap().completed);
    }

    #[tokio::test]
    async fn a_batch_of_ten_reads_the_store_once() {
        let store = MemoryIdempotency::default();
        let consumer = consumer(&store, vec![]);
        let records = (0..10)
            .map(|n| sqs_record(&format!("m{n}"), &scan(&format!("evt_{n}")), None))
            .collect();
        consumer.process(&batch(records)).await;
        assert_eq!(store.reads(), 1);
    }

    #[tokio::test]
    async fn two_consumers_racing_on_one_event_run_the_handler_once() {
        let store = MemoryIdempotency::default();
        // Handlers that take 10 ms, so both deliveries are in flight together.
        let slow = || {
            Consumer::new(Unruly::default(), "test").with_idempotency(
                store.clone(),
                "scans-consumer",
                DAY,
            )
        };
        let (one, two) = (slow(), slow());
        let runs = |one: &Consumer<Unruly, _, _>, two: &Consumer<Unruly, _, _>| {
            one.handler.handled.lock().unwrap().len() + two.handler.handled.lock().unwrap().len()
        };
        let event = batch(vec![sqs_record("m1", &scan("evt_race"), None)]);
        let (a, b) = tokio::join!(one.process(&event), two.process(&event));
        assert_eq!(runs(&one, &two), 1);
        let losers: Vec<_> = [&a, &b]
            .into_iter()
            .filter(|report| !report.failed_ids().is_empty())
            .collect();
        assert_eq!(losers.len(), 1);
        assert_eq!(losers[0].failures["in_progress"], 1);
        // The loser's record comes back after the visibility timeout, and is skipped.
        let again = two.process(&event).await;
        assert!(again.failed_ids().is_empty());
        assert_eq!(again.counts["Duplicates"], 1);
        assert_eq!(runs(&one, &two), 1);
    }

    #[tokio::test]
    async fn a_handler_that_fails_then_succeeds_runs_twice_and_ends_completed() {
        let store = MemoryIdempotency::default();
        let failing = consumer(&store, vec!["evt_flaky"]);
        let event = batch(vec![sqs_record("m1", &scan("evt_flaky"), None)]);
        assert_eq!(failing.process(&event).await.failed_ids(), ["m1"]);
        assert_eq!(store.record("scans-consumer#evt_flaky"), None, "released");
        let working = consumer(&store, vec![]);
        assert!(working.process(&event).await.failed_ids().is_empty());
        assert_eq!(handled(&working), ["evt_flaky"]);
        assert!(store.record("scans-consumer#evt_flaky").unwrap().completed);
    }

    #[tokio::test]
    async fn a_consumer_killed_mid_handler_is_taken_over_once_its_mark_lapses() {
        let store = MemoryIdempotency::default();
        let far = i64::MAX / 2;
        let now_ms = epoch_millis(SystemTime::now());
        store.insert(
            "scans-consumer#evt_live",
            IdempotencyRecord {
                completed: false,
                in_progress_until: now_ms + 60_000,
                expires_at: far,
            },
        );
        store.insert(
            "scans-consumer#evt_dead",
            IdempotencyRecord {
                completed: false,
                in_progress_until: now_ms - 1,
                expires_at: far,
            },
        );
        let consumer = consumer(&store, vec![]);
        let report = consumer
            .process(&batch(vec![
                sqs_record("m1", &scan("evt_live"), None),
                sqs_record("m2", &scan("evt_dead"), None),
            ]))
            .await;
        assert_eq!(report.failed_ids(), ["m1"]);
        assert_eq!(handled(&consumer), ["evt_dead"]);
    }

    #[tokio::test]
    async fn with_the_store_down_every_record_fails_and_none_is_handled() {
        let store = MemoryIdempotency::default();
        store.set_failing(true);
        let consumer = consumer(&store, vec![]);
        let report = consumer
            .process(&batch(vec![
                sqs_record("m1", &scan("evt_1"), None),
                sqs_record("m2", &scan("evt_2"), None),
            ]))
            .await;
        assert_eq!(report.failed_ids(), ["m1", "m2"]);
        assert_eq!(report.failures["store_unavailable"], 2);
        assert!(handled(&consumer).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_store_after_a_hung_handler_still_answers_before_the_deadline() {
        let store = MemoryIdempotency::default();
        // The hung handler's release and the others' completion never answer.
        store.set_hanging(&["UpdateItem", "DeleteItem"]);
        let consumer = Consumer::new(Unruly::default(), "test").with_idempotency(
            store.clone(),
            "scans-consumer",
            DAY,
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        let records = batch(vec![
            sqs_record("m1", &scan("evt_1"), None),
            sqs_record("m2", &scan("evt_hang"), None),
            sqs_record("m3", &scan("evt_3"), None),
        ]);
        let report = tokio::time::timeout_at(deadline, consumer.process_until(&records, deadline))
            .await
            .expect("answered before the invocation's deadline");
        assert!(Instant::now() <= deadline - DEADLINE_MARGIN);
        assert_eq!(report.failed_ids(), ["m2"]);
        assert_eq!(report.failures["deadline"], 1);
        let mut handled = consumer.handler.handled.lock().unwrap().clone();
        handled.sort_unstable();
        assert_eq!(handled, ["evt_1", "evt_3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_that_hangs_fails_its_record_in_time_and_the_handler_never_runs() {
        for hanging in [
            &["PutItem"][..],
            &["BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"],
        ] {
            let store = MemoryIdempotency::default();
            store.set_hanging(hanging);
            let consumer = consumer(&store, vec![]);
            let deadline = Instant::now() + Duration::from_secs(3);
            let records = batch(vec![
                sqs_record("m1", &scan("evt_1"), None),
                sqs_record("m2", &scan("evt_2"), None),
            ]);
            let report =
                tokio::time::timeout_at(deadline, consumer.process_until(&records, deadline))
                    .await
                    .expect("answered before the invocation's deadline");
            assert!(Instant::now() <= deadline - DEADLINE_MARGIN, "{hanging:?}");
            assert_eq!(report.failed_ids(), ["m1", "m2"], "{hanging:?}");
            assert!(handled(&consumer).is_empty(), "{hanging:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_that_hangs_says_the_store_did_not_answer() {
        let store = MemoryIdempotency::default();
        store.set_hanging(&["PutItem"]);
        let consumer = consumer(&store, vec![]);
        let (logs, _guard) = crate::testing::CapturedLogs::start();
        let deadline = Instant::now() + Duration::from_secs(3);
        let records = batch(vec![sqs_record("m1", &scan("evt_1"), None)]);
        let report = tokio::time::timeout_at(deadline, consumer.process_until(&records, deadline))
            .await
            .expect("answered before the invocation's deadline");
        assert_eq!(report.failures["store_unavailable"], 1);
        assert!(
            logs.text()
                .contains("PutItem failed: no answer before the invocation's deadline"),
            "{}",
            logs.text()
        );
    }

    /// Reads the event's idempotency record while it runs, as it stands in the store then.
    struct Peeking {
        store: MemoryIdempotency,
        seen: Mutex<Option<IdempotencyRecord>>,
    }

    impl EventHandler for Peeking {
        async fn handle(&self, event: &Delivered<'_>) -> Result<(), HandlerError> {
            *self.seen.lock().unwrap() = self
                .store
                .record(&format!("scans-consumer#{}", event.event_id));
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_in_progress_mark_lapses_with_the_invocation_and_the_completed_one_after_the_ttl() {
        const TTL: Duration = Duration::from_secs(3 * 3600);
        const INVOCATION_LEFT: Duration = Duration::from_secs(60);
        let store = MemoryIdempotency::default();
        let consumer = Consumer::new(
            Peeking {
                store: store.clone(),
                seen: Mutex::new(None),
            },
            "test",
        )
        .with_idempotency(store.clone(), "scans-consumer", TTL);
        let before = SystemTime::now();
        let deadline = Instant::now() + INVOCATION_LEFT;
        let report = consumer
            .process_until(
                &batch(vec![sqs_record("m1", &scan("evt_1"), None)]),
                deadline,
            )
            .await;
        let after = SystemTime::now();
        assert!(report.failed_ids().is_empty());

        // The invocation's own deadline, not the earlier time records stop at.
        let in_progress = consumer.handler.seen.lock().unwrap().clone().unwrap();
        assert!(!in_progress.completed);
        let slack_ms = 50;
        assert!(
            (epoch_millis(before + INVOCATION_LEFT) - slack_ms
                ..=epoch_millis(after + INVOCATION_LEFT) + slack_ms)
                .contains(&in_progress.in_progress_until),
            "{in_progress:?}"
        );

        let completed = store.record("scans-consumer#evt_1").unwrap();
        assert!(completed.completed);
        assert!(
            (epoch_seconds(before + TTL)..=epoch_seconds(after + TTL))
                .contains(&completed.expires_at),
            "{completed:?}"
        );
    }

    #[tokio::test]
    async fn a_forced_replay_runs_the_handler_again_and_an_ordinary_one_does_not() {
        let store = MemoryIdempotency::default();
        let consumer = consumer(&store, vec![]);
        consumer
            .process(&batch(vec![sqs_record("m1", &scan("evt_1"), None)]))
            .await;
        let ordinary = consumer
            .process(&batch(vec![replayed("m2", "evt_1", "true")]))
            .await;
        assert_eq!(ordinary.counts["Duplicates"], 1);
        let forced = consumer
            .process(&batch(vec![replayed("m3", "evt_1", "forced")]))
            .await;
        assert!(forced.failed_ids().is_empty());
        assert_eq!(forced.counts["Scans"], 1);
        assert_eq!(handled(&consumer), ["evt_1", "evt_1"]);
    }
}
