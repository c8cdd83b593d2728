//! Verifies the signature of a 16 KiB body COUNT times, as the receiver does, and nothing
//! else: run with COUNT = 1 and 1 + K under an instruction counter (callgrind on x86_64,
//! qemu-user's log on arm64), the difference over K is one verification's instructions.
//!
//! `verify-loop COUNT`

use std::process::ExitCode;

use qpr_webhooks::contract::signature::{Signature, SigningKey};

fn main() -> ExitCode {
    let Some(count) = std::env::args().nth(1).and_then(|n| n.parse::<u32>().ok()) else {
        eprintln!("usage: verify-loop COUNT");
        return ExitCode::from(2);
    };
    let body = vec![b'x'; 16 * 1024];
    let Ok(key) = SigningKey::new("whsec_VerifyLoopSecret0123456789") else {
        return ExitCode::FAILURE;
    };
    let Ok(signature) = Signature::parse(key.sign(&body).as_bytes()) else {
        return ExitCode::FAILURE;
    };
    let verified = (0..count)
        .filter(|_| key.verifies(std::hint::black_box(&body), &signature))
        .count();
    println!("{verified} verified");
    ExitCode::SUCCESS
}
