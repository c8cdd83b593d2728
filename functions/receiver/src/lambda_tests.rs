//! The receiver's lambda_http entry point with the events API Gateway and function URLs really
//! send (REST payload v1, HTTP API payload v2, function URL), in memory, over fake ports.

use base64::Engine;
use lambda_http::{Context, LambdaEvent};
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
    let receiver = Receiver::start(&config, MemorySecrets::holding(&[SECRET]), queue.clone()).await;
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

/// The answer as the event's source reads it: status, headers (one value each, whichever of
/// `headers` and `multiValueHeaders` holds them) and body.
struct Reply {
    status: u64,
    headers: std::collections::HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Invokes the receiver with `event` as the runtime would hand it over.
async fn invoke(receiver: &Receiver<MemorySecrets, MemoryQueue>, event: Value) -> Reply {
    let mut context = Context::default();
    context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
    let payload = serde_json::from_value(event).expect("the event deserialises");
    let answer =
        serde_json::to_value(answer(receiver, LambdaEvent::new(payload, context)).await).unwrap();
    let mut headers = std::collections::HashMap::new();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        headers.insert(name.to_lowercase(), value.as_str().unwrap().to_string());
    }
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        headers.insert(name.to_lowercase(), values[0].as_str().unwrap().to_string());
    }
    assert_ne!(answer["isBase64Encoded"], true);
    Reply {
        status: answer["statusCode"].as_u64().unwrap(),
        headers,
        body: answer["body"].as_str().unwrap_or_default().to_string(),
    }
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
            let response =
                invoke(&receiver, event("POST", &headers, SCAN.as_bytes(), base64)).await;
            assert_eq!(response.status, 200, "{shape} base64={base64}");
            assert_eq!(
                response.json(),
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
        let response = invoke(&receiver, event("POST", &headers, body.as_bytes(), true)).await;
        assert_eq!(response.status, 200, "{shape}");
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
            let response = invoke(&receiver, event("POST", &headers, SCAN.as_bytes(), false)).await;
            assert_eq!(response.status, 200, "{shape} {name}");
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

        let response = invoke(&receiver, event("POST", &[], SCAN.as_bytes(), false)).await;
        assert_eq!(response.status, 400, "{shape}: unsigned");
        assert_eq!(response.json(), json!({"error": "invalid signature"}));

        let response = invoke(
            &receiver,
            event("POST", &signed, tampered.as_bytes(), false),
        )
        .await;
        assert_eq!(response.status, 400, "{shape}: tampered");

        let response = invoke(&receiver, event("GET", &signed, b"", false)).await;
        assert_eq!(response.status, 405, "{shape}: GET");
        assert_eq!(response.headers["allow"], "POST");

        assert!(queue.sent().is_empty(), "{shape}");
    }
}

#[tokio::test]
async fn a_queue_outage_is_503_with_retry_after_through_lambda_http() {
    let (receiver, queue) = receiver().await;
    queue.set_failing(true);
    let sig = signature(SCAN.as_bytes());
    let headers = [("x-3qpr-signature", sig.as_str())];
    let response = invoke(&receiver, api_v2("POST", &headers, SCAN.as_bytes(), false)).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.headers["retry-after"], "5");
}

#[tokio::test]
async fn each_event_source_gets_its_own_answer_shape() {
    let (receiver, _queue) = receiver().await;
    let rest = serde_json::to_value(
        answer(
            &receiver,
            LambdaEvent::new(
                serde_json::from_value(rest_v1("GET", &[], b"", false)).unwrap(),
                Context::default(),
            ),
        )
        .await,
    )
    .unwrap();
    // REST APIs merge `headers` into `multiValueHeaders`: each header must be in one only.
    assert_eq!(rest["multiValueHeaders"]["allow"], json!(["POST"]));
    assert_eq!(rest["headers"], json!({}));
    let http = serde_json::to_value(
        answer(
            &receiver,
            LambdaEvent::new(
                serde_json::from_value(api_v2("GET", &[], b"", false)).unwrap(),
                Context::default(),
            ),
        )
        .await,
    )
    .unwrap();
    assert_eq!(http["headers"]["allow"], "POST");
    assert_eq!(http["statusCode"], 405);
}

#[tokio::test]
async fn a_body_marked_base64_that_is_not_is_400_not_a_crash() {
    for (shape, event) in SHAPES {
        let (receiver, queue) = receiver().await;
        let mut malformed = event("POST", &[], b"x", true);
        malformed["body"] = json!("not base64 at all!");
        let response = invoke(&receiver, malformed).await;
        assert_eq!(response.status, 400, "{shape}");
        assert!(
            response.body.contains("base64"),
            "{shape}: {}",
            response.body
        );
        assert!(queue.sent().is_empty());
    }
}

#[tokio::test]
async fn a_host_or_path_no_uri_can_hold_does_not_stop_a_signed_webhook() {
    let sig = signature(SCAN.as_bytes());
    for (shape, event) in SHAPES {
        let (receiver, queue) = receiver().await;
        let mut odd = event(
            "POST",
            &[
                ("x-3qpr-signature", sig.as_str()),
                ("host", "exa mple.com:x"),
            ],
            SCAN.as_bytes(),
            false,
        );
        let path_field = if odd.get("httpMethod").is_some() {
            "path"
        } else {
            "rawPath"
        };
        odd[path_field] = json!("/web hooks/\u{7f}");

        let response = invoke(&receiver, odd).await;
        assert_eq!(response.status, 200, "{shape}: {}", response.body);
        assert_eq!(queue.sent().len(), 1);
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_event_body_flag_path_or_header_is_answered_never_a_panic(
            rest in any::<bool>(),
            body in ".{0,120}",
            base64 in any::<bool>(),
            path in ".{0,40}",
            header_name in "[a-zA-Z][a-zA-Z0-9-]{0,20}",
            header_value in "[ -~]{0,40}",
        ) {
            let headers = [(header_name.as_str(), header_value.as_str())];
            let mut event = if rest {
                rest_v1("POST", &headers, b"", false)
            } else {
                api_v2("POST", &headers, b"", false)
            };
            event["body"] = json!(body);
            event["isBase64Encoded"] = json!(base64);
            event[if rest { "path" } else { "rawPath" }] = json!(path);
            let answered = block_on(async {
                let (receiver, _queue) = receiver().await;
                match serde_json::from_value(event) {
                    Ok(payload) => {
                        let answer = answer(&receiver, LambdaEvent::new(payload, Context::default())).await;
                        Some(serde_json::to_value(answer).unwrap()["statusCode"].as_u64().unwrap())
                    }
                    // Not an event lambda_http recognises: the runtime reports it, no handler runs.
                    Err(_) => None,
                }
            });
            if let Some(status) = answered {
                prop_assert!([400, 405, 413, 503].contains(&status), "{status}");
            }
        }

        #[test]
        fn a_signed_base64_body_arrives_byte_for_byte(
            body in prop::collection::vec(any::<u8>(), 0..300),
            rest in any::<bool>(),
        ) {
            let sig = signature(&body);
            let headers = [("x-3qpr-signature", sig.as_str())];
            let event = if rest {
                rest_v1("POST", &headers, &body, true)
            } else {
                api_v2("POST", &headers, &body, true)
            };
            let (status, sent) = block_on(async {
                let (receiver, queue) = receiver().await;
                let reply = invoke(&receiver, event).await;
                (reply.status, queue.sent())
            });
            prop_assert_eq!(status, 200);
            let kept = match sent[0].attributes.get("body_encoding").map(String::as_str) {
                Some("base64") => base64::engine::general_purpose::STANDARD.decode(&sent[0].body).unwrap(),
                _ => sent[0].body.clone().into_bytes(),
            };
            prop_assert_eq!(kept, body);
        }
    }
}
