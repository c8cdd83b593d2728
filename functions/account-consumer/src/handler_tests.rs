//! account-consumer's handler on the SQS events Lambda hands it (`infra/events/`, written by
//! `infra/make_events.py` from the samples).

use qpr_webhooks::consumer::Consumer;
use qpr_webhooks::testing::{sqs_event, CapturedLogs};

use super::AccountActivity;

#[tokio::test]
async fn codes_upgrades_and_cancellations_are_logged_and_counted_apart() {
    let (logs, _guard) = CapturedLogs::start();
    let batch = sqs_event(include_str!("../../../infra/events/sqs-account.json"));
    let report = Consumer::new(AccountActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;

    assert!(report.failed_ids().is_empty());
    assert_eq!(report.counts["QprCodesCreated"], 1);
    assert_eq!(report.counts["SubscriptionsUpgraded"], 1);
    assert_eq!(report.counts["SubscriptionsCancelled"], 1);
    let logged: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|line| line["fields"]["message"] == "event processed")
        .map(|line| line["fields"]["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        logged,
        [
            "qpr_code.created",
            "subscription.upgraded",
            "subscription.cancelled"
        ]
    );
}

#[tokio::test]
async fn events_of_other_families_are_left_for_the_dead_letter_queue() {
    let batch = sqs_event(include_str!("../../../infra/events/sqs-conversations.json"));
    let report = Consumer::new(AccountActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;
    assert_eq!(report.failed_ids().len(), batch.records.len());
}
