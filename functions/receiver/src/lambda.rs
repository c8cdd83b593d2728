//! The receiver's side of the Lambda runtime: API Gateway REST (v1), HTTP API (v2) and function
//! URL events in (lambda_http's `LambdaRequest`), the shared handler's answer out, shaped as
//! the event's source expects.
//!
//! The handler needs the method, the headers and the body only, so they are taken from the
//! event directly instead of through lambda_http's conversion to an `http::Request`, which
//! panics on a body marked base64 that is not, and on a path or host it cannot make a URI of.

use std::borrow::Cow;

use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::{HeaderMap, Method};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Response};
use qpr_webhooks::receiver::config::ANSWER_MARGIN;
use qpr_webhooks::receiver::handler::{Inbound, Receiver};
use qpr_webhooks::receiver::ports::{ObjectStore, Queue, SecretSource};
use qpr_webhooks::receiver::rejection::Rejection;
use qpr_webhooks_aws::invocation;
use serde::Serialize;
use tokio::time::Instant;

/// The answer, in the shape of the event it answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    RestApi(ApiGatewayProxyResponse),
    HttpApi(ApiGatewayV2httpResponse),
}

/// The parts of an event the handler reads.
struct Parts<'a> {
    method: &'a Method,
    headers: Cow<'a, HeaderMap>,
    body: Option<&'a str>,
    is_base64_encoded: bool,
}

pub async fn answer<S: SecretSource, Q: Queue, O: ObjectStore>(
    receiver: &Receiver<S, Q, O>,
    event: LambdaEvent<LambdaRequest>,
) -> Answer {
    let LambdaEvent { payload, context } = event;
    let request_id = Some(context.request_id.as_str())
        .filter(|id| !id.is_empty())
        .unwrap_or("unknown");
    let (parts, rest_api) = match &payload {
        LambdaRequest::ApiGatewayV1(request) => {
            // As lambda_http does: multi-value headers, then the single-value ones over them.
            let mut headers = request.multi_value_headers.clone();
            headers.extend(request.headers.clone());
            let parts = Parts {
                method: &request.http_method,
                headers: Cow::Owned(headers),
                body: request.body.as_deref(),
                is_base64_encoded: request.is_base64_encoded,
            };
            (parts, true)
        }
        LambdaRequest::ApiGatewayV2(request) => {
            let parts = Parts {
                method: &request.request_context.http.method,
                headers: Cow::Borrowed(&request.headers),
                body: request.body.as_deref(),
                is_base64_encoded: request.is_base64_encoded,
            };
            (parts, false)
        }
        _ => {
            let response = receiver.reject(&Rejection::UnsupportedEvent);
            return shape(response, false);
        }
    };
    let response = match decode_body(parts.body, parts.is_base64_encoded) {
        Ok(body) => {
            receiver
                .handle(Inbound {
                    method: parts.method,
                    headers: &parts.headers,
                    body: &body,
                    request_id,
                    deadline: invocation::deadline(&context)
                        .checked_sub(ANSWER_MARGIN)
                        .unwrap_or_else(Instant::now),
                })
                .await
        }
        Err(rejection) => receiver.reject(&rejection),
    };
    shape(response, rest_api)
}

/// The exact bytes 3QPR sent: API Gateway hands them over base64-encoded for binary media
/// types.
fn decode_body(body: Option<&str>, is_base64_encoded: bool) -> Result<Cow<'_, [u8]>, Rejection> {
    match body {
        None => Ok(Cow::Borrowed(&[])),
        Some(text) if is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Cow::Owned)
            .map_err(|_| Rejection::UndecodableBody),
        Some(text) => Ok(Cow::Borrowed(text.as_bytes())),
    }
}

fn shape(response: Response<String>, rest_api: bool) -> Answer {
    let (parts, body) = response.into_parts();
    let status_code = i64::from(parts.status.as_u16());
    let body = Some(Body::Text(body));
    if rest_api {
        let mut answer = ApiGatewayProxyResponse::default();
        answer.status_code = status_code;
        // Headers only once: API Gateway merges `headers` and `multiValueHeaders`.
        answer.multi_value_headers = parts.headers;
        answer.body = body;
        Answer::RestApi(answer)
    } else {
        let mut answer = ApiGatewayV2httpResponse::default();
        answer.status_code = status_code;
        answer.headers = parts.headers;
        answer.body = body;
        Answer::HttpApi(answer)
    }
}

#[cfg(test)]
#[path = "lambda_tests.rs"]
mod tests;
