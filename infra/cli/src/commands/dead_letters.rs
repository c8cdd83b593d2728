//! `redrive` and `dlq`: a deployment's dead-letter queues, moved back or looked at.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName,
};

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
    let messages = match every_message(&sqs, &dead_letter).await {
        Ok(messages) => messages,
        Err(error) => return super::unreachable(error),
    };
    println!(
        "{}-dlq holds {} message(s) (looking leaves them there; a dead-letter queue has no redrive policy of its own)",
        queue.name,
        messages.len()
    );
    for message in &messages {
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
        println!("{}{reason}", super::tail::describe(message));
    }
    if !messages.is_empty() {
        println!(
            "once the cause is fixed: qpr-webhooks redrive {}",
            queue.name
        );
    }
    Exit::Done
}

/// Every message of a queue, each once, made visible again afterwards.
async fn every_message(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<Message>, String> {
    let mut seen: HashMap<String, Message> = HashMap::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(20)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?
            .messages
            .unwrap_or_default();
        let before = seen.len();
        for message in received {
            if let Some(id) = message.message_id.clone() {
                seen.entry(id).or_insert(message);
            }
        }
        if seen.len() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages: Vec<Message> = seen.into_values().collect();
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(index, message)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(message.receipt_handle()?)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await;
    }
    Ok(messages)
}
