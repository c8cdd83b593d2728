//! `register`: the receiver's URL registered with 3QPR, and the secret 3QPR returns stored in
//! the deployment's Secrets Manager secret without ever being shown.

use std::io::IsTerminal;

use crate::cli::{RegisterArgs, DOCUMENTED_EVENTS};
use crate::target::Target;
use crate::threeqpr::{register, RegisterError, Registration};
use crate::Exit;

pub const API_KEY_VAR: &str = "THREEQPR_API_KEY";

pub async fn run(args: RegisterArgs) -> Exit {
    let target = match Target::resolve(&args.target).await {
        Ok(target) => target,
        Err(error) => return super::unreachable(error),
    };
    let Some(url) = args.url.clone().or(target.webhook_url.clone()) else {
        return super::usage(format!(
            "{} has no public URL: give it with --url",
            target.label
        ));
    };
    let events = if args.events.is_empty() {
        DOCUMENTED_EVENTS
            .iter()
            .map(|event| event.to_string())
            .collect()
    } else {
        args.events.clone()
    };
    let api_key = match std::env::var(API_KEY_VAR) {
        Ok(key) if !key.trim().is_empty() => key,
        _ if std::io::stdin().is_terminal() => match rpassword::prompt_password("3QPR API key: ") {
            Ok(key) if !key.trim().is_empty() => key,
            _ => return super::usage("no API key given"),
        },
        _ => {
            return super::usage(format!(
                "no API key: set {API_KEY_VAR} (it is never taken from a flag)"
            ))
        }
    };

    let registration = Registration { url, events };
    let api_base = args.api_base.clone();
    let registered = match tokio::task::spawn_blocking(move || {
        register(&api_base, api_key.trim(), &registration)
    })
    .await
    {
        Ok(Ok(registered)) => registered,
        Ok(Err(error @ RegisterError::Refused { .. })) => {
            eprintln!("qpr-webhooks register: {error}");
            return Exit::Failed;
        }
        Ok(Err(error)) => return super::unreachable(error),
        Err(error) => return super::unreachable(error),
    };

    // From here on 3QPR holds a webhook whose secret exists only in this process.
    let secrets = aws_sdk_secretsmanager::Client::new(&target.aws);
    let stored = secrets
        .put_secret_value()
        .secret_id(&target.secret_id)
        .secret_string(&registered.secret)
        .send()
        .await;
    println!("registered webhook {} with 3QPR", registered.id);
    println!("  url:    {}", registered.url);
    println!("  events: {}", registered.events.join(", "));
    match stored {
        Ok(output) => {
            println!(
                "  secret: stored in {} as version {} (AWSCURRENT; the value before it is AWSPREVIOUS and keeps verifying)",
                target.secret_id,
                output.version_id().unwrap_or("?")
            );
            println!("next: qpr-webhooks check --send");
            Exit::Done
        }
        Err(error) => {
            eprintln!(
                "qpr-webhooks register: 3QPR issued the secret of webhook {}, but it could not be stored in {}: {}",
                registered.id,
                target.secret_id,
                qpr_webhooks_aws::sdk::describe(&error)
            );
            eprintln!(
                "The secret is lost: 3QPR shows it only once. Recovery: fix access to the secret, run qpr-webhooks register again, and delete webhook {} in 3QPR.",
                registered.id
            );
            Exit::SecretLost
        }
    }
}
