//! Each subcommand's work, and how it ends.

mod check;
mod dead_letters;
mod event_source;
mod register;
mod replay;
mod send;
mod simulate;
mod tail;
mod visibility;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::Exit;

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Register(args) => register::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Send(args) => send::run(args),
        Command::Tail(args) => tail::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Redrive(args) => dead_letters::redrive(args).await,
        Command::Dlq(args) => dead_letters::list(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::EventSource(args) => event_source::run(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "qpr-webhooks",
                &mut std::io::stdout(),
            );
            Exit::Done
        }
    }
}

/// Prints a problem with the command line and says how it ends.
fn usage(problem: impl std::fmt::Display) -> Exit {
    eprintln!("qpr-webhooks: {problem}");
    Exit::Usage
}

/// Prints why AWS or 3QPR could not be reached and says how it ends.
fn unreachable(problem: impl std::fmt::Display) -> Exit {
    eprintln!("qpr-webhooks: {problem}");
    Exit::Unreachable
}
