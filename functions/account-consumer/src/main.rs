mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), qpr_webhooks_aws::consumer::Error> {
    qpr_webhooks_aws::consumer::run(handler::AccountActivity).await
}
