//! The delivery engine: what 3QPR does with each webhook it owes a receiver. It POSTs it, and
//! on any answer that is not a 2xx, a timeout or a connection failure it tries again after a
//! backoff that doubles each time (jittered, and at least the `Retry-After` it was told),
//! until a 2xx or until it gives up, a bounded time after the first attempt. Many webhooks
//! are delivered at once, with a bounded number of requests in flight.
//!
//! The fault-injection load test and `simulate` (the local 3QPR) both deliver through it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::sender::{agent, post, SendError};

/// How 3QPR delivers.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// An attempt without an answer after this long is a timeout (retried).
    pub request_timeout: Duration,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// No attempt starts later than this after the first one.
    pub give_up_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            concurrency: 8,
            request_timeout: Duration::from_secs(30),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        }
    }
}

/// One webhook to deliver: its bytes as sent, with their signature header (none: unsigned).
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The event's id, for the report.
    pub id: String,
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status(u16),
    /// No answer within the request timeout.
    TimedOut,
    /// No answer at all (connection refused or reset).
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Attempt {
    /// Since the delivery started.
    pub at: Duration,
    pub result: AttemptResult,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub attempts: Vec<Attempt>,
    /// Whether an attempt got a 2xx.
    pub delivered: bool,
}

impl Outcome {
    /// Attempts after the first.
    pub fn retries(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn delivered(&self) -> usize {
        self.outcomes.iter().filter(|o| o.delivered).count()
    }

    /// Webhooks delivered after at least one failed attempt.
    pub fn retried(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.delivered && o.retries() > 0)
            .count()
    }

    pub fn gave_up(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.delivered).count()
    }

    pub fn attempts(&self) -> usize {
        self.outcomes.iter().map(|o| o.attempts.len()).sum()
    }

    /// How many attempts got `status`.
    pub fn answered(&self, status: u16) -> usize {
        self.results()
            .filter(|r| **r == AttemptResult::Status(status))
            .count()
    }

    /// Attempts answered with a 2xx.
    pub fn successes(&self) -> usize {
        self.results()
            .filter(|r| matches!(r, AttemptResult::Status(s) if (200..300).contains(s)))
            .count()
    }

    /// Attempts with no answer (timeouts and connection failures).
    pub fn unanswered(&self) -> usize {
        self.results()
            .filter(|r| !matches!(r, AttemptResult::Status(_)))
            .count()
    }

    fn results(&self) -> impl Iterator<Item = &AttemptResult> {
        self.outcomes
            .iter()
            .flat_map(|o| o.attempts.iter().map(|a| &a.result))
    }

    /// One line for people: delivered, retried, given up, and the attempts' answers.
    pub fn summary(&self) -> String {
        format!(
            "{} webhooks: {} delivered ({} after retries), {} given up; {} attempts: {} 2xx, {} 503, {} other answers, {} unanswered",
            self.outcomes.len(),
            self.delivered(),
            self.retried(),
            self.gave_up(),
            self.attempts(),
            self.successes(),
            self.answered(503),
            self.attempts() - self.successes() - self.answered(503) - self.unanswered(),
            self.unanswered(),
        )
    }
}

/// Delivers every webhook to `url` under `policy`; returns once each is delivered or given up.
pub async fn deliver(url: &str, webhooks: Vec<Webhook>, policy: &Policy) -> Report {
    let started = Instant::now();
    let agent = agent(policy.request_timeout);
    let in_flight = Arc::new(Semaphore::new(policy.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, webhook) in webhooks.into_iter().enumerate() {
        let (agent, in_flight, url, policy) = (
            agent.clone(),
            Arc::clone(&in_flight),
            url.to_string(),
            policy.clone(),
        );
        tasks.spawn(async move {
            let outcome = deliver_one(&agent, &in_flight, &url, webhook, &policy, started).await;
            (index, outcome)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    outcomes.sort_by_key(|(index, _)| *index);
    Report {
        outcomes: outcomes.into_iter().map(|(_, outcome)| outcome).collect(),
    }
}

async fn deliver_one(
    agent: &ureq::Agent,
    in_flight: &Semaphore,
    url: &str,
    webhook: Webhook,
    policy: &Policy,
    started: Instant,
) -> Outcome {
    let webhook = Arc::new(webhook);
    let mut attempts = Vec::new();
    let mut first_attempt = None;
    let mut backoff = policy.first_backoff;
    loop {
        let answer = {
            let _permit = in_flight.acquire().await;
            let (agent, url, webhook) = (agent.clone(), url.to_string(), Arc::clone(&webhook));
            first_attempt.get_or_insert_with(Instant::now);
            tokio::task::spawn_blocking(move || {
                post(
                    &agent,
                    &url,
                    &webhook.body,
                    webhook.signature.as_deref(),
                    "application/json",
                )
            })
            .await
        };
        let (result, retry_after) = match answer {
            Ok(Ok(answer)) => (
                AttemptResult::Status(answer.status),
                answer
                    .retry_after
                    .and_then(|seconds| seconds.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            ),
            Ok(Err(SendError::Http { source, .. })) if is_timeout(&source) => {
                (AttemptResult::TimedOut, None)
            }
            Ok(Err(error)) => (AttemptResult::Failed(error.to_string()), None),
            Err(join) => (AttemptResult::Failed(join.to_string()), None),
        };
        let delivered =
            matches!(result, AttemptResult::Status(status) if (200..300).contains(&status));
        attempts.push(Attempt {
            at: started.elapsed(),
            result,
        });
        let wait = jittered(backoff, &webhook.id, attempts.len())
            .max(retry_after.unwrap_or_default())
            .min(policy.max_backoff);
        let give_up_at = first_attempt.unwrap_or(started) + policy.give_up_after;
        if delivered || Instant::now() + wait > give_up_at {
            return Outcome {
                id: webhook.id.clone(),
                attempts,
                delivered,
            };
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

fn is_timeout(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Timeout(_))
}

/// `backoff` less up to a quarter of it, chosen by the webhook and the attempt, so webhooks
/// that failed together do not all come back at the same instant.
fn jittered(backoff: Duration, id: &str, attempt: usize) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (id, attempt).hash(&mut hasher);
    let quarter = backoff / 4;
    let nanos = u64::try_from(quarter.as_nanos()).unwrap_or(u64::MAX).max(1);
    backoff - Duration::from_nanos(hasher.finish() % nanos)
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
