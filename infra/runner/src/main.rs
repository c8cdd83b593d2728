//! `event-source-runner`: Lambda's SQS event source mapping for the local stack.

use std::process::ExitCode;
use std::time::Duration;

use event_source_runner::{run, Mapping, Settings};

const USAGE: &str = "\
Usage: event-source-runner --invoke-url URL --map QUEUE_URL=FUNCTION [--map ...]
         [--batch-size N] [--batch-window-ms MS] [--visibility-timeout SECONDS]
         [--exit-when-idle SECONDS]

Long-polls each queue and invokes its function on the emulator (cargo lambda watch) at
URL/2015-03-31/functions/FUNCTION/invocations with SQS events; deletes the records the
function did not report failed, leaves the failed ones to SQS's visibility timeout and
redrive policy. AWS settings (AWS_ENDPOINT_URL, AWS_REGION, credentials) come from the
environment.
  --batch-size N              records per invocation, 1-10000 (default 10)
  --batch-window-ms MS        how long to gather a batch once a record arrived (default 0)
  --visibility-timeout SECS   override the queue's visibility timeout for received records
  --exit-when-idle SECS       stop once every queue has been empty that long";

fn parse(mut args: impl Iterator<Item = String>) -> Result<(Vec<Mapping>, Settings), String> {
    let mut mappings = Vec::new();
    let mut settings = Settings {
        invoke_url: String::new(),
        batch_size: 10,
        batch_window: Duration::ZERO,
        visibility_timeout: None,
        exit_when_idle: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, text: String, max: u64| {
            text.parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or(format!(
                    "{name} takes a whole number from 1 to {max}, not {text:?}"
                ))
        };
        match arg.as_str() {
            "--invoke-url" => settings.invoke_url = value("--invoke-url")?,
            "--map" => {
                let text = value("--map")?;
                let (queue_url, function) = text
                    .rsplit_once('=')
                    .filter(|(queue, function)| !queue.is_empty() && !function.is_empty())
                    .ok_or(format!("--map takes QUEUE_URL=FUNCTION, not {text:?}"))?;
                mappings.push(Mapping {
                    queue_url: queue_url.to_string(),
                    function: function.to_string(),
                });
            }
            "--batch-size" => {
                let n = number("--batch-size", value("--batch-size")?, 10_000)?;
                settings.batch_size = usize::try_from(n).unwrap_or(10);
            }
            "--batch-window-ms" => {
                let text = value("--batch-window-ms")?;
                let ms = text
                    .parse::<u64>()
                    .map_err(|_| format!("--batch-window-ms takes milliseconds, not {text:?}"))?;
                settings.batch_window = Duration::from_millis(ms);
            }
            "--visibility-timeout" => {
                let n = number(
                    "--visibility-timeout",
                    value("--visibility-timeout")?,
                    43_200,
                )?;
                settings.visibility_timeout = i32::try_from(n).ok();
            }
            "--exit-when-idle" => {
                let n = number("--exit-when-idle", value("--exit-when-idle")?, 86_400)?;
                settings.exit_when_idle = Some(Duration::from_secs(n));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if settings.invoke_url.is_empty() {
        return Err("--invoke-url is required".into());
    }
    if mappings.is_empty() {
        return Err("at least one --map QUEUE_URL=FUNCTION is required".into());
    }
    Ok((mappings, settings))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (mappings, settings) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("event-source-runner: {problem}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let aws = qpr_webhooks_aws::sdk_config(Duration::from_secs(10)).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut pollers = tokio::task::JoinSet::new();
    for mapping in mappings {
        let (sqs, settings) = (sqs.clone(), settings.clone());
        pollers.spawn(async move { run(&sqs, &mapping, &settings).await });
    }
    let mut status = ExitCode::SUCCESS;
    while let Some(finished) = pollers.join_next().await {
        match finished {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("event-source-runner: {error}");
                status = ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("event-source-runner: a poller stopped: {error}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
