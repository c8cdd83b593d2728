//! The receiver function: configuration from the environment, one SDK configuration and its
//! clients, the shared handler, then the Lambda runtime.

mod lambda;

use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tracing;
use qpr_webhooks::receiver::config::ReceiverConfig;
use qpr_webhooks::receiver::handler::Receiver;
use qpr_webhooks_aws::{s3, sdk_config, S3Objects, SecretsManagerSource, SqsQueue};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();

    // Only a configuration error fails init; AWS being unreachable does not (see Receiver).
    let config = ReceiverConfig::from_env(|name| std::env::var(name).ok()).inspect_err(
        |error| tracing::error!(error = %error, "receiver configuration is invalid"),
    )?;
    let aws = sdk_config(config.aws_timeout).await;
    let secrets = SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        config.secret_id.clone(),
    );
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws));
    let objects = config
        .payload_bucket
        .clone()
        .map(|bucket| S3Objects::new(s3::client(&aws), bucket));
    let receiver = Receiver::start_with_objects(&config, secrets, queue, objects).await;
    let (keys_loaded, queues_loaded) = receiver.is_ready();
    tracing::info!(
        queues = config.routes.queue_urls().len(),
        payload_bucket = config.payload_bucket.as_deref(),
        archive = config.archive,
        keys_loaded,
        queues_loaded,
        "receiver ready"
    );

    let receiver = &receiver;
    // Boxed: the runtime then moves a pointer around its poll loop, not the whole future.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        Box::pin(
            async move { Ok::<_, std::convert::Infallible>(lambda::answer(receiver, event).await) },
        )
    }))
    .await
}
