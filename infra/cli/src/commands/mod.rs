//! Each subcommand's work, and how it ends.

mod event_source;
mod send;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::Exit;

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Send(args) => send::run(args),
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
