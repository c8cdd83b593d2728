//! The webhook request handler, generic over the secret source and the queue.

use std::collections::HashMap;
use std::time::Instant;

use futures_util::future::try_join_all;
use http::{header, HeaderMap, Method, Response, StatusCode};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::ReceiverConfig;
use crate::envelope::{Envelope, EnvelopeError};
use crate::keys::{KeysError, VerifyingKeys};
use crate::message::{first_character_sqs_refuses, OutgoingMessage, ATTRIBUTE_ALLOWANCE};
use crate::ports::{PortError, Queue, SecretSource};
use crate::rejection::Rejection;
use crate::routing::{is_fifo_queue, Routes};
use crate::signature::{Signature, SIGNATURE_HEADER};

/// One webhook request, as the receiver sees it whatever the event source.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The exact bytes 3QPR sent (base64 already decoded).
    pub body: &'a [u8],
    pub request_id: &'a str,
}

/// Why the receiver could not start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot load the webhook signing secret: {0}")]
    Secret(#[from] KeysError),
    #[error("cannot use queue {url}: {source}")]
    Queue { url: String, source: PortError },
}

pub struct Receiver<S, Q> {
    keys: VerifyingKeys<S>,
    queue: Q,
    routes: Routes,
    /// MaximumMessageSize of each routed queue.
    queue_limits: HashMap<String, usize>,
    /// Larger bodies are refused before any HMAC work: no routed queue could take them.
    body_limit: usize,
    retry_after_seconds: u64,
}

/// What is known of the event so far, for the request's log line.
#[derive(Default)]
struct Seen {
    event_type: Option<String>,
    event_id: Option<String>,
}

impl<S: SecretSource, Q: Queue> Receiver<S, Q> {
    /// Fetches the secrets and asks every routed queue for its size limit: a missing queue or
    /// secret fails start-up instead of the first webhook.
    /// All of these calls run at once, so start-up waits for the slowest, not their sum.
    pub async fn start(config: &ReceiverConfig, secrets: S, queue: Q) -> Result<Self, StartError> {
        let limits = try_join_all(config.routes.queue_urls().into_iter().map(|url| {
            let queue = &queue;
            async move {
                match queue.max_message_size(url).await {
                    Ok(limit) => Ok((url.to_string(), limit)),
                    Err(source) => Err(StartError::Queue {
                        url: url.to_string(),
                        source,
                    }),
                }
            }
        }));
        let (keys, limits) = tokio::join!(
            VerifyingKeys::load(secrets, config.secret_refetch_interval),
            limits
        );
        let keys = keys?;
        let queue_limits: HashMap<String, usize> = limits?.into_iter().collect();
        let smallest = queue_limits.values().copied().min().unwrap_or(0);
        Ok(Self {
            keys,
            queue,
            routes: config.routes.clone(),
            queue_limits,
            body_limit: smallest.saturating_sub(ATTRIBUTE_ALLOWANCE),
            retry_after_seconds: config.retry_after_seconds,
        })
    }

    /// Handles one request and writes its one log line. Never fails: every outcome is an
    /// answer.
    pub async fn handle(&self, request: Inbound<'_>) -> Response<String> {
        let started = Instant::now();
        let mut seen = Seen::default();
        let result = self.process(request, &mut seen).await;
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);

        macro_rules! log_line {
            ($level:ident, $outcome:expr, $status:expr, $error:expr) => {
                tracing::$level!(
                    outcome = $outcome,
                    status = $status.as_u16(),
                    event_type = seen.event_type.as_deref(),
                    event_id = seen.event_id.as_deref(),
                    bytes = request.body.len(),
                    duration_us,
                    request_id = request.request_id,
                    error = $error,
                    "webhook"
                )
            };
        }

        match result {
            Ok(()) => {
                log_line!(info, "queued", StatusCode::OK, None::<&str>);
                let body = serde_json::json!({ "id": seen.event_id, "status": "queued" });
                json_response(StatusCode::OK, body.to_string())
            }
            Err(rejection) => {
                let status = rejection.status();
                let error = rejection.to_string();
                if status.is_server_error() {
                    log_line!(warn, rejection.outcome(), status, Some(error.as_str()));
                } else {
                    log_line!(info, rejection.outcome(), status, Some(error.as_str()));
                }
                self.rejection_response(&rejection)
            }
        }
    }

    async fn process(&self, request: Inbound<'_>, seen: &mut Seen) -> Result<(), Rejection> {
        if request.method != Method::POST {
            return Err(Rejection::MethodNotAllowed(request.method.clone()));
        }
        if request.body.len() > self.body_limit {
            return Err(Rejection::TooLarge {
                size: request.body.len(),
                limit: self.body_limit,
            });
        }
        let signature = Signature::from_header_values(
            request
                .headers
                .get_all(SIGNATURE_HEADER)
                .iter()
                .map(|value| value.as_bytes()),
        )?;
        if !self.keys.verify(request.body, &signature).await? {
            return Err(Rejection::SignatureMismatch);
        }

        // From here on the body is known to come from 3QPR.
        let body = std::str::from_utf8(request.body).map_err(|_| EnvelopeError::NotUtf8)?;
        let envelope = Envelope::parse_str(body)?;
        seen.event_type = Some(envelope.event.to_string());
        seen.event_id = Some(envelope.id.to_string());
        if let Some(refused) = first_character_sqs_refuses(body) {
            return Err(Rejection::UnsendableCharacter(refused));
        }

        let queue_url = self.routes.queue_for(&envelope.event);
        let received_at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        // Only FIFO queues use it (as the message group), so only they pay for reading it.
        let qpr_code_id = is_fifo_queue(queue_url)
            .then(|| envelope.qpr_code_id())
            .flatten();
        let message = OutgoingMessage::new(
            queue_url,
            body,
            &envelope.event,
            &envelope.id,
            qpr_code_id.as_deref(),
            received_at,
            request.request_id,
        );
        let limit = self.queue_limits.get(queue_url).copied().unwrap_or(0);
        if message.size() > limit {
            return Err(Rejection::TooLarge {
                size: message.size(),
                limit,
            });
        }
        self.queue
            .send(queue_url, &message)
            .await
            .map_err(Rejection::QueueUnavailable)
    }

    fn rejection_response(&self, rejection: &Rejection) -> Response<String> {
        let body = serde_json::json!({ "error": rejection.public_message() }).to_string();
        let mut response = json_response(rejection.status(), body);
        let headers = response.headers_mut();
        match rejection {
            Rejection::MethodNotAllowed(_) => {
                headers.insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            }
            Rejection::SecretUnavailable(_) | Rejection::QueueUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, self.retry_after_seconds.into());
            }
            _ => {}
        }
        response
    }
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
