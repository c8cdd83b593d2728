//! `sender`: sign 3QPR webhook events and POST them to a receiver, printing each answer.

use std::process::ExitCode;

use sender::{sample, Sender, Signing, SAMPLES};

const USAGE: &str = "\
Usage: sender --url URL [--secret SECRET] [--event TYPE | --file PATH | --all]
              [--tamper | --unsigned] [--content-type TYPE]

Signs a webhook body as 3QPR does (X-3QPR-Signature: sha256=<hex HMAC-SHA256>) and POSTs it.
  --url URL            where to POST (the receiver's webhook URL)
  --secret SECRET      the whsec_ signing secret (default: $WEBHOOK_SECRET)
  --event TYPE         send the sample event of TYPE (default: scan.created); one of
                       scan.created, conversation.completed, qpr_code.created,
                       subscription.upgraded, subscription.cancelled
  --file PATH          send the bytes of PATH instead of a sample
  --all                send all five sample events
  --tamper             sign, then change a byte of the body (the receiver must refuse it)
  --unsigned           send no signature header (the receiver must refuse it)
  --content-type TYPE  Content-Type header (default: application/json)";

struct Options {
    url: String,
    secret: Option<String>,
    bodies: Vec<(String, Vec<u8>)>,
    signing: Signing,
    content_type: String,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut url = None;
    let mut secret = std::env::var("WEBHOOK_SECRET").ok();
    let mut bodies = Vec::new();
    let mut signing = Signing::Signed;
    let mut content_type = "application/json".to_string();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value("--url")?),
            "--secret" => secret = Some(value("--secret")?),
            "--event" => {
                let event_type = value("--event")?;
                let body =
                    sample(&event_type).ok_or(format!("no sample event of type {event_type:?}"))?;
                bodies.push((event_type, body.as_bytes().to_vec()));
            }
            "--file" => {
                let path = value("--file")?;
                let body = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                bodies.push((path, body));
            }
            "--all" => bodies.extend(
                SAMPLES
                    .iter()
                    .map(|(name, body)| (name.to_string(), body.as_bytes().to_vec())),
            ),
            "--tamper" => signing = Signing::Tampered,
            "--unsigned" => signing = Signing::Unsigned,
            "--content-type" => content_type = value("--content-type")?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if bodies.is_empty() {
        bodies.push(("scan.created".into(), SAMPLES[0].1.as_bytes().to_vec()));
    }
    Ok(Options {
        url: url.ok_or("--url is required")?,
        secret,
        bodies,
        signing,
        content_type,
    })
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("sender: {problem}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let secret = match (&options.secret, options.signing) {
        (Some(secret), _) => secret.clone(),
        // Nothing is signed, so any key will do.
        (None, Signing::Unsigned) => "unused".to_string(),
        (None, _) => {
            eprintln!("sender: no secret: pass --secret or set WEBHOOK_SECRET\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sender = match Sender::new(&secret) {
        Ok(sender) => sender,
        Err(error) => {
            eprintln!("sender: {error}");
            return ExitCode::from(2);
        }
    };
    let how = match options.signing {
        Signing::Signed => "signed",
        Signing::Tampered => "tampered",
        Signing::Unsigned => "unsigned",
    };
    let mut failed = false;
    for (name, body) in &options.bodies {
        match sender.post(&options.url, body, options.signing, &options.content_type) {
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
            }
            Err(error) => {
                eprintln!("{name:<24} {how:<8} -> {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
