//! What scans-consumer does with each `scan.created` out of the box: one structured log line
//! with its typed fields (the counts become metrics in the framework). Replace or extend it
//! with your own logic.

use qpr_webhooks::consumer::{Delivered, EventHandler, HandlerError, UnsupportedEvent};
use qpr_webhooks::contract::envelope::Event;

pub struct ScanActivity;

impl EventHandler for ScanActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        let Event::ScanCreated(scan) = &delivered.event else {
            return Err(UnsupportedEvent::new(delivered.event_type).into());
        };
        tracing::info!(
            event_type = delivered.event_type,
            event_id = delivered.event_id,
            scan_id = scan.scan_id,
            qpr_code_id = %scan.qpr_code_id,
            short_id = %scan.short_id,
            scanned_at = %scan.scanned_at,
            metadata_keys = %scan.metadata.keys().map(String::as_str).collect::<Vec<_>>().join(","),
            "event processed"
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
