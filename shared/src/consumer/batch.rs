//! One SQS batch: each record decoded into its typed event and handed to the consumer's
//! [`EventHandler`], the batch answered with exactly the records that failed.
//!
//! Records run in lanes: on a FIFO queue a lane is a message group, elsewhere it is an event
//! id. Lanes run concurrently (up to the consumer's concurrency), the records of a lane one
//! after the other: a FIFO group keeps its order, and a second delivery of an event in the
//! same batch waits for the first and shares its outcome.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;

use crate::consumer::failure::{HandlerError, RecordFailure};
use crate::consumer::metrics::{
    metric_name, BatchReport, DEFAULT_METRICS_NAMESPACE, DUPLICATES_METRIC, FAILED_RECORDS_METRIC,
    METRICS_NAMESPACE_VAR,
};
use crate::consumer::ports::{Claim, IdempotencyStore, NoIdempotency, NoPayloads, PayloadSource};
use crate::contract::envelope::{describe_json_error, Envelope, Event, EventDetails, EventKind};
use crate::contract::message::{
    ATTR_EVENT_ID, ATTR_EVENT_TYPE, ATTR_QUARANTINE_REASON, ATTR_REPLAY, REPLAY_FORCED,
};
use crate::contract::pointer::{
    PayloadPointer, ATTR_EXTENDED_PAYLOAD_SIZE, ATTR_LEGACY_PAYLOAD_SIZE,
};
use crate::receiver::ports::PortError;

/// Records of different lanes handled at once, unless `RECORD_CONCURRENCY` says otherwise.
pub const DEFAULT_RECORD_CONCURRENCY: usize = 10;
pub const RECORD_CONCURRENCY_VAR: &str = "RECORD_CONCURRENCY";
/// Time kept at the end of an invocation to answer: records not finished by then are reported
/// failed, so they are retried instead of timing out with the whole batch.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

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

pub struct Consumer<H, P = NoPayloads, I = NoIdempotency> {
    handler: H,
    metrics_namespace: String,
    concurrency: usize,
    /// Where claim-check payloads are fetched from, when the consumer has a bucket.
    payloads: Option<P>,
    idempotency: Option<Idempotency<I>>,
}

/// The idempotency store and how this consumer uses it.
struct Idempotency<I> {
    store: I,
    /// Every key is `<namespace>#<event id>`: one consumer's records are its own.
    namespace: String,
    /// How long a completed record skips deliveries of its event.
    ttl: Duration,
}

/// How one record ended.
#[derive(Debug)]
enum Handled {
    Now(EventKind),
    /// Already handled (earlier in this batch, or completed in the idempotency store): the
    /// event id, for the log line that says it was skipped.
    Duplicate(String),
}

type Outcome = Result<Handled, RecordFailure>;

impl<H: EventHandler> Consumer<H> {
    pub fn new(handler: H, metrics_namespace: impl Into<String>) -> Self {
        Self {
            handler,
            metrics_namespace: metrics_namespace.into(),
            concurrency: DEFAULT_RECORD_CONCURRENCY,
            payloads: None,
            idempotency: None,
        }
    }

    /// The settings from the environment (read through `var`): `METRICS_NAMESPACE` and
    /// `RECORD_CONCURRENCY`, each with its default when unset or unusable.
    pub fn with_namespace_from(handler: H, var: impl Fn(&str) -> Option<String>) -> Self {
        let namespace = var(METRICS_NAMESPACE_VAR)
            .filter(|namespace| !namespace.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_string());
        let concurrency = var(RECORD_CONCURRENCY_VAR)
            .and_then(|value| value.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_RECORD_CONCURRENCY);
        Self::new(handler, namespace).with_concurrency(concurrency)
    }
}

impl<H: EventHandler, P: PayloadSource, I: IdempotencyStore> Consumer<H, P, I> {
    /// At most `lanes` records handled at once (1: one after the other).
    pub fn with_concurrency(mut self, lanes: usize) -> Self {
        self.concurrency = lanes.max(1);
        self
    }

    /// Claim-check pointers are resolved from `payloads`.
    pub fn with_payloads<P2: PayloadSource>(self, payloads: P2) -> Consumer<H, P2, I> {
        Consumer {
            handler: self.handler,
            metrics_namespace: self.metrics_namespace,
            concurrency: self.concurrency,
            payloads: Some(payloads),
            idempotency: self.idempotency,
        }
    }

    /// Each event's handler runs once within `ttl` of its completion, whatever the deliveries:
    /// records in `store`, keyed `<namespace>#<event id>`.
    pub fn with_idempotency<I2: IdempotencyStore>(
        self,
        store: I2,
        namespace: impl Into<String>,
        ttl: Duration,
    ) -> Consumer<H, P, I2> {
        Consumer {
            handler: self.handler,
            metrics_namespace: self.metrics_namespace,
            concurrency: self.concurrency,
            payloads: self.payloads,
            idempotency: Some(Idempotency {
                store,
                namespace: namespace.into(),
                ttl,
            }),
        }
    }

    /// What the Lambda function answers: processes the batch before `deadline`, prints its
    /// metrics to stdout as EMF lines (the counts, then failed records by reason), and returns
    /// the partial batch response.
    pub async fn answer(&self, batch: &SqsEvent, deadline: Instant) -> SqsBatchResponse {
        let report = self.process_until(batch, deadline).await;
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

    /// [`Self::process_until`] with no deadline.
    pub async fn process(&self, batch: &SqsEvent) -> BatchReport {
        self.process_until(batch, Instant::now() + Duration::from_secs(24 * 3600))
            .await
    }

    /// Processes a batch. A record that fails (undecodable, inconsistent, refused by the
    /// handler, a panic in it, or not done by `deadline`) is reported failed and never holds
    /// back the others; on a FIFO queue the records after it in its message group are reported
    /// failed unprocessed, so the group's order holds. An event id met twice in the batch is
    /// processed once.
    pub async fn process_until(&self, batch: &SqsEvent, deadline: Instant) -> BatchReport {
        let stop_at = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
        let mut lanes: Vec<(&str, Vec<(usize, &SqsMessage)>)> = Vec::new();
        for (index, record) in batch.records.iter().enumerate() {
            let key = lane_key(record);
            match lanes.iter_mut().find(|(lane, _)| *lane == key) {
                Some((_, records)) => records.push((index, record)),
                None => lanes.push((key, vec![(index, record)])),
            }
        }
        let completed = self.completed_in_store(&batch.records, stop_at).await;
        let context = BatchContext {
            stop_at,
            deadline,
            completed: &completed,
        };
        let mut outcomes: Vec<(usize, Outcome)> = futures_util::stream::iter(lanes)
            .map(|(_, records)| self.run_lane(records, &context))
            .buffer_unordered(self.concurrency)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        outcomes.sort_by_key(|(index, _)| *index);

        let mut report = BatchReport::default();
        for (index, outcome) in outcomes {
            let record = &batch.records[index];
            match outcome {
                Ok(Handled::Now(kind)) => *report.counts.entry(metric_name(kind)).or_default() += 1,
                Ok(Handled::Duplicate(event_id)) => {
                    tracing::info!(
                        message_id = record.message_id.as_deref().unwrap_or_default(),
                        event_id,
                        "duplicate skipped: this event was already processed"
                    );
                    *report.counts.entry(DUPLICATES_METRIC).or_default() += 1;
                }
                Err(failure) => {
                    let message_id = record.message_id.as_deref().unwrap_or_default();
                    tracing::warn!(
                        message_id,
                        message_group = message_group(record),
                        reason = failure.reason(),
                        error = %failure,
                        "record failed; SQS will deliver it again"
                    );
                    *report.counts.entry(FAILED_RECORDS_METRIC).or_default() += 1;
                    *report.failures.entry(failure.reason()).or_default() += 1;
                    let mut item = BatchItemFailure::default();
                    item.item_identifier = message_id.to_string();
                    report.response.batch_item_failures.push(item);
                }
            }
        }
        report
    }

    /// The batch's keys already completed in the idempotency store, in one batched read; on a
    /// failed read (or none by `stop_at`) none, and each record's claim finds out.
    async fn completed_in_store(
        &self,
        records: &[SqsMessage],
        stop_at: Instant,
    ) -> HashSet<String> {
        let Some(idempotency) = &self.idempotency else {
            return HashSet::new();
        };
        let keys: Vec<String> = records
            .iter()
            .filter(|record| replay_mode(record) != Some(REPLAY_FORCED))
            .filter_map(|record| string_attribute(record, ATTR_EVENT_ID))
            .map(|event_id| idempotency.key(event_id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if keys.is_empty() {
            return HashSet::new();
        }
        let lookup = idempotency
            .store
            .completed(&keys, epoch_seconds(SystemTime::now()));
        within(stop_at, "BatchGetItem", lookup)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(error = %error, "cannot read the idempotency store; each record's claim will");
                HashSet::new()
            })
    }

    /// The records of one lane, one after the other.
    async fn run_lane(
        &self,
        records: Vec<(usize, &SqsMessage)>,
        context: &BatchContext<'_>,
    ) -> Vec<(usize, Outcome)> {
        let stop_at = context.stop_at;
        let mut outcomes = Vec::with_capacity(records.len());
        let mut handled: HashMap<String, bool> = HashMap::new();
        let mut group_stopped = false;
        for (index, record) in records {
            let outcome = if group_stopped {
                Err(RecordFailure::GroupStopped)
            } else if Instant::now() >= stop_at {
                Err(RecordFailure::NotReached)
            } else {
                self.process_record(record, &mut handled, context).await
            };
            if outcome.is_err() && message_group(record).is_some() {
                group_stopped = true;
            }
            outcomes.push((index, outcome));
        }
        outcomes
    }

    async fn process_record(
        &self,
        record: &SqsMessage,
        handled: &mut HashMap<String, bool>,
        context: &BatchContext<'_>,
    ) -> Outcome {
        if let Some(reason) = string_attribute(record, ATTR_QUARANTINE_REASON) {
            return Err(RecordFailure::Quarantined(reason.to_string()));
        }
        let body = self.body_of(record, context.stop_at).await?;
        let envelope = Envelope::parse_str(&body)?;
        check_attribute(record, ATTR_EVENT_TYPE, &envelope.event)?;
        let event_id = check_attribute(record, ATTR_EVENT_ID, &envelope.id)?;
        match handled.get(event_id) {
            Some(true) => return Ok(Handled::Duplicate(event_id.to_string())),
            Some(false) => return Err(RecordFailure::DuplicateOfFailed(event_id.to_string())),
            None => {}
        }
        let kind = EventKind::of(&envelope.event);
        let event = envelope
            .decode()
            .map_err(|error| RecordFailure::UndocumentedData {
                event_type: envelope.event.to_string(),
                detail: describe_json_error(&error),
            });
        let result = match event {
            Ok(event) => {
                let delivered = Delivered {
                    message_id: record.message_id.as_deref().unwrap_or_default(),
                    event_type: &envelope.event,
                    event_id,
                    created_at: envelope.created_at.as_deref(),
                    event,
                };
                let forced = replay_mode(record) == Some(REPLAY_FORCED);
                self.run_once(&delivered, forced, context).await
            }
            Err(failure) => Err(failure),
        };
        handled.insert(event_id.to_string(), result.is_ok());
        result.map(|ran| {
            if ran {
                Handled::Now(kind)
            } else {
                Handled::Duplicate(event_id.to_string())
            }
        })
    }

    /// The record's body: the message's own, or the claim-check object its pointer names
    /// (fetched by `stop_at`, else the record fails).
    async fn body_of<'r>(
        &self,
        record: &'r SqsMessage,
        stop_at: Instant,
    ) -> Result<Cow<'r, str>, RecordFailure> {
        let body = record.body.as_deref().ok_or(RecordFailure::NoBody)?;
        let is_pointer = [ATTR_EXTENDED_PAYLOAD_SIZE, ATTR_LEGACY_PAYLOAD_SIZE]
            .iter()
            .any(|name| record.message_attributes.contains_key(*name));
        if !is_pointer {
            return Ok(Cow::Borrowed(body));
        }
        let pointer = PayloadPointer::parse(body)?;
        let Some(payloads) = &self.payloads else {
            return Err(RecordFailure::PayloadUnavailable {
                bucket: pointer.bucket,
                key: pointer.key,
                detail: "this consumer has no payload bucket configured".into(),
            });
        };
        match within(stop_at, "GetObject", payloads.fetch(&pointer)).await {
            Ok(Some(payload)) => Ok(Cow::Owned(payload)),
            Ok(None) => Err(RecordFailure::PayloadMissing {
                bucket: pointer.bucket,
                key: pointer.key,
            }),
            Err(error) => Err(RecordFailure::PayloadUnavailable {
                bucket: pointer.bucket,
                key: pointer.key,
                detail: error.to_string(),
            }),
        }
    }

    /// Runs the handler unless the idempotency store says the event is done (`Ok(false)`):
    /// claimed before, completed after, released when the handler fails. Every store call
    /// ends by `stop_at` like the handler: one that has not answered by then is given up, so
    /// the batch is still answered before the invocation's deadline.
    async fn run_once(
        &self,
        delivered: &Delivered<'_>,
        forced: bool,
        context: &BatchContext<'_>,
    ) -> Result<bool, RecordFailure> {
        let Some(idempotency) = &self.idempotency else {
            return self
                .run_handler(delivered, context.stop_at)
                .await
                .map(|()| true);
        };
        let key = idempotency.key(delivered.event_id);
        if !forced && context.completed.contains(&key) {
            return Ok(false);
        }
        let now = SystemTime::now();
        // A consumer that dies mid-handler leaves the mark; it lapses with the invocation.
        let in_progress_until =
            epoch_millis(now + context.deadline.saturating_duration_since(Instant::now()));
        let expires_at = epoch_seconds(now + idempotency.ttl);
        let claim = idempotency.store.claim(
            &key,
            epoch_millis(now),
            in_progress_until,
            expires_at,
            forced,
        );
        let claim = within(context.stop_at, "PutItem", claim)
            .await
            .map_err(|error| RecordFailure::StoreUnavailable(error.to_string()))?;
        match claim {
            Claim::Completed => return Ok(false),
            Claim::InProgress => return Err(RecordFailure::InProgress),
            Claim::Claimed => {}
        }
        match self.run_handler(delivered, context.stop_at).await {
            Ok(()) => {
                let expires_at = epoch_seconds(SystemTime::now() + idempotency.ttl);
                let complete = idempotency.store.complete(&key, expires_at);
                if let Err(error) = within(context.stop_at, "UpdateItem", complete).await {
                    // The handler ran: the record must leave the queue. The in-progress mark
                    // lapses with the invocation; a later delivery would run it again.
                    tracing::warn!(event_id = delivered.event_id, error = %error, "handled, but not marked completed");
                }
                Ok(true)
            }
            Err(failure) => {
                let release = idempotency.store.release(&key);
                if let Err(error) = within(context.stop_at, "DeleteItem", release).await {
                    tracing::warn!(event_id = delivered.event_id, error = %error, "cannot release the in-progress mark; it lapses with the invocation");
                }
                Err(failure)
            }
        }
    }

    /// The handler on one event: a panic in it, or its running past `stop_at`, fails this
    /// record only.
    async fn run_handler(
        &self,
        delivered: &Delivered<'_>,
        stop_at: Instant,
    ) -> Result<(), RecordFailure> {
        let handling = AssertUnwindSafe(self.handler.handle(delivered)).catch_unwind();
        match tokio::time::timeout_at(stop_at, handling).await {
            Err(_) => Err(RecordFailure::TimedOut),
            Ok(Err(panic)) => Err(RecordFailure::Panicked(panic_message(panic.as_ref()))),
            Ok(Ok(result)) => result.map_err(RecordFailure::Handler),
        }
    }
}

/// What every record of a batch shares.
struct BatchContext<'a> {
    /// Records not finished by then are reported failed.
    stop_at: Instant,
    /// The invocation's own deadline: in-progress marks lapse then.
    deadline: Instant,
    /// Idempotency keys already completed.
    completed: &'a HashSet<String>,
}

impl<I> Idempotency<I> {
    fn key(&self, event_id: &str) -> String {
        format!("{}#{event_id}", self.namespace)
    }
}

/// `call`'s answer, or a failure of `operation` when it has not answered by `stop_at`.
async fn within<T>(
    stop_at: Instant,
    operation: &'static str,
    call: impl Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    tokio::time::timeout_at(stop_at, call)
        .await
        .unwrap_or_else(|_| {
            Err(PortError::new(
                operation,
                "no answer before the invocation's deadline",
            ))
        })
}

/// `true` or `forced` on a replayed message; `forced` runs the handler again.
fn replay_mode(record: &SqsMessage) -> Option<&str> {
    string_attribute(record, ATTR_REPLAY)
}

fn epoch_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}

fn epoch_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// FIFO records run in their message group's lane, the others in their event's.
fn lane_key(record: &SqsMessage) -> &str {
    message_group(record)
        .or_else(|| string_attribute(record, ATTR_EVENT_ID))
        .or(record.message_id.as_deref())
        .unwrap_or_default()
}

fn message_group(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

fn string_attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record
        .message_attributes
        .get(name)
        .and_then(|attribute| attribute.string_value.as_deref())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| message.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_string())
}

/// The receiver sets `event_type` and `event_id` from the body it verified; a record whose
/// attributes disagree with its body did not come from it unchanged.
fn check_attribute<'a>(
    record: &'a SqsMessage,
    name: &'static str,
    in_body: &str,
) -> Result<&'a str, RecordFailure> {
    let attribute = string_attribute(record, name).ok_or(RecordFailure::MissingAttribute(name))?;
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
