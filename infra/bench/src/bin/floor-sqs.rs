//! The SDK half of the floor: SQS SendMessage with the receiver's SDK configuration
//! (`qpr_webhooks_aws::sdk_config`, the same call timeout), a body read from a file (the size
//! of the sample event) and the receiver's four String attributes, sent COUNT times one after
//! the other to one queue. Nothing else: no runtime, no verification, no logging.
//!
//!     floor-sqs QUEUE_URL COUNT BODY_FILE
//!
//! Region, credentials and AWS_ENDPOINT_URL come from the environment, as for the receiver;
//! AWS_CALL_TIMEOUT_MS too (3000 when unset, the receiver's default).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The receiver's attributes: what it is, and when and through which request it came.
fn attributes(index: u64) -> Result<HashMap<String, MessageAttributeValue>, Error> {
    let values = [
        ("event_type", "scan.created".to_string()),
        ("event_id", format!("evt_floor{index:020}")),
        ("received_at", "2026-03-20T15:30:00.123456789Z".to_string()),
        ("request_id", format!("00000000-0000-4000-8000-{index:012}")),
    ];
    let mut attributes = HashMap::new();
    for (name, value) in values {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()?;
        attributes.insert(name.to_string(), value);
    }
    Ok(attributes)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(queue_url), Some(count), Some(body_file), None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        return Err("usage: floor-sqs QUEUE_URL COUNT BODY_FILE".into());
    };
    let count: u64 = count.parse()?;
    let body = std::fs::read_to_string(body_file)?;
    let timeout = std::env::var("AWS_CALL_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(Duration::from_millis(3000), Duration::from_millis);

    let aws = qpr_webhooks_aws::sdk_config(timeout).await;
    let client = aws_sdk_sqs::Client::new(&aws);
    for index in 0..count {
        client
            .send_message()
            .queue_url(&queue_url)
            .message_body(body.as_str())
            .set_message_attributes(Some(attributes(index)?))
            .send()
            .await?;
    }
    eprintln!("floor-sqs: sent {count} messages of {} bytes", body.len());
    Ok(())
}
