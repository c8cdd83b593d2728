//! `qpr-webhooks`, the operator's tool, as a library: the commands, and the pieces the
//! project's tests share with it (the sender, the delivery engine, the local stack's
//! description, the local event source).

pub mod cli;
pub mod commands;
pub mod delivery;
pub mod event_source;
pub mod local;
pub mod samples;
pub mod sender;
pub mod target;
pub mod threeqpr;

/// How a command ended; see [`cli::EXIT_CODES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    Failed = 1,
    Usage = 2,
    Unreachable = 3,
    SecretLost = 4,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}
