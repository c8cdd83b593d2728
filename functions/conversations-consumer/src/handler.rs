//! What conversations-consumer does with each `conversation.completed` out of the box: one
//! structured log line (the counts become metrics in the framework). Replace or extend it with
//! your own logic.

use qpr_webhooks::consumer::{Delivered, EventHandler, HandlerError, UnsupportedEvent};
use qpr_webhooks::contract::envelope::Event;

pub struct ConversationActivity;

impl EventHandler for ConversationActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        let Event::ConversationCompleted(details) = &delivered.event else {
            return Err(UnsupportedEvent::new(delivered.event_type).into());
        };
        delivered.log_details(details);
        Ok(())
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
