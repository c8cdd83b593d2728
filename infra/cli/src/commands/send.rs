//! `send`: sign sample events or files as 3QPR does and POST each once.

use crate::cli::{SendArgs, SigningArg};
use crate::samples::{sample, SAMPLES};
use crate::sender::{SendError, Sender, Signing};
use crate::Exit;

pub fn run(args: SendArgs) -> Exit {
    let signing = match args.signing {
        SigningArg::Signed => Signing::Signed,
        SigningArg::Tampered => Signing::Tampered,
        SigningArg::Unsigned => Signing::Unsigned,
    };
    let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
    for event_type in &args.events {
        let Some(body) = sample(event_type) else {
            let known: Vec<_> = SAMPLES.iter().map(|(name, _)| *name).collect();
            return super::usage(format!(
                "no sample event of type {event_type:?}; one of {}",
                known.join(", ")
            ));
        };
        bodies.push((event_type.clone(), body.as_bytes().to_vec()));
    }
    for path in &args.files {
        match std::fs::read(path) {
            Ok(body) => bodies.push((path.display().to_string(), body)),
            Err(error) => return super::usage(format!("cannot read {}: {error}", path.display())),
        }
    }
    if args.all {
        bodies.extend(
            SAMPLES
                .iter()
                .map(|(name, body)| (name.to_string(), body.as_bytes().to_vec())),
        );
    }
    if bodies.is_empty() {
        bodies.push((SAMPLES[0].0.to_string(), SAMPLES[0].1.as_bytes().to_vec()));
    }
    let secret = match (&args.secret, signing) {
        (Some(secret), _) => secret.clone(),
        // Nothing is signed, so any key will do.
        (None, Signing::Unsigned) => "unused".to_string(),
        (None, _) => return super::usage("no secret: pass --secret or set WEBHOOK_SECRET"),
    };
    let sender = match Sender::new(&secret) {
        Ok(sender) => sender,
        Err(error) => return super::usage(error),
    };
    let how = match signing {
        Signing::Signed => "signed",
        Signing::Tampered => "tampered",
        Signing::Unsigned => "unsigned",
    };
    let mut exit = Exit::Done;
    for (name, body) in &bodies {
        match sender.post(&args.url, body, signing, &args.content_type) {
            Ok(answer) => {
                let retry = answer
                    .retry_after
                    .map(|after| format!(" (Retry-After: {after})"))
                    .unwrap_or_default();
                println!(
                    "{name:<24} {how:<8} -> {}{retry} {}",
                    answer.status,
                    answer.body.trim()
                );
                let expected = match signing {
                    Signing::Signed => (200..300).contains(&answer.status),
                    Signing::Tampered | Signing::Unsigned => answer.status == 400,
                };
                if !expected && exit == Exit::Done {
                    exit = Exit::Failed;
                }
            }
            Err(error @ SendError::Http { .. }) => {
                eprintln!("{name:<24} {how:<8} -> {error}");
                exit = Exit::Unreachable;
            }
            Err(error) => return super::usage(error),
        }
    }
    exit
}
