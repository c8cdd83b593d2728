//! `event-source`: the local stand-in for Lambda's SQS event source mapping.

use std::time::Duration;

use crate::cli::EventSourceArgs;
use crate::event_source::{run as poll, Mapping, Settings};
use crate::local::{default_state_dir, LocalStack};
use crate::Exit;

pub async fn run(args: EventSourceArgs) -> Exit {
    let mut mappings: Vec<Mapping> = args
        .maps
        .iter()
        .map(|(queue_url, function)| Mapping {
            queue_url: queue_url.clone(),
            function: function.clone(),
        })
        .collect();
    let aws = match &args.local {
        Some(dir) => {
            let dir = if dir.as_os_str().is_empty() {
                default_state_dir()
            } else {
                dir.clone()
            };
            let stack = match LocalStack::load(&dir) {
                Ok(stack) => stack,
                Err(error) => return super::usage(error),
            };
            mappings.extend(stack.queues.iter().filter_map(|queue| {
                Some(Mapping {
                    queue_url: queue.url.clone(),
                    function: queue.consumer.clone()?,
                })
            }));
            stack.sdk_config()
        }
        None => qpr_webhooks_aws::sdk_config(Duration::from_secs(10)).await,
    };
    if mappings.is_empty() {
        return super::usage(
            "nothing to feed: give --local or at least one --map QUEUE_URL=FUNCTION",
        );
    }
    let settings = Settings {
        invoke_url: args.invoke_url,
        batch_size: usize::from(args.batch_size),
        batch_window: Duration::from_millis(args.batch_window_ms),
        visibility_timeout: args.visibility_timeout,
        exit_when_idle: args.exit_when_idle.map(Duration::from_secs),
    };
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut pollers = tokio::task::JoinSet::new();
    for mapping in mappings {
        let (sqs, settings) = (sqs.clone(), settings.clone());
        pollers.spawn(async move { poll(&sqs, &mapping, &settings).await });
    }
    let mut exit = Exit::Done;
    while let Some(finished) = pollers.join_next().await {
        match finished {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("qpr-webhooks event-source: {error}");
                exit = Exit::Unreachable;
            }
            Err(error) => {
                eprintln!("qpr-webhooks event-source: a poller stopped: {error}");
                exit = Exit::Failed;
            }
        }
    }
    exit
}
