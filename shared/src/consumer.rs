//! The consumer side: an SQS batch in, each record decoded into its typed event and handed to
//! an [`EventHandler`], and the batch answered with exactly the records that failed
//! (ReportBatchItemFailures), so that only those come back and, past the queue's
//! maxReceiveCount, end in its dead-letter queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::envelope::{describe_json_error, Envelope, Event, EventKind};
use crate::message::{ATTR_EVENT_ID, ATTR_EVENT_TYPE};

/// One verified event, as a consumer's handler gets it.
#[derive(Debug)]
pub struct Delivered<'a> {
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub event_id: &'a str,
    pub created_at: Option<&'a str>,
    pub event: Event,
}

/// Why a handler could not process an event; the record is retried, then dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl HandlerError {
    /// The event is of a type this consumer does not handle: the route sends it to the wrong
    /// queue, or 3QPR added a type to the family. Failing keeps it for an operator in the DLQ.
    pub fn unsupported(event_type: &str) -> Self {
        Self(format!(
            "no handler for event type {event_type}: left for the dead-letter queue"
        ))
    }
}

/// Your logic for one event. Return `Err` to have the record retried; it must be safe to run
/// twice for one event (SQS delivers at least once).
pub trait EventHandler: Send + Sync {
    fn handle(
        &self,
        event: &Delivered<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

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

pub const FAILED_RECORDS_METRIC: &str = "FailedRecords";

/// What one batch did: the answer for Lambda and the counts for the metrics.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// Metric name to count; every name this batch touched, failures included.
    pub counts: BTreeMap<&'static str, u64>,
}

impl BatchReport {
    /// The counts as one CloudWatch Embedded Metric Format document: printed on its own line
    /// to stdout, CloudWatch Logs turns it into metrics with no API call.
    pub fn emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        let metrics: Vec<_> = self
            .counts
            .keys()
            .map(|name| serde_json::json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut document = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [[]],
                    "Metrics": metrics,
                }]
            }
        });
        for (name, count) in &self.counts {
            document[name] = serde_json::json!(count);
        }
        document.to_string()
    }

    pub fn failed_ids(&self) -> Vec<&str> {
        self.response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect()
    }
}

/// Where the consumers' metrics go, unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_METRICS_NAMESPACE: &str = "3QPR/Webhooks";
pub const METRICS_NAMESPACE_VAR: &str = "METRICS_NAMESPACE";

pub struct Consumer<H> {
    handler: H,
    metrics_namespace: String,
}

impl<H: EventHandler> Consumer<H> {
    pub fn new(handler: H, metrics_namespace: impl Into<String>) -> Self {
        Self {
            handler,
            metrics_namespace: metrics_namespace.into(),
        }
    }

    /// The namespace from `METRICS_NAMESPACE` (read through `var`), or the default.
    pub fn with_namespace_from(handler: H, var: impl Fn(&str) -> Option<String>) -> Self {
        let namespace = var(METRICS_NAMESPACE_VAR)
            .filter(|namespace| !namespace.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_string());
        Self::new(handler, namespace)
    }

    /// What the Lambda function answers: processes the batch, prints its metrics to stdout as
    /// one EMF line, and returns the partial batch response.
    pub async fn answer(&self, batch: &SqsEvent) -> SqsBatchResponse {
        let report = self.process(batch).await;
        if !report.counts.is_empty() {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            let now_ms = i64::try_from(now_ms).unwrap_or_default();
            println!("{}", report.emf(&self.metrics_namespace, now_ms));
        }
        report.response
    }

    /// Processes a batch in order. A record that fails (undecodable, inconsistent, or refused
    /// by the handler) is reported failed and never holds back the others; on a FIFO queue the
    /// records after it in its message group are reported failed unprocessed, so the group's
    /// order holds. An event id met twice in the batch is processed once.
    pub async fn process(&self, batch: &SqsEvent) -> BatchReport {
        let mut report = BatchReport::default();
        let mut outcomes: HashMap<&str, bool> = HashMap::new();
        let mut stopped_groups: HashSet<&str> = HashSet::new();
        for record in &batch.records {
            let message_id = record.message_id.as_deref().unwrap_or_default();
            let group = record.attributes.get("MessageGroupId").map(String::as_str);
            let result = match group {
                Some(group) if stopped_groups.contains(group) => {
                    Err("an earlier record of its message group failed".to_string())
                }
                _ => self.process_record(record, &mut outcomes).await,
            };
            match result {
                Ok(Some(kind)) => *report.counts.entry(metric_name(kind)).or_default() += 1,
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(
                        message_id,
                        message_group = group,
                        reason = %reason,
                        "record failed; SQS will deliver it again"
                    );
                    *report.counts.entry(FAILED_RECORDS_METRIC).or_default() += 1;
                    if let Some(group) = group {
                        stopped_groups.insert(group);
                    }
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message_id.to_string();
                    report.response.batch_item_failures.push(failure);
                }
            }
        }
        report
    }

    /// `Ok(Some(kind))` when handled now, `Ok(None)` for a duplicate already handled.
    async fn process_record<'a>(
        &self,
        record: &'a SqsMessage,
        outcomes: &mut HashMap<&'a str, bool>,
    ) -> Result<Option<EventKind>, String> {
        let body = record.body.as_deref().ok_or("the record has no body")?;
        let envelope = Envelope::parse_str(body).map_err(|error| error.to_string())?;
        check_attribute(record, ATTR_EVENT_TYPE, &envelope.event)?;
        // The attribute (equal to the body's id) lives as long as the batch, so it can key
        // the batch's outcomes.
        let event_id = check_attribute(record, ATTR_EVENT_ID, &envelope.id)?;
        match outcomes.get(event_id) {
            Some(true) => return Ok(None),
            Some(false) => return Err(format!("event {event_id} already failed in this batch")),
            None => {}
        }
        let kind = EventKind::of(&envelope.event);
        let result = match envelope.decode() {
            Ok(event) => {
                let delivered = Delivered {
                    message_id: record.message_id.as_deref().unwrap_or_default(),
                    event_type: &envelope.event,
                    event_id,
                    created_at: envelope.created_at.as_deref(),
                    event,
                };
                self.handler
                    .handle(&delivered)
                    .await
                    .map_err(|error| error.to_string())
            }
            Err(error) => Err(format!(
                "data of {} is not what 3QPR documents: {}",
                envelope.event,
                describe_json_error(&error)
            )),
        };
        outcomes.insert(event_id, result.is_ok());
        result.map(|()| Some(kind))
    }
}

/// The receiver sets `event_type` and `event_id` from the body it verified; a record whose
/// attributes disagree with its body did not come from it unchanged.
fn check_attribute<'a>(
    record: &'a SqsMessage,
    name: &str,
    in_body: &str,
) -> Result<&'a str, String> {
    let attribute = record
        .message_attributes
        .get(name)
        .and_then(|attribute| attribute.string_value.as_deref())
        .ok_or_else(|| format!("the record has no {name} attribute"))?;
    if attribute != in_body {
        return Err(format!(
            "its {name} attribute {attribute:?} differs from the body's {in_body:?}"
        ));
    }
    Ok(attribute)
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
