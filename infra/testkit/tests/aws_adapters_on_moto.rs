//! The S3 and DynamoDB adapters against the local stack (moto): what they store, and the
//! idempotency store's conditions as DynamoDB evaluates them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use qpr_webhooks::consumer::ports::{Claim, IdempotencyStore, PayloadSource};
use qpr_webhooks::contract::pointer::PayloadPointer;
use qpr_webhooks::receiver::ports::ObjectStore;
use qpr_webhooks_aws::{s3, DynamoDbIdempotency, S3Objects, S3Payloads};
use testkit::LocalStack;

const NOW_MS: i64 = 1_800_000_000_000;
const NOW: i64 = NOW_MS / 1000;

#[tokio::test]
async fn objects_are_stored_with_their_metadata_and_fetched_back() {
    let stack = LocalStack::up();
    let client = s3::client(stack.sdk_config());
    let objects = S3Objects::new(client.clone(), stack.bucket().to_string());
    let body = "{\"event\":\"scan.created\",\"id\":\"evt_🌷\"}\r\n";
    objects
        .put(
            "archive/2026/03/20/scan.created/evt_x.json",
            body.as_bytes(),
            &[("event-id", "evt_%F0%9F%8C%B7".to_string())],
        )
        .await
        .unwrap();
    let stored = client
        .get_object()
        .bucket(stack.bucket())
        .key("archive/2026/03/20/scan.created/evt_x.json")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.metadata().unwrap()["event-id"], "evt_%F0%9F%8C%B7");
    let bytes = stored.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], body.as_bytes());

    let payloads = S3Payloads::new(client);
    let pointer = |key: &str| PayloadPointer {
        bucket: stack.bucket().to_string(),
        key: key.to_string(),
    };
    assert_eq!(
        payloads
            .fetch(&pointer("archive/2026/03/20/scan.created/evt_x.json"))
            .await
            .unwrap()
            .as_deref(),
        Some(body)
    );
    assert_eq!(
        payloads.fetch(&pointer("payloads/none")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_idempotency_conditions_hold_in_dynamodb() {
    let stack = LocalStack::up();
    let store = DynamoDbIdempotency::new(
        aws_sdk_dynamodb::Client::new(stack.sdk_config()),
        stack.table().to_string(),
    );
    let later = NOW + 3600;
    // A first claim takes it; a second sees it in progress.
    assert_eq!(
        store
            .claim("c#e1", NOW_MS, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store
            .claim("c#e1", NOW_MS, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::InProgress
    );
    // Completed: skipped, and found by the batched read; a forced replay takes it over.
    store.complete("c#e1", later).await.unwrap();
    assert_eq!(
        store
            .claim("c#e1", NOW_MS, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::Completed
    );
    let completed = store
        .completed(&["c#e1".into(), "c#e2".into()], NOW)
        .await
        .unwrap();
    assert_eq!(completed, ["c#e1".to_string()].into());
    assert_eq!(
        store
            .claim("c#e1", NOW_MS, NOW_MS + 30_000, later, true)
            .await
            .unwrap(),
        Claim::Claimed
    );
    // A claim whose consumer died lapses with its invocation and is taken over.
    assert_eq!(
        store
            .claim("c#e3", NOW_MS, NOW_MS + 1_000, later, false)
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store
            .claim("c#e3", NOW_MS + 500, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store
            .claim("c#e3", NOW_MS + 2_000, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::Claimed
    );
    // A released claim is free again; an expired completed record too.
    store.release("c#e3").await.unwrap();
    assert_eq!(
        store
            .claim("c#e3", NOW_MS, NOW_MS + 30_000, later, false)
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store
            .claim("c#e5", NOW_MS, NOW_MS + 30_000, NOW + 1, false)
            .await
            .unwrap(),
        Claim::Claimed
    );
    store.complete("c#e5", NOW + 1).await.unwrap();
    assert!(store
        .completed(&["c#e5".into()], NOW + 2)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim(
                "c#e5",
                (NOW + 2) * 1000,
                (NOW + 32) * 1000,
                NOW + 3600,
                false
            )
            .await
            .unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn a_batched_read_covers_more_keys_than_one_call_takes() {
    let stack = LocalStack::up();
    let store = DynamoDbIdempotency::new(
        aws_sdk_dynamodb::Client::new(stack.sdk_config()),
        stack.table().to_string(),
    );
    let keys: Vec<String> = (0..150).map(|n| format!("c#e{n}")).collect();
    for key in keys.iter().step_by(3) {
        store
            .claim(key, NOW_MS, NOW_MS + 30_000, NOW + 3600, false)
            .await
            .unwrap();
        store.complete(key, NOW + 3600).await.unwrap();
    }
    let completed = store.completed(&keys, NOW).await.unwrap();
    assert_eq!(completed.len(), 50);
}
