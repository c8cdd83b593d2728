//! The runtime half of the floor: a Lambda bootstrap that does what the receiver's bootstrap
//! does around its handler and nothing else. It installs the same default tracing subscriber,
//! deserialises each invocation as lambda_http's `LambdaRequest` (as the receiver does) and
//! answers a fixed 200 of the shape the event's source expects, with the receiver's header and
//! a body of the receiver's shape. No verification, no AWS call, no log line of its own.

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::header::{HeaderValue, CONTENT_TYPE};
use lambda_http::http::HeaderMap;
use lambda_http::lambda_runtime::{self, service_fn, Error, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{tracing, Body};

/// The receiver's answer to a queued webhook, byte for byte in shape.
const ANSWER: &str = r#"{"id":"evt_00000000000000000000000000","status":"queued"}"#;

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Answer {
    RestApi(ApiGatewayProxyResponse),
    HttpApi(ApiGatewayV2httpResponse),
}

fn answer(request: &LambdaRequest) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = Some(Body::Text(ANSWER.to_string()));
    match request {
        LambdaRequest::ApiGatewayV1(_) => {
            let mut answer = ApiGatewayProxyResponse::default();
            answer.status_code = 200;
            answer.multi_value_headers = headers;
            answer.body = body;
            Answer::RestApi(answer)
        }
        _ => {
            let mut answer = ApiGatewayV2httpResponse::default();
            answer.status_code = 200;
            answer.headers = headers;
            answer.body = body;
            Answer::HttpApi(answer)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<LambdaRequest>| async move {
        Ok::<_, std::convert::Infallible>(answer(&event.payload))
    }))
    .await
}
