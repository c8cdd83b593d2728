use std::process::ExitCode;

use clap::Parser;
use qpr_cli::cli::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    qpr_cli::commands::run(Cli::parse()).await.into()
}
