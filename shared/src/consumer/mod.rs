//! The consumer side: an SQS batch in, each record decoded into its typed event and handed to
//! an [`EventHandler`], and the batch answered with exactly the records that failed
//! (ReportBatchItemFailures), so that only those come back and, past the queue's
//! maxReceiveCount, end in its dead-letter queue.

mod batch;
mod config;
mod failure;
mod metrics;
pub mod ports;

pub use batch::{
    Consumer, Delivered, EventHandler, DEADLINE_MARGIN, DEFAULT_RECORD_CONCURRENCY,
    RECORD_CONCURRENCY_VAR,
};
pub use config::{idempotency_ttl, DEFAULT_IDEMPOTENCY_TTL, IDEMPOTENCY_TTL_VAR};
pub use failure::{HandlerError, RecordFailure, UnsupportedEvent};
pub use metrics::{
    metric_name, BatchReport, DEFAULT_METRICS_NAMESPACE, DUPLICATES_METRIC, FAILED_RECORDS_METRIC,
    METRICS_NAMESPACE_VAR, REASON_DIMENSION,
};
