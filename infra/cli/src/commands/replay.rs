//! `replay`: archived webhooks put back on the queues their types route to now, marked.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use qpr_webhooks::contract::message::{Attribute, ATTR_REPLAY, REPLAY_FORCED, REPLAY_TRUE};
use qpr_webhooks::receiver::objects::{
    key_part, ARCHIVE_PREFIX, META_RECEIVED_AT, META_REQUEST_ID, QUARANTINED_DIRECTORY,
};
use qpr_webhooks::receiver::outbox::{compose, enqueue};
use qpr_webhooks::receiver::ports::Queue;
use qpr_webhooks::receiver::routing::{is_fifo_queue, Destination, Routes};
use qpr_webhooks_aws::{s3, S3Objects, SqsQueue};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::ReplayArgs;
use crate::target::Target;
use crate::Exit;

/// The longest time range replayed day by day; longer ones list the whole archive.
const MAX_DAYS: i64 = 366;

pub async fn run(args: ReplayArgs) -> Exit {
    if args.ids.is_empty() && args.event_type.is_none() && args.since.is_none() {
        return super::usage("say what to replay: --id, --type, or --since (and --until)");
    }
    let target = match Target::resolve(&args.target).await {
        Ok(target) => target,
        Err(error) => return super::unreachable(error),
    };
    let Some(bucket) = target.bucket.clone() else {
        return super::usage(format!(
            "{} has no payload bucket, so no archive",
            target.label
        ));
    };
    let Some(routes) = target.routes.as_deref().map(Routes::parse) else {
        return super::usage(format!(
            "{} does not say how events are routed",
            target.label
        ));
    };
    let routes = match routes {
        Ok(routes) => routes,
        Err(error) => return super::usage(error),
    };
    let s3 = s3::client(&target.aws);
    let selection = match select(&s3, &bucket, &args).await {
        Ok(selection) => selection,
        Err(error) => return super::unreachable(error),
    };
    if selection.outside_range > 0 {
        println!(
            "{} archived webhook(s) of those days were received outside the time range: not selected",
            selection.outside_range
        );
    }
    let keys = selection.keys;
    if keys.is_empty() {
        println!("nothing in the archive of {} matches", target.label);
        return Exit::Done;
    }
    if args.dry_run {
        for key in &keys {
            println!("would replay {key}");
        }
        println!(
            "{} archived webhook(s) would be replayed (dry run: nothing sent)",
            keys.len()
        );
        return Exit::Done;
    }

    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&target.aws));
    let destinations = routes
        .try_resolve(|url| {
            let queue = &queue;
            async move {
                let max_message_size = queue.max_message_size(url).await?;
                Ok::<_, qpr_webhooks::receiver::ports::PortError>(Destination {
                    url: url.clone(),
                    max_message_size,
                    fifo: is_fifo_queue(url),
                })
            }
        })
        .await;
    let destinations = match destinations {
        Ok(destinations) => destinations,
        Err(error) => return super::unreachable(error),
    };
    let objects = S3Objects::new(s3.clone(), bucket.clone());
    let mode = if args.force {
        REPLAY_FORCED
    } else {
        REPLAY_TRUE
    };
    let mut progress = Progress::new(keys.len());
    let (mut replayed, mut claimed, mut failed) = (0, 0, 0);
    for key in &keys {
        match replay_one(&s3, &bucket, key, &destinations, &queue, &objects, mode).await {
            Ok(by_claim_check) => {
                replayed += 1;
                claimed += usize::from(by_claim_check);
            }
            Err(error) => {
                failed += 1;
                progress.note(&format!("{key}: {error}"));
            }
        }
        progress.advance();
    }
    progress.finish();
    println!(
        "replayed {replayed} archived webhook(s) (replay={mode}; {claimed} by claim-check), {failed} failed"
    );
    if failed == 0 {
        Exit::Done
    } else {
        Exit::Failed
    }
}

/// What the selectors chose: the dry run lists exactly these keys, the run sends them.
struct Selection {
    /// Oldest day first.
    keys: Vec<String>,
    /// Archived under the days of the range, but received outside it.
    outside_range: usize,
}

/// How many archived objects' metadata are read at once to apply a time range.
const CONCURRENT_READS: usize = 16;

/// The archived webhooks `args` select: the keys of the selected days, types and ids, and,
/// when a time range is given, only those whose receipt time (their `received-at` metadata)
/// is inside it.
async fn select(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    args: &ReplayArgs,
) -> Result<Selection, String> {
    let keys = archived_keys(s3, bucket, args).await?;
    if args.since.is_none() && args.until.is_none() {
        return Ok(Selection {
            keys,
            outside_range: 0,
        });
    }
    let mut in_range_by_position = vec![false; keys.len()];
    let mut reads = tokio::task::JoinSet::new();
    let mut pending = keys.iter().cloned().enumerate();
    loop {
        while reads.len() < CONCURRENT_READS {
            let Some((position, key)) = pending.next() else {
                break;
            };
            let (s3, bucket) = (s3.clone(), bucket.to_string());
            reads.spawn(async move {
                let head = s3.head_object().bucket(&bucket).key(&key).send().await;
                let head = head.map_err(|error| {
                    format!("{key}: {}", qpr_webhooks_aws::sdk::describe(&error))
                })?;
                Ok::<_, String>((position, received_at(head.metadata(), head.last_modified())))
            });
        }
        let Some(read) = reads.join_next().await else {
            break;
        };
        let (position, received) = read.map_err(|error| error.to_string())??;
        in_range_by_position[position] = in_range(args, received);
    }
    let outside_range = in_range_by_position
        .iter()
        .filter(|inside| !**inside)
        .count();
    let keys = keys
        .into_iter()
        .zip(in_range_by_position)
        .filter_map(|(key, inside)| inside.then_some(key))
        .collect();
    Ok(Selection {
        keys,
        outside_range,
    })
}

/// When an archived webhook was received: its `received-at` metadata, else (an object
/// archived without it) when it was written, else now.
fn received_at(
    metadata: Option<&std::collections::HashMap<String, String>>,
    last_modified: Option<&aws_sdk_s3::primitives::DateTime>,
) -> OffsetDateTime {
    metadata
        .and_then(|metadata| metadata.get(META_RECEIVED_AT))
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .or_else(|| {
            last_modified
                .and_then(|at| OffsetDateTime::from_unix_timestamp_nanos(at.as_nanos()).ok())
        })
        .unwrap_or_else(OffsetDateTime::now_utc)
}

/// Whether `received` is in `args`' time range: at or after --since, before --until.
fn in_range(args: &ReplayArgs, received: OffsetDateTime) -> bool {
    args.since.is_none_or(|since| received >= since)
        && args.until.is_none_or(|until| received < until)
}

/// The archive keys the selectors match, oldest day first.
async fn archived_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    args: &ReplayArgs,
) -> Result<Vec<String>, String> {
    let prefixes = match args.since {
        Some(since) => {
            let until = args.until.unwrap_or_else(OffsetDateTime::now_utc);
            let days = (until.date() - since.date()).whole_days();
            if (0..=MAX_DAYS).contains(&days) {
                (0..=days)
                    .filter_map(|day| since.date().checked_add(time::Duration::days(day)))
                    .map(|date| {
                        format!(
                            "{ARCHIVE_PREFIX}{:04}/{:02}/{:02}/",
                            date.year(),
                            u8::from(date.month()),
                            date.day()
                        )
                    })
                    .collect()
            } else {
                vec![ARCHIVE_PREFIX.to_string()]
            }
        }
        None => vec![ARCHIVE_PREFIX.to_string()],
    };
    let type_part = args.event_type.as_deref().map(key_part);
    let id_files: Vec<String> = args
        .ids
        .iter()
        .map(|id| format!("{}.json", key_part(id)))
        .collect();
    let mut keys = Vec::new();
    for prefix in prefixes {
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                // archive/<yyyy>/<mm>/<dd>/<type>/<file>
                let parts: Vec<&str> = key.split('/').collect();
                let (Some(directory), Some(file)) = (parts.get(4), parts.get(5)) else {
                    continue;
                };
                let quarantined = *directory == QUARANTINED_DIRECTORY;
                let type_matches = type_part
                    .as_deref()
                    .is_none_or(|wanted| *directory == wanted);
                let id_matches = id_files.is_empty() || id_files.iter().any(|name| name == file);
                // A time range alone takes quarantined bodies too: they are verified webhooks.
                let by_time_only = type_part.is_none() && id_files.is_empty();
                if type_matches && id_matches && (!quarantined || by_time_only) {
                    keys.push(key.to_string());
                }
            }
        }
    }
    Ok(keys)
}

/// Replays one selected archived webhook; `Ok(true)` when it went by claim-check.
async fn replay_one(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    destinations: &Routes<Destination>,
    queue: &SqsQueue,
    objects: &S3Objects,
    mode: &'static str,
) -> Result<bool, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|error| qpr_webhooks_aws::sdk::describe(&error))?;
    let received = received_at(object.metadata(), object.last_modified());
    let metadata = object.metadata().cloned().unwrap_or_default();
    let body = object
        .body
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .into_bytes();
    let request_id = format!(
        "replay-{}",
        metadata
            .get(META_REQUEST_ID)
            .map_or("unknown", String::as_str)
    );
    let mut composed = compose(&body, destinations, received, &request_id);
    composed
        .message
        .attributes
        .push(Attribute::string(ATTR_REPLAY, mode));
    tokio::time::timeout(
        Duration::from_secs(30),
        enqueue(
            queue,
            Some(objects),
            composed.destination,
            composed.message,
            &request_id,
        ),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|error| error.to_string())
}

/// A progress bar on a terminal, a line every tenth elsewhere (stderr, so stdout stays the
/// summary).
struct Progress {
    total: usize,
    done: usize,
    terminal: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn advance(&mut self) {
        self.done += 1;
        if self.total < 20 {
            return;
        }
        let mut stderr = std::io::stderr();
        if self.terminal {
            let filled = self.done * 30 / self.total;
            let _ = write!(
                stderr,
                "\r[{}{}] {}/{}",
                "#".repeat(filled),
                "-".repeat(30 - filled),
                self.done,
                self.total
            );
        } else if self.done % (self.total / 10).max(1) == 0 {
            let _ = writeln!(stderr, "replayed {}/{}", self.done, self.total);
        }
    }

    fn note(&self, line: &str) {
        let newline = if self.terminal { "\n" } else { "" };
        eprintln!("{newline}{line}");
    }

    fn finish(&self) {
        if self.terminal && self.total >= 20 {
            eprintln!();
        }
    }
}
