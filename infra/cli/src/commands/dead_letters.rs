//! `redrive` and `dlq`: a deployment's dead-letter queues, moved back or looked at.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

use super::tail::Receives;
use super::visibility::{give_back, set_visibility};
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
    let (source_arn, destination_arn) =
        match tokio::try_join!(arn(&sqs, &dead_letter), arn(&sqs, &queue.url)) {
            Ok(arns) => arns,
            Err(error) => return super::unreachable(error),
        };
    let started = sqs
        .start_message_move_task()
        .source_arn(&source_arn)
        .destination_arn(&destination_arn)
        .send()
        .await;
    match started {
        Ok(task) => {
            println!(
                "SQS is moving the messages of {}-dlq back to {} (task {}); qpr-webhooks dlq {} shows what is left",
                queue.name,
                queue.name,
                task.task_handle().unwrap_or("?"),
                queue.name
            );
            Exit::Done
        }
        Err(error) => {
            println!(
                "SQS's message-move task is not available here ({}): moving the messages one by one",
                qpr_webhooks_aws::sdk::describe(&error)
            );
            match move_one_by_one(&sqs, &dead_letter, &queue.url).await {
                Ok(moved) => {
                    println!(
                        "moved {moved} message(s) from {}-dlq back to {}",
                        queue.name, queue.name
                    );
                    Exit::Done
                }
                Err(error) => super::unreachable(error),
            }
        }
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
    let mut position_of_id: HashMap<String, usize> = HashMap::new();
    let mut held_since = tokio::time::Instant::now();
    let receiving: Result<(), String> = loop {
        if !messages.is_empty() && held_since.elapsed() >= EXTEND_HOLD_AFTER {
            if let Err(error) =
                set_visibility(sqs, url, &receipt_handles(&messages), LISTING_HOLD_SECONDS).await
            {
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
            let Some(id) = message.message_id.clone() else {
                continue;
            };
            match position_of_id.get(&id) {
                // Received again (its hold ran out): keep the first receive's counts, but
                // only the newest receipt handle can give it back.
                Some(&position) => {
                    messages[position].receipt_handle = message.receipt_handle;
                }
                None => {
                    position_of_id.insert(id, messages.len());
                    messages.push(message);
                    new += 1;
                }
            }
        }
        if new == 0 {
            break Ok(());
        }
    };
    let not_given_back = give_back(sqs, url, &receipt_handles(&messages)).await.err();
    receiving?;
    Ok(Listing {
        messages,
        not_given_back,
    })
}

fn receipt_handles(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|message| message.receipt_handle.clone())
        .collect()
}
