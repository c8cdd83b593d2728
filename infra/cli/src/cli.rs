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
    /// Sign webhook events as 3QPR does and POST each once, printing the answers
    #[command(
        after_help = "Exits 0 when every answer is what a correct receiver gives: 2xx for a signed event, 400 for a tampered or unsigned one."
    )]
    Send(SendArgs),
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
