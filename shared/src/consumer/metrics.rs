//! What a batch did, as counts, and those counts as CloudWatch Embedded Metric Format
//! documents: printed to stdout, CloudWatch Logs turns them into metrics with no API call.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::SqsBatchResponse;

use crate::contract::envelope::EventKind;

/// Where the consumers' metrics go, unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_METRICS_NAMESPACE: &str = "3QPR/Webhooks";
pub const METRICS_NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
pub const FAILED_RECORDS_METRIC: &str = "FailedRecords";
/// Deliveries of an event already handled, skipped.
pub const DUPLICATES_METRIC: &str = "Duplicates";
/// The dimension of the per-reason `FailedRecords` documents.
pub const REASON_DIMENSION: &str = "Reason";

/// The metric each handled event counts towards.
pub fn metric_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::ScanCreated => "Scans",
        EventKind::ConversationCompleted => "ConversationsCompleted",
        EventKind::QprCodeCreated => "QprCodesCreated",
        EventKind::SubscriptionUpgraded => "SubscriptionsUpgraded",
        EventKind::SubscriptionCancelled => "SubscriptionsCancelled",
        EventKind::Other => "OtherEvents",
    }
}

/// What one batch did: the answer for Lambda and the counts for the metrics.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// Metric name to count; every name this batch touched, failures included.
    pub counts: BTreeMap<&'static str, u64>,
    /// Failed records by [`crate::consumer::RecordFailure::reason`].
    pub failures: BTreeMap<&'static str, u64>,
}

impl BatchReport {
    /// The counts as one EMF document, without dimensions.
    pub fn emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        let mut document = emf_document(namespace, timestamp_ms, &[], self.counts.keys());
        for (name, count) in &self.counts {
            document[name] = serde_json::json!(count);
        }
        document.to_string()
    }

    /// One EMF document per failure reason: `FailedRecords` with the `Reason` dimension.
    pub fn emf_failures(&self, namespace: &str, timestamp_ms: i64) -> Vec<String> {
        self.failures
            .iter()
            .map(|(reason, count)| {
                let mut document = emf_document(
                    namespace,
                    timestamp_ms,
                    &[REASON_DIMENSION],
                    [&FAILED_RECORDS_METRIC],
                );
                document[REASON_DIMENSION] = serde_json::json!(reason);
                document[FAILED_RECORDS_METRIC] = serde_json::json!(count);
                document.to_string()
            })
            .collect()
    }

    pub fn failed_ids(&self) -> Vec<&str> {
        self.response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect()
    }
}

fn emf_document<'a>(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: impl IntoIterator<Item = &'a &'static str>,
) -> serde_json::Value {
    let metrics: Vec<_> = metrics
        .into_iter()
        .map(|name| serde_json::json!({"Name": name, "Unit": "Count"}))
        .collect();
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": metrics,
            }]
        }
    })
}
