//! conversations-consumer's handler on the SQS events Lambda hands it (`infra/events/`, written
//! by `infra/make_events.py` from the samples).

use qpr_webhooks::consumer::Consumer;
use qpr_webhooks::testing::{sqs_event, CapturedLogs};

use super::ConversationActivity;

#[tokio::test]
async fn each_completed_conversation_is_logged_and_counted() {
    let (logs, _guard) = CapturedLogs::start();
    let batch = sqs_event(include_str!("../../../infra/events/sqs-conversations.json"));
    let report = Consumer::new(ConversationActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;

    assert!(report.failed_ids().is_empty());
    assert_eq!(report.counts["ConversationsCompleted"], 1);
    let lines = logs.lines();
    let fields = &lines
        .iter()
        .find(|line| line["fields"]["message"] == "event processed")
        .expect("a log line for the event")["fields"];
    assert_eq!(fields["event_type"], "conversation.completed");
    assert_eq!(fields["event_id"], "evt_01HXZ2CONV0001");
    assert_eq!(fields["qpr_code_id"], "qpr_01HXYZ789ABC");
    let names = fields["fields"].as_str().unwrap();
    assert!(names.contains("conversation_id"), "{names}");
    // Names of the undocumented fields, never their values.
    assert!(!logs.text().contains("conv_01HXZ2ABCDEF"));
}

#[tokio::test]
async fn events_of_other_families_are_left_for_the_dead_letter_queue() {
    let batch = sqs_event(include_str!("../../../infra/events/sqs-scans.json"));
    let report = Consumer::new(ConversationActivity, "3QPR/Webhooks")
        .process(&batch)
        .await;
    assert_eq!(report.failed_ids().len(), batch.records.len());
}
