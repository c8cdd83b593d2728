//! In-memory ports for tests of the handler and of the functions built on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::message::{FifoIds, OutgoingMessage};
use crate::ports::{PortError, Queue, SecretSource};

/// A secret store whose contents and availability the test changes.
#[derive(Clone, Default)]
pub struct MemorySecrets {
    stored: Arc<Mutex<Vec<String>>>,
    failing: Arc<Mutex<bool>>,
    fetches: Arc<AtomicUsize>,
}

impl MemorySecrets {
    pub fn holding(secrets: &[&str]) -> Self {
        let memory = Self::default();
        memory.put(secrets);
        memory
    }

    pub fn put(&self, secrets: &[&str]) {
        *lock(&self.stored) = secrets.iter().map(|s| s.to_string()).collect();
    }

    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl SecretSource for MemorySecrets {
    async fn fetch(&self) -> Result<Vec<String>, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if *lock(&self.failing) {
            return Err(PortError::new("GetSecretValue", "service unavailable"));
        }
        Ok(lock(&self.stored).clone())
    }
}

/// A message as it was accepted by [`MemoryQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub queue_url: String,
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub fifo: Option<FifoIds>,
}

/// Queues with a size limit each, recording what they accept.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    limits: Arc<Mutex<HashMap<String, usize>>>,
    sent: Arc<Mutex<Vec<SentMessage>>>,
    failing: Arc<Mutex<bool>>,
}

impl MemoryQueue {
    pub fn with_queue(self, url: &str, max_message_size: usize) -> Self {
        lock(&self.limits).insert(url.to_string(), max_message_size);
        self
    }

    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.sent).clone()
    }
}

impl Queue for MemoryQueue {
    async fn max_message_size(&self, queue_url: &str) -> Result<usize, PortError> {
        lock(&self.limits)
            .get(queue_url)
            .copied()
            .ok_or_else(|| PortError::new("GetQueueAttributes", "NonExistentQueue"))
    }

    async fn send(&self, queue_url: &str, message: &OutgoingMessage<'_>) -> Result<(), PortError> {
        if *lock(&self.failing) {
            return Err(PortError::new("SendMessage", "service unavailable"));
        }
        lock(&self.sent).push(SentMessage {
            queue_url: queue_url.to_string(),
            body: message.body.to_string(),
            attributes: message
                .attributes()
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            fifo: message.fifo.clone(),
        });
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// An SQS record as Lambda's event source hands it over, carrying the attributes the receiver
/// sets (taken from the body when it is an envelope).
pub fn sqs_record(
    message_id: &str,
    body: &str,
    message_group: Option<&str>,
) -> aws_lambda_events::event::sqs::SqsMessage {
    use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};

    let string_attribute = |value: &str| {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(value.to_string());
        attribute.data_type = Some("String".to_string());
        attribute
    };
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.to_string());
    record.receipt_handle = Some(format!("receipt-{message_id}"));
    record.body = Some(body.to_string());
    record.event_source = Some("aws:sqs".to_string());
    if let Ok(envelope) = crate::envelope::Envelope::parse_str(body) {
        for (name, value) in [
            (crate::message::ATTR_EVENT_TYPE, envelope.event.as_ref()),
            (crate::message::ATTR_EVENT_ID, envelope.id.as_ref()),
            (crate::message::ATTR_RECEIVED_AT, "2026-03-20T15:30:01Z"),
            (crate::message::ATTR_REQUEST_ID, "req-1"),
        ] {
            record
                .message_attributes
                .insert(name.to_string(), string_attribute(value));
        }
    }
    if let Some(group) = message_group {
        record
            .attributes
            .insert("MessageGroupId".to_string(), group.to_string());
    }
    record
}

/// JSON log lines written while the guard returned with it is alive (on this thread).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Routes this thread's tracing output, as JSON lines, into the returned capture.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }

    /// Each line parsed; `line["fields"]` holds the message and the fields.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An SQS event fixture (`infra/events/sqs-*.json`) as Lambda hands it over.
pub fn sqs_event(json: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_str(json).expect("an SQS event fixture")
}
