//! In-memory stand-ins for the receiver's ports, whose contents and failures the test sets.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::consumer::ports::{Claim, IdempotencyStore, PayloadSource};
use crate::contract::message::{FifoIds, OutgoingMessage};
use crate::contract::pointer::PayloadPointer;
use crate::receiver::ports::{ObjectStore, PortError, Queue, SecretSource};

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

    /// Forgets what was sent.
    pub fn clear(&self) {
        lock(&self.sent).clear();
    }
}

impl Queue for MemoryQueue {
    async fn max_message_size(&self, queue_url: &str) -> Result<usize, PortError> {
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
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
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
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

/// An object as [`MemoryObjects`] stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub body: Vec<u8>,
    pub metadata: HashMap<String, String>,
}

/// S3 refuses longer object keys (UTF-8 bytes).
const S3_KEY_MAX_BYTES: usize = 1024;
/// S3 refuses more user metadata: the UTF-8 bytes of every name and value together.
const S3_USER_METADATA_MAX_BYTES: usize = 2048;

/// A payload bucket in memory, recording what is put in it; it refuses what S3 would for its
/// key and metadata limits.
#[derive(Clone)]
pub struct MemoryObjects {
    bucket: String,
    objects: Arc<Mutex<Vec<StoredObject>>>,
    failing: Arc<Mutex<bool>>,
    delay: Arc<Mutex<Duration>>,
}

impl MemoryObjects {
    pub fn named(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            objects: Arc::default(),
            failing: Arc::default(),
            delay: Arc::default(),
        }
    }

    /// Every put takes this long before it answers.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// Every put fails (as S3 unreachable or throttling would) while set.
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    pub fn stored(&self) -> Vec<StoredObject> {
        lock(&self.objects).clone()
    }

    pub fn get(&self, key: &str) -> Option<StoredObject> {
        lock(&self.objects).iter().find(|o| o.key == key).cloned()
    }
}

impl ObjectStore for MemoryObjects {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(
        &self,
        key: &str,
        body: &[u8],
        metadata: &[(&'static str, String)],
    ) -> Result<(), PortError> {
        tokio::task::yield_now().await;
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if *lock(&self.failing) {
            return Err(PortError::new(
                "PutObject",
                "SlowDown: reduce your request rate",
            ));
        }
        if key.len() > S3_KEY_MAX_BYTES {
            return Err(PortError::new("PutObject", "KeyTooLongError"));
        }
        let metadata_bytes: usize = metadata
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        if metadata_bytes > S3_USER_METADATA_MAX_BYTES {
            return Err(PortError::new("PutObject", "MetadataTooLarge"));
        }
        let mut objects = lock(&self.objects);
        objects.retain(|object| object.key != key);
        objects.push(StoredObject {
            key: key.to_string(),
            body: body.to_vec(),
            metadata: metadata
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        });
        Ok(())
    }
}

/// Claim-check objects in memory, by key.
#[derive(Clone, Default)]
pub struct MemoryPayloads {
    objects: Arc<Mutex<HashMap<String, String>>>,
    hanging: Arc<Mutex<bool>>,
}

impl MemoryPayloads {
    pub fn put(&self, key: &str, body: &str) {
        lock(&self.objects).insert(key.to_string(), body.to_string());
    }

    /// Every fetch waits for ever (as a stalled connection would) while set.
    pub fn set_hanging(&self, hanging: bool) {
        *lock(&self.hanging) = hanging;
    }
}

impl PayloadSource for MemoryPayloads {
    async fn fetch(&self, pointer: &PayloadPointer) -> Result<Option<String>, PortError> {
        let hanging = *lock(&self.hanging);
        if hanging {
            std::future::pending::<()>().await;
        }
        Ok(lock(&self.objects).get(&pointer.key).cloned())
    }
}

/// One record of [`MemoryIdempotency`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub completed: bool,
    pub in_progress_until: i64,
    pub expires_at: i64,
}

/// An idempotency store in memory with DynamoDB's conditional-put rules.
#[derive(Clone, Default)]
pub struct MemoryIdempotency {
    records: Arc<Mutex<HashMap<String, IdempotencyRecord>>>,
    failing: Arc<Mutex<bool>>,
    hanging: Arc<Mutex<Vec<&'static str>>>,
    reads: Arc<AtomicUsize>,
}

impl MemoryIdempotency {
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// Calls of these operations (`BatchGetItem`, `PutItem`, `UpdateItem`, `DeleteItem`) wait
    /// for ever, as a stalled connection would.
    pub fn set_hanging(&self, operations: &[&'static str]) {
        *lock(&self.hanging) = operations.to_vec();
    }

    pub fn record(&self, key: &str) -> Option<IdempotencyRecord> {
        lock(&self.records).get(key).cloned()
    }

    pub fn insert(&self, key: &str, record: IdempotencyRecord) {
        lock(&self.records).insert(key.to_string(), record);
    }

    /// Batched reads made.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    async fn check(&self, operation: &'static str) -> Result<(), PortError> {
        let hanging = lock(&self.hanging).contains(&operation);
        if hanging {
            std::future::pending::<()>().await;
        }
        if *lock(&self.failing) {
            return Err(PortError::new(operation, "could not reach the service"));
        }
        Ok(())
    }
}

impl IdempotencyStore for MemoryIdempotency {
    async fn completed(&self, keys: &[String], now: i64) -> Result<HashSet<String>, PortError> {
        self.check("BatchGetItem").await?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        let records = lock(&self.records);
        Ok(keys
            .iter()
            .filter(|key| {
                records
                    .get(*key)
                    .is_some_and(|record| record.completed && record.expires_at >= now)
            })
            .cloned()
            .collect())
    }

    async fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until: i64,
        expires_at: i64,
        force: bool,
    ) -> Result<Claim, PortError> {
        self.check("PutItem").await?;
        // Let a concurrent delivery run while this claim is "in flight".
        tokio::task::yield_now().await;
        let mut records = lock(&self.records);
        if let Some(existing) = records.get(key) {
            let expired = existing.expires_at < now_ms / 1000;
            let lapsed = !existing.completed && existing.in_progress_until < now_ms;
            let claimable = expired || lapsed || (force && existing.completed);
            if !claimable {
                return Ok(if existing.completed {
                    Claim::Completed
                } else {
                    Claim::InProgress
                });
            }
        }
        records.insert(
            key.to_string(),
            IdempotencyRecord {
                completed: false,
                in_progress_until,
                expires_at,
            },
        );
        Ok(Claim::Claimed)
    }

    async fn complete(&self, key: &str, expires_at: i64) -> Result<(), PortError> {
        self.check("UpdateItem").await?;
        if let Some(record) = lock(&self.records).get_mut(key) {
            record.completed = true;
            record.expires_at = expires_at;
        }
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.check("DeleteItem").await?;
        lock(&self.records).remove(key);
        Ok(())
    }
}
