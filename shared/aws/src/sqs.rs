//! SQS as the receiver's queue.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use qpr_webhooks::contract::message::OutgoingMessage;
use qpr_webhooks::receiver::ports::{PortError, Queue};

use crate::sdk::describe;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }
}

impl Queue for SqsQueue {
    async fn max_message_size(&self, queue_url: &str) -> Result<usize, PortError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .send()
            .await
            .map_err(|error| PortError::new("GetQueueAttributes", describe(&error)))?;
        output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(&QueueAttributeName::MaximumMessageSize))
            .and_then(|size| size.parse().ok())
            .ok_or_else(|| {
                PortError::new("GetQueueAttributes", "no MaximumMessageSize in the answer")
            })
    }

    async fn send(&self, queue_url: &str, message: &OutgoingMessage<'_>) -> Result<(), PortError> {
        let mut attributes = HashMap::new();
        for attribute in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type(attribute.data_type.as_str())
                .string_value(attribute.value.as_ref())
                .build()
                .map_err(|error| PortError::new("SendMessage", error.to_string()))?;
            attributes.insert(attribute.name.to_string(), value);
        }
        let fifo = message.fifo.as_ref();
        // Boxed: the SDK's operation future is large, and polled from deep in the receiver's.
        Box::pin(
            self.client
                .send_message()
                .queue_url(queue_url)
                .message_body(message.body.as_ref())
                .set_message_attributes(Some(attributes))
                .set_message_deduplication_id(fifo.map(|ids| ids.deduplication_id.clone()))
                .set_message_group_id(fifo.map(|ids| ids.group_id.clone()))
                .send(),
        )
        .await
        .map_err(|error| PortError::new("SendMessage", describe(&error)))?;
        Ok(())
    }
}
