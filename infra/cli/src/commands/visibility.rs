//! SQS has no peek: a message is looked at by receiving it, which counts a receive and hides
//! it for the visibility timeout. The commands that look hold what they received out of sight
//! (so each message costs one receive) and give it all back at once when they are done.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, Message};
use tokio::time::Instant;

/// The most entries one ChangeMessageVisibilityBatch takes.
const BATCH_SIZE: usize = 10;

/// Sets the visibility timeout of the received messages `receipt_handles` to `seconds`, ten
/// at a time. The error says how many could not be changed, and the first reason.
async fn set_visibility(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handles: &[String],
    seconds: i32,
) -> Result<(), String> {
    let mut unchanged = 0;
    let mut first_reason = None;
    for chunk in receipt_handles.chunks(BATCH_SIZE) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(index, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(seconds)
                    .build()
                    .map_err(|error| error.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let changed = sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match changed {
            Ok(output) => {
                let failed = output.failed();
                unchanged += failed.len();
                if let Some(failure) = failed.first() {
                    first_reason.get_or_insert_with(|| {
                        format!(
                            "{}: {}",
                            failure.code(),
                            failure.message().unwrap_or("no message")
                        )
                    });
                }
            }
            Err(error) => {
                unchanged += chunk.len();
                first_reason.get_or_insert_with(|| qpr_webhooks_aws::sdk::describe(&error));
            }
        }
    }
    match first_reason {
        None => Ok(()),
        Some(reason) => Err(format!(
            "{unchanged} of {} message(s) kept their visibility timeout ({reason})",
            receipt_handles.len()
        )),
    }
}

/// Makes the received messages `receipt_handles` visible again at once (visibility 0): no
/// further receive is counted, they are simply there to be received again.
async fn give_back(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handles: &[String],
) -> Result<(), String> {
    set_visibility(sqs, queue_url, receipt_handles, 0).await
}

/// The messages a command received and holds out of sight, by message id: the newest receipt
/// handle of each (only that one can change its visibility) and when its hold began.
pub struct Held {
    hold_seconds: i32,
    handles: HashMap<String, (String, Instant)>,
}

impl Held {
    /// Holds for `hold_seconds`: the visibility timeout the command receives with.
    pub fn new(hold_seconds: i32) -> Self {
        Self {
            hold_seconds,
            handles: HashMap::new(),
        }
    }

    fn hold_period(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.hold_seconds).unwrap_or(0))
    }

    /// Records `message` as held from now; `false` when its id was held already (received
    /// again after its hold ran out).
    pub fn hold(&mut self, message: &Message) -> bool {
        let (Some(id), Some(handle)) = (&message.message_id, &message.receipt_handle) else {
            return false;
        };
        self.handles
            .insert(id.clone(), (handle.clone(), Instant::now()))
            .is_none()
    }

    pub fn hold_seconds(&self) -> i32 {
        self.hold_seconds
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Forgets the messages whose hold ran out: they are visible again.
    pub fn forget_expired(&mut self) {
        let period = self.hold_period();
        self.handles
            .retain(|_, (_, since)| since.elapsed() < period);
    }

    /// Holds every message for another period from now.
    pub async fn extend(&mut self, sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(), String> {
        let handles: Vec<String> = self
            .handles
            .values()
            .map(|(handle, _)| handle.clone())
            .collect();
        set_visibility(sqs, url, &handles, self.hold_seconds).await?;
        let now = Instant::now();
        for (_, since) in self.handles.values_mut() {
            *since = now;
        }
        Ok(())
    }

    /// Makes every message still held visible again at once, and forgets them all.
    pub async fn give_back(&mut self, sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(), String> {
        self.forget_expired();
        let handles: Vec<String> = self
            .handles
            .drain()
            .map(|(_, (handle, _))| handle)
            .collect();
        give_back(sqs, url, &handles).await
    }
}
