//! `tail`: follow a queue or dead-letter queue, one line per message as it arrives.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::visibility::Held;
use crate::cli::TailArgs;
use crate::target::Target;
use crate::Exit;

pub async fn run(args: TailArgs) -> Exit {
    let target = match Target::resolve(&args.target).await {
        Ok(target) => target,
        Err(error) => return super::unreachable(error),
    };
    let url = if args.queue.starts_with("http") {
        args.queue.clone()
    } else {
        let found = target.queues.iter().find_map(|queue| {
            if queue.name == args.queue {
                Some(queue.url.clone())
            } else if format!("{}-dlq", queue.name) == args.queue {
                queue.dead_letter_url.clone()
            } else {
                None
            }
        });
        match found {
            Some(url) => url,
            None => {
                let names: Vec<String> = target
                    .queues
                    .iter()
                    .flat_map(|queue| [queue.name.clone(), format!("{}-dlq", queue.name)])
                    .collect();
                return super::usage(format!(
                    "{} has no queue {}; one of {}",
                    target.label,
                    args.queue,
                    names.join(", ")
                ));
            }
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&target.aws);
    let redrive = match sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
    {
        Ok(output) => output
            .attributes
            .and_then(|attributes| attributes.get(&QueueAttributeName::RedrivePolicy).cloned()),
        Err(error) => return super::unreachable(qpr_webhooks_aws::sdk::describe(&error)),
    };
    let max_receive_count = redrive.as_deref().map(|policy| {
        serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .and_then(|policy| policy["maxReceiveCount"].as_u64())
            .map_or_else(|| "?".to_string(), |count| count.to_string())
    });
    let hold = args.visibility_timeout;
    match &max_receive_count {
        Some(_) if !args.count_receives => {
            return super::usage(format!(
                "{} has a redrive policy: SQS has no peek, so every message tail shows is received once more and moves to the dead-letter queue after maxReceiveCount receives. Give --count-receives to follow it anyway, or follow its dead-letter queue.",
                args.queue
            ));
        }
        Some(max_receive_count) => println!(
            "following {queue}: SQS has no peek, so while a message stays on {queue}, tail receives it once every {hold} s; \
             each receive counts towards maxReceiveCount ({max_receive_count}), and a message tail received is hidden from the consumer for up to {hold} s",
            queue = args.queue
        ),
        None => println!(
            "following {queue}: no redrive policy here, so receiving changes nothing (tail receives a message that stays on {queue} once every {hold} s)",
            queue = args.queue
        ),
    }
    let mut seen = HashSet::new();
    let mut held = Held::new(hold);
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            // Held out of sight for `hold` seconds: the next polls do not receive it again.
            .visibility_timeout(hold)
            .wait_time_seconds(2)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                give_back(&mut held, &sqs, &url).await;
                return super::unreachable(qpr_webhooks_aws::sdk::describe(&error));
            }
        };
        held.forget_expired();
        let mut new = 0;
        for message in messages {
            let Some(id) = message.message_id.clone() else {
                continue;
            };
            held.hold(&message);
            if !seen.insert(id) {
                continue;
            }
            new += 1;
            println!("{}", describe(&message, Receives::AsCountedNow));
        }
        if new > 0 {
            idle_since = tokio::time::Instant::now();
        } else if args
            .exit_when_idle
            .is_some_and(|idle| idle_since.elapsed() >= Duration::from_secs(idle))
        {
            give_back(&mut held, &sqs, &url).await;
            return Exit::Done;
        }
    }
}

/// Makes what tail still holds visible again when it stops, so that the consumer need not
/// wait for the hold to run out.
async fn give_back(held: &mut Held, sqs: &aws_sdk_sqs::Client, url: &str) {
    if let Err(problem) = held.give_back(sqs, url).await {
        eprintln!(
            "qpr-webhooks: {problem}; those messages become visible again by themselves within {} s",
            held.hold_seconds()
        );
    }
}

/// Which receive count a line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receives {
    /// ApproximateReceiveCount as received: this receive included.
    AsCountedNow,
    /// The count before this receive (a listing that receives each message once).
    BeforeThisReceive,
}

/// One line: type, id, age, size, receives, and the quarantine reason when there is one.
pub fn describe(message: &aws_sdk_sqs::types::Message, receives: Receives) -> String {
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|attributes| attributes.get(name))
            .and_then(|value| value.string_value())
            .unwrap_or("-")
            .to_string()
    };
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|attributes| attributes.get(&name))
            .cloned()
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let age = system(MessageSystemAttributeName::SentTimestamp)
        .and_then(|sent| sent.parse::<u128>().ok())
        .map_or("?".to_string(), |sent| {
            format!("{}s", now_ms.saturating_sub(sent) / 1000)
        });
    let counted = system(MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|count| count.parse::<u64>().ok());
    let receives = match (counted, receives) {
        (None, _) => "?".to_string(),
        (Some(count), Receives::AsCountedNow) => count.to_string(),
        (Some(count), Receives::BeforeThisReceive) => count.saturating_sub(1).to_string(),
    };
    let mut line = format!(
        "{:<24} {:<28} age {:>6} {:>7} bytes  received {}×",
        attribute("event_type"),
        attribute("event_id"),
        age,
        message.body().map_or(0, str::len),
        receives
    );
    if let Some(reason) = message
        .message_attributes()
        .and_then(|attributes| attributes.get("quarantine_reason"))
        .and_then(|value| value.string_value())
    {
        line.push_str(&format!("  quarantined: {reason}"));
    }
    line
}
