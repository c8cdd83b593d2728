//! `redrive` and `dlq`: a deployment's dead-letter queues, moved back or looked at.

use std::time::Duration;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskError;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

use super::tail::Receives;
use super::visibility::Held;
use crate::cli::QueueArgs;
use crate::target::{QueueTarget, Target};
use crate::Exit;

async fn queue_of(args: &QueueArgs) -> Result<(Target, QueueTarget, String), Exit> {
    let target = Target::resolve(&args.target)
        .await
        .map_err(super::unreachable)?;
    let Some(queue) = target
        .queues
        .iter()
        .find(|queue| queue.name == args.queue)
        .cloned()
    else {
        let names: Vec<_> = target
            .queues
            .iter()
            .map(|queue| queue.name.as_str())
            .collect();
        return Err(super::usage(format!(
            "{} has no queue {}; one of {}",
            target.label,
            args.queue,
            names.join(", ")
        )));
    };
    let Some(dead_letter) = queue.dead_letter_url.clone() else {
        return Err(super::usage(format!(
            "queue {} has no dead-letter queue",
            queue.name
        )));
    };
    Ok((target, queue, dead_letter))
}

async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("{url} has no QueueArn"))
}

pub async fn redrive(args: QueueArgs) -> Exit {
    let (target, queue, dead_letter) = match queue_of(&args).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    let sqs = aws_sdk_sqs::Client::new(&target.aws);
    match redrive_queue(&sqs, &queue, &dead_letter).await {
        Ok(report) => {
            println!("{report}");
            Exit::Done
        }
        Err((exit, problem)) => {
            eprintln!("qpr-webhooks: {problem}");
            exit
        }
    }
}

/// Moves the messages of `dead_letter` back to `queue`: by SQS's message-move task, or one
/// by one where the endpoint does not offer that operation. What to print, or how it ended
/// and why.
async fn redrive_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueueTarget,
    dead_letter: &str,
) -> Result<String, (Exit, String)> {
    let (source_arn, destination_arn) =
        tokio::try_join!(arn(sqs, dead_letter), arn(sqs, &queue.url))
            .map_err(|error| (Exit::Unreachable, error))?;
    let started = sqs
        .start_message_move_task()
        .source_arn(&source_arn)
        .destination_arn(&destination_arn)
        .send()
        .await;
    let error = match started {
        Ok(task) => {
            return Ok(format!(
                "SQS is moving the messages of {}-dlq back to {} (task {}); qpr-webhooks dlq {} shows what is left",
                queue.name,
                queue.name,
                task.task_handle().unwrap_or("without a handle"),
                queue.name
            ))
        }
        Err(error) => error,
    };
    let detail = qpr_webhooks_aws::sdk::describe(&error);
    if !endpoint_lacks_the_operation(&error) {
        return Err(refused_move_task(error.code(), &detail, &queue.name));
    }
    let moved = move_one_by_one(sqs, dead_letter, &queue.url)
        .await
        .map_err(|error| {
            (
                Exit::Unreachable,
                format!(
                    "{}-dlq: moving the messages one by one stopped: {error}",
                    queue.name
                ),
            )
        })?;
    Ok(format!(
        "this endpoint does not offer SQS's message-move task ({detail}): moving the messages one by one\n\
         moved {moved} message(s) from {}-dlq back to {}",
        queue.name, queue.name
    ))
}

/// Whether StartMessageMoveTask failed because the endpoint does not have the operation at
/// all (an emulator), rather than because it refused this request.
fn endpoint_lacks_the_operation(error: &SdkError<StartMessageMoveTaskError, HttpResponse>) -> bool {
    let SdkError::ServiceError(context) = error else {
        return false;
    };
    // What AWS's JSON and query protocols, and emulators that say so, answer for an
    // operation they do not know.
    const UNKNOWN_OPERATION_CODES: [&str; 3] = [
        "UnknownOperationException",
        "InvalidAction",
        "NotImplemented",
    ];
    let response = context.raw();
    let status = response.status().as_u16();
    if status == 501 {
        return true;
    }
    match context.err().code() {
        Some(code) => UNKNOWN_OPERATION_CODES.contains(&code),
        // moto: its server raises NotImplementedError for an action it has not implemented,
        // which Werkzeug answers with an HTML "500 Internal Server Error" page, not an AWS
        // error document. AWS itself answers errors with JSON or XML.
        None => {
            status == 500
                && response
                    .headers()
                    .get("content-type")
                    .is_some_and(|content_type| content_type.starts_with("text/html"))
        }
    }
}

/// How a refused StartMessageMoveTask ends, and what to tell the operator.
fn refused_move_task(code: Option<&str>, detail: &str, queue: &str) -> (Exit, String) {
    let what =
        format!("SQS did not start moving the messages of {queue}-dlq back to {queue}: {detail}");
    match code {
        Some(
            "AccessDenied" | "AccessDeniedException" | "InvalidClientTokenId"
            | "UnrecognizedClientException" | "ExpiredToken" | "InvalidSecurity",
        ) => (
            Exit::Unreachable,
            format!("{what}\n  → use credentials allowed sqs:StartMessageMoveTask (and sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes on {queue}-dlq, sqs:SendMessage on {queue})"),
        ),
        Some("RequestThrottled" | "ThrottlingException" | "Throttling") => (
            Exit::Unreachable,
            format!("{what}\n  → SQS is throttling this account: run redrive again in a minute"),
        ),
        Some(_) => (
            Exit::Failed,
            format!("{what}\n  → if a move task is already running for {queue}-dlq, wait for it (aws sqs list-message-move-tasks --source-arn <its ARN>); nothing was moved by this command"),
        ),
        None => (Exit::Unreachable, what),
    }
}

/// Receives each message of `from`, sends it to `to` with its attributes, deletes it.
async fn move_one_by_one(sqs: &aws_sdk_sqs::Client, from: &str, to: &str) -> Result<usize, String> {
    let mut moved = 0;
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        for message in messages {
            sqs.send_message()
                .queue_url(to)
                .message_body(message.body().unwrap_or_default())
                .set_message_attributes(message.message_attributes.clone())
                .send()
                .await
                .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?;
            sqs.delete_message()
                .queue_url(from)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?;
            moved += 1;
        }
    }
}

pub async fn list(args: QueueArgs) -> Exit {
    let (target, queue, dead_letter) = match queue_of(&args).await {
        Ok(found) => found,
        Err(exit) => return exit,
    };
    let sqs = aws_sdk_sqs::Client::new(&target.aws);
    let listing = match every_message(&sqs, &dead_letter).await {
        Ok(listing) => listing,
        Err(error) => return super::unreachable(error),
    };
    let messages = &listing.messages;
    println!("{}-dlq holds {} message(s)", queue.name, messages.len());
    if !messages.is_empty() {
        println!(
            "(SQS has no peek: listing received each message once, so its receive count is one higher now; \
             a dead-letter queue has no redrive policy, so nothing moves. The counts below are those from before the listing.)"
        );
    }
    for message in messages {
        let reason = match message
            .message_attributes()
            .and_then(|attributes| attributes.get("quarantine_reason"))
        {
            Some(_) => String::new(),
            None => format!(
                "  reason: in the consumer's log, under message_id {}",
                message.message_id().unwrap_or("?")
            ),
        };
        println!(
            "{}{reason}",
            super::tail::describe(message, Receives::BeforeThisReceive)
        );
    }
    if let Some(problem) = &listing.not_given_back {
        eprintln!(
            "qpr-webhooks: {problem}; those messages become visible again by themselves within {LISTING_HOLD_SECONDS} s"
        );
    }
    if !messages.is_empty() {
        println!(
            "once the cause is fixed: qpr-webhooks redrive {}",
            queue.name
        );
    }
    Exit::Done
}

/// How long the listing holds each message out of sight, so that no poll returns it again.
const LISTING_HOLD_SECONDS: i32 = 30;
/// A listing that has been holding messages this long holds them for another
/// [`LISTING_HOLD_SECONDS`] before it goes on receiving.
const EXTEND_HOLD_AFTER: Duration = Duration::from_secs(15);

/// Every message of a queue, in the order they were received.
struct Listing {
    messages: Vec<Message>,
    /// Why some messages could not be made visible again at the end, if so.
    not_given_back: Option<String>,
}

/// Every message of a queue, each received once: held out of sight until a poll finds
/// nothing more, then all made visible again at once.
async fn every_message(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Listing, String> {
    let mut messages: Vec<Message> = Vec::new();
    let mut held = Held::new(LISTING_HOLD_SECONDS);
    let mut held_since = tokio::time::Instant::now();
    let receiving: Result<(), String> = loop {
        if !messages.is_empty() && held_since.elapsed() >= EXTEND_HOLD_AFTER {
            if let Err(error) = held.extend(sqs, url).await {
                break Err(format!(
                    "the listing could not keep the messages out of sight: {error}"
                ));
            }
            held_since = tokio::time::Instant::now();
        }
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(LISTING_HOLD_SECONDS)
            // A long poll asks every SQS server: an empty answer means nothing visible is left.
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let received = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => break Err(qpr_webhooks_aws::sdk::describe(&error)),
        };
        let mut new = 0;
        for message in received {
            // Received again (its hold ran out): the first receive's counts are kept; `held`
            // keeps the newest receipt handle, the only one that can give it back.
            if held.hold(&message) {
                messages.push(message);
                new += 1;
            }
        }
        if new == 0 {
            break Ok(());
        }
    };
    let not_given_back = held.give_back(sqs, url).await.err();
    receiving?;
    Ok(Listing {
        messages,
        not_given_back,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test: an unexpected value fails it at once"
    )]

    use aws_sdk_sqs::config::retry::RetryConfig;
    use aws_sdk_sqs::error::ErrorMetadata;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
    use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const SCANS_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/scans";
    const DEAD_LETTER_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/scans-dlq";

    /// An SQS client whose answers are `rules`' (no retries, so each call is one answer).
    fn sqs_answering(rules: &[&Rule]) -> aws_sdk_sqs::Client {
        mock_client!(
            aws_sdk_sqs,
            RuleMode::MatchAny,
            rules.iter().copied(),
            |config| config.retry_config(RetryConfig::disabled())
        )
    }

    fn queue_arns() -> Rule {
        mock!(aws_sdk_sqs::Client::get_queue_attributes).then_compute_output(|request| {
            let name = request
                .queue_url()
                .and_then(|url| url.rsplit('/').next())
                .unwrap_or_default();
            GetQueueAttributesOutput::builder()
                .attributes(
                    QueueAttributeName::QueueArn,
                    format!("arn:aws:sqs:eu-west-1:123456789012:{name}"),
                )
                .build()
        })
    }

    /// The one-by-one fallback's first call; counted, and answered with nothing to move.
    fn receives() -> Rule {
        mock!(aws_sdk_sqs::Client::receive_message)
            .then_output(|| ReceiveMessageOutput::builder().build())
    }

    fn scans() -> QueueTarget {
        QueueTarget {
            name: "scans".into(),
            url: SCANS_URL.into(),
            dead_letter_url: Some(DEAD_LETTER_URL.into()),
        }
    }

    #[tokio::test]
    async fn a_started_move_task_is_used_and_its_handle_printed() {
        let started = mock!(aws_sdk_sqs::Client::start_message_move_task)
            .match_requests(|request| {
                request.source_arn() == Some("arn:aws:sqs:eu-west-1:123456789012:scans-dlq")
                    && request.destination_arn() == Some("arn:aws:sqs:eu-west-1:123456789012:scans")
            })
            .then_output(|| {
                StartMessageMoveTaskOutput::builder()
                    .task_handle("task-handle-42")
                    .build()
            });
        let (arns, receives) = (queue_arns(), receives());
        let sqs = sqs_answering(&[&arns, &started, &receives]);

        let report = redrive_queue(&sqs, &scans(), DEAD_LETTER_URL)
            .await
            .unwrap();

        assert!(report.contains("(task task-handle-42)"), "{report}");
        assert!(report.contains("SQS is moving the messages of scans-dlq back to scans"));
        assert_eq!(started.num_calls(), 1);
        assert_eq!(receives.num_calls(), 0, "nothing moved one by one");
    }

    #[tokio::test]
    async fn access_denied_is_reported_and_nothing_is_moved_one_by_one() {
        let denied = mock!(aws_sdk_sqs::Client::start_message_move_task).then_error(|| {
            StartMessageMoveTaskError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform sqs:StartMessageMoveTask")
                    .build(),
            )
        });
        let (arns, receives) = (queue_arns(), receives());
        let sqs = sqs_answering(&[&arns, &denied, &receives]);

        let (exit, problem) = redrive_queue(&sqs, &scans(), DEAD_LETTER_URL)
            .await
            .unwrap_err();

        assert_eq!(exit, Exit::Unreachable, "{problem}");
        assert!(
            problem.contains("AccessDenied: not authorized"),
            "{problem}"
        );
        assert!(problem.contains("sqs:StartMessageMoveTask"), "{problem}");
        assert_eq!(receives.num_calls(), 0, "no fallback after a refusal");
    }

    #[tokio::test]
    async fn a_running_move_task_is_a_failure_not_a_fallback() {
        let running = mock!(aws_sdk_sqs::Client::start_message_move_task).then_error(|| {
            StartMessageMoveTaskError::generic(
                ErrorMetadata::builder()
                    .code("UnsupportedOperation")
                    .message("There is already a task running")
                    .build(),
            )
        });
        let (arns, receives) = (queue_arns(), receives());
        let sqs = sqs_answering(&[&arns, &running, &receives]);

        let (exit, problem) = redrive_queue(&sqs, &scans(), DEAD_LETTER_URL)
            .await
            .unwrap_err();

        assert_eq!(exit, Exit::Failed, "{problem}");
        assert!(problem.contains("already a task running"), "{problem}");
        assert_eq!(receives.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_endpoint_without_the_operation_gets_the_messages_moved_one_by_one() {
        // What moto's server answers for an action it has not implemented.
        let unimplemented =
            mock!(aws_sdk_sqs::Client::start_message_move_task).then_http_response(|| {
                let mut response = HttpResponse::new(
                    500.try_into().unwrap(),
                    SdkBody::from("<!doctype html>\n<title>500 Internal Server Error</title>"),
                );
                response
                    .headers_mut()
                    .insert("content-type", "text/html; charset=utf-8");
                response
            });
        let (arns, receives) = (queue_arns(), receives());
        let sqs = sqs_answering(&[&arns, &unimplemented, &receives]);

        let report = redrive_queue(&sqs, &scans(), DEAD_LETTER_URL)
            .await
            .unwrap();

        assert!(
            report.contains("moving the messages one by one"),
            "{report}"
        );
        assert!(report.contains("moved 0 message(s) from scans-dlq back to scans"));
        assert_eq!(receives.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_internal_error_of_sqs_itself_is_not_taken_for_a_missing_operation() {
        let internal =
            mock!(aws_sdk_sqs::Client::start_message_move_task).then_http_response(|| {
                let mut response = HttpResponse::new(
                    500.try_into().unwrap(),
                    SdkBody::from(r#"{"__type":"InternalError","message":"try again"}"#),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                response
            });
        let (arns, receives) = (queue_arns(), receives());
        let sqs = sqs_answering(&[&arns, &internal, &receives]);

        let (exit, problem) = redrive_queue(&sqs, &scans(), DEAD_LETTER_URL)
            .await
            .unwrap_err();

        assert_eq!(exit, Exit::Failed, "{problem}");
        assert_eq!(receives.num_calls(), 0);
    }
}
