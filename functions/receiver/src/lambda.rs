//! The lambda_http side of the receiver: API Gateway REST (v1), HTTP API (v2) and function URL
//! events in, the shared handler's answer out.

use lambda_http::{Body, Request, RequestExt, Response};
use qpr_webhooks::receiver::handler::{Inbound, Receiver};
use qpr_webhooks::receiver::ports::{Queue, SecretSource};

pub async fn answer<S: SecretSource, Q: Queue>(
    receiver: &Receiver<S, Q>,
    request: Request,
) -> Response<Body> {
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.as_str())
        .filter(|id| !id.is_empty())
        .unwrap_or("unknown");
    let inbound = Inbound {
        method: request.method(),
        headers: request.headers(),
        // lambda_http has already decoded a base64 body (`isBase64Encoded`) to its bytes.
        body: request.body().as_ref(),
        request_id,
    };
    receiver.handle(inbound).await.map(Body::from)
}

#[cfg(test)]
#[path = "lambda_tests.rs"]
mod tests;
