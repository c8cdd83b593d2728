//! The consumers' Lambda entry point: one call wires a handler into the framework and the
//! runtime, the way the runtime's `run_sqs_partial_batch_failure` does.

use aws_lambda_events::event::sqs::SqsEvent;
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, tracing, LambdaEvent};
use qpr_webhooks::consumer::{Consumer, EventHandler};

use crate::invocation::deadline;

/// Runs `handler` as an SQS consumer: logs through the runtime's default subscriber, reads
/// `METRICS_NAMESPACE` and `RECORD_CONCURRENCY`, and answers each batch with its partial batch
/// failures before the invocation's deadline.
pub async fn run<H: EventHandler>(handler: H) -> Result<(), Error> {
    tracing::init_default_subscriber();
    let consumer = Consumer::with_namespace_from(handler, |name| std::env::var(name).ok());
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = deadline(&event.context);
        Ok::<_, std::convert::Infallible>(consumer.answer(&event.payload, deadline).await)
    }))
    .await
}
