//! Known-answer vectors decided by the sender's own reference function (`verify_webhook` in
//! 3QPR's documentation): see `vectors/make_vectors.py`, which wrote `vectors/signatures.json`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: an unexpected value fails it at once"
)]

use qpr_webhooks::contract::signature::{Keyring, Signature};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    secrets: Vec<String>,
    signature: String,
    valid: bool,
    body_hex: Option<String>,
    body_repeat: Option<Repeat>,
}

#[derive(Deserialize)]
struct Repeat {
    unit: String,
    length: usize,
}

impl Vector {
    fn body(&self) -> Vec<u8> {
        match (&self.body_hex, &self.body_repeat) {
            (Some(hex_body), None) => hex::decode(hex_body).expect("vector body is hex"),
            (None, Some(repeat)) => repeat
                .unit
                .as_bytes()
                .iter()
                .copied()
                .cycle()
                .take(repeat.length)
                .collect(),
            _ => panic!("{}: a vector has exactly one body", self.name),
        }
    }
}

/// What the receiver decides: a strictly parsed header, then any of the secrets.
fn receiver_accepts(vector: &Vector) -> bool {
    let Ok(signature) = Signature::parse(vector.signature.as_bytes()) else {
        return false;
    };
    Keyring::new(&vector.secrets)
        .expect("vector secrets are not empty")
        .verifies(&vector.body(), &signature)
}

#[test]
fn the_receiver_agrees_with_the_reference_function_on_every_vector() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("vectors/signatures.json")).expect("vectors parse");
    assert!(vectors.vectors.len() >= 20);
    for vector in &vectors.vectors {
        assert_eq!(
            receiver_accepts(vector),
            vector.valid,
            "vector {:?}",
            vector.name
        );
    }
}

#[test]
fn the_one_mib_vector_is_really_one_mib() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("vectors/signatures.json")).expect("vectors parse");
    let big = vectors
        .vectors
        .iter()
        .find(|v| v.name == "1 MiB body")
        .expect("1 MiB vector");
    assert_eq!(big.body().len(), 1024 * 1024);
    assert!(big.valid);
}
