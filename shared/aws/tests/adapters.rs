//! The AWS adapters against mocked SDK clients: what they ask AWS for, and how they read the
//! answers and the failures. (The same adapters run against moto in `local_stack.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_sdk_sqs::operation::get_queue_attributes::{
    GetQueueAttributesError, GetQueueAttributesOutput,
};
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use qpr_webhooks::contract::envelope::Envelope;
use qpr_webhooks::contract::message::OutgoingMessage;
use qpr_webhooks::receiver::ports::{PortError, Queue, SecretSource};
use qpr_webhooks_aws::{SecretsManagerSource, SqsQueue};

const SECRET_ID: &str = "3qpr/webhook-secret";
const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/scans";
const FIFO_QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/scans.fifo";

fn not_found(stage: &str) -> GetSecretValueError {
    GetSecretValueError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message(format!(
                "Secrets Manager can't find the specified secret value for staging label: {stage}"
            ))
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .build(),
            )
            .build(),
    )
}

fn secrets_with(
    current: Result<&'static str, GetSecretValueError>,
    previous: Result<&'static str, GetSecretValueError>,
) -> SecretsManagerSource {
    let current = std::sync::Mutex::new(Some(current));
    let previous = std::sync::Mutex::new(Some(previous));
    let current_rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| {
            r.secret_id() == Some(SECRET_ID) && r.version_stage() == Some("AWSCURRENT")
        })
        .then_compute_response(move |_| answer(&current));
    let previous_rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| {
            r.secret_id() == Some(SECRET_ID) && r.version_stage() == Some("AWSPREVIOUS")
        })
        .then_compute_response(move |_| answer(&previous));
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&current_rule, &previous_rule]
    );
    SecretsManagerSource::new(client, SECRET_ID.to_string())
}

type SecretAnswer = std::sync::Mutex<Option<Result<&'static str, GetSecretValueError>>>;

fn answer(
    slot: &SecretAnswer,
) -> aws_smithy_mocks::MockResponse<GetSecretValueOutput, GetSecretValueError> {
    match slot
        .lock()
        .unwrap()
        .take()
        .expect("each stage is asked once")
    {
        Ok(value) => aws_smithy_mocks::MockResponse::Output(
            GetSecretValueOutput::builder().secret_string(value).build(),
        ),
        Err(error) => aws_smithy_mocks::MockResponse::Error(error),
    }
}

#[tokio::test]
async fn the_current_and_previous_versions_are_fetched_current_first() {
    let source = secrets_with(Ok("whsec_new"), Ok("whsec_old"));
    assert_eq!(source.fetch().await.unwrap(), ["whsec_new", "whsec_old"]);
}

#[tokio::test]
async fn a_secret_that_was_never_rotated_has_only_its_current_version() {
    let source = secrets_with(Ok("whsec_only"), Err(not_found("AWSPREVIOUS")));
    assert_eq!(source.fetch().await.unwrap(), ["whsec_only"]);
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_it() {
    let source = secrets_with(Err(not_found("AWSCURRENT")), Err(not_found("AWSPREVIOUS")));
    let error = source.fetch().await.unwrap_err();
    assert!(error.to_string().contains(SECRET_ID), "{error}");
    assert!(error.to_string().contains("WEBHOOK_SECRET_ID"), "{error}");
}

#[tokio::test]
async fn a_denied_read_is_an_error_that_says_so_without_the_secret() {
    let denied = GetSecretValueError::generic(
        ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("not authorized to perform: secretsmanager:GetSecretValue")
            .build(),
    );
    let source = secrets_with(Ok("whsec_value"), Err(denied));
    let error = source.fetch().await.unwrap_err().to_string();
    assert!(error.contains("AccessDeniedException"), "{error}");
    assert!(!error.contains("whsec_value"), "{error}");
}

#[tokio::test]
async fn a_binary_secret_is_refused_with_what_to_do() {
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder()
            .secret_binary(aws_smithy_types::Blob::new(b"whsec_x".to_vec()))
            .build()
    });
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
    let error = SecretsManagerSource::new(client, SECRET_ID.into())
        .fetch()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("SecretString"), "{error}");
}

#[tokio::test]
async fn max_message_size_is_read_from_the_queue_attributes() {
    let rule = mock!(aws_sdk_sqs::Client::get_queue_attributes)
        .match_requests(|r| {
            r.queue_url() == Some(QUEUE)
                && r.attribute_names() == [QueueAttributeName::MaximumMessageSize]
        })
        .then_output(|| {
            GetQueueAttributesOutput::builder()
                .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
                .build()
        });
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
    assert_eq!(queue.max_message_size(QUEUE).await.unwrap(), 1_048_576);
}

#[tokio::test]
async fn a_queue_that_does_not_exist_is_an_error_with_the_sqs_code() {
    let rule = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_error(|| {
        GetQueueAttributesError::generic(
            ErrorMetadata::builder()
                .code("AWS.SimpleQueueService.NonExistentQueue")
                .message("The specified queue does not exist.")
                .build(),
        )
    });
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
    let error = queue.max_message_size(QUEUE).await.unwrap_err().to_string();
    assert!(error.contains("NonExistentQueue"), "{error}");
}

const BODY: &str = r#"{"event":"scan.created","id":"evt_1","data":{"qpr_code_id":"qpr_9"}}"#;

/// Sends the sample message to `queue_url` through `queue`.
async fn send_to(queue: &SqsQueue, queue_url: &str) -> Result<(), PortError> {
    let envelope = Envelope::parse_str(BODY).unwrap();
    let message = OutgoingMessage::for_event(
        BODY,
        &envelope,
        queue_url.ends_with(".fifo"),
        "2026-03-20T15:30:00Z".into(),
        "req-1",
    );
    queue.send(queue_url, &message).await
}

#[tokio::test]
async fn send_puts_the_body_and_the_four_attributes_on_the_queue() {
    let rule = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|r| {
            let attributes = r.message_attributes().expect("attributes");
            let string = |name: &str| {
                let value = &attributes[name];
                assert_eq!(value.data_type(), "String");
                value.string_value().unwrap().to_string()
            };
            r.queue_url() == Some(QUEUE)
                && r.message_body()
                    == Some(
                        r#"{"event":"scan.created","id":"evt_1","data":{"qpr_code_id":"qpr_9"}}"#,
                    )
                && attributes.len() == 4
                && string("event_type") == "scan.created"
                && string("event_id") == "evt_1"
                && string("received_at") == "2026-03-20T15:30:00Z"
                && string("request_id") == "req-1"
                && r.message_deduplication_id().is_none()
                && r.message_group_id().is_none()
        })
        .then_output(|| SendMessageOutput::builder().message_id("m-1").build());
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
    send_to(&queue, QUEUE).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn send_sets_the_fifo_ids_on_fifo_queues() {
    let rule = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|r| {
            r.message_deduplication_id() == Some("evt_1") && r.message_group_id() == Some("qpr_9")
        })
        .then_output(|| SendMessageOutput::builder().message_id("m-1").build());
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
    send_to(&queue, FIFO_QUEUE).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_send_is_an_error() {
    let rule = mock!(aws_sdk_sqs::Client::send_message).then_error(|| {
        SendMessageError::generic(
            ErrorMetadata::builder()
                .code("KMS.ThrottlingException")
                .message("throttled")
                .build(),
        )
    });
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&rule]));
    let error = send_to(&queue, QUEUE).await.unwrap_err();
    assert_eq!(error.operation, "SendMessage");
    assert!(error.detail.contains("KMS.ThrottlingException"), "{error}");
}
