//! In-memory stand-ins for the receiver's ports, whose contents and failures the test sets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::contract::message::{FifoIds, OutgoingMessage};
use crate::receiver::ports::{PortError, Queue, SecretSource};

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
    delay: Arc<Mutex<Duration>>,
}

impl MemoryQueue {
    pub fn with_queue(self, url: &str, max_message_size: usize) -> Self {
        lock(&self.limits).insert(url.to_string(), max_message_size);
        self
    }

    /// Every call fails (as SQS unreachable or throttling would) while set.
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// Every call takes this long before it answers.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.sent).clone()
    }
}

impl Queue for MemoryQueue {
    async fn max_message_size(&self, queue_url: &str) -> Result<usize, PortError> {
        let delay = *lock(&self.delay);
        tokio::time::sleep(delay).await;
        if *lock(&self.failing) {
            return Err(PortError::new("GetQueueAttributes", "service unavailable"));
        }
        lock(&self.limits)
            .get(queue_url)
            .copied()
            .ok_or_else(|| PortError::new("GetQueueAttributes", "NonExistentQueue"))
    }

    async fn send(&self, queue_url: &str, message: &OutgoingMessage<'_>) -> Result<(), PortError> {
        let delay = *lock(&self.delay);
        tokio::time::sleep(delay).await;
        if *lock(&self.failing) {
            return Err(PortError::new("SendMessage", "service unavailable"));
        }
        lock(&self.sent).push(SentMessage {
            queue_url: queue_url.to_string(),
            body: message.body.to_string(),
            attributes: message
                .attributes
                .iter()
                .map(|attribute| (attribute.name.to_string(), attribute.value.to_string()))
                .collect(),
            fifo: message.fifo.clone(),
        });
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
