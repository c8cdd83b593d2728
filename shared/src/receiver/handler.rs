//! The webhook request handler, generic over the secret source and the queue.

use std::time::Instant;

use http::{header, HeaderMap, Method, Response, StatusCode};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::field::Empty;
use tracing::Instrument;

use crate::contract::envelope::{Envelope, EnvelopeError};
use crate::contract::message::{first_character_sqs_refuses, OutgoingMessage, ATTRIBUTE_ALLOWANCE};
use crate::contract::signature::{Signature, SIGNATURE_HEADER};
use crate::receiver::config::ReceiverConfig;
use crate::receiver::keys::{KeysError, VerifyingKeys};
use crate::receiver::ports::{PortError, Queue, SecretSource};
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
    routes: Routes<Destination>,
    /// Larger bodies are refused before any HMAC work: no routed queue could take them.
    body_limit: usize,
    retry_after_seconds: u64,
}

impl<S: SecretSource, Q: Queue> Receiver<S, Q> {
    /// Fetches the secrets and asks every routed queue for its size limit: a missing queue or
    /// secret fails start-up instead of the first webhook.
    /// All of these calls run at once, so start-up waits for the slowest, not their sum.
    pub async fn start(config: &ReceiverConfig, secrets: S, queue: Q) -> Result<Self, StartError> {
        let routes = config.routes.try_resolve(|url| {
            let queue = &queue;
            async move {
                match queue.max_message_size(url).await {
                    Ok(max_message_size) => Ok(Destination {
                        url: url.clone(),
                        max_message_size,
                        fifo: is_fifo_queue(url),
                    }),
                    Err(source) => Err(StartError::Queue {
                        url: url.clone(),
                        source,
                    }),
                }
            }
        });
        let (keys, routes) = tokio::join!(
            VerifyingKeys::load(secrets, config.secret_refetch_interval),
            routes
        );
        let keys = keys?;
        let routes = routes?;
        let smallest = routes
            .queues()
            .iter()
            .map(|destination| destination.max_message_size)
            .min()
            .unwrap_or(0);
        Ok(Self {
            keys,
            queue,
            routes,
            body_limit: smallest.saturating_sub(ATTRIBUTE_ALLOWANCE),
            retry_after_seconds: config.retry_after_seconds,
        })
    }

    /// Handles one request and writes its one log line: a `webhook` span whose fields are
    /// recorded as they become known, closed by one event. Never fails: every outcome is an
    /// answer.
    pub async fn handle(&self, request: Inbound<'_>) -> Response<String> {
        let started = Instant::now();
        let span = tracing::info_span!(
            "webhook",
            outcome = Empty,
            status = Empty,
            event_type = Empty,
            event_id = Empty,
            bytes = request.body.len(),
            duration_us = Empty,
            request_id = request.request_id,
            error = Empty,
        );
        let result = self.process(request).instrument(span.clone()).await;
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.record("duration_us", duration_us);
        let _entered = span.enter();
        match result {
            Ok(event_id) => {
                span.record("outcome", "queued");
                span.record("status", StatusCode::OK.as_u16());
                tracing::info!("webhook");
                let body = serde_json::json!({ "id": event_id, "status": "queued" });
                json_response(StatusCode::OK, body.to_string())
            }
            Err(rejection) => {
                let status = rejection.status();
                span.record("outcome", rejection.outcome());
                span.record("status", status.as_u16());
                span.record("error", tracing::field::display(&rejection));
                if status.is_server_error() {
                    tracing::warn!("webhook");
                } else {
                    tracing::info!("webhook");
                }
                self.rejection_response(&rejection)
            }
        }
    }

    /// Verifies, parses, routes and queues one request; the queued event's id on success.
    async fn process(&self, request: Inbound<'_>) -> Result<String, Rejection> {
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
        let span = tracing::Span::current();
        span.record("event_type", &*envelope.event);
        span.record("event_id", &*envelope.id);
        if let Some(refused) = first_character_sqs_refuses(body) {
            return Err(Rejection::UnsendableCharacter(refused));
        }

        let destination = self.routes.queue_for(&envelope.event);
        let received_at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let message = OutgoingMessage::for_event(
            body,
            &envelope,
            destination.fifo,
            received_at,
            request.request_id,
        );
        if message.size() > destination.max_message_size {
            return Err(Rejection::TooLarge {
                size: message.size(),
                limit: destination.max_message_size,
            });
        }
        self.queue
            .send(&destination.url, &message)
            .await
            .map_err(Rejection::QueueUnavailable)?;
        Ok(envelope.id.into_owned())
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
