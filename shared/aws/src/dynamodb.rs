//! DynamoDB as the consumers' idempotency store, in the table layout of Powertools for AWS
//! Lambda: partition key `id`, `status` (`INPROGRESS` or `COMPLETED`), `expiration` (epoch
//! seconds, the table's TTL attribute) and `in_progress_expiration` (epoch milliseconds).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
};
use qpr_webhooks::consumer::ports::{Claim, IdempotencyStore};
use qpr_webhooks::receiver::ports::PortError;

use crate::sdk::describe;

const STATUS_IN_PROGRESS: &str = "INPROGRESS";
const STATUS_COMPLETED: &str = "COMPLETED";
/// BatchGetItem's limit of keys per call.
const BATCH_GET_MAX: usize = 100;

/// The claim's condition, as Powertools writes it: no record, an expired one, or one in progress
/// whose time has run out (its consumer died).
const CLAIMABLE: &str = "attribute_not_exists(#id) OR #expiration < :now OR \
     (#status = :in_progress AND attribute_exists(#in_progress_expiration) AND #in_progress_expiration < :now_ms)";
/// A forced replay may also take over a completed record.
const CLAIMABLE_FORCED: &str = "attribute_not_exists(#id) OR #expiration < :now OR #status = :completed OR \
     (#status = :in_progress AND attribute_exists(#in_progress_expiration) AND #in_progress_expiration < :now_ms)";

pub struct DynamoDbIdempotency {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbIdempotency {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { client, table }
    }
}

fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number_of(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn status_of(item: &HashMap<String, AttributeValue>) -> Option<&str> {
    item.get("status")?.as_s().ok().map(String::as_str)
}

impl IdempotencyStore for DynamoDbIdempotency {
    async fn completed(&self, keys: &[String], now: i64) -> Result<HashSet<String>, PortError> {
        let mut completed = HashSet::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|key| HashMap::from([("id".to_string(), string(key))]))
                        .collect(),
                ))
                .consistent_read(true)
                .projection_expression("#id, #status, #expiration")
                .expression_attribute_names("#id", "id")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#expiration", "expiration")
                .build()
                .map_err(|error| PortError::new("BatchGetItem", error.to_string()))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|error| PortError::new("BatchGetItem", describe(&error)))?;
            // Keys DynamoDB left unprocessed are simply not known completed: their claim decides.
            for item in output
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                let live = number_of(&item, "expiration").is_some_and(|expires| expires >= now);
                if status_of(&item) == Some(STATUS_COMPLETED) && live {
                    if let Some(Ok(id)) = item.get("id").map(AttributeValue::as_s) {
                        completed.insert(id.clone());
                    }
                }
            }
        }
        Ok(completed)
    }

    async fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until: i64,
        expires_at: i64,
        force: bool,
    ) -> Result<Claim, PortError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", string(key))
            .item("status", string(STATUS_IN_PROGRESS))
            .item("in_progress_expiration", number(in_progress_until))
            .item("expiration", number(expires_at))
            .condition_expression(if force { CLAIMABLE_FORCED } else { CLAIMABLE })
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expiration", "expiration")
            .expression_attribute_names("#in_progress_expiration", "in_progress_expiration")
            .expression_attribute_values(":now", number(now_ms / 1000))
            .expression_attribute_values(":now_ms", number(now_ms))
            .expression_attribute_values(":in_progress", string(STATUS_IN_PROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if force {
            request = request.expression_attribute_values(":completed", string(STATUS_COMPLETED));
        }
        match request.send().await {
            Ok(_) => Ok(Claim::Claimed),
            Err(error) => match error.as_service_error() {
                Some(failed) if failed.is_conditional_check_failed_exception() => {
                    let existing = match failed {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => e.item(),
                        _ => None,
                    };
                    // Without the old item (a store that does not return it), waiting is safe.
                    Ok(match existing.and_then(status_of) {
                        Some(STATUS_COMPLETED) => Claim::Completed,
                        _ => Claim::InProgress,
                    })
                }
                _ => Err(PortError::new("PutItem", describe(&error))),
            },
        }
    }

    async fn complete(&self, key: &str, expires_at: i64) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", string(key))
            .update_expression("SET #status = :completed, #expiration = :expiration")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expiration", "expiration")
            .expression_attribute_values(":completed", string(STATUS_COMPLETED))
            .expression_attribute_values(":expiration", number(expires_at))
            .send()
            .await
            .map_err(|error| PortError::new("UpdateItem", describe(&error)))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", string(key))
            .send()
            .await
            .map_err(|error| PortError::new("DeleteItem", describe(&error)))?;
        Ok(())
    }
}
