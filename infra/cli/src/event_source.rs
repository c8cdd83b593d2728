//! What Lambda's SQS event source mapping does, for the local stack: long-poll a queue, hand a
//! batch to its consumer as an SQS event, delete the records that succeeded, and leave the
//! failed ones to come back after the visibility timeout (so the queue's redrive policy moves
//! them to the dead-letter queue after maxReceiveCount receives).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, QueueAttributeName};

/// SQS hands out at most ten messages per ReceiveMessage.
const RECEIVE_MAX: usize = 10;
/// Long-poll wait of a receive on an empty queue.
const LONG_POLL_SECONDS: i32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub queue_url: String,
    pub function: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the emulator (`cargo lambda watch`), e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
    pub batch_size: usize,
    pub batch_window: Duration,
    /// Overrides the queue's visibility timeout for the records received (a short one makes
    /// retries and redrive visible in seconds locally).
    pub visibility_timeout: Option<i32>,
    /// Stop once the queue has been empty this long; run forever when `None`.
    pub exit_when_idle: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{queue}: {operation} failed: {detail}")]
    Sqs {
        queue: String,
        operation: &'static str,
        detail: String,
    },
}

/// The queue's short name, for output.
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Polls one queue and feeds its consumer until idle (or forever).
pub async fn run(
    sqs: &aws_sdk_sqs::Client,
    mapping: &Mapping,
    settings: &Settings,
) -> Result<(), RunError> {
    let name = queue_name(&mapping.queue_url).to_string();
    let sqs_error = |operation: &'static str, detail: String| RunError::Sqs {
        queue: name.clone(),
        operation,
        detail,
    };
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&mapping.queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_error("GetQueueAttributes", format!("{e:?}")))?
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let region = queue_arn
        .split(':')
        .nth(3)
        .unwrap_or("us-east-1")
        .to_string();

    let mut idle_since = Instant::now();
    loop {
        let messages = receive_batch(sqs, mapping, settings)
            .await
            .map_err(|detail| sqs_error("ReceiveMessage", detail))?;
        if messages.is_empty() {
            if settings
                .exit_when_idle
                .is_some_and(|idle| idle_since.elapsed() >= idle)
            {
                return Ok(());
            }
            continue;
        }
        idle_since = Instant::now();

        let event = sqs_event(&messages, &queue_arn, &region);
        let failed: Vec<String> = match invoke(&settings.invoke_url, &mapping.function, &event)
            .await
        {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|failure| failure.item_identifier)
                .collect(),
            Err(problem) => {
                println!(
                    "{name} -> {}: invocation failed ({problem}); the batch comes back after the visibility timeout",
                    mapping.function
                );
                continue;
            }
        };
        let done: Vec<&Message> = messages
            .iter()
            .filter(|message| {
                message
                    .message_id()
                    .is_some_and(|id| !failed.iter().any(|failed| failed == id))
            })
            .collect();
        delete(sqs, &mapping.queue_url, &done)
            .await
            .map_err(|detail| sqs_error("DeleteMessageBatch", detail))?;
        let failed_count = messages.len() - done.len();
        let retry_note = if failed_count > 0 {
            " (they come back after the visibility timeout)"
        } else {
            ""
        };
        println!(
            "{name} -> {}: {} record(s), {} done, {failed_count} failed{retry_note}",
            mapping.function,
            messages.len(),
            done.len(),
        );
    }
}

/// Up to `batch_size` messages, gathered for at most the batch window once the first arrives.
async fn receive_batch(
    sqs: &aws_sdk_sqs::Client,
    mapping: &Mapping,
    settings: &Settings,
) -> Result<Vec<Message>, String> {
    let mut messages = Vec::new();
    let window_ends = Instant::now() + settings.batch_window;
    loop {
        let wanted = (settings.batch_size - messages.len()).min(RECEIVE_MAX);
        let wait = if messages.is_empty() {
            LONG_POLL_SECONDS
        } else {
            0
        };
        let received = sqs
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
            .wait_time_seconds(wait)
            .set_visibility_timeout(settings.visibility_timeout)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .messages
            .unwrap_or_default();
        let got_none = received.is_empty();
        messages.extend(received);
        if messages.is_empty()
            || messages.len() >= settings.batch_size
            || Instant::now() >= window_ends
        {
            return Ok(messages);
        }
        if got_none {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The SQS event Lambda would hand the consumer for these messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
            record.attributes = message
                .attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_string(), value.clone()))
                .collect();
            record.message_attributes = message
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, value)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.string_value = value.string_value.clone();
                    attribute.data_type = Some(value.data_type.clone());
                    (name.clone(), attribute)
                })
                .collect::<HashMap<_, _>>();
            record.event_source = Some("aws:sqs".to_string());
            record.event_source_arn = Some(queue_arn.to_string());
            record.aws_region = Some(region.to_string());
            record
        })
        .collect();
    event
}

async fn invoke(
    invoke_url: &str,
    function: &str,
    event: &SqsEvent,
) -> Result<SqsBatchResponse, String> {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        invoke_url.trim_end_matches('/')
    );
    let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::post(&url)
            .header("content-type", "application/json")
            .send(&payload[..])
            .map_err(|e| e.to_string())?;
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        serde_json::from_str::<SqsBatchResponse>(&body)
            .map_err(|e| format!("unexpected answer {body:?}: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[&Message],
) -> Result<(), String> {
    if messages.is_empty() {
        return Ok(());
    }
    for chunk in messages.chunks(RECEIVE_MAX) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(index, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if !output.failed().is_empty() {
            return Err(format!("{} deletes failed", output.failed().len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

    use super::*;

    #[test]
    fn messages_become_the_records_lambda_would_hand_over() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(r#"{"event":"scan.created","id":"evt_1"}"#)
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .message_attributes(
                "event_type",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("scan.created")
                    .build()
                    .unwrap(),
            )
            .build();
        let event = sqs_event(
            &[message],
            "arn:aws:sqs:eu-west-1:123456789012:scans",
            "eu-west-1",
        );
        let json = serde_json::to_value(&event).unwrap();
        let record = &json["Records"][0];
        assert_eq!(record["messageId"], "m-1");
        assert_eq!(record["receiptHandle"], "r-1");
        assert_eq!(record["body"], r#"{"event":"scan.created","id":"evt_1"}"#);
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(
            record["messageAttributes"]["event_type"]["stringValue"],
            "scan.created"
        );
        assert_eq!(
            record["messageAttributes"]["event_type"]["dataType"],
            "String"
        );
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(
            record["eventSourceARN"],
            "arn:aws:sqs:eu-west-1:123456789012:scans"
        );
        assert_eq!(record["awsRegion"], "eu-west-1");
    }

    #[test]
    fn queue_names_come_from_the_url() {
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/scans"),
            "scans"
        );
    }
}
