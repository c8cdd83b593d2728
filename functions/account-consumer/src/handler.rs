//! What account-consumer does with each `qpr_code.*` and `subscription.*` event out of the
//! box: one structured log line (the counts become metrics in the framework). Replace or
//! extend it with your own logic.

use qpr_webhooks::consumer::{Delivered, EventHandler, HandlerError, UnsupportedEvent};
use qpr_webhooks::contract::envelope::Event;

pub struct AccountActivity;

impl EventHandler for AccountActivity {
    async fn handle(&self, delivered: &Delivered<'_>) -> Result<(), HandlerError> {
        match &delivered.event {
            Event::QprCodeCreated(details)
            | Event::SubscriptionUpgraded(details)
            | Event::SubscriptionCancelled(details) => {
                delivered.log_details(details);
                Ok(())
            }
            _ => Err(UnsupportedEvent::new(delivered.event_type).into()),
        }
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
