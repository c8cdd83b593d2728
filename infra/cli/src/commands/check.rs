//! `check`: a deployment doctor. One line per check, ✓ or ✗, with what to do for each ✗.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sqs::types::QueueAttributeName;
use qpr_webhooks::receiver::keys::{is_signing_secret, MIN_SECRET_MATERIAL, SECRET_PREFIX};

use super::visibility::Held;
use crate::cli::CheckArgs;
use crate::sender::{post, Sender, Signing};
use crate::target::{QueueTarget, Target};
use crate::Exit;

/// The event type of `--send`'s test event: no route knows it, so it goes to the `*` queue,
/// which no consumer reads.
pub const CHECK_EVENT_TYPE: &str = "qpr_webhooks.check";
const UNROUTED_QUEUE: &str = "unrouted";

#[derive(Default)]
struct Checklist {
    failed: usize,
}

impl Checklist {
    fn pass(&mut self, what: impl std::fmt::Display) {
        println!("✓ {what}");
    }

    fn fail(&mut self, what: impl std::fmt::Display, fix: impl std::fmt::Display) {
        self.failed += 1;
        println!("✗ {what}\n    → {fix}");
    }
}

pub async fn run(args: CheckArgs) -> Exit {
    let target = match Target::resolve(&args.target).await {
        Ok(target) => target,
        Err(error) => return super::unreachable(error),
    };
    println!("checking {}", target.label);
    let mut checks = Checklist::default();
    let current = check_secret(&target, &mut checks).await;
    let sqs = aws_sdk_sqs::Client::new(&target.aws);
    for queue in &target.queues {
        check_queue(&sqs, queue, &mut checks).await;
    }
    check_alarms(&target, &mut checks).await;
    if args.send {
        match (args.url.clone().or(target.webhook_url.clone()), current) {
            (Some(url), Some(secret)) => {
                send_test_event(&target, &sqs, &url, &secret, &mut checks).await
            }
            (None, _) => checks.fail(
                "test event: no public URL",
                "give the receiver's URL with --url",
            ),
            (_, None) => checks.fail(
                "test event: not sent, the secret holds no whsec_ value to sign it with",
                "fix the secret first (see above)",
            ),
        }
    }
    if checks.failed == 0 {
        println!("all checks passed");
        Exit::Done
    } else {
        println!("{} check(s) failed", checks.failed);
        Exit::Failed
    }
}

/// The secret's checks; the AWSCURRENT value when it is usable, to sign the test event.
async fn check_secret(target: &Target, checks: &mut Checklist) -> Option<String> {
    let secrets = aws_sdk_secretsmanager::Client::new(&target.aws);
    let id = &target.secret_id;
    let read = |stage: &'static str| {
        secrets
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
    };
    let current = match read("AWSCURRENT").await {
        Ok(output) => output.secret_string.unwrap_or_default(),
        Err(error) => {
            let detail = qpr_webhooks_aws::sdk::describe(&error);
            let fix = if detail.contains("ResourceNotFound") {
                "create it, or deploy the stack that creates it"
            } else if detail.contains("AccessDenied") {
                "use credentials allowed secretsmanager:GetSecretValue on it"
            } else {
                "check the credentials, the region and the network, then run check again"
            };
            checks.fail(format!("secret {id} cannot be read: {detail}"), fix);
            return None;
        }
    };
    checks.pass(format!("secret {id} exists and is readable"));
    let usable = |value: &str| is_signing_secret(value);
    if !usable(&current) {
        checks.fail(
            format!("secret {id} holds no signing secret ({SECRET_PREFIX} and at least {MIN_SECRET_MATERIAL} base64 characters): the receiver verifies nothing and answers 503"),
            "run qpr-webhooks register to register with 3QPR and store its secret",
        );
        return None;
    }
    let previous = read("AWSPREVIOUS")
        .await
        .ok()
        .and_then(|output| output.secret_string)
        .filter(|value| usable(value));
    let versions = if previous.is_some() {
        "2 usable versions (AWSCURRENT, AWSPREVIOUS)"
    } else {
        "1 usable version (AWSCURRENT)"
    };
    checks.pass(format!(
        "secret {id} starts with {SECRET_PREFIX}: {versions}"
    ));
    Some(current)
}

async fn check_queue(sqs: &aws_sdk_sqs::Client, queue: &QueueTarget, checks: &mut Checklist) {
    let attributes = match sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(output) => output.attributes.unwrap_or_default(),
        Err(error) => {
            checks.fail(
                format!(
                    "queue {} cannot be read: {}",
                    queue.name,
                    qpr_webhooks_aws::sdk::describe(&error)
                ),
                "deploy the stack again, or allow sqs:GetQueueAttributes",
            );
            return;
        }
    };
    match attributes.get(&QueueAttributeName::RedrivePolicy) {
        Some(policy) => {
            let count = serde_json::from_str::<serde_json::Value>(policy)
                .ok()
                .and_then(|policy| policy["maxReceiveCount"].as_u64().map(|n| n.to_string()))
                .unwrap_or_else(|| "?".into());
            checks.pass(format!(
                "queue {} exists, with a dead-letter queue after {count} receives",
                queue.name
            ));
        }
        None => checks.fail(
            format!(
                "queue {} has no redrive policy: a poison record is retried until it expires",
                queue.name
            ),
            "deploy the stack's template, which sets one",
        ),
    }
    let Some(dead_letter) = &queue.dead_letter_url else {
        return;
    };
    let depth = sqs
        .get_queue_attributes()
        .queue_url(dead_letter)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()
        .and_then(|output| {
            output
                .attributes?
                .get(&QueueAttributeName::ApproximateNumberOfMessages)?
                .parse::<u64>()
                .ok()
        });
    match depth {
        Some(0) => checks.pass(format!("dead-letter queue of {} is empty", queue.name)),
        Some(depth) => checks.fail(
            format!("dead-letter queue of {} holds {depth} message(s) that failed", queue.name),
            format!("look at them with qpr-webhooks dlq {}, fix the cause, then qpr-webhooks redrive {}", queue.name, queue.name),
        ),
        None => checks.fail(
            format!("dead-letter queue of {} cannot be read", queue.name),
            "allow sqs:GetQueueAttributes on it",
        ),
    }
}

async fn check_alarms(target: &Target, checks: &mut Checklist) {
    let Some(names) = &target.alarms else {
        println!("· alarms: the local stack has none");
        return;
    };
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&target.aws);
    for chunk in names.chunks(100) {
        let described = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await;
        let alarms = match described {
            Ok(output) => output.metric_alarms.unwrap_or_default(),
            Err(error) => {
                checks.fail(
                    format!(
                        "alarms cannot be read: {}",
                        qpr_webhooks_aws::sdk::describe(&error)
                    ),
                    "allow cloudwatch:DescribeAlarms",
                );
                return;
            }
        };
        for alarm in alarms {
            let name = alarm.alarm_name().unwrap_or_default();
            match alarm.state_value() {
                Some(StateValue::Alarm) => checks.fail(
                    format!(
                        "alarm {name} is firing: {}",
                        alarm.alarm_description().unwrap_or_default()
                    ),
                    "see the README's section on the alarms",
                ),
                state => checks.pass(format!(
                    "alarm {name}: {}",
                    state.map_or("unknown", StateValue::as_str)
                )),
            }
        }
    }
}

/// A signed test event through the public URL: answered 2xx, found on the unrouted queue,
/// then deleted.
async fn send_test_event(
    target: &Target,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    secret: &str,
    checks: &mut Checklist,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let event_id = format!("evt_check_{now}");
    let body = serde_json::json!({
        "event": CHECK_EVENT_TYPE,
        "id": event_id,
        "data": {"sent_by": "qpr-webhooks check --send"},
    })
    .to_string();
    let Ok(sender) = Sender::new(secret) else {
        checks.fail(
            "test event: the secret is empty",
            "run qpr-webhooks register",
        );
        return;
    };
    let (sent, signature) = sender.prepare(body.as_bytes(), Signing::Signed);
    let agent = crate::sender::agent(Duration::from_secs(30));
    let answer = {
        let (url, signature) = (url.to_string(), signature.clone());
        tokio::task::spawn_blocking(move || {
            post(
                &agent,
                &url,
                &sent,
                signature.as_deref(),
                "application/json",
            )
        })
        .await
    };
    match answer {
        Ok(Ok(answer)) if (200..300).contains(&answer.status) => {
            checks.pass(format!(
                "test event {event_id} answered {} by {url}",
                answer.status
            ));
        }
        Ok(Ok(answer)) => {
            checks.fail(
                format!(
                    "test event answered {} by {url}: {}",
                    answer.status,
                    answer.body.trim()
                ),
                "read the receiver's log: its line for the request says why",
            );
            return;
        }
        Ok(Err(error)) => {
            checks.fail(format!("test event not answered: {error}"), "check the URL");
            return;
        }
        Err(error) => {
            checks.fail(format!("test event not sent: {error}"), "try again");
            return;
        }
    }
    let Some(unrouted) = target
        .queues
        .iter()
        .find(|queue| queue.name == UNROUTED_QUEUE)
    else {
        checks.fail(
            "test event: the deployment has no unrouted queue to find it on",
            "deploy the stack's template",
        );
        return;
    };
    let search = find_and_delete(sqs, &unrouted.url, &event_id).await;
    match search.found {
        Some(Ok(())) => checks.pass(format!(
            "test event found on queue {}, then deleted",
            unrouted.name
        )),
        Some(Err(error)) => checks.fail(
            format!(
                "test event found on queue {}, but not deleted: {error}",
                unrouted.name
            ),
            format!("delete the message with event_id {event_id} from {} by hand", unrouted.name),
        ),
        None => checks.fail(
            format!(
                "test event {event_id} was answered 2xx but not found on queue {} within {} s ({} other message(s) looked at{})",
                unrouted.name,
                SEARCH_TIME.as_secs(),
                search.others,
                search
                    .receive_error
                    .map(|error| format!("; receiving failed: {error}"))
                    .unwrap_or_default()
            ),
            "the receiver's EVENT_ROUTES must send unknown types to this queue; read its log line for the request",
        ),
    }
    if let Some(problem) = search.not_given_back {
        checks.fail(
            format!(
                "the search left messages of queue {} out of sight: {problem}",
                unrouted.name
            ),
            format!("nothing to do: they are visible again by themselves within {SEARCH_HOLD_SECONDS} s"),
        );
    }
}

/// How long `--send` looks for its test event on the unrouted queue.
const SEARCH_TIME: Duration = Duration::from_secs(20);
/// How long each message the search receives stays out of sight: longer than the search
/// (and its last long poll), so that the search receives each message at most once.
const SEARCH_HOLD_SECONDS: i32 = 30;

/// What the search for the test event found and did.
struct Search {
    /// `Some` when found: whether deleting it worked.
    found: Option<Result<(), String>>,
    /// The other messages it received, and gave back.
    others: usize,
    /// The last failed receive, if any.
    receive_error: Option<String>,
    /// Why some of the others could not be made visible again, if so.
    not_given_back: Option<String>,
}

/// Looks for the message with `event_id` on the queue `url` and deletes it. SQS has no peek,
/// and the unrouted queue has a redrive policy: each message received counts towards it. So
/// the others are held out of sight while the search goes on (each is received at most once
/// per check) and all given back (visibility 0) at the end.
async fn find_and_delete(sqs: &aws_sdk_sqs::Client, url: &str, event_id: &str) -> Search {
    let mut others = Held::new(SEARCH_HOLD_SECONDS);
    let mut found = None;
    let mut receive_error = None;
    let deadline = tokio::time::Instant::now() + SEARCH_TIME;
    while found.is_none() && tokio::time::Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(SEARCH_HOLD_SECONDS)
            .wait_time_seconds(2)
            .message_attribute_names("event_id")
            .send()
            .await;
        let received = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                receive_error = Some(qpr_webhooks_aws::sdk::describe(&error));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for message in received {
            let Some(receipt_handle) = message.receipt_handle.clone() else {
                continue;
            };
            let is_ours = message
                .message_attributes()
                .and_then(|attributes| attributes.get("event_id"))
                .and_then(|value| value.string_value())
                == Some(event_id);
            if is_ours {
                // SQS may deliver a message twice: every copy of the test event goes.
                let deleted = sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(receipt_handle)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| qpr_webhooks_aws::sdk::describe(&error));
                found = Some(found.take().unwrap_or(Ok(())).and(deleted));
            } else {
                others.hold(&message);
            }
        }
    }
    let looked_at = others.len();
    let not_given_back = others.give_back(sqs, url).await.err();
    Search {
        found,
        others: looked_at,
        receive_error,
        not_given_back,
    }
}
