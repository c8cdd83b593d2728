//! The command line: one binary, a subcommand per job of the operator, `--help` on each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// How the tool ends, for scripts.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  done: every check passed, every answer was the expected one
  1  something failed: a check, a delivery, an answer that was not the expected one
  2  the command line is wrong
  3  AWS or 3QPR could not be reached (or refused the credentials)
  4  register: 3QPR issued a secret that could not be stored (see the message)";

#[derive(Debug, Parser)]
#[command(
    name = "qpr-webhooks",
    version,
    about = "The operator's tool for the 3QPR webhook receiver: send and simulate webhooks, follow queues, feed the local consumers",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register the deployed receiver with 3QPR and store the secret 3QPR returns, unseen
    #[command(
        after_help = "The API key comes from THREEQPR_API_KEY, or a prompt; never from a flag.\n\
        The secret 3QPR returns is written straight into the stack's secret (PutSecretValue: it\n\
        becomes AWSCURRENT, the value before it AWSPREVIOUS, which keeps verifying) and is never\n\
        printed, logged or written to disk. If it cannot be stored, the command says so and exits 4."
    )]
    Register(RegisterArgs),
    /// Check a deployment: the secret, the queues and their dead-letter queues, the alarms
    #[command(
        after_help = "One line per check, ✓ or ✗, with what to do for each ✗. Exits 0 when all pass.\n\
        With --send, a signed test event of type qpr_webhooks.check goes through the public URL; it\n\
        must be answered 2xx and appear on the unrouted queue (no consumer reads it), then it is deleted."
    )]
    Check(CheckArgs),
    /// Sign webhook events as 3QPR does and POST each once, printing the answers
    #[command(
        after_help = "Exits 0 when every answer is what a correct receiver gives: 2xx for a signed event, 400 for a tampered or unsigned one."
    )]
    Send(SendArgs),
    /// Put archived events back on their routed queues, marked as replays
    #[command(
        after_help = "Selects archived webhooks by event id, by event type, or by the time they were received\n\
        (at least one is needed), lists them with --dry-run, and otherwise sends each again, byte for\n\
        byte, to the queue its type routes to now, with the attribute replay=true (or replay=forced with\n\
        --force: the consumers' idempotency store then runs the handler again)."
    )]
    Replay(ReplayArgs),
    /// Move a dead-letter queue's messages back to the queue they came from
    #[command(
        after_help = "Uses SQS's message-move task and prints its handle. Only where the endpoint does not have\n\
        that operation at all (a local emulator such as moto) does it move the messages one by one\n\
        (received, sent to the source queue with their attributes, deleted). Any other refusal\n\
        (access denied, throttling, a move task already running) is reported, and nothing moves."
    )]
    Redrive(QueueArgs),
    /// List what a dead-letter queue holds: type, id, age, receive count, failure reason
    #[command(
        after_help = "The messages stay where they are. SQS has no peek: the listing receives each message once\n\
        (its receive count goes up by one), holds them all out of sight until it has seen every one,\n\
        then makes them all visible again at once. The counts shown are those from before the listing.\n\
        A dead-letter queue has no redrive policy of its own, so nothing moves."
    )]
    Dlq(QueueArgs),
    /// Follow a queue or dead-letter queue: each message's type, id, age and size as it arrives
    #[command(
        after_help = "SQS has no peek: every message tail shows has been received once more, and is held\n\
        out of sight for --visibility-timeout seconds (30), so a message that stays on the queue is\n\
        received once per that period; when tail stops it makes what it holds visible again. On a\n\
        dead-letter queue that changes nothing. On a queue with a redrive policy each receive counts\n\
        towards maxReceiveCount, so tail refuses such a queue unless given --count-receives."
    )]
    Tail(TailArgs),
    /// A local 3QPR: serve the registration API, then deliver events as 3QPR does
    #[command(
        after_help = "Answers POST /v1/webhooks as 3QPR documents it (a fresh whsec_ secret, returned once),\n\
        then delivers events of the registered types to the registered URL: signed, retried on every\n\
        non-2xx and timeout with backoff, for a bounded time. Prints what was delivered, retried and\n\
        given up. Exits 0 when everything was delivered."
    )]
    Simulate(SimulateArgs),
    /// Do locally what Lambda's SQS event source mapping does: feed each queue to its consumer
    #[command(name = "event-source")]
    EventSource(EventSourceArgs),
    /// Print a shell completion script
    #[command(
        after_help = "For example: qpr-webhooks completions bash > /etc/bash_completion.d/qpr-webhooks"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which deployment: a CloudFormation stack, or the local stack.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The stack `sam deploy` created
    #[arg(long, default_value = "threeqpr-webhooks", conflicts_with = "local")]
    pub stack: String,
    /// The local stack (infra/local-stack.sh up) in this state directory (default infra/.state)
    #[arg(long, value_name = "STATE_DIR", num_args = 0..=1, default_missing_value = "")]
    pub local: Option<PathBuf>,
}

/// The five event types 3QPR documents.
pub const DOCUMENTED_EVENTS: [&str; 5] = [
    "scan.created",
    "conversation.completed",
    "qpr_code.created",
    "subscription.upgraded",
    "subscription.cancelled",
];

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The receiver's public URL (default: the stack's WebhookUrl output)
    #[arg(long)]
    pub url: Option<String>,
    /// An event type to subscribe to (repeatable; default: the five documented ones)
    #[arg(long = "event", value_name = "TYPE")]
    pub events: Vec<String>,
    /// 3QPR's API
    #[arg(
        long,
        default_value = "https://api.3qpr.com",
        env = "THREEQPR_API_BASE"
    )]
    pub api_base: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also send a signed test event through the public URL and find it on its queue
    #[arg(long)]
    pub send: bool,
    /// The receiver's public URL for --send (default: the stack's WebhookUrl output)
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The queue: a name of the deployment (scans, scans-dlq, ...) or a queue URL
    pub queue: String,
    /// Follow a queue with a redrive policy anyway, each receive counting towards its maxReceiveCount
    #[arg(long)]
    pub count_receives: bool,
    /// Seconds each received message stays out of sight: a message that stays on the queue is
    /// received once per this period (and hidden from its consumer that long)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(i32).range(1..=43200))]
    pub visibility_timeout: i32,
    /// Stop after this many seconds without a new message (default: follow until stopped)
    #[arg(long, value_name = "SECONDS")]
    pub exit_when_idle: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Replay this event (repeatable)
    #[arg(long = "id", value_name = "EVENT_ID")]
    pub ids: Vec<String>,
    /// Replay events of this type
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    pub event_type: Option<String>,
    /// Received at or after this time (RFC 3339, or a date YYYY-MM-DD in UTC)
    #[arg(long, value_parser = parse_time)]
    pub since: Option<time::OffsetDateTime>,
    /// Received before this time (RFC 3339, or a date; default now)
    #[arg(long, value_parser = parse_time)]
    pub until: Option<time::OffsetDateTime>,
    /// List what would be replayed, send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Have the consumers run their handlers again although they processed the events before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The queue whose dead-letter queue it is: scans, conversations, account, unrouted
    pub queue: String,
}

fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| format!("expected an RFC 3339 time or a YYYY-MM-DD date, not {text:?}"))
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where to serve 3QPR's API
    #[arg(long, default_value = "127.0.0.1:8300")]
    pub listen: String,
    /// Events to deliver per registered type (the sample, then copies with fresh ids)
    #[arg(long, default_value_t = 1)]
    pub per_type: usize,
    /// Also deliver the bytes of this file (repeatable)
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Seconds between a registration and its first delivery
    #[arg(long, default_value_t = 2)]
    pub deliver_after: u64,
    /// Stop retrying an event this many seconds after its first attempt
    #[arg(long, default_value_t = 300)]
    pub give_up_after: u64,
    /// The first backoff, in milliseconds; it doubles after each failed attempt
    #[arg(long, default_value_t = 1000)]
    pub first_backoff_ms: u64,
    /// The longest backoff, in seconds
    #[arg(long, default_value_t = 60)]
    pub max_backoff: u64,
    /// Seconds an attempt may take before it counts as timed out
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// Registrations to serve before exiting
    #[arg(long, default_value_t = 1)]
    pub registrations: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigningArg {
    /// As 3QPR signs
    Signed,
    /// Signed, then a byte of the body changed
    Tampered,
    /// No signature header
    Unsigned,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Where to POST: the receiver's webhook URL
    #[arg(long)]
    pub url: String,
    /// The whsec_ signing secret
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Send the sample event of this type (repeatable)
    #[arg(long = "event", value_name = "TYPE")]
    pub events: Vec<String>,
    /// Send the bytes of this file (repeatable)
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Send all five sample events
    #[arg(long)]
    pub all: bool,
    /// How to sign
    #[arg(long, value_enum, default_value = "signed")]
    pub signing: SigningArg,
    /// The Content-Type header
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
}

#[derive(Debug, Args)]
pub struct EventSourceArgs {
    /// Base URL of the Lambda emulator (cargo lambda watch)
    #[arg(long)]
    pub invoke_url: String,
    /// Feed every queue of the local stack in this state directory to its consumer
    #[arg(long, value_name = "STATE_DIR", num_args = 0..=1, default_missing_value = "")]
    pub local: Option<PathBuf>,
    /// QUEUE_URL=FUNCTION: feed this queue to this function (repeatable)
    #[arg(long = "map", value_name = "QUEUE_URL=FUNCTION", value_parser = parse_mapping)]
    pub maps: Vec<(String, String)>,
    /// Records per invocation (Lambda's BatchSize)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: u16,
    /// How long to gather a batch once a record arrived (MaximumBatchingWindowInSeconds)
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub batch_window_ms: u64,
    /// Override the queue's visibility timeout for received records, in seconds
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=43200))]
    pub visibility_timeout: Option<i32>,
    /// Stop once every queue has been empty this many seconds (default: run until stopped)
    #[arg(long, value_name = "SECONDS")]
    pub exit_when_idle: Option<u64>,
}

fn parse_mapping(text: &str) -> Result<(String, String), String> {
    text.rsplit_once('=')
        .filter(|(queue, function)| !queue.is_empty() && !function.is_empty())
        .map(|(queue, function)| (queue.to_string(), function.to_string()))
        .ok_or_else(|| format!("expected QUEUE_URL=FUNCTION, not {text:?}"))
}
