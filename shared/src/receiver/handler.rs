//! The webhook request handler, generic over the secret source and the queue.
//!
//! It starts whatever AWS answers: the keys and the queues' size limits are loaded at start-up
//! when AWS is there, else by the requests that need them, at a bounded rate, answering 503
//! with `Retry-After` meanwhile. Every AWS call is limited by the time the invocation has left.

use std::time::Duration;

use http::{header, HeaderMap, Method, Response, StatusCode};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::contract::envelope::EnvelopeError;
use crate::contract::message::ATTRIBUTE_ALLOWANCE;
use crate::contract::signature::{Signature, SIGNATURE_HEADER};
use crate::receiver::config::ReceiverConfig;
use crate::receiver::keys::{KeySettings, KeysError, VerifyingKeys};
use crate::receiver::outbox;
use crate::receiver::ports::{NoObjectStore, ObjectStore, PortError, Queue, SecretSource};
use crate::receiver::rejection::Rejection;
use crate::receiver::routing::{is_fifo_queue, Destination, Routes};

/// One webhook request, as the receiver sees it whatever the event source.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The exact bytes 3QPR sent (base64 already decoded).
    pub body: &'a [u8],
    pub request_id: &'a str,
    /// When the answer must be ready: the invocation's deadline less the time to hand it back.
    pub deadline: Instant,
}

pub struct Receiver<S, Q, O = NoObjectStore> {
    keys: VerifyingKeys<S>,
    queue: Q,
    /// The payload bucket, when there is one.
    objects: Option<O>,
    archive: bool,
    routes: Routes<String>,
    destinations: Destinations,
    retry_after: Duration,
}

/// The largest event Lambda takes synchronously: a body that reached the function fits it.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// The routes resolved to their queues' size limits, loaded once, retried at a bounded rate.
struct Destinations {
    resolved: OnceCell<Resolved>,
    last_failure: std::sync::Mutex<Option<(Instant, PortError)>>,
    retry_interval: Duration,
}

struct Resolved {
    routes: Routes<Destination>,
    /// Larger bodies are refused before any HMAC work: no routed queue could take them.
    body_limit: usize,
}

impl<S: SecretSource, Q: Queue> Receiver<S, Q> {
    /// A receiver without a payload bucket (see [`Receiver::start_with_objects`]).
    pub async fn start(config: &ReceiverConfig, secrets: S, queue: Q) -> Self {
        Receiver::start_with_objects(config, secrets, queue, None).await
    }
}

impl<S: SecretSource, Q: Queue, O: ObjectStore> Receiver<S, Q, O> {
    /// A receiver for `config`, with the keys and the queues' size limits loaded at once if AWS
    /// answers within the call timeout. It starts either way: what could not be loaded is
    /// loaded by the first requests that need it. `objects` is the payload bucket (claim-check
    /// objects, and the archive when the configuration says so).
    pub async fn start_with_objects(
        config: &ReceiverConfig,
        secrets: S,
        queue: Q,
        objects: Option<O>,
    ) -> Self {
        let retry_after = Duration::from_secs(config.retry_after_seconds);
        let receiver = Self {
            archive: config.archive && objects.is_some(),
            objects,
            keys: VerifyingKeys::new(
                secrets,
                config.secret_id.clone(),
                KeySettings {
                    refresh_interval: config.secret_refresh_interval,
                    refetch_interval: config.secret_refetch_interval,
                    retry_interval: retry_after,
                },
            ),
            queue,
            routes: config.routes.clone(),
            destinations: Destinations {
                resolved: OnceCell::new(),
                last_failure: std::sync::Mutex::new(None),
                retry_interval: retry_after,
            },
            retry_after,
        };
        let deadline = Instant::now() + config.aws_timeout;
        let (_, destinations) = tokio::join!(
            receiver.keys.load(deadline),
            receiver.destinations(deadline)
        );
        if let Err(error) = destinations {
            tracing::warn!(error = %error, "cannot load the queues yet; requests will retry");
        }
        receiver
    }

    /// Whether the keys and the queues are loaded (else requests load them first).
    pub fn is_ready(&self) -> (bool, bool) {
        (
            self.keys.is_ready(),
            self.destinations.resolved.initialized(),
        )
    }

    /// Handles one request and writes its one log line: the `webhook` event, with the
    /// outcome, the status, the size, the duration, the event's type and id, and the error.
    /// It is logged in the Lambda runtime's span of the invocation, which holds the request
    /// id (a span of our own, with fields recorded as they become known, cost more
    /// instructions than the rest of our code together). Never fails: every outcome is an
    /// answer.
    pub async fn handle(&self, request: Inbound<'_>) -> Response<String> {
        let arrived = Instant::now();
        let bytes = request.body.len();
        let resolved = match self.admit(request, arrived).await {
            Ok(resolved) => resolved,
            Err(rejection) => return self.refuse(&rejection, None, bytes, arrived),
        };
        // From here on the body is known to come from 3QPR: it is kept whatever it holds.
        let composed = outbox::compose(
            request.body,
            &resolved.routes,
            OffsetDateTime::now_utc(),
            request.request_id,
        );
        let event = composed.event.clone();
        if let Err(rejection) = self.store(request, composed).await {
            return self.refuse(&rejection, Some(&event), bytes, arrived);
        }
        let duration_us = micros_since(arrived);
        let (outcome, event_id) = match &event {
            Ok((event_type, event_id)) => {
                tracing::info!(
                    outcome = "queued",
                    status = 200u16,
                    bytes,
                    duration_us,
                    event_type = event_type.as_str(),
                    event_id = event_id.as_str(),
                    "webhook"
                );
                ("queued", Some(event_id.as_str()))
            }
            Err(reason) => {
                tracing::info!(
                    outcome = "quarantined",
                    status = 200u16,
                    bytes,
                    duration_us,
                    quarantine_reason = %reason,
                    "webhook"
                );
                ("quarantined", None)
            }
        };
        // {"id":…,"status":…}, written directly: a JSON value would cost an allocation per key.
        let id = serde_json::to_string(&event_id).unwrap_or_else(|_| "null".into());
        json_response(
            StatusCode::OK,
            format!(r#"{{"id":{id},"status":"{outcome}"}}"#),
        )
    }

    /// Answers a request that cannot even be handed to [`Self::handle`] (its event was
    /// malformed), with the same log line.
    pub fn reject(&self, rejection: &Rejection) -> Response<String> {
        self.refuse(rejection, None, 0, Instant::now())
    }

    /// The log line and the answer of a refused request.
    fn refuse(
        &self,
        rejection: &Rejection,
        event: Option<&Result<(String, String), EnvelopeError>>,
        bytes: usize,
        arrived: Instant,
    ) -> Response<String> {
        let status = rejection.status();
        let (outcome, code, duration_us) =
            (rejection.outcome(), status.as_u16(), micros_since(arrived));
        let (event_type, event_id) = match event {
            Some(Ok((event_type, event_id))) => {
                (Some(event_type.as_str()), Some(event_id.as_str()))
            }
            _ => (None, None),
        };
        let error = tracing::field::display(rejection);
        if status.is_server_error() {
            tracing::warn!(
                outcome,
                status = code,
                bytes,
                duration_us,
                event_type,
                event_id,
                error = error,
                "webhook"
            );
        } else {
            tracing::info!(
                outcome,
                status = code,
                bytes,
                duration_us,
                event_type,
                event_id,
                error = error,
                "webhook"
            );
        }
        self.rejection_response(rejection)
    }

    /// Everything before the body is trusted: the method, the size, the signature.
    async fn admit(&self, request: Inbound<'_>, arrived: Instant) -> Result<&Resolved, Rejection> {
        if request.method != Method::POST {
            return Err(Rejection::MethodNotAllowed(request.method.clone()));
        }
        let resolved = self
            .destinations(request.deadline)
            .await
            .map_err(Rejection::QueuesUnavailable)?;
        // With a bucket any body that reached the function is kept (claim-check); without one
        // nothing larger than the smallest queue takes could be.
        let body_limit = if self.objects.is_some() {
            LAMBDA_PAYLOAD_LIMIT
        } else {
            resolved.body_limit
        };
        if request.body.len() > body_limit {
            return Err(Rejection::TooLarge {
                size: request.body.len(),
                limit: body_limit,
            });
        }
        let signature = Signature::from_header_values(
            request
                .headers
                .get_all(SIGNATURE_HEADER)
                .iter()
                .map(|value| value.as_bytes()),
        )?;
        self.keys
            .verify(request.body, &signature, arrived, request.deadline)
            .await?;
        Ok(resolved)
    }

    /// Stores a verified body: the queue message (after its claim-check object, if it needs
    /// one) and the archive object, written at once, so that the answer waits for the slower,
    /// not for both in turn.
    async fn store(
        &self,
        request: Inbound<'_>,
        composed: outbox::Composed<'_, '_>,
    ) -> Result<(), Rejection> {
        let objects = self.objects.as_ref();
        let archive = objects
            .filter(|_| self.archive)
            .map(|objects| (objects, composed.archive_object()));
        let queued = outbox::enqueue(
            &self.queue,
            objects,
            composed.destination,
            composed.message,
            request.request_id,
        );
        let Some((objects, (key, metadata))) = archive else {
            return tokio::time::timeout_at(request.deadline, queued)
                .await
                .map_err(|_| Rejection::Deadline("SQS"))?
                .map(|_| ());
        };
        let archived = objects.put(&key, request.body, &metadata);
        let (queued, archived) = tokio::join!(
            tokio::time::timeout_at(request.deadline, queued),
            tokio::time::timeout_at(request.deadline, archived),
        );
        queued.map_err(|_| Rejection::Deadline("SQS"))??;
        archived
            .map_err(|_| Rejection::Deadline("S3"))?
            .map_err(Rejection::ArchiveUnavailable)?;
        Ok(())
    }

    /// The resolved routes, loading them first if start-up could not.
    async fn destinations(&self, deadline: Instant) -> Result<&Resolved, PortError> {
        let loader = &self.destinations;
        if let Some(resolved) = loader.resolved.get() {
            return Ok(resolved);
        }
        if let Some((at, error)) = &*lock(&loader.last_failure) {
            if at.elapsed() < loader.retry_interval {
                return Err(error.clone());
            }
        }
        let load = loader.resolved.get_or_try_init(|| async {
            let routes = self
                .routes
                .try_resolve(|url| async move {
                    let max_message_size =
                        self.queue.max_message_size(url).await.map_err(|error| {
                            PortError::new(error.operation, format!("{url}: {}", error.detail))
                        })?;
                    Ok::<_, PortError>(Destination {
                        url: url.clone(),
                        max_message_size,
                        fifo: is_fifo_queue(url),
                    })
                })
                .await?;
            let smallest = routes
                .queues()
                .iter()
                .map(|destination| destination.max_message_size)
                .min()
                .unwrap_or(0);
            Ok(Resolved {
                routes,
                body_limit: smallest.saturating_sub(ATTRIBUTE_ALLOWANCE),
            })
        });
        let result = tokio::time::timeout_at(deadline, load)
            .await
            .unwrap_or_else(|_| {
                Err(PortError::new(
                    "GetQueueAttributes",
                    "no time left in the invocation",
                ))
            });
        if let Err(error) = &result {
            *lock(&loader.last_failure) = Some((Instant::now(), error.clone()));
        }
        result
    }

    fn rejection_response(&self, rejection: &Rejection) -> Response<String> {
        let body = serde_json::json!({ "error": rejection.public_message() }).to_string();
        let mut response = json_response(rejection.status(), body);
        let headers = response.headers_mut();
        if matches!(rejection, Rejection::MethodNotAllowed(_)) {
            headers.insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        }
        if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
            let wait = match rejection {
                Rejection::Keys(KeysError::Unconfirmed(wait)) => (*wait).max(self.retry_after),
                _ => self.retry_after,
            };
            // Whole seconds, rounded up, as Retry-After takes them.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn json_response(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
