//! The consumers' Lambda entry point: one call wires a handler into the framework and the
//! runtime, the way the runtime's `run_sqs_partial_batch_failure` does.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, tracing, LambdaEvent};
pub use qpr_webhooks::consumer::IDEMPOTENCY_TTL_VAR;
use qpr_webhooks::consumer::{idempotency_ttl, Consumer, EventHandler};

use crate::invocation::deadline;
use crate::{s3, sdk_config, DynamoDbIdempotency, S3Payloads};

/// The idempotency store's table; unset: deliveries are deduplicated within a batch only.
pub const IDEMPOTENCY_TABLE_VAR: &str = "IDEMPOTENCY_TABLE";
/// The prefix of this consumer's keys (default: the function's name).
pub const IDEMPOTENCY_NAMESPACE_VAR: &str = "IDEMPOTENCY_NAMESPACE";
/// Limit of each AWS call a consumer makes, retries included.
const AWS_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `handler` as an SQS consumer: logs through the runtime's default subscriber, reads
/// `METRICS_NAMESPACE` and `RECORD_CONCURRENCY`, resolves claim-check pointers from S3, uses
/// the idempotency store when `IDEMPOTENCY_TABLE` is set (failing at start-up on an unusable
/// `IDEMPOTENCY_TTL_SECONDS`), and answers each batch with its partial batch failures before
/// the invocation's deadline.
pub async fn run<H: EventHandler>(handler: H) -> Result<(), Error> {
    tracing::init_default_subscriber();
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let aws = sdk_config(AWS_CALL_TIMEOUT).await;
    let consumer = Consumer::with_namespace_from(handler, var)
        .with_payloads(S3Payloads::new(s3::client(&aws)));
    match var(IDEMPOTENCY_TABLE_VAR) {
        Some(table) => {
            let ttl = idempotency_ttl(var).inspect_err(
                |error| tracing::error!(error = %error, "consumer configuration is invalid"),
            )?;
            let namespace = var(IDEMPOTENCY_NAMESPACE_VAR)
                .or_else(|| var("AWS_LAMBDA_FUNCTION_NAME"))
                .unwrap_or_else(|| "consumer".to_string());
            let store = DynamoDbIdempotency::new(aws_sdk_dynamodb::Client::new(&aws), table);
            // Boxed: the consumer's future type nests too deep for the compiler to lay out
            // inline in every binary's main.
            Box::pin(serve(&consumer.with_idempotency(store, namespace, ttl))).await
        }
        None => Box::pin(serve(&consumer)).await,
    }
}

async fn serve<H, P, I>(consumer: &Consumer<H, P, I>) -> Result<(), Error>
where
    H: EventHandler,
    P: qpr_webhooks::consumer::ports::PayloadSource,
    I: qpr_webhooks::consumer::ports::IdempotencyStore,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = deadline(&event.context);
        Ok::<_, std::convert::Infallible>(consumer.answer(&event.payload, deadline).await)
    }))
    .await
}
