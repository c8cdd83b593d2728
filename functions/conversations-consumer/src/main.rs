use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use shared::activity::ConversationActivity;
use shared::consumer::Consumer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let consumer =
        Consumer::with_namespace_from(ConversationActivity, |name| std::env::var(name).ok());
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(consumer.answer(&event.payload).await)
    }))
    .await
}
