//! The receiver's lambda_http entry point with the events API Gateway and function URLs really
//! send (REST payload v1, HTTP API payload v2, function URL), in memory, over fake ports.

use base64::Engine;
use lambda_http::{Body, Context, Request, RequestExt};
use qpr_webhooks::contract::signature::SigningKey;
use qpr_webhooks::receiver::config::ReceiverConfig;
use qpr_webhooks::receiver::handler::Receiver;
use qpr_webhooks::testing::{MemoryQueue, MemorySecrets};
use serde_json::{json, Value};

use super::answer;

const SECRET: &str = "whsec_AbCdEfGhIjKlMnOpQrStUv";
const SCANS: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/scans";
const UNROUTED: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/unrouted";
const SCAN: &str = include_str!("../../../infra/samples/scan.created.json");

async fn receiver() -> (Receiver<MemorySecrets, MemoryQueue>, MemoryQueue) {
    let routes = json!({"scan.*": SCANS, "*": UNROUTED}).to_string();
    let config = ReceiverConfig::from_env(|name| match name {
        "WEBHOOK_SECRET_ID" => Some("3qpr/webhook-secret".into()),
        "EVENT_ROUTES" => Some(routes.clone()),
        _ => None,
    })
    .unwrap();
    let queue = MemoryQueue::default()
        .with_queue(SCANS, 262_144)
        .with_queue(UNROUTED, 262_144);
    let receiver = Receiver::start(&config, MemorySecrets::holding(&[SECRET]), queue.clone())
        .await
        .unwrap();
    (receiver, queue)
}

fn signature(body: &[u8]) -> String {
    SigningKey::new(SECRET).unwrap().sign(body)
}

/// The body field and its flag, as API Gateway encodes a body.
fn encoded(body: &[u8], base64: bool) -> (Value, bool) {
    if base64 {
        let text = base64::engine::general_purpose::STANDARD.encode(body);
        (Value::String(text), true)
    } else {
        (
            Value::String(String::from_utf8(body.to_vec()).unwrap()),
            false,
        )
    }
}

fn rest_v1(method: &str, headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    let (body, is_base64) = encoded(body, base64);
    let single: serde_json::Map<_, _> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let multi: serde_json::Map<_, _> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!([v])))
        .collect();
    json!({
        "resource": "/webhooks/3qpr",
        "path": "/webhooks/3qpr",
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "3QPR-Webhooks"},
            "resourcePath": "/webhooks/3qpr",
            "httpMethod": method,
            "apiId": "1234567890",
            "path": "/prod/webhooks/3qpr"
        },
        "body": body,
        "isBase64Encoded": is_base64
    })
}

fn http_v2(
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64: bool,
    domain: &str,
    route_key: &str,
) -> Value {
    let (body, is_base64) = encoded(body, base64);
    let headers: serde_json::Map<_, _> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": "/webhooks/3qpr",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap(),
            "http": {
                "method": method,
                "path": "/webhooks/3qpr",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "3QPR-Webhooks"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "20/Mar/2026:15:30:00 +0000",
            "timeEpoch": 1774020600000u64
        },
        "body": body,
        "isBase64Encoded": is_base64
    })
}

fn api_v2(method: &str, headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    http_v2(
        method,
        headers,
        body,
        base64,
        "id.execute-api.us-east-1.amazonaws.com",
        "POST /webhooks/3qpr",
    )
}

fn function_url(method: &str, headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    http_v2(
        method,
        headers,
        body,
        base64,
        "abcdefghij.lambda-url.us-east-1.on.aws",
        "$default",
    )
}

fn request(event: Value) -> Request {
    let mut context = Context::default();
    context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
    lambda_http::request::from_str(&event.to_string())
        .expect("lambda_http parses the event")
        .with_lambda_context(context)
}

fn body_json(body: &Body) -> Value {
    serde_json::from_slice(body.as_ref()).unwrap()
}

type EventShape = fn(&str, &[(&str, &str)], &[u8], bool) -> Value;
const SHAPES: [(&str, EventShape); 3] = [
    ("REST API v1", rest_v1),
    ("HTTP API v2", api_v2),
    ("function URL", function_url),
];

#[tokio::test]
async fn every_event_shape_delivers_a_signed_webhook_byte_for_byte() {
    for (shape, event) in SHAPES {
        for base64 in [false, true] {
            let (receiver, queue) = receiver().await;
            let sig = signature(SCAN.as_bytes());
            let headers = [
                ("content-type", "application/json"),
                ("x-3qpr-signature", sig.as_str()),
            ];
            let response = answer(
                &receiver,
                request(event("POST", &headers, SCAN.as_bytes(), base64)),
            )
            .await;
            assert_eq!(response.status(), 200, "{shape} base64={base64}");
            assert_eq!(
                body_json(response.body()),
                json!({"id": "evt_01HXYZ", "status": "queued"})
            );
            let sent = queue.sent();
            assert_eq!(sent.len(), 1, "{shape}");
            assert_eq!(sent[0].body, SCAN, "{shape} base64={base64}");
            assert_eq!(sent[0].queue_url, SCANS);
            assert_eq!(
                sent[0].attributes["request_id"],
                "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
            );
        }
    }
}

#[tokio::test]
async fn a_base64_body_is_verified_on_its_decoded_bytes() {
    // Bytes a careless re-encoding would change: CRLF, emoji, U+2028, no trailing newline.
    let body = "{\"event\":\"scan.created\",\r\n\"id\":\"evt_🌷\",\"data\":{\"t\":\"a\u{2028}b\"}}";
    for (shape, event) in SHAPES {
        let (receiver, queue) = receiver().await;
        let sig = signature(body.as_bytes());
        let headers = [
            ("content-type", "application/octet-stream"),
            ("x-3qpr-signature", sig.as_str()),
        ];
        let response = answer(
            &receiver,
            request(event("POST", &headers, body.as_bytes(), true)),
        )
        .await;
        assert_eq!(response.status(), 200, "{shape}");
        assert_eq!(queue.sent()[0].body, body, "{shape}");
    }
}

#[tokio::test]
async fn the_signature_header_is_found_in_any_case() {
    let sig = signature(SCAN.as_bytes());
    for name in ["X-3QPR-Signature", "x-3qpr-signature", "X-3qpr-SIGNATURE"] {
        for (shape, event) in SHAPES {
            let (receiver, _queue) = receiver().await;
            let headers = [(name, sig.as_str())];
            let response = answer(
                &receiver,
                request(event("POST", &headers, SCAN.as_bytes(), false)),
            )
            .await;
            assert_eq!(response.status(), 200, "{shape} {name}");
        }
    }
}

#[tokio::test]
async fn refusals_keep_their_status_through_every_event_shape() {
    let sig = signature(SCAN.as_bytes());
    let tampered = SCAN.replace("9142", "9143");
    for (shape, event) in SHAPES {
        let (receiver, queue) = receiver().await;
        let signed = [("x-3qpr-signature", sig.as_str())];

        let response = answer(
            &receiver,
            request(event("POST", &[], SCAN.as_bytes(), false)),
        )
        .await;
        assert_eq!(response.status(), 400, "{shape}: unsigned");
        assert_eq!(
            body_json(response.body()),
            json!({"error": "invalid signature"})
        );

        let response = answer(
            &receiver,
            request(event("POST", &signed, tampered.as_bytes(), false)),
        )
        .await;
        assert_eq!(response.status(), 400, "{shape}: tampered");

        let response = answer(&receiver, request(event("GET", &signed, b"", false))).await;
        assert_eq!(response.status(), 405, "{shape}: GET");
        assert_eq!(response.headers()["allow"], "POST");

        assert!(queue.sent().is_empty(), "{shape}");
    }
}

#[tokio::test]
async fn a_queue_outage_is_503_with_retry_after_through_lambda_http() {
    let (receiver, queue) = receiver().await;
    queue.set_failing(true);
    let sig = signature(SCAN.as_bytes());
    let headers = [("x-3qpr-signature", sig.as_str())];
    let response = answer(
        &receiver,
        request(api_v2("POST", &headers, SCAN.as_bytes(), false)),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[test]
fn the_fixtures_are_read_as_the_event_sources_they_stand_for() {
    use lambda_http::request::RequestContext;
    let v1 = request(rest_v1("POST", &[], b"{}", false));
    assert!(matches!(
        v1.request_context_ref(),
        Some(RequestContext::ApiGatewayV1(_))
    ));
    for event in [
        api_v2("POST", &[], b"{}", false),
        function_url("POST", &[], b"{}", false),
    ] {
        assert!(matches!(
            request(event).request_context_ref(),
            Some(RequestContext::ApiGatewayV2(_))
        ));
    }
}
