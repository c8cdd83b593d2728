//! What the three consumers do with each event out of the box: one structured log line with its
//! typed fields (the events' counts become metrics in [`crate::consumer`]). Replace or extend
//! these handlers with your own logic.

use serde_json::{Map, Value};

use crate::consumer::{Delivered, EventHandler, HandlerError};
use crate::envelope::{Event, EventDetails};

/// `scans-consumer`: `scan.created`.
pub struct ScanActivity;

/// `conversations-consumer`: `conversation.completed`.
pub struct ConversationActivity;

/// `account-consumer`: `qpr_code.created`, `subscription.upgraded`, `subscription.cancelled`.
pub struct AccountActivity;

impl EventHandler for ScanActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        let Event::ScanCreated(scan) = &delivered.event else {
            return Err(HandlerError::unsupported(delivered.event_type));
        };
        tracing::info!(
            event_type = delivered.event_type,
            event_id = delivered.event_id,
            scan_id = scan.scan_id,
            qpr_code_id = %scan.qpr_code_id,
            short_id = %scan.short_id,
            scanned_at = %scan.scanned_at,
            metadata_keys = %field_names(&scan.metadata),
            "event processed"
        );
        Ok(())
    }
}

impl EventHandler for ConversationActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        let Event::ConversationCompleted(details) = &delivered.event else {
            return Err(HandlerError::unsupported(delivered.event_type));
        };
        log_details(delivered, details);
        Ok(())
    }
}

impl EventHandler for AccountActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        match &delivered.event {
            Event::QprCodeCreated(details)
            | Event::SubscriptionUpgraded(details)
            | Event::SubscriptionCancelled(details) => {
                log_details(delivered, details);
                Ok(())
            }
            _ => Err(HandlerError::unsupported(delivered.event_type)),
        }
    }
}

/// For the events whose `data` 3QPR does not document: the code they concern and the names (not
/// the values) of the other fields.
fn log_details(delivered: &Delivered<'_>, details: &EventDetails) {
    tracing::info!(
        event_type = delivered.event_type,
        event_id = delivered.event_id,
        created_at = delivered.created_at,
        qpr_code_id = details.qpr_code_id.as_deref(),
        fields = %field_names(&details.fields),
        "event processed"
    );
}

fn field_names(fields: &Map<String, Value>) -> String {
    fields
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}
