//! scans-consumer's handler on the SQS events Lambda hands it (`infra/events/`, written by
//! `infra/make_events.py` from the samples).

use qpr_webhooks::consumer::Consumer;
use qpr_webhooks::testing::{sqs_event, CapturedLogs};

use super::ScanActivity;

#[tokio::test]
async fn each_scan_is_logged_with_its_typed_fields_and_counted() {
    let (logs, _guard) = CapturedLogs::start();
    let batch = sqs_event(include_str!("../../../infra/events/sqs-scans.json"));
    let report = Consumer::new(ScanActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;

    assert!(report.failed_ids().is_empty());
    assert_eq!(report.counts["Scans"], 1);
    let lines = logs.lines();
    let processed: Vec<_> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "event processed")
        .collect();
    assert_eq!(processed.len(), 1);
    let fields = &processed[0]["fields"];
    assert_eq!(fields["event_id"], "evt_01HXYZ");
    assert_eq!(fields["scan_id"], 9142);
    assert_eq!(fields["qpr_code_id"], "qpr_01HXYZ789ABC");
    assert_eq!(fields["short_id"], "hc9m3r");
    assert_eq!(fields["scanned_at"], "2026-03-20T15:30:00Z");
}

#[tokio::test]
async fn the_poison_record_alone_is_reported_failed() {
    let batch = sqs_event(include_str!("../../../infra/events/sqs-scans-poison.json"));
    let poison_id = batch.records[1].message_id.clone().unwrap();
    let report = Consumer::new(ScanActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;
    assert_eq!(report.failed_ids(), [poison_id.as_str()]);
    assert_eq!(report.counts["Scans"], 1);
    assert_eq!(report.counts["FailedRecords"], 1);
}

#[tokio::test]
async fn events_of_other_families_are_left_for_the_dead_letter_queue() {
    let batch = sqs_event(include_str!("../../../infra/events/sqs-account.json"));
    let report = Consumer::new(ScanActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;
    assert_eq!(report.failed_ids().len(), batch.records.len());
}
