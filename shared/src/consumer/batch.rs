//! One SQS batch: each record decoded into its typed event and handed to the consumer's
//! [`EventHandler`], the batch answered with exactly the records that failed.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::consumer::failure::{HandlerError, RecordFailure};
use crate::consumer::metrics::{
    metric_name, BatchReport, DEFAULT_METRICS_NAMESPACE, FAILED_RECORDS_METRIC,
    METRICS_NAMESPACE_VAR,
};
use crate::contract::envelope::{describe_json_error, Envelope, Event, EventDetails, EventKind};
use crate::contract::message::{ATTR_EVENT_ID, ATTR_EVENT_TYPE};

/// One verified event, as a consumer's handler gets it.
#[derive(Debug)]
pub struct Delivered<'a> {
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub event_id: &'a str,
    pub created_at: Option<&'a str>,
    pub event: Event,
}

impl Delivered<'_> {
    /// The default handlers' log line for an event whose `data` 3QPR does not document: the
    /// code it concerns and the names (never the values) of its other fields.
    pub fn log_details(&self, details: &EventDetails) {
        tracing::info!(
            event_type = self.event_type,
            event_id = self.event_id,
            created_at = self.created_at,
            qpr_code_id = details.qpr_code_id.as_deref(),
            fields = %details.fields.keys().map(String::as_str).collect::<Vec<_>>().join(","),
            "event processed"
        );
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
    /// EMF lines (the counts, then failed records by reason), and returns the partial batch
    /// response.
    pub async fn answer(&self, batch: &SqsEvent) -> SqsBatchResponse {
        let report = self.process(batch).await;
        if !report.counts.is_empty() {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            let now_ms = i64::try_from(now_ms).unwrap_or_default();
            println!("{}", report.emf(&self.metrics_namespace, now_ms));
            for document in report.emf_failures(&self.metrics_namespace, now_ms) {
                println!("{document}");
            }
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
                Some(group) if stopped_groups.contains(group) => Err(RecordFailure::GroupStopped),
                _ => self.process_record(record, &mut outcomes).await,
            };
            match result {
                Ok(Some(kind)) => *report.counts.entry(metric_name(kind)).or_default() += 1,
                Ok(None) => {}
                Err(failure) => {
                    tracing::warn!(
                        message_id,
                        message_group = group,
                        reason = failure.reason(),
                        error = %failure,
                        "record failed; SQS will deliver it again"
                    );
                    *report.counts.entry(FAILED_RECORDS_METRIC).or_default() += 1;
                    *report.failures.entry(failure.reason()).or_default() += 1;
                    if let Some(group) = group {
                        stopped_groups.insert(group);
                    }
                    let mut item = BatchItemFailure::default();
                    item.item_identifier = message_id.to_string();
                    report.response.batch_item_failures.push(item);
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
    ) -> Result<Option<EventKind>, RecordFailure> {
        let body = record.body.as_deref().ok_or(RecordFailure::NoBody)?;
        let envelope = Envelope::parse_str(body)?;
        check_attribute(record, ATTR_EVENT_TYPE, &envelope.event)?;
        // The attribute (equal to the body's id) lives as long as the batch, so it can key
        // the batch's outcomes.
        let event_id = check_attribute(record, ATTR_EVENT_ID, &envelope.id)?;
        match outcomes.get(event_id) {
            Some(true) => return Ok(None),
            Some(false) => return Err(RecordFailure::DuplicateOfFailed(event_id.to_string())),
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
                    .map_err(RecordFailure::Handler)
            }
            Err(error) => Err(RecordFailure::UndocumentedData {
                event_type: envelope.event.to_string(),
                detail: describe_json_error(&error),
            }),
        };
        outcomes.insert(event_id, result.is_ok());
        result.map(|()| Some(kind))
    }
}

/// The receiver sets `event_type` and `event_id` from the body it verified; a record whose
/// attributes disagree with its body did not come from it unchanged.
fn check_attribute<'a>(
    record: &'a SqsMessage,
    name: &'static str,
    in_body: &str,
) -> Result<&'a str, RecordFailure> {
    let attribute = record
        .message_attributes
        .get(name)
        .and_then(|attribute| attribute.string_value.as_deref())
        .ok_or(RecordFailure::MissingAttribute(name))?;
    if attribute != in_body {
        return Err(RecordFailure::AttributeMismatch {
            name,
            attribute: attribute.to_string(),
            in_body: in_body.to_string(),
        });
    }
    Ok(attribute)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
