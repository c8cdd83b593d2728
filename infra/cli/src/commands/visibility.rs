//! SQS has no peek: a message is looked at by receiving it, which counts a receive and hides
//! it for the visibility timeout. The commands that look hold what they received out of sight
//! (so each message costs one receive) and give it all back at once when they are done.

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;

/// The most entries one ChangeMessageVisibilityBatch takes.
const BATCH_SIZE: usize = 10;

/// Sets the visibility timeout of the received messages `receipt_handles` to `seconds`, ten
/// at a time. The error says how many could not be changed, and the first reason.
pub async fn set_visibility(
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
pub async fn give_back(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handles: &[String],
) -> Result<(), String> {
    set_visibility(sqs, queue_url, receipt_handles, 0).await
}
